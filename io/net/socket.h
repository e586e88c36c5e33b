// weft::net::Socket — an owned, non-blocking socket fd, registered with the
// runtime's poller; the base of TcpStream, TcpListener and UdpSocket.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/io/net/address.h"

namespace weft::net {

class Socket {
 public:
  Socket() = default;
  // Takes ownership of a socket fd and makes it non-blocking.
  explicit Socket(int fd);
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  // Closes the socket. Idempotent; the destructor calls it. Like any other
  // call on the same object, it must not race with a call another fiber is
  // making on it: to stop a fiber blocked on a TcpStream from elsewhere, use
  // TcpStream::shutdown() (its read returns EOF, its write an error) or kill
  // that fiber, and let the owner close.
  void close();

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  absl::StatusOr<Address> local_address() const;

  // Creates a socket of `family` (AF_INET, AF_INET6) and `type`
  // (SOCK_STREAM, SOCK_DGRAM), non-blocking and close-on-exec.
  static absl::StatusOr<Socket> open(int family, int type);

 protected:
  int fd_ = -1;
};

namespace internal {
// An absl::Status from errno: code from the errno, message "op: strerror".
absl::Status errno_status(int err, std::string_view op);

// Accepts the next connection on the listening socket `listen_fd` (TCP or
// Unix), non-blocking and close-on-exec. When the process is out of fds
// (EMFILE, ENFILE) or memory, backs off (1 ms doubling to 100 ms) and tries
// again until the deadline; connections aborted before they were accepted
// are skipped. Blocks like TcpListener::accept.
absl::StatusOr<Socket> accept_socket(int listen_fd, absl::Time deadline);
}  // namespace internal

}  // namespace weft::net
