// The one interface from core to sync/ and io/.
//
// Everything sync/ and io/ need from the runtime is declared here, and they
// include nothing else of core/internal/ (core/private/ is not even on their
// include path: see "Layering" in HACKING.md). It offers:
//
//   * the running fiber: current_fiber_or_null, require_fiber;
//   * parking it with a wait site (wait_site.h) and a deadline: park_current (interruptible by
//     a kill, a timer or a weft::Timeout; woken by token) and
//     park_uninterruptible (woken only by whoever its publish callback told);
//   * ending a wait: try_wake, or try_claim / try_claim_exclusive then wake;
//   * suspension-point checks: wait_interrupted, throw_if_killed,
//     DeferTimeouts;
//   * the worker: has_local_work (spin or park?), yield_current;
//   * the clock: monotonic_now_ns, deadline_after, deadline_at (clock.h,
//     included here and part of this interface);
//   * fd waits on the runtime's poller: IoDir, wait_fd, watch_fd, forget_fd;
//   * the USDT probe macros (probes.h, included here);
//   * Lock and LockGuard (lock.h, included here): std::mutex with the
//     thread-safety annotations, for a thread-side lock (io's offload pool).
//
// FiberControl (fiber_control.h) comes with it as an opaque handle plus the
// fields the inline checks below read; sync/ and io/ read no other field.
//
// park_current() is the one way a fiber waits: it switches away and, only
// after the switch, publishes itself (epoch, then the caller's `publish`
// callback). Whoever wants to wake it calls try_wake with the token it was
// given. A wait may end spuriously (a kill, a timer; a stale token of an
// earlier wait is impossible by construction, but a kill is not): callers
// loop on their condition. The protocol is explained in core/internal/park.cc
// and core/private/runtime_core.cc.
#pragma once

#include <cstdint>
#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "weft/core/errors.h"
#include "weft/core/internal/clock.h"
#include "weft/core/internal/fiber_control.h"
#include "weft/core/internal/lock.h"
#include "weft/core/internal/probes.h"
#include "weft/core/internal/wait_site.h"

namespace weft::internal {

// Called in the Handover, after the switch, with the wait's token. Makes the
// fiber findable by its waker and must not touch `arg` once it has done so.
// Returns true if the wait is already satisfied (the fiber is then resumed
// at once instead of parked).
using PublishFn = bool (*)(FiberControl* self, uint64_t token, void* arg);

// Parks the running fiber until woken, until `deadline_ns` (monotonic;
// INT64_MAX: none), or until killed. The deadline is clamped to the fiber's
// earliest armed weft::Timeout (unless it is unwinding): with none, that is
// one load and compare. Blocks the fiber, not the thread. Call
// set_wait_site first.
//
// Never throws: callers loop, undo their bookkeeping (a JoinWaiter, a
// WaitQueue::Waiter), and only then call throw_if_killed.
void park_current(int64_t deadline_ns, PublishFn publish, void* arg);

// Names what the running fiber is about to wait on (for Runtime::dump and
// the `park` probe): every caller of park_current calls it first. Two plain
// stores into the fiber's own control block, inline, where the caller
// already holds `self` (an argument of park_current would be spilled
// across its call to Worker::current()).
inline void set_wait_site(FiberControl* self, WaitKind kind, uint64_t object) {
  self->wait_site.kind = kind;
  self->wait_site.object = object;
}

// The syscall hooks' gate. libweft_hook.so (io/hook/) defines the
// per-thread int `weft_hook_gate` (C linkage); each worker finds its own copy
// with dlsym when it starts, sets it to 1 for its whole life and back to 0
// when it ends (io's weft::hook::Disable zeroes it for a scope). The hooks
// test it first, so a call outside any fiber costs them one TLS load of
// their own before libc's; a worker's scheduler loop runs no fiber yet reads
// 1, so a hook that would wait confirms with current_fiber_or_null(). The
// int lives in the hook, not here, so that the library loads (LD_PRELOAD)
// into any program, one without weft included. Null if it is not loaded.
int* hook_gate_of_this_thread();

// The running fiber, or null on a plain thread. Out of line, like
// Worker::current(): a caller must not keep a thread_local address across a
// switch, after which its fiber may run on another thread.
FiberControl* current_fiber_or_null();
[[noreturn, gnu::cold]] void throw_outside_fiber(const char* who);

// The running fiber; throws UsageError naming `who` on a plain thread.
// Inline: every wait calls it, often more than once, and the throw would
// otherwise make its fast path pay for the frame of the message's strings.
inline FiberControl* require_fiber(const char* who) {
  FiberControl* f = current_fiber_or_null();
  if (f == nullptr) [[unlikely]]
    throw_outside_fiber(who);
  return f;
}

// Slow paths of weft::Timeout (core/timeout.cc), reached only while a
// Timeout is armed on the fiber. timeout_expired_slow: the earliest armed
// deadline has passed and the fiber is not unwinding. throw_timeout_slow:
// if so, marks that Timeout fired and throws its TimeoutError.
bool timeout_expired_slow(const FiberControl* self);
void throw_timeout_slow(FiberControl* self);

// True if the running fiber's wait must end now: it was killed, or one of its
// Timeouts expired (and it is not unwinding). WaitQueue reports this as
// Result::kInterrupted; whoever sees it undoes its bookkeeping and calls
// throw_if_killed.
inline bool wait_interrupted(const FiberControl* self) {
  return self->kill_requested.load(std::memory_order_relaxed) ||
         (self->timeout_deadline_ns != INT64_MAX && timeout_expired_slow(self));
}

// Called at every suspension point, before and after the wait. Throws
// FiberExit if the running fiber has been asked to die, else TimeoutError if
// one of its weft::Timeouts has expired; neither while the fiber is already
// unwinding (a destructor that waits must not throw: a killed one then
// simply stops waiting early, and Timeouts do not apply to it at all).
inline void throw_if_killed(FiberControl* self) {
  if (self->kill_requested.load(std::memory_order_relaxed) && std::uncaught_exceptions() == 0) {
    throw FiberExit{};
  }
  if (self->timeout_deadline_ns != INT64_MAX) [[unlikely]]
    throw_timeout_slow(self);
}

// Holds every weft::Timeout of the fiber off while alive, for a wait that
// must complete even after a deadline passed: re-acquiring a CondVar's mutex
// before TimeoutError leaves CondVar::wait. The armed deadline is restored
// on destruction, so the next suspension point throws.
class DeferTimeouts {
 public:
  explicit DeferTimeouts(FiberControl* self)
      : self_(self), saved_(std::exchange(self->timeout_deadline_ns, INT64_MAX)) {}
  ~DeferTimeouts() { self_->timeout_deadline_ns = saved_; }
  DeferTimeouts(const DeferTimeouts&) = delete;
  DeferTimeouts& operator=(const DeferTimeouts&) = delete;

 private:
  FiberControl* self_;
  int64_t saved_;
};

// Parks the running fiber in a wait nobody may interrupt: no deadline, and
// neither a kill, a timer nor a weft::Timeout ends it (its epoch stays at the
// "running" value, see kEpochStep). `publish` runs in the Handover, after the
// switch, with token 0; it makes the fiber findable by the one party that will
// wake it (with wake()), or returns true to resume it at once. A kill is seen
// at the caller's next throw_if_killed. Used by weft::blocking.
void park_uninterruptible(PublishFn publish, void* arg, WaitSite site);

// Ending a wait, from any thread (see core/private/runtime_core.h for the
// full contracts). try_wake: wakes f if it is still parked with `token`.
// try_claim: ends f's wait `token` so that no other waker (timer, kill,
// notify) can, without making f runnable; the caller may then write records
// f reads once it runs, and must pass f to wake(). try_claim_exclusive: the
// same for a wait no timer can end whose only waker holds the lock f is
// queued under (a channel send or recv): no CAS unless f was killed.
bool try_wake(FiberControl* f, uint64_t token);
bool try_claim(FiberControl* f, uint64_t token);
bool try_claim_exclusive(FiberControl* f, uint64_t token);
// Makes a claimed (or park_uninterruptible'd) fiber runnable. Any thread.
void wake(FiberControl* f);

// True if another fiber is runnable on the calling fiber's worker: a fiber
// about to spin-wait should rather park and let that work run. Fibers only.
bool has_local_work();
// Lets the other runnable fibers of this worker run, then resumes. Never
// throws, even when the fiber has been killed (weft::yield does).
// Fibers only.
void yield_current();

// The number of worker threads of the calling fiber's runtime (0 on a plain
// thread). For io/'s weft::net::Server, which opens one SO_REUSEPORT
// listener per worker. Blocks nothing.
int current_worker_count();

// Fd readiness on the current runtime's poller (core/private/poller.cc).
enum class IoDir : int { kRead = 0, kWrite = 1 };
// Waits until fd is ready in `dir`, until deadline_ns (monotonic; INT64_MAX:
// none), or until the fiber is killed. From a fiber it parks the fiber; from
// a plain thread it blocks the thread in poll(2).
absl::Status wait_fd(int fd, IoDir dir, int64_t deadline_ns);
// Registers fd with the current runtime's poller (OK and nothing on a plain
// thread); forget_fd before closing it.
absl::Status watch_fd(int fd);
void forget_fd(int fd);

}  // namespace weft::internal
