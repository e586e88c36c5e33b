#include "weft/io/net/socket.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "weft/io/fd_wait.h"

namespace weft::net {

namespace internal {
absl::Status errno_status(int err, std::string_view op) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat("weft::net: ", std::string(op), ": ", std::strerror(err)));
}
}  // namespace internal

namespace {

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

}  // namespace weft::net
