// The calls that create, change and close fds: the hook's view of each fd
// (fd_table.h) follows them. Sockets and pipes created on a worker thread are
// managed from birth; elsewhere the new fd's entry is only reset (a fiber
// that uses it later adopts it, if it is a socket).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdarg>

#include "weft/io/hook/fd_table.h"
#include "weft/io/hook/hooked_wait.h"
#include "weft/io/hook/real_calls.h"

namespace hk = weft::hook::internal;
using hk::FdKind;
using hk::FdState;

namespace {

// A new fd, created with the user's `nonblock`.
void born(int fd, bool nonblock) {
  if (weft_hook_gate != 0) {
    hk::manage(fd, nonblock);
  } else if (FdState* st = hk::fd_state(fd)) {
    st->kind.store(FdKind::kUnknown, std::memory_order_relaxed);
  }
}

// new_fd is a duplicate of old_fd: the same open file description, so the
// same O_NONBLOCK (the user's view travels with it) and socket options.
void duplicated(int old_fd, int new_fd) {
  FdState* from = hk::fd_state(old_fd);
  FdState* to = hk::fd_state(new_fd);
  if (to == nullptr) return;
  if (from == nullptr) {
    to->kind.store(FdKind::kPassThrough, std::memory_order_relaxed);
    return;
  }
  to->user_nonblock.store(from->user_nonblock.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  to->recv_timeout_ns.store(from->recv_timeout_ns.load(std::memory_order_relaxed),
                            std::memory_order_relaxed);
  to->send_timeout_ns.store(from->send_timeout_ns.load(std::memory_order_relaxed),
                            std::memory_order_relaxed);
  to->kind.store(from->kind.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

bool managed(FdState* st) {
  return st != nullptr && st->kind.load(std::memory_order_relaxed) == FdKind::kManaged;
}

}  // namespace

extern "C" {

int socket(int domain, int type, int protocol) noexcept {
  int fd = WEFT_REAL(socket)(domain, type, protocol);
  if (fd >= 0) born(fd, (type & SOCK_NONBLOCK) != 0);
  return fd;
}

int socketpair(int domain, int type, int protocol, int sv[2]) noexcept {
  int r = WEFT_REAL(socketpair)(domain, type, protocol, sv);
  if (r == 0) {
    born(sv[0], (type & SOCK_NONBLOCK) != 0);
    born(sv[1], (type & SOCK_NONBLOCK) != 0);
  }
  return r;
}

int pipe(int fds[2]) noexcept {
  int r = WEFT_REAL(pipe)(fds);
  if (r == 0) {
    born(fds[0], false);
    born(fds[1], false);
  }
  return r;
}

int pipe2(int fds[2], int flags) noexcept {
  int r = WEFT_REAL(pipe2)(fds, flags);
  if (r == 0) {
    born(fds[0], (flags & O_NONBLOCK) != 0);
    born(fds[1], (flags & O_NONBLOCK) != 0);
  }
  return r;
}

int dup(int fd) noexcept {
  int r = WEFT_REAL(dup)(fd);
  if (r >= 0) duplicated(fd, r);
  return r;
}

// dup2/dup3 close new_fd first (atomically): waits on it end with EBADF.
int dup2(int fd, int new_fd) noexcept {
  int r = WEFT_REAL(dup2)(fd, new_fd);
  if (r >= 0 && r != fd) {
    hk::forget(r);
    duplicated(fd, r);
  }
  return r;
}

int dup3(int fd, int new_fd, int flags) noexcept {
  int r = WEFT_REAL(dup3)(fd, new_fd, flags);
  if (r >= 0) {
    hk::forget(r);
    duplicated(fd, r);
  }
  return r;
}

// Forget first: a fiber waiting on fd wakes with EBADF, and weft's poller
// drops its registration before the number can be reused. On any thread,
// since the waiter may be a fiber while the closer is not.
int close(int fd) {
  hk::forget(fd);
  return WEFT_REAL(close)(fd);
}

// Nothing to do beyond libc's: the kernel wakes the waiters (EOF, EPIPE),
// and weft's poller sees the hang-up.
int shutdown(int fd, int how) noexcept { return WEFT_REAL(shutdown)(fd, how); }

// Every command's argument is passed on as a pointer-sized word, as glibc's
// own wrapper does.
int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  FdState* st = hk::fd_state(fd);
  switch (cmd) {
    case F_GETFL: {
      int r = WEFT_REAL(fcntl)(fd, cmd);
      if (r < 0 || !managed(st)) return r;
      r &= ~O_NONBLOCK;
      return st->user_nonblock.load(std::memory_order_relaxed) ? (r | O_NONBLOCK) : r;
    }
    case F_SETFL: {
      int flags = static_cast<int>(reinterpret_cast<intptr_t>(arg));
      if (!managed(st)) return WEFT_REAL(fcntl)(fd, cmd, flags);
      int r = WEFT_REAL(fcntl)(fd, cmd, flags | O_NONBLOCK);  // the real fd stays non-blocking
      if (r == 0) st->user_nonblock.store((flags & O_NONBLOCK) != 0, std::memory_order_relaxed);
      return r;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      int r = WEFT_REAL(fcntl)(fd, cmd, arg);
      if (r >= 0) duplicated(fd, r);
      return r;
    }
    default:
      return WEFT_REAL(fcntl)(fd, cmd, arg);
  }
}

int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  FdState* st = hk::fd_state(fd);
  if (request == FIONBIO && managed(st) && arg != nullptr) {
    // The user's view changes; the real fd stays non-blocking.
    st->user_nonblock.store(*static_cast<const int*>(arg) != 0, std::memory_order_relaxed);
    return 0;
  }
  return WEFT_REAL(ioctl)(fd, request, arg);
}

// SO_RCVTIMEO/SO_SNDTIMEO also become the deadlines of the hook's waits.
int setsockopt(int fd, int level, int name, const void* value, socklen_t len) noexcept {
  int r = WEFT_REAL(setsockopt)(fd, level, name, value, len);
  if (r == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
      len >= sizeof(timeval)) {
    if (FdState* st = hk::fd_state(fd)) {
      const auto* tv = static_cast<const timeval*>(value);
      int64_t ns = int64_t{tv->tv_sec} * 1000000000 + int64_t{tv->tv_usec} * 1000;
      (name == SO_RCVTIMEO ? st->recv_timeout_ns : st->send_timeout_ns)
          .store(ns, std::memory_order_relaxed);
    }
  }
  return r;
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept {
  return WEFT_REAL(getsockopt)(fd, level, name, value, len);
}

}  // extern "C"
