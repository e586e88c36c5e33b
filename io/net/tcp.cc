#include "weft/io/net/tcp.h"

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "weft/io/fd_wait.h"

namespace weft::net {
namespace {

using internal::errno_status;

absl::Status closed_error(std::string_view op) {
  return absl::FailedPreconditionError(
      absl::StrCat("weft::net: ", std::string(op), " on a closed socket"));
}

}  // namespace

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
  if (options.reuse_port && setsockopt(s->fd(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return errno_status(errno, "setsockopt(SO_REUSEPORT)");
  }
  if (::bind(s->fd(), address.sockaddr_ptr(), address.size()) != 0) {
    return errno_status(errno, absl::StrCat("bind ", address.to_string()));
  }
  if (::listen(s->fd(), options.backlog) != 0) return errno_status(errno, "listen");
  return TcpListener(std::move(*s));
}

absl::StatusOr<TcpStream> TcpListener::accept_until(absl::Time deadline) {
  if (fd_ < 0) return closed_error("accept");
  absl::StatusOr<Socket> s = internal::accept_socket(fd_, deadline);
  if (!s.ok()) return s.status();
  TcpStream conn(std::move(*s));
  conn.set_nodelay(true).IgnoreError();  // a hint; the connection works without it
  return conn;
}

absl::StatusOr<TcpStream> dial_until(const Address& address, absl::Time deadline) {
  absl::StatusOr<Socket> s = Socket::open(address.family(), SOCK_STREAM);
  if (!s.ok()) return s.status();
  TcpStream conn(std::move(*s));
  if (::connect(conn.fd(), address.sockaddr_ptr(), address.size()) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) {
      return errno_status(errno, absl::StrCat("connect ", address.to_string()));
    }
    if (absl::Status w = io::wait_writable_until(conn.fd(), deadline); !w.ok()) {
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

absl::StatusOr<TcpStream> dial_until(std::string_view host_port, absl::Time deadline) {
  absl::StatusOr<std::vector<Address>> addrs = resolve(host_port);
  if (!addrs.ok()) return addrs.status();
  absl::Status last =
      absl::NotFoundError(absl::StrCat("weft::net: no address for ", std::string(host_port)));
  for (const Address& a : *addrs) {
    absl::StatusOr<TcpStream> conn = dial_until(a, deadline);
    if (conn.ok()) return conn;
    last = conn.status();
  }
  return last;
}

}  // namespace weft::net
