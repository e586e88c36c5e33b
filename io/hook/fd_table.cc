#include "weft/io/hook/fd_table.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "weft/core/internal/fiber_api.h"
#include "weft/io/hook/hooked_wait.h"  // the runtime, weakly
#include "weft/io/hook/real_calls.h"

namespace weft::hook::internal {

// 1.5 MiB of zero pages in .bss: the kernel backs only the pages of fd
// numbers in use.
FdState g_fds[kMaxManagedFd];

bool manage(int fd, bool user_nonblock) {
  FdState* st = fd_state(fd);
  if (st == nullptr) return false;
  st->user_nonblock.store(user_nonblock, std::memory_order_relaxed);
  st->recv_timeout_ns.store(0, std::memory_order_relaxed);
  st->send_timeout_ns.store(0, std::memory_order_relaxed);
  if (!user_nonblock) {
    int fl = WEFT_REAL(fcntl)(fd, F_GETFL);
    if (fl < 0 || WEFT_REAL(fcntl)(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
      st->kind.store(FdKind::kPassThrough, std::memory_order_relaxed);
      return false;
    }
  }
  st->kind.store(FdKind::kManaged, std::memory_order_relaxed);
  return true;
}

FdKind adopt(int fd, FdState* st) {
  // Sockets only: a pipe or a tty we did not create may share its file
  // description with another process (a shell's terminal), which must not
  // find it switched to non-blocking.
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISSOCK(sb.st_mode)) {
    st->kind.store(FdKind::kPassThrough, std::memory_order_relaxed);
    return FdKind::kPassThrough;
  }
  int fl = WEFT_REAL(fcntl)(fd, F_GETFL);
  if (fl < 0) return FdKind::kUnknown;  // EBADF: let the call itself say so
  manage(fd, (fl & O_NONBLOCK) != 0);
  // The socket's timeouts, set before we knew it.
  for (int opt : {SO_RCVTIMEO, SO_SNDTIMEO}) {
    timeval tv{};
    socklen_t len = sizeof tv;
    if (WEFT_REAL(getsockopt)(fd, SOL_SOCKET, opt, &tv, &len) == 0) {
      int64_t ns = int64_t{tv.tv_sec} * 1000000000 + int64_t{tv.tv_usec} * 1000;
      (opt == SO_RCVTIMEO ? st->recv_timeout_ns : st->send_timeout_ns)
          .store(ns, std::memory_order_relaxed);
    }
  }
  return st->kind.load(std::memory_order_relaxed);
}

void forget(int fd) {
  if (FdState* st = fd_state(fd)) {
    st->kind.store(FdKind::kUnknown, std::memory_order_relaxed);
    st->user_nonblock.store(false, std::memory_order_relaxed);
  }
  // Also for fds the hook never managed: a fiber may have waited on any fd
  // through weft::io or a hooked epoll_wait.
  weft::internal::forget_fd(fd);
}

}  // namespace weft::hook::internal
