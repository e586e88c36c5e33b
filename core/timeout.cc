// weft::Timeout: a scoped deadline without a timer of its own.
//
// Each fiber keeps its alive Timeouts in a list threaded through the
// Timeout objects themselves (they live on the fiber's stack, innermost
// first, FiberControl::timeouts) and caches the earliest armed deadline in
// FiberControl::timeout_deadline_ns. Both are fiber-local: only the fiber
// reads or writes them, so no atomics.
//
// Interrupting a wait needs no new machinery:
//   * park_current clamps the deadline of every park to the cached one
//     (one load and compare when no Timeout is armed), so a wait that is
//     still parked when the scope's deadline passes is woken by the ordinary
//     timer of its park — the same TimerHeap entry a deadline wait uses,
//     removed when the park ends first (see timer_heap.h).
//   * Every wait already loops and, when its park ends for a reason other
//     than its own condition, undoes its bookkeeping (the JoinWaiter in a
//     join word, the Waiter in a WaitQueue) and calls throw_if_killed. That
//     function now also throws TimeoutError when the cached deadline has
//     passed, so the exception always leaves a consistent state. WaitQueue
//     reports the case as Result::kInterrupted, like a kill.
//
// Rejected designs:
//   * A timer per Timeout that marks the fiber and wakes it: a second timer
//     per wait, and a second wake-up path racing the waits' own; the park
//     deadline already is one.
//   * Throwing from park_current: the caller's waiter would still be linked
//     in a queue or a join word when the exception left.
//   * Checking the clock at every suspension point whatever the state:
//     gated on the cached deadline, a fiber without Timeouts never reads it.
//
// Which Timeout fires: the one with the earliest deadline; of equal ones the
// outermost, since its expiry ends the inner scopes too. It is marked fired
// (it fires at most once) and the cache is recomputed from the others.
// While the fiber unwinds (std::uncaught_exceptions() != 0) Timeouts are
// ignored altogether: park_current does not clamp, nothing throws, and a
// destructor's wait runs to completion.
#include "weft/core/timeout.h"

#include <algorithm>
#include <exception>

#include "weft/core/errors.h"
#include "weft/core/internal/clock.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/internal/fiber_control.h"

namespace weft {

// Lets the internal slow paths below reach the private parts of Timeout and
// TimeoutError.
struct TimeoutAccess {
  // The earliest deadline among the armed Timeouts of `f`.
  static int64_t earliest(const internal::FiberControl* f) {
    int64_t d = INT64_MAX;
    for (const Timeout* t = f->timeouts; t != nullptr; t = t->outer_) {
      if (t->armed()) d = std::min(d, t->deadline_ns_);
    }
    return d;
  }

  // The armed Timeout whose deadline is the earliest; the outermost of equals.
  static Timeout* due(internal::FiberControl* f) {
    Timeout* best = nullptr;
    for (Timeout* t = f->timeouts; t != nullptr; t = t->outer_) {
      if (t->armed() && (best == nullptr || t->deadline_ns_ <= best->deadline_ns_)) best = t;
    }
    return best;
  }

  [[noreturn]] static void fire(internal::FiberControl* f, Timeout* t) {
    t->fired_ = true;
    f->timeout_deadline_ns = earliest(f);
    throw TimeoutError(t, "weft::Timeout of " + absl::FormatDuration(t->duration_) + " expired");
  }
};

Timeout::Timeout(absl::Duration timeout) { arm(internal::deadline_after(timeout), timeout); }

Timeout::Timeout(absl::Time deadline) {
  int64_t d = internal::deadline_at(deadline);
  arm(d, deadline == absl::InfiniteFuture() ? absl::InfiniteDuration() : deadline - absl::Now());
}

void Timeout::arm(int64_t deadline_ns, absl::Duration duration) {
  fiber_ = internal::require_fiber("weft::Timeout");
  duration_ = duration;
  deadline_ns_ = deadline_ns;
  outer_ = fiber_->timeouts;
  fiber_->timeouts = this;
  linked_ = true;
  fiber_->timeout_deadline_ns = std::min(fiber_->timeout_deadline_ns, deadline_ns_);
}

Timeout::~Timeout() { unlink(); }

void Timeout::cancel() {
  if (cancelled_ || !linked_) return;
  cancelled_ = true;
  fiber_->timeout_deadline_ns = TimeoutAccess::earliest(fiber_);
}

void Timeout::unlink() {
  if (!linked_) return;
  linked_ = false;
  // Scopes end innermost first; a Timeout destroyed out of order (allocated
  // dynamically) is found further down the list.
  Timeout** link = &fiber_->timeouts;
  while (*link != nullptr && *link != this) link = &(*link)->outer_;
  if (*link == this) *link = outer_;
  fiber_->timeout_deadline_ns = TimeoutAccess::earliest(fiber_);
}

namespace internal {

bool timeout_expired_slow(const FiberControl* self) {
  return monotonic_now_ns() >= self->timeout_deadline_ns && std::uncaught_exceptions() == 0;
}

void throw_timeout_slow(FiberControl* self) {
  if (!timeout_expired_slow(self)) return;
  Timeout* t = TimeoutAccess::due(self);
  if (t == nullptr) {  // cache out of date; cannot happen, but never throw for nothing
    self->timeout_deadline_ns = INT64_MAX;
    return;
  }
  TimeoutAccess::fire(self, t);
}

}  // namespace internal
}  // namespace weft
