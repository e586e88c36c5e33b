// weft::WaitQueue — the one parking primitive every weft synchronisation type
// is built on (a "fiber futex"): under the queue's lock, check a condition;
// if it does not hold, wait() parks the calling fiber and releases the lock
// only after the fiber has switched out, so a notify() can never slip in
// between the check and the park.
//
//   q.lock();
//   while (!ready) {
//     if (q.wait(deadline) != WaitQueue::Result::kNotified && ...) break;
//   }
//   q.unlock();
//   ...
//   q.lock(); ready = true; q.notify_all(); q.unlock();   // any thread
//
// A wait ends when notified, when its deadline passes, or when it is
// interrupted: the fiber is killed (Fiber::kill, runtime shutdown) or a
// weft::Timeout around it expires; it may also end spuriously. Waiters
// are woken in FIFO order. A notify that finds a waiter already leaving
// (timed out, killed) passes to the next one, so no notification is lost.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "weft/core/internal/wait_site.h"
#include "weft/sync/internal/spin_lock.h"

namespace weft {
namespace internal {
struct FiberControl;
}

class ABSL_LOCKABLE WaitQueue {
 public:
  // kInterrupted: the fiber was killed or one of its weft::Timeouts expired;
  // the caller undoes what it must, releases the lock and calls
  // internal::throw_if_killed, which throws FiberExit or TimeoutError (or
  // returns while the fiber is unwinding: give up waiting then).
  enum class Result { kNotified, kTimeout, kInterrupted };

  WaitQueue() = default;
  // For weft's own primitives: what Runtime::dump says their waiters wait
  // on ("Mutex", "Event"...) rather than "WaitQueue".
  explicit WaitQueue(internal::WaitKind kind) : kind_(kind) {}
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  // Destroying a queue that fibers still wait in is the caller's bug (they
  // would wake into freed memory, or spin forever on its lock): it aborts
  // the process with a message saying how many wait.
  ~WaitQueue() { abort_if_waited_on("weft::WaitQueue"); }

  // For the destructors of types built on a WaitQueue: if any fiber still
  // waits in this queue, prints "weft: <what> destroyed while N fiber(s)
  // wait on it" to stderr and aborts. Takes the lock.
  void abort_if_waited_on(const char* what);

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { lock_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { lock_.unlock(); }

  // Parks the calling fiber until notified, until `deadline_ns` (monotonic
  // clock; INT64_MAX: none) or until it is interrupted (returns at once,
  // without parking, if it already is). The lock is held on entry
  // and on return, and released while parked. Blocks the fiber, not the
  // thread. Throws UsageError (lock released) outside a fiber.
  //
  // The one raw-nanosecond deadline in weft's public API: WaitQueue is the
  // building block for new primitives, which convert their own
  // absl::Duration (`_for`) or absl::Time (`_until`) once, with
  // weft::internal::deadline_after / deadline_at (core/internal/clock.h).
  // Every other timed call takes `_for(absl::Duration)` or
  // `_until(absl::Time)`.
  Result wait(int64_t deadline_ns = INT64_MAX) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);

  // Wakes up to `n` waiters, oldest first; returns how many. Lock held. Any
  // thread may notify; blocks nothing.
  int notify(int n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);
  bool notify_one() ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) { return notify(1) == 1; }
  int notify_all() ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) { return notify(INT32_MAX); }

  bool has_waiters() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) { return head_ != nullptr; }

  // Waiter records live on the waiting fibers' stacks; public for the .cc only.
  struct Waiter {
    internal::FiberControl* fiber = nullptr;
    uint64_t token = 0;
    Waiter* next = nullptr;
    Waiter* prev = nullptr;
    bool linked = false;    // in the queue
    bool notified = false;  // woken by notify (set under the lock)
  };

 private:
  friend struct WaitQueueAccess;
  internal::SpinLock lock_;
  internal::WaitKind kind_ = internal::WaitKind::kWaitQueue;
  // Guarded by lock_ (held as the capability `this` by callers).
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

}  // namespace weft
