// The fiber-side wait primitives every blocking operation is built on.
//
// park_current() is the one way a fiber waits: it switches away and, only
// after the switch, publishes itself (epoch, then the caller's `publish`
// callback). Whoever wants to wake it calls RuntimeCore::try_wake with the
// token it was given. A wait may end spuriously (a kill, a timer, a stale
// token of an earlier wait is impossible by construction, but a kill is not):
// callers loop on their condition.
#pragma once

#include <cstdint>
#include <exception>
#include <utility>

#include "weft/core/errors.h"
#include "weft/core/internal/fiber_control.h"

namespace weft::internal {

class Worker;

// Called in the Handover, after the switch, with the wait's token. Makes the
// fiber findable by its waker and must not touch `arg` once it has done so.
// Returns true if the wait is already satisfied (the fiber is then resumed
// at once instead of parked).
using PublishFn = bool (*)(FiberControl* self, uint64_t token, void* arg);

// Parks the running fiber until woken, until `deadline_ns` (monotonic;
// INT64_MAX: none), or until killed. The deadline is clamped to the fiber's
// earliest armed weft::Timeout (unless it is unwinding): with none, that is
// one load and compare. Blocks the fiber, not the thread.
//
// Never throws: callers loop, undo their bookkeeping (a JoinWaiter, a
// WaitQueue::Waiter), and only then call throw_if_killed.
void park_current(int64_t deadline_ns, PublishFn publish, void* arg);

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
  if (f == nullptr) [[unlikely]] throw_outside_fiber(who);
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
  if (self->timeout_deadline_ns != INT64_MAX) [[unlikely]] throw_timeout_slow(self);
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

// Runs first in a fiber's closure if the fiber was killed before it ever
// ran: throws FiberExit, so the body never runs (its captures are still
// destroyed). Returns, letting the body run to its first suspension point,
// when the kill came from Runtime shutdown (see runtime_core.cc).
void exit_if_killed_before_start(FiberControl* self);

// Waits for `target` to finish, until `deadline_ns`. From a fiber it parks
// the fiber; from a plain thread it blocks the thread. True if finished.
bool join_fiber(FiberControl* target, int64_t deadline_ns);

// The entry point of every fiber (see Context::make).
[[noreturn]] void fiber_main(Handover*);

}  // namespace weft::internal
