#include "weft/io/net/stream_socket.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "weft/io/fd_wait.h"
#include "weft/io/net/internal/read_exact.h"

namespace weft::net {
namespace {

using internal::errno_status;

absl::Status closed_error(std::string_view op) {
  return absl::FailedPreconditionError(
      absl::StrCat("weft::net: ", std::string(op), " on a closed socket"));
}

}  // namespace

StreamSocket::StreamSocket(StreamSocket&& other) noexcept
    : Socket(std::move(other)),
      drained_(other.drained_),
      answered_(other.answered_.load(std::memory_order_relaxed)),
      timed_out_(other.timed_out_.load(std::memory_order_relaxed)),
      read_timeout_(other.read_timeout_),
      write_timeout_(other.write_timeout_),
      deadline_(other.deadline_),
      drain_(other.drain_) {}

StreamSocket& StreamSocket::operator=(StreamSocket&& other) noexcept {
  if (this != &other) {
    Socket::operator=(std::move(other));
    drained_ = other.drained_;
    answered_.store(other.answered_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    timed_out_.store(other.timed_out_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    read_timeout_ = other.read_timeout_;
    write_timeout_ = other.write_timeout_;
    deadline_ = other.deadline_;
    drain_ = other.drain_;
  }
  return *this;
}

absl::Time StreamSocket::effective_deadline(absl::Time caller, absl::Duration per_call,
                                            bool* from_default) const {
  absl::Time d = deadline_;
  // absl::Now() only when a per-call timeout is set: the common stream has
  // none, and its reads should not pay for a clock read.
  if (per_call != absl::InfiniteDuration()) d = std::min(d, absl::Now() + per_call);
  *from_default = d <= caller && d != absl::InfiniteFuture();
  return std::min(d, caller);
}

absl::Status StreamSocket::wait(bool read, absl::Time deadline, bool from_default) {
  absl::Status s =
      read ? io::wait_readable_until(fd_, deadline) : io::wait_writable_until(fd_, deadline);
  if (from_default && absl::IsDeadlineExceeded(s)) {
    timed_out_.store(true, std::memory_order_relaxed);
    return absl::DeadlineExceededError(
        absl::StrCat("weft::net: ", read ? "read" : "write", ": the stream's ",
                     deadline == deadline_ ? "deadline" : (read ? "read timeout" : "write timeout"),
                     " (", absl::FormatDuration(read ? read_timeout_ : write_timeout_),
                     " a call, deadline ", absl::FormatTime(deadline_), ") passed"));
  }
  return s;
}

absl::StatusOr<std::size_t> StreamSocket::read_some_until(std::span<char> buf,
                                                          absl::Time deadline) {
  if (fd_ < 0) return closed_error("read_some");
  if (buf.empty()) return 0;
  bool from_default = false;
  bool deadline_known = false;
  for (;;) {
    if (!drained_) {
      ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n >= 0) {
        drained_ = n > 0 && static_cast<std::size_t>(n) < buf.size();
        if (n > 0) answered_.store(false, std::memory_order_relaxed);
        return static_cast<std::size_t>(n);
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return errno_status(errno, "read");
    }
    drained_ = false;
    // The idle timeout counts from the start of the call, not from each
    // spurious wake-up, so the deadline is fixed once.
    if (!deadline_known) {
      deadline = effective_deadline(deadline, read_timeout_, &from_default);
      deadline_known = true;
    }
    const bool idle = drain_ != nullptr && answered_.load(std::memory_order_relaxed);
    if (idle) {
      // Acquire: pairs with the release in Server::stop, which set it
      // before poking this reader.
      if (drain_->draining.load(std::memory_order_acquire)) return 0;
      drain_->idle_wait.store(true, std::memory_order_relaxed);
    }
    absl::Status s = wait(/*read=*/true, deadline, from_default);
    if (idle) drain_->idle_wait.store(false, std::memory_order_relaxed);
    if (!s.ok()) {
      // A stopping Server wakes idle readers by forgetting the fd (which
      // ends the wait with Cancelled); the next wait registers it again.
      if (absl::IsCancelled(s) && drain_ != nullptr &&
          drain_->draining.load(std::memory_order_acquire)) {
        continue;
      }
      return s;
    }
  }
}

absl::Status StreamSocket::read_exact_until(std::span<char> buf, absl::Time deadline) {
  return internal::read_exact_with(buf, "read_exact",
                                   [&](std::span<char> b) { return read_some_until(b, deadline); });
}

absl::Status StreamSocket::write_all_until(std::string_view data, absl::Time deadline) {
  if (fd_ < 0) return closed_error("write_all");
  bool from_default = false;
  bool deadline_known = false;
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno_status(errno, "write");
    if (!deadline_known) {
      deadline = effective_deadline(deadline, write_timeout_, &from_default);
      deadline_known = true;
    }
    if (absl::Status s = wait(/*read=*/false, deadline, from_default); !s.ok()) {
      // Woken by a stopping Server poking the reader (see read_some): an
      // answer being written is exactly what a graceful stop waits for.
      if (absl::IsCancelled(s) && drain_ != nullptr &&
          drain_->draining.load(std::memory_order_acquire)) {
        continue;
      }
      return s;
    }
  }
  answered_.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status StreamSocket::shutdown_write() {
  if (fd_ < 0) return closed_error("shutdown_write");
  if (::shutdown(fd_, SHUT_WR) != 0) return errno_status(errno, "shutdown");
  return absl::OkStatus();
}

absl::Status StreamSocket::shutdown() {
  if (fd_ < 0) return closed_error("shutdown");
  if (::shutdown(fd_, SHUT_RDWR) != 0) return errno_status(errno, "shutdown");
  return absl::OkStatus();
}

}  // namespace weft::net
