#include "weft/io/hook/hooked_wait.h"

#include <poll.h>

#include <algorithm>
#include <exception>

#include "weft/core/this_fiber.h"
#include "weft/io/hook/real_calls.h"

extern "C" {
__attribute__((visibility("default"))) __thread int weft_hook_gate = 0;
}

namespace weft::hook::internal {

using weft::internal::FiberControl;
using weft::internal::monotonic_now_ns;

int get_errno() {
  asm volatile("" ::: "memory");
  return errno;
}

void set_errno(int e) {
  asm volatile("" ::: "memory");
  errno = e;
}

int64_t deadline_after_ns(int64_t timeout_ns) {
  return timeout_ns > 0 ? monotonic_now_ns() + timeout_ns : INT64_MAX;
}

namespace {

// A thread (or a worker's scheduler loop, or a Disable scope) waits in libc's
// poll(2), exactly as a blocking call would have blocked it.
int wait_on_thread(int fd, IoDir dir, int64_t deadline_ns, int timeout_err) {
  pollfd p{fd, static_cast<short>(dir == IoDir::kRead ? POLLIN : POLLOUT), 0};
  for (;;) {
    int timeout_ms = -1;
    if (deadline_ns != INT64_MAX) {
      int64_t left = deadline_ns - monotonic_now_ns();
      if (left <= 0) return timeout_err;
      timeout_ms = static_cast<int>(std::min<int64_t>((left + 999999) / 1000000, 1 << 30));
    }
    int n = WEFT_REAL(poll)(&p, 1, timeout_ms);
    if (n > 0) return (p.revents & POLLNVAL) != 0 ? EBADF : 0;
    if (n < 0) return get_errno();  // EINTR: a signal, as the blocking call would report
  }
}

// Two fibers waiting on one fd in one direction (weft's poller keeps one
// waiter a direction): the second polls every millisecond instead.
int nap(FiberControl* self, int64_t deadline_ns) {
  int64_t until = std::min(deadline_ns, monotonic_now_ns() + 1000000);
  return fiber_sleep_until(self, until);
}

}  // namespace

int fiber_sleep_until(FiberControl* self, int64_t deadline_ns) {
  for (;;) {
    // Interrupted: killed, or a weft::Timeout passed. Not thrown here (a C
    // caller cannot unwind); the fiber's next weft suspension point throws.
    if (weft::internal::wait_interrupted(self)) return EINTR;
    if (monotonic_now_ns() >= deadline_ns) return 0;
    weft::internal::set_wait_site(self, weft::internal::WaitKind::kHookSleep,
                                  static_cast<uint64_t>(deadline_ns));
    weft::internal::park_current(deadline_ns, nullptr, nullptr);
  }
}

int wait_ready(int fd, IoDir dir, int64_t deadline_ns, int timeout_err) {
  WEFT_PROBE_HOOK_WAIT(fd, static_cast<int>(dir));
  FiberControl* self = hooked_fiber();
  if (self == nullptr) return wait_on_thread(fd, dir, deadline_ns, timeout_err);
  if (weft::internal::wait_interrupted(self)) return EINTR;
  absl::Status st;
  try {
    st = weft::internal::wait_fd(fd, dir, deadline_ns);
  } catch (...) {
    // FiberExit or TimeoutError, thrown by the wait's own suspension-point
    // check: the kill stays requested (the next weft wait throws again); the
    // Timeout counts as fired.
    return EINTR;
  }
  if (st.ok()) return 0;
  switch (st.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return timeout_err;
    case absl::StatusCode::kCancelled:  // closed meanwhile, or killed while unwinding
      return self->kill_requested.load(std::memory_order_relaxed) ? EINTR : EBADF;
    case absl::StatusCode::kFailedPrecondition:
      return nap(self, deadline_ns);
    default:
      return EBADF;
  }
}

}  // namespace weft::hook::internal
