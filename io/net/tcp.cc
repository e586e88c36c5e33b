#include "weft/io/net/tcp.h"

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "absl/strings/str_cat.h"
#include "weft/core/this_fiber.h"
#include "weft/io/fd_wait.h"

namespace weft::net {
namespace {

using internal::errno_status;

absl::Status closed_error(std::string_view op) {
  return absl::FailedPreconditionError(absl::StrCat("weft::net: ", std::string(op), " on a closed socket"));
}

// Sleeps the fiber (or the thread) for accept's back-off.
void back_off(absl::Duration d) {
  if (in_fiber()) {
    sleep_for(d);
  } else {
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(d));
  }
}

}  // namespace

absl::StatusOr<std::size_t> TcpStream::read_some(std::span<char> buf, absl::Time deadline) {
  if (fd_ < 0) return closed_error("read_some");
  if (buf.empty()) return 0;
  for (;;) {
    if (!drained_) {
      ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n >= 0) {
        drained_ = n > 0 && static_cast<std::size_t>(n) < buf.size();
        return static_cast<std::size_t>(n);
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return errno_status(errno, "read");
    }
    drained_ = false;
    if (absl::Status s = io::wait_readable(fd_, deadline); !s.ok()) return s;
  }
}

absl::Status TcpStream::read_exact(std::span<char> buf, absl::Time deadline) {
  std::size_t got = 0;
  while (got < buf.size()) {
    absl::StatusOr<std::size_t> n = read_some(buf.subspan(got), deadline);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      return absl::OutOfRangeError(absl::StrCat("weft::net: read_exact: EOF after ", got, " of ",
                                                buf.size(), " bytes"));
    }
    got += *n;
  }
  return absl::OkStatus();
}

absl::Status TcpStream::write_all(std::string_view data, absl::Time deadline) {
  if (fd_ < 0) return closed_error("write_all");
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno_status(errno, "write");
    if (absl::Status s = io::wait_writable(fd_, deadline); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status TcpStream::shutdown_write() {
  if (fd_ < 0) return closed_error("shutdown_write");
  if (::shutdown(fd_, SHUT_WR) != 0) return errno_status(errno, "shutdown");
  return absl::OkStatus();
}

absl::Status TcpStream::shutdown() {
  if (fd_ < 0) return closed_error("shutdown");
  if (::shutdown(fd_, SHUT_RDWR) != 0) return errno_status(errno, "shutdown");
  return absl::OkStatus();
}

absl::Status TcpStream::set_nodelay(bool on) {
  if (fd_ < 0) return closed_error("set_nodelay");
  int v = on ? 1 : 0;
  if (setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) {
    return errno_status(errno, "setsockopt(TCP_NODELAY)");
  }
  return absl::OkStatus();
}

absl::StatusOr<Address> TcpStream::peer_address() const {
  if (fd_ < 0) return closed_error("peer_address");
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return errno_status(errno, "getpeername");
  }
  return Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

absl::StatusOr<TcpListener> TcpListener::bind(std::string_view host_port, Options options) {
  absl::StatusOr<Address> a = Address::parse(host_port);
  if (!a.ok()) return a.status();
  return bind(*a, options);
}

absl::StatusOr<TcpListener> TcpListener::bind(const Address& address, Options options) {
  absl::StatusOr<Socket> s = open(address.family(), SOCK_STREAM);
  if (!s.ok()) return s.status();
  int one = 1;
  setsockopt(s->fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (options.reuse_port &&
      setsockopt(s->fd(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return errno_status(errno, "setsockopt(SO_REUSEPORT)");
  }
  if (::bind(s->fd(), address.sockaddr_ptr(), address.size()) != 0) {
    return errno_status(errno, absl::StrCat("bind ", address.to_string()));
  }
  if (::listen(s->fd(), options.backlog) != 0) return errno_status(errno, "listen");
  return TcpListener(std::move(*s));
}

absl::StatusOr<TcpStream> TcpListener::accept(absl::Time deadline) {
  if (fd_ < 0) return closed_error("accept");
  absl::Duration backoff = absl::Milliseconds(1);
  for (;;) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      TcpStream conn{Socket(fd)};
      conn.set_nodelay(true).IgnoreError();  // a hint; the connection works without it
      return conn;
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:  // the peer gave up while queued: take the next one
      case EPROTO:
        continue;
      case EAGAIN:
        if (absl::Status s = io::wait_readable(fd_, deadline); !s.ok()) return s;
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

absl::StatusOr<TcpStream> dial(const Address& address, absl::Duration timeout) {
  absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  absl::StatusOr<Socket> s = Socket::open(address.family(), SOCK_STREAM);
  if (!s.ok()) return s.status();
  TcpStream conn(std::move(*s));
  if (::connect(conn.fd(), address.sockaddr_ptr(), address.size()) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) {
      return errno_status(errno, absl::StrCat("connect ", address.to_string()));
    }
    if (absl::Status w = io::wait_writable(conn.fd(), deadline); !w.ok()) {
      if (absl::IsDeadlineExceeded(w)) {
        return absl::DeadlineExceededError(
            absl::StrCat("weft::net: connect ", address.to_string(), ": timed out"));
      }
      return w;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(conn.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return errno_status(err, absl::StrCat("connect ", address.to_string()));
  }
  conn.set_nodelay(true).IgnoreError();
  return conn;
}

absl::StatusOr<TcpStream> dial(std::string_view host_port, absl::Duration timeout) {
  absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  absl::StatusOr<std::vector<Address>> addrs = resolve(host_port);
  if (!addrs.ok()) return addrs.status();
  absl::Status last = absl::NotFoundError(absl::StrCat("weft::net: no address for ", std::string(host_port)));
  for (const Address& a : *addrs) {
    absl::StatusOr<TcpStream> conn = dial(a, deadline - absl::Now());
    if (conn.ok()) return conn;
    last = conn.status();
  }
  return last;
}

}  // namespace weft::net
