// The waits behind every hooked call: for one fd (a managed socket that got
// EAGAIN), for any of several (poll, select), and for a time (sleep). From a
// fiber they park it on weft's poller or timer; elsewhere they block the
// thread as libc would. They never throw: a kill or an expired weft::Timeout
// comes back as EINTR.
#pragma once

#include <cerrno>
#include <cstdint>

#include "weft/core/internal/fiber_api.h"
#include "weft/io/hook/fd_table.h"

// The calling thread's gate: 1 on a weft worker outside weft::hook::Disable
// (see hook_gate_of_this_thread in core/internal/fiber_api.h), else 0.
// Defined here, in the library's own static TLS, so testing it is one
// %fs-relative load.
extern "C" __thread int weft_hook_gate __attribute__((tls_model("initial-exec")));

// The runtime's functions this library calls live in the executable that
// links weft. Weak, so that the library also loads into a program without
// weft (LD_PRELOAD of a shell, bind-now included): there the gate is never
// set and they are never called.
namespace weft::internal {
[[gnu::weak]] FiberControl* current_fiber_or_null();
[[gnu::weak]] absl::Status wait_fd(int fd, IoDir dir, int64_t deadline_ns);
[[gnu::weak]] void forget_fd(int fd);
[[gnu::weak]] void park_current(int64_t deadline_ns, PublishFn publish, void* arg);
[[gnu::weak]] bool timeout_expired_slow(const FiberControl* self);
}  // namespace weft::internal

namespace weft::hook::internal {

using weft::internal::IoDir;

// errno, read and written out of line: glibc declares __errno_location()
// const, so the compiler may keep its result across a wait after which the
// fiber runs on another thread.
[[gnu::noinline]] int get_errno();
[[gnu::noinline]] void set_errno(int e);

// The running fiber if this is a worker thread (one TLS load first) and a
// fiber runs; null elsewhere, and inside weft::hook::Disable.
inline weft::internal::FiberControl* hooked_fiber() {
  if (weft_hook_gate == 0) return nullptr;
  return weft::internal::current_fiber_or_null();
}

// monotonic deadline `timeout_ns` from now; INT64_MAX for 0 (none).
int64_t deadline_after_ns(int64_t timeout_ns);

// Waits until fd is ready in `dir` or until deadline_ns. 0: retry the call;
// otherwise the errno the call fails with: `timeout_err` at the deadline,
// EBADF if fd was closed meanwhile, EINTR if the fiber was killed or its
// weft::Timeout expired (or a signal interrupted the thread's poll).
int wait_ready(int fd, IoDir dir, int64_t deadline_ns, int timeout_err);

// Parks the fiber until deadline_ns (monotonic). 0, or EINTR if killed or a
// weft::Timeout expired first (the Timeout then throws at the fiber's next
// weft suspension point).
int fiber_sleep_until(weft::internal::FiberControl* self, int64_t deadline_ns);

// After a call on a managed fd failed: if the user expects it to block
// (EAGAIN on a blocking fd, MSG_DONTWAIT not given), waits and calls again
// until it succeeds, fails otherwise, or times out (SO_RCVTIMEO/SO_SNDTIMEO:
// EAGAIN, as the kernel). Out of line: the fast path is the call alone.
template <typename R, typename Call>
[[gnu::noinline]] R retry_blocked(int fd, IoDir dir, R r, Call call) {
  int64_t deadline = -1;
  for (;;) {
    int err = get_errno();
    if ((err != EAGAIN && err != EWOULDBLOCK) || !waits_on_eagain(fd)) return r;
    if (deadline < 0) {
      FdState* st = fd_state(fd);
      deadline = deadline_after_ns(dir == IoDir::kRead
                                       ? st->recv_timeout_ns.load(std::memory_order_relaxed)
                                       : st->send_timeout_ns.load(std::memory_order_relaxed));
    }
    if (int e = wait_ready(fd, dir, deadline, EAGAIN); e != 0) {
      set_errno(e);
      return R(-1);
    }
    r = call();
    if (r >= 0) return r;
  }
}

// A hooked call on fd: from a fiber, an fd seen for the first time is
// classified (adopt); then the call, and only if it failed the wait. `call`
// captures by value and is copied only on that path, so the fast path keeps
// the arguments in registers.
template <typename Call>
[[gnu::always_inline]] inline auto hooked_io(int fd, IoDir dir, Call call) {
  if (weft_hook_gate != 0) {
    FdState* st = fd_state(fd);
    if (st != nullptr && st->kind.load(std::memory_order_relaxed) == FdKind::kUnknown) {
      adopt(fd, st);
    }
  }
  auto r = call();
  if (r >= 0) [[likely]]
    return r;
  return retry_blocked(fd, dir, r, call);
}

}  // namespace weft::hook::internal
