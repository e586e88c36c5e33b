// weft::Timeout — a scoped deadline for everything a fiber waits on
// (gevent.Timeout), and weft::TimeoutError, what it throws.
//
//   try {
//     weft::Timeout t(absl::Seconds(1));   // the deadline starts now
//     auto v = ch.recv();                  // any suspension point in the scope...
//     weft::sleep_for(absl::Seconds(5));   // ...throws TimeoutError once it passes
//   } catch (const weft::TimeoutError& e) {
//     // e.what(): "weft::Timeout of 1s expired"
//   }
//
// While a Timeout is alive, every suspension point of the fiber that made it
// — yield, sleep_for/sleep_until, Fiber::join/join_for/get, join_all, and
// every wait of sync/ (Mutex::lock, CondVar::wait*, Semaphore::acquire*,
// WaitGroup::wait*, Latch::wait, Event::wait, Channel send/recv, select) —
// throws TimeoutError once the deadline has passed, whether the fiber was
// already waiting then (the wait ends at the deadline) or waits later.
// Nothing else is interrupted: a fiber that computes without suspending is
// not preempted.
//
// Nesting. Scopes nest; the earliest deadline fires, and the TimeoutError
// says which Timeout it was, so a scope can keep what is its own and pass
// the rest on:
//
//   weft::Timeout outer(absl::Seconds(5));
//   for (auto& job : jobs) {
//     weft::Timeout per_job(absl::Milliseconds(100));
//     try {
//       run(job);
//     } catch (const weft::TimeoutError& e) {
//       if (!e.is(per_job)) throw;   // outer's: give up on every job
//       skipped.push_back(job);       // this job's: go on with the next
//     }
//   }
//
// Rules:
//   * A Timeout fires at most once: after its TimeoutError, waits in the same
//     scope go on undisturbed (other Timeouts still apply).
//   * Leaving the scope (or cancel()) disarms it; a deadline that passes
//     afterwards is never seen.
//   * Waits made while an exception unwinds the stack (in destructors) ignore
//     every Timeout and never throw TimeoutError, so RAII cleanup that waits
//     runs to completion.
//   * A kill wins: a fiber that is both killed and timed out throws
//     FiberExit.
//   * A wait whose own result arrived in time keeps it (a recv that got its
//     value, a lock that was granted); the next suspension point throws.
//
// Cost. Creating a Timeout reads the clock and links a record on the
// fiber's stack; no timer, no allocation, no atomic. A wait in its scope
// parks with min(its own deadline, the scope's) through the worker's timer
// heap, exactly as a wait with a deadline does; a wait that ends first
// leaves only a stale heap entry behind, dropped when due (lazy
// cancellation, see core/private/timer_heap.h). With no Timeout alive a
// wait pays one load and compare.
//
// A Timeout belongs to the fiber that created it: create and destroy it on
// that fiber, in scope order (it is neither copyable nor movable). It
// cannot be created outside a fiber (UsageError).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "absl/time/time.h"

namespace weft {

namespace internal {
struct FiberControl;
}  // namespace internal

class Timeout {
 public:
  // Arms a deadline `timeout` from now for the calling fiber. A zero or
  // negative timeout fires at the next suspension point; InfiniteDuration()
  // never fires (gevent's Timeout(None)). Throws UsageError outside a
  // fiber. Blocks nothing.
  explicit Timeout(absl::Duration timeout);
  // Arms an absolute deadline (wall clock, converted to the monotonic clock
  // now, like sleep_until).
  explicit Timeout(absl::Time deadline);
  // Disarms it. Must run on the fiber that created the Timeout.
  ~Timeout();

  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;

  // Disarms it before the scope ends; idempotent. Fiber that created it only.
  void cancel();

  // True once this Timeout has thrown its TimeoutError.
  bool fired() const { return fired_; }
  // False after cancel() or once fired.
  bool armed() const { return !fired_ && !cancelled_; }
  // The duration it was created with (for an absolute deadline: the time
  // that was left then).
  absl::Duration duration() const { return duration_; }

 private:
  friend struct TimeoutAccess;

  void arm(int64_t deadline_ns, absl::Duration duration);
  void unlink();

  internal::FiberControl* fiber_ = nullptr;  // the owner; its list holds us
  Timeout* outer_ = nullptr;                 // the next enclosing scope
  int64_t deadline_ns_ = INT64_MAX;          // monotonic clock
  absl::Duration duration_;
  bool fired_ = false;
  bool cancelled_ = false;
  bool linked_ = false;
};

// Thrown at a suspension point when a weft::Timeout's deadline has passed.
//
// Like FiberExit (and gevent's Timeout, a BaseException), deliberately not a
// std::exception: a `catch (const std::exception&)` between the wait and the
// scope that owns the Timeout must not swallow it. Catch it by name, where
// you know which Timeout you expect.
class TimeoutError {
 public:
  // The Timeout that fired. Only meaningful while that Timeout is alive,
  // i.e. in a handler inside its scope; compare with is() rather than
  // keeping the reference.
  const Timeout& source() const { return *source_; }
  // True if `t` is the Timeout that fired.
  bool is(const Timeout& t) const { return source_ == &t; }
  // "weft::Timeout of 100ms expired".
  const char* what() const noexcept { return what_.c_str(); }

 private:
  friend struct TimeoutAccess;
  explicit TimeoutError(const Timeout* source, std::string what)
      : source_(source), what_(std::move(what)) {}

  const Timeout* source_;
  std::string what_;
};

}  // namespace weft
