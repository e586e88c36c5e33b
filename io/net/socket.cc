#include "weft/io/net/socket.h"

#include <fcntl.h>
#include <unistd.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "weft/core/this_fiber.h"
#include "weft/io/fd_wait.h"

namespace weft::net {

namespace internal {
absl::Status errno_status(int err, std::string_view op) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat("weft::net: ", std::string(op), ": ", std::strerror(err)));
}
}  // namespace internal

namespace {

// Sleeps the fiber (or the thread) for accept's back-off.
void back_off(absl::Duration d) {
  if (in_fiber()) {
    sleep_for(d);
  } else {
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(d));
  }
}

// A new fd number may still carry the poller registration of the file that
// had it before: a wait that began while another fiber closed that file
// can register it after close() forgot it and before ::close, and the
// kernel then drops the registration with the file while the poller's
// table still says "registered" (and may still hold the stale waiter).
// Forgetting the fresh fd clears that (cancelling the stale waiter) before
// anyone waits on the new file; in the usual case, nothing registered, it
// is one failed compare-and-swap.
void forget_previous_owner(int fd) {
  if (fd >= 0) io::forget(fd);
}

}  // namespace

Socket::Socket(int fd) : fd_(fd) {
  forget_previous_owner(fd_);
  int flags = fcntl(fd_, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

Socket::Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void Socket::close() {
  if (fd_ < 0) return;
  io::forget(fd_);
  ::close(fd_);
  fd_ = -1;
}

absl::StatusOr<Address> Socket::local_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return internal::errno_status(errno, "getsockname");
  }
  return Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

absl::StatusOr<Socket> Socket::open(int family, int type) {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return internal::errno_status(errno, "socket");
  forget_previous_owner(fd);
  Socket s;
  s.fd_ = fd;
  return s;
}

namespace internal {

absl::StatusOr<Socket> accept_socket(int listen_fd, absl::Time deadline) {
  absl::Duration backoff = absl::Milliseconds(1);
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return Socket(fd);
    switch (errno) {
      case EINTR:
      case ECONNABORTED:  // the peer gave up while queued: take the next one
      case EPROTO:
        continue;
      case EAGAIN:
        if (absl::Status s = io::wait_readable_until(listen_fd, deadline); !s.ok()) return s;
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM: {
        // Out of fds or memory: the pending connection stays queued. Back off
        // and let the connections we have finish and free some.
        int err = errno;
        if (absl::Now() + backoff >= deadline) return errno_status(err, "accept");
        back_off(backoff);
        backoff = std::min(backoff * 2, absl::Milliseconds(100));
        continue;
      }
      default:
        return errno_status(errno, "accept");
    }
  }
}

}  // namespace internal

}  // namespace weft::net
