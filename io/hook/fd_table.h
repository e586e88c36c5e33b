// What libweft_hook.so knows about each file descriptor: whether the hook
// manages it (the real fd is non-blocking under the hood while the user sees
// the mode they asked for), that user-visible O_NONBLOCK, and the
// SO_RCVTIMEO/SO_SNDTIMEO deadlines.
//
// States of an entry (FdState::kind):
//   kUnknown    never seen, or closed since: the first hooked call from a
//               fiber classifies it (adopt): a socket becomes kManaged,
//               anything else kPassThrough;
//   kManaged    a socket or a pipe the hook created or adopted: its real fd
//               is O_NONBLOCK; a call the user expects to block waits on
//               weft's poller (from a fiber) or in poll(2) (elsewhere);
//   kPassThrough  a regular file, an eventfd, an epoll fd, a tty...: every
//               call goes straight to libc.
//
// Memory ordering: relaxed throughout. An entry describes one fd number, and
// an fd number reaches another thread only through that program's own
// synchronisation (a queue, a join, a spawn), which orders the entry's writes
// before the other thread's reads just as it orders the open before the use.
// Concurrent calls on one fd (a reader and a writer) read the entry; only
// calls that change the fd (fcntl, ioctl, setsockopt, close, dup2 onto it)
// write it, and racing those against I/O on the same fd is a race in the
// program with libc too.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::hook::internal {

enum class FdKind : uint8_t { kUnknown = 0, kManaged = 1, kPassThrough = 2 };

struct FdState {
  std::atomic<FdKind> kind{FdKind::kUnknown};
  std::atomic<bool> user_nonblock{false};   // O_NONBLOCK as the user set it
  std::atomic<int64_t> recv_timeout_ns{0};  // SO_RCVTIMEO; 0: none
  std::atomic<int64_t> send_timeout_ns{0};  // SO_SNDTIMEO; 0: none
};

// Fds at or above this are never managed (every call on them is libc's).
inline constexpr int kMaxManagedFd = 1 << 16;

// The table: static storage, nothing is allocated, ever. Hidden, so the
// library reaches it without the GOT.
extern FdState g_fds[kMaxManagedFd] __attribute__((visibility("hidden")));

// The entry for fd, or null if fd is out of the table's range.
inline FdState* fd_state(int fd) {
  return static_cast<unsigned>(fd) < static_cast<unsigned>(kMaxManagedFd) ? &g_fds[fd] : nullptr;
}

// Makes fd (just created, or found to be a socket) managed: records the
// user's O_NONBLOCK and turns the real fd non-blocking. False (and the entry
// left kPassThrough) if the real fd's flags cannot be changed.
bool manage(int fd, bool user_nonblock);

// Classifies an kUnknown fd on its first use from a fiber (see the states).
FdKind adopt(int fd, FdState* st);

// The entry of an fd that closed or is about to be replaced: back to
// kUnknown, and every wait weft's poller has on that fd number ends (its
// fiber's call fails with EBADF), so the next file with that number starts
// clean. Any thread.
void forget(int fd);

// True if a call on fd that got EAGAIN should wait: the hook manages fd and
// its user made it blocking.
inline bool waits_on_eagain(int fd) {
  FdState* st = fd_state(fd);
  return st != nullptr && st->kind.load(std::memory_order_relaxed) == FdKind::kManaged &&
         !st->user_nonblock.load(std::memory_order_relaxed);
}

}  // namespace weft::hook::internal
