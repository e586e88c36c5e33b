// Waiting for a file descriptor to become ready, the one primitive every
// socket (and, later, the syscall hooks) is built on.
//
//   int fd = ...;                       // non-blocking
//   weft::io::watch(fd);                // once (the waits also do it lazily)
//   while ((n = ::read(fd, buf, len)) < 0 && errno == EAGAIN) {
//     if (absl::Status s = weft::io::wait_readable_until(fd, deadline); !s.ok()) return s;
//   }
//   weft::io::forget(fd); ::close(fd);  // forget before close, always
//
// Inside a fiber a wait parks the fiber and its worker runs others; the
// runtime's one epoll instance (edge-triggered) wakes it. On a plain thread a
// wait blocks the thread in poll(2). Readiness is a hint: after OK, retry the
// syscall, and wait again on EAGAIN.
//
// Timed waits follow core's and sync's convention (sleep_for / sleep_until,
// Mutex::try_lock_for / try_lock_until), as does every timed call of weft::io
// and weft::net: `name_for(..., absl::Duration)` waits at most that long,
// `name_until(..., absl::Time)` until that instant, and plain `name(...)`
// without a limit.
#pragma once

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace weft::io {

// Registers fd with the running fiber's runtime (edge-triggered, in and out).
// Idempotent. InvalidArgument for a bad fd; UsageError-free on a plain thread
// (nothing to register: returns OK).
absl::Status watch(int fd);

// Deregisters fd before it is closed and ends every wait on it with
// Cancelled. Call it before close(fd): a closed fd number is soon reused,
// and a registration left behind would never see the new file's events.
// Harmless for an fd never watched. Any thread.
void forget(int fd);

// Waits until fd is readable (or at EOF / in error), or writable, or until
// `deadline`. OK: retry the syscall. DeadlineExceeded; Cancelled if the fd was
// forgotten meanwhile; FailedPrecondition if another fiber already waits on
// the same fd in the same direction. Throws weft::FiberExit if the fiber is
// killed while it waits.
absl::Status wait_readable_until(int fd, absl::Time deadline);
absl::Status wait_writable_until(int fd, absl::Time deadline);
// The same with a timeout, and without a limit.
inline absl::Status wait_readable_for(int fd, absl::Duration timeout) {
  return wait_readable_until(fd, absl::Now() + timeout);
}
inline absl::Status wait_writable_for(int fd, absl::Duration timeout) {
  return wait_writable_until(fd, absl::Now() + timeout);
}
inline absl::Status wait_readable(int fd) {
  return wait_readable_until(fd, absl::InfiniteFuture());
}
inline absl::Status wait_writable(int fd) {
  return wait_writable_until(fd, absl::InfiniteFuture());
}

}  // namespace weft::io
