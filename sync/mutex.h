// weft::Mutex — a mutual-exclusion lock for fibers.
//
// A fiber that finds the mutex locked parks (its worker runs other fibers)
// instead of blocking its thread. Works with std::lock_guard/std::unique_lock:
//
//   weft::Mutex mu;
//   int counter = 0;  // guarded by mu
//   weft::spawn([&] { std::lock_guard<weft::Mutex> g(mu); ++counter; });
//
// Not recursive. Waiters are served FIFO, but a fiber arriving while the
// mutex is free may take it first (barging keeps throughput up). A waiter
// is never starved: once one has waited over 1 ms after being woken, the
// mutex passes from holder to waiter in FIFO order until the queue drains
// (as Go's sync.Mutex does).
//
// Timed: `try_lock_for(absl::Duration)` / `try_lock_until(absl::Time)`.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "weft/sync/wait_queue.h"

namespace weft {
namespace internal {
struct FiberControl;
}

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  // Destroying a Mutex that fibers wait on aborts the process, with a
  // message naming it and how many wait (their wake-up would touch freed
  // memory). Destroying it locked with nobody waiting is allowed, and so is
  // destroying it as soon as it is unlocked, even while the unlock() that
  // freed it before is still returning (a reference count guarded by the
  // mutex): the destructor waits for that unlock() to let go.
  ~Mutex();

  // Acquires the mutex. Blocks the fiber (never the thread) while another
  // holds it. Fiber-only: throws UsageError on a plain thread, and FiberExit
  // if the fiber is killed while waiting, TimeoutError if a weft::Timeout
  // expires (the mutex is then not held).
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION();
  // Acquires the mutex if it is free; never blocks. Fiber-only.
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  // As lock(), giving up after `timeout` / at `deadline`: true if the mutex
  // is now held. Blocks the fiber (never the thread) until then; a timeout
  // already passed makes one attempt, like try_lock(). With std::unique_lock:
  //   std::unique_lock<weft::Mutex> g(mu, std::defer_lock);
  //   if (!mu.try_lock_for(absl::Milliseconds(5))) return Busy();
  // (std::unique_lock's own try_lock_for takes a std::chrono duration, so
  // call the mutex's.) Fiber-only; FiberExit and TimeoutError as lock().
  bool try_lock_for(absl::Duration timeout) ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  bool try_lock_until(absl::Time deadline) ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  // Releases the mutex and wakes one waiter. Throws UsageError if the
  // calling fiber does not hold it. Blocks nothing.
  void unlock() ABSL_UNLOCK_FUNCTION();

 private:
  friend class CondVar;
  // lock(); when `interruptible` is false neither a kill nor a weft::Timeout
  // abandons the wait (CondVar must hand the mutex back even to a fiber
  // being killed or timed out).
  void lock_impl(bool interruptible) ABSL_EXCLUSIVE_LOCK_FUNCTION();
  // try_lock_for/until, on a monotonic deadline.
  bool lock_until_ns(int64_t deadline_ns) ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);

  // How lock_slow ended.
  enum class Slow { kTook, kHandedOver, kTimedOut };
  // The waiting part of lock(); kTimedOut only once `deadline_ns`
  // (monotonic; INT64_MAX: none) has passed.
  Slow lock_slow(internal::FiberControl* self, bool interruptible, int64_t deadline_ns);

  // The state word. kFree, kLocked and kContended are Drepper's mutex 2
  // ("Futexes Are Tricky": 0, 1, 2); fast paths are one CAS each way.
  // kHandOff is Go's starvation mode: a waiter that was woken, found the
  // mutex taken again and has waited kStarvationNs sets it, and from then on
  // unlock() passes the mutex, still locked, to the oldest waiter, and
  // newcomers queue instead of barging. The waiter it is passed to returns
  // to barging (kContended, or kLocked if nobody is left) unless it too
  // waited that long.
  static constexpr uint32_t kFree = 0, kLocked = 1, kContended = 2, kHandOff = 3;
  static constexpr int64_t kStarvationNs = 1'000'000;
  std::atomic<uint32_t> state_{kFree};
  // The holder, for misuse checks; written by the holder, read by unlock().
  std::atomic<internal::FiberControl*> owner_{nullptr};
  // True from the moment unlock() wakes a waiter until that waiter retries
  // (Go's mutexWoken). While it is set, unlock() wakes nobody: the woken
  // fiber will mark the mutex contended again before it parks (or take it
  // with the mark set), so the unlock after that wakes the next waiter.
  // Without it, every unlock of a holder that re-locks at once woke another
  // waiter onto its worker's next slot, pushing the previous one to the run
  // queue, where an idle worker stole it back to contend across cores
  // (BM_MutexContended/8: 25-29 M/s before, 70-74 after). Written under
  // waiters_' lock; read by unlock() without it (see there).
  std::atomic<bool> woken_{false};
  // How many unlock() calls are past the point where the mutex may be taken
  // by another fiber and still touch it; ~Mutex waits for zero (see
  // unlock()).
  std::atomic<uint32_t> unlocking_{0};
  // Set by unlock() in kHandOff mode just before it wakes a waiter; the
  // woken waiter that finds it set owns the mutex. Guarded by waiters_.
  bool handed_over_ = false;
  WaitQueue waiters_{internal::WaitKind::kMutex};
};

}  // namespace weft
