// Waiting for a file descriptor to become ready, the one primitive every
// socket (and, later, the syscall hooks) is built on.
//
//   int fd = ...;                       // non-blocking
//   weft::io::watch(fd);                // once (the waits also do it lazily)
//   while ((n = ::read(fd, buf, len)) < 0 && errno == EAGAIN) {
//     if (absl::Status s = weft::io::wait_readable(fd, deadline); !s.ok()) return s;
//   }
//   weft::io::forget(fd); ::close(fd);  // forget before close, always
//
// Inside a fiber a wait parks the fiber and its worker runs others; the
// runtime's one epoll instance (edge-triggered) wakes it. On a plain thread a
// wait blocks the thread in poll(2). Readiness is a hint: after OK, retry the
// syscall, and wait again on EAGAIN.
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
absl::Status wait_readable(int fd, absl::Time deadline = absl::InfiniteFuture());
absl::Status wait_writable(int fd, absl::Time deadline = absl::InfiniteFuture());

}  // namespace weft::io
