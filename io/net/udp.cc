#include "weft/io/net/udp.h"

#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "weft/io/fd_wait.h"

namespace weft::net {

using internal::errno_status;

absl::StatusOr<UdpSocket> UdpSocket::bind(std::string_view host_port) {
  absl::StatusOr<Address> a = Address::parse(host_port);
  if (!a.ok()) return a.status();
  absl::StatusOr<Socket> s = open(a->family(), SOCK_DGRAM);
  if (!s.ok()) return s.status();
  if (::bind(s->fd(), a->sockaddr_ptr(), a->size()) != 0) {
    return errno_status(errno, absl::StrCat("bind ", a->to_string()));
  }
  return UdpSocket(std::move(*s));
}

absl::Status UdpSocket::send_to_until(const Address& to, std::string_view data,
                                      absl::Time deadline) {
  if (fd_ < 0) return absl::FailedPreconditionError("weft::net: send_to on a closed socket");
  for (;;) {
    ssize_t n = ::sendto(fd_, data.data(), data.size(), MSG_NOSIGNAL, to.sockaddr_ptr(), to.size());
    if (n >= 0) return absl::OkStatus();
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return errno_status(errno, absl::StrCat("send_to ", to.to_string()));
    }
    if (absl::Status s = io::wait_writable_until(fd_, deadline); !s.ok()) return s;
  }
}

absl::StatusOr<UdpSocket::Datagram> UdpSocket::recv_from_until(std::span<char> buf,
                                                               absl::Time deadline) {
  if (fd_ < 0) return absl::FailedPreconditionError("weft::net: recv_from on a closed socket");
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n >= 0) {
      return Datagram{static_cast<std::size_t>(n),
                      Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len)};
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno_status(errno, "recv_from");
    if (absl::Status s = io::wait_readable_until(fd_, deadline); !s.ok()) return s;
  }
}

}  // namespace weft::net
