// The data calls: read/write and the socket send/recv family, accept,
// connect. Each is libc's call first; only a failure with EAGAIN on an fd the
// user made blocking waits (hooked_wait.h), which keeps the fast path, on a
// fiber or not, to the call itself plus, on a worker, one table load.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "weft/io/hook/fd_table.h"
#include "weft/io/hook/hooked_wait.h"
#include "weft/io/hook/real_calls.h"

using weft::hook::internal::FdState;
using weft::hook::internal::hooked_io;
using weft::hook::internal::IoDir;

namespace {

// A send the caller asked not to wait for is libc's, whatever the fd's mode.
inline bool dont_wait(int flags) { return (flags & MSG_DONTWAIT) != 0; }

// An fd accept() returned: managed if the listener's user is a fiber.
int accepted(int fd, int flags) {
  if (fd >= 0 && weft_hook_gate != 0) {
    weft::hook::internal::manage(fd, (flags & SOCK_NONBLOCK) != 0);
  }
  return fd;
}

}  // namespace

extern "C" {

ssize_t read(int fd, void* buf, size_t n) {
  return hooked_io(fd, IoDir::kRead, [=] { return WEFT_REAL(read)(fd, buf, n); });
}

ssize_t write(int fd, const void* buf, size_t n) {
  return hooked_io(fd, IoDir::kWrite, [=] { return WEFT_REAL(write)(fd, buf, n); });
}

ssize_t readv(int fd, const iovec* iov, int count) {
  return hooked_io(fd, IoDir::kRead, [=] { return WEFT_REAL(readv)(fd, iov, count); });
}

ssize_t writev(int fd, const iovec* iov, int count) {
  return hooked_io(fd, IoDir::kWrite, [=] { return WEFT_REAL(writev)(fd, iov, count); });
}

ssize_t recv(int fd, void* buf, size_t n, int flags) {
  if (dont_wait(flags)) return WEFT_REAL(recv)(fd, buf, n, flags);
  return hooked_io(fd, IoDir::kRead, [=] { return WEFT_REAL(recv)(fd, buf, n, flags); });
}

ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from, socklen_t* len) {
  if (dont_wait(flags)) return WEFT_REAL(recvfrom)(fd, buf, n, flags, from, len);
  return hooked_io(fd, IoDir::kRead,
                   [=] { return WEFT_REAL(recvfrom)(fd, buf, n, flags, from, len); });
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  if (dont_wait(flags)) return WEFT_REAL(recvmsg)(fd, msg, flags);
  return hooked_io(fd, IoDir::kRead, [=] { return WEFT_REAL(recvmsg)(fd, msg, flags); });
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
  if (dont_wait(flags)) return WEFT_REAL(send)(fd, buf, n, flags);
  return hooked_io(fd, IoDir::kWrite, [=] { return WEFT_REAL(send)(fd, buf, n, flags); });
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t len) {
  if (dont_wait(flags)) return WEFT_REAL(sendto)(fd, buf, n, flags, to, len);
  return hooked_io(fd, IoDir::kWrite,
                   [=] { return WEFT_REAL(sendto)(fd, buf, n, flags, to, len); });
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  if (dont_wait(flags)) return WEFT_REAL(sendmsg)(fd, msg, flags);
  return hooked_io(fd, IoDir::kWrite, [=] { return WEFT_REAL(sendmsg)(fd, msg, flags); });
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
  return accepted(hooked_io(fd, IoDir::kRead, [=] { return WEFT_REAL(accept)(fd, addr, len); }), 0);
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return accepted(
      hooked_io(fd, IoDir::kRead, [=] { return WEFT_REAL(accept4)(fd, addr, len, flags); }), flags);
}

// A blocking connect on a managed socket: the real (non-blocking) connect
// starts it, the fiber waits until the socket is writable, and SO_ERROR says
// how it ended. SO_SNDTIMEO bounds the wait with EINPROGRESS, as the kernel.
int connect(int fd, const sockaddr* addr, socklen_t len) {
  int r = hooked_io(fd, IoDir::kWrite, [=] { return WEFT_REAL(connect)(fd, addr, len); });
  if (r == 0 || weft::hook::internal::get_errno() != EINPROGRESS ||
      !weft::hook::internal::waits_on_eagain(fd)) {
    return r;
  }
  FdState* st = weft::hook::internal::fd_state(fd);
  int64_t deadline =
      weft::hook::internal::deadline_after_ns(st->send_timeout_ns.load(std::memory_order_relaxed));
  if (int e = weft::hook::internal::wait_ready(fd, IoDir::kWrite, deadline, EINPROGRESS); e != 0) {
    weft::hook::internal::set_errno(e);
    return -1;
  }
  int err = 0;
  socklen_t err_len = sizeof err;
  if (WEFT_REAL(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) return -1;
  if (err != 0) {
    weft::hook::internal::set_errno(err);
    return -1;
  }
  return 0;
}

}  // extern "C"
