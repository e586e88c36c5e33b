#include "weft/sync/mutex.h"

#include <sched.h>

#include <optional>
#include <string>

#include "weft/core/errors.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/this_fiber.h"

namespace weft {

Mutex::~Mutex() {
  // An unlock() that freed the mutex may still be waking a waiter (see
  // unlock()): wait for it to let go. It never blocks, so this spins for
  // nanoseconds, unless its thread was preempted. Acquire: pairs with its
  // final release, so its touches come before the memory is freed.
  for (int spins = 0; unlocking_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 1000) {
      __builtin_ia32_pause();
    } else {
      sched_yield();
    }
  }
  waiters_.abort_if_waited_on("weft::Mutex");
}

void Mutex::lock() { lock_impl(true); }

void Mutex::lock_impl(bool interruptible) {
  internal::FiberControl* self = internal::require_fiber("weft::Mutex::lock");
  uint32_t expected = kFree;
  // Acquire: pairs with the release in unlock(); the critical section starts here.
  if (!state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    // Spin briefly first: the holder may be running on another worker and
    // about to leave a short critical section, and parking plus a
    // cross-worker wake costs more than a short wait. Briefly: a spinner
    // pulls the mutex's cache line away from a holder that re-locks at once,
    // and parking instead gathers the contenders on the holder's worker
    // (the waker's next slot), where they take turns without a transfer
    // (BM_MutexContended/2: 100 pauses 30 M/s, 10 pauses 66 M/s, none 70
    // M/s). Not at all when other fibers are runnable here, as in Go: the
    // holder may be one of them, and parking runs them.
    const int spins = internal::has_local_work() ? 0 : 10;
    for (int spin = 0; spin < spins; ++spin) {
      __builtin_ia32_pause();
      expected = kFree;
      if (state_.load(std::memory_order_relaxed) == kFree &&
          state_.compare_exchange_weak(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        owner_.store(self, std::memory_order_relaxed);
        return;
      }
    }
    // Re-acquiring for CondVar::wait: a weft::Timeout must not cut this
    // wait short (it throws once the lock is held again), so hold them off.
    std::optional<internal::DeferTimeouts> defer;
    if (!interruptible) defer.emplace(self);
    if (lock_slow(self, interruptible, INT64_MAX) == Slow::kHandedOver) return;  // owner_ set
  }
  // Relaxed: only read by the holder itself in unlock().
  owner_.store(self, std::memory_order_relaxed);
}

bool Mutex::try_lock_for(absl::Duration timeout) {
  return lock_until_ns(internal::deadline_after(timeout));
}

bool Mutex::try_lock_until(absl::Time deadline) {
  return lock_until_ns(internal::deadline_at(deadline));
}

bool Mutex::lock_until_ns(int64_t deadline_ns) {
  internal::FiberControl* self = internal::require_fiber("weft::Mutex::try_lock_for");
  uint32_t expected = kFree;
  // Acquire: pairs with the release in unlock(), as in lock(). No spinning:
  // a caller with a deadline is ready to wait, and parks at once.
  if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
    owner_.store(self, std::memory_order_relaxed);
    return true;
  }
  switch (lock_slow(self, /*interruptible=*/true, deadline_ns)) {
    case Slow::kHandedOver:
      return true;  // owner_ is set
    case Slow::kTook:
      owner_.store(self, std::memory_order_relaxed);
      return true;
    case Slow::kTimedOut:
      break;
  }
  return false;
}

// The waiting part of lock(). Runs with waiters_' lock held between its
// checks and its parks. Under that lock kHandOff is stable: only a waiter
// holding it sets the value and only the holder, under it too, clears it,
// so reading kHandOff here is never stale. Returns kHandedOver if the mutex
// was handed over (the caller owns it; owner_ already set), kTook if this
// fiber took it itself, kTimedOut if the deadline passed first.
//
// Giving up at a deadline leaves the state word as it is (kContended, or
// kHandOff if we were starving): a timed-out waiter was never notified (a
// notify and a timeout are decided under the queue's lock, and a notify
// that finds its waiter gone goes to the next one), so it holds no woken_
// or hand-over duty to pass on; the holder's next unlock() finds nobody or
// the next waiter, and either way frees the mutex or hands it on.
Mutex::Slow Mutex::lock_slow(internal::FiberControl* self, bool interruptible,
                             int64_t deadline_ns) {
  int64_t parked_since = 0;  // when this fiber first parked; 0: not yet
  bool starving = false;
  waiters_.lock();
  for (;;) {
    // In hand-over mode newcomers queue behind the waiters instead of
    // barging. Otherwise mark the mutex contended (or starving), so that
    // whoever unlocks notifies. Acquire as in lock(); release so that an
    // unlock() reading this value also sees woken_ cleared below, before
    // this exchange (see unlock()).
    if (state_.load(std::memory_order_relaxed) != kHandOff &&
        state_.exchange(starving ? kHandOff : kContended, std::memory_order_acq_rel) == 0) {
      break;  // taken; with kHandOff set, our unlock() hands it over
    }
    if (parked_since == 0) parked_since = internal::monotonic_now_ns();
    WaitQueue::Result r = waiters_.wait(deadline_ns);
    if (r == WaitQueue::Result::kNotified) {
      // Woken by unlock(): retrying now, so unlocks may wake others again.
      // Relaxed: published by the exchange's release.
      woken_.store(false, std::memory_order_relaxed);
      if (handed_over_) {
        // The holder passed the mutex to us without releasing it (the lock
        // orders its critical section before ours). Go back to barging if
        // nobody is left waiting or we did not wait long, as Go does: a
        // hand-over per unlock is fair but slow (every unlock a switch).
        handed_over_ = false;
        owner_.store(self, std::memory_order_relaxed);
        if (!waiters_.has_waiters()) {
          state_.store(kLocked, std::memory_order_relaxed);
        } else if (internal::monotonic_now_ns() - parked_since < kStarvationNs) {
          state_.store(kContended, std::memory_order_relaxed);
        }
        waiters_.unlock();
        return Slow::kHandedOver;
      }
      // Woken, yet the mutex was taken again before we got to run: after
      // waiting this long, ask for hand-overs.
      if (internal::monotonic_now_ns() - parked_since >= kStarvationNs) starving = true;
    } else if (r == WaitQueue::Result::kInterrupted) {
      waiters_.unlock();
      if (interruptible) internal::throw_if_killed(self);  // throws unless unwinding
      // Unwinding, or told not to give up: a killed fiber cannot park, so
      // let the holder run and try again.
      internal::yield_current();
      waiters_.lock();
    } else if (r == WaitQueue::Result::kTimeout && internal::monotonic_now_ns() >= deadline_ns) {
      waiters_.unlock();
      return Slow::kTimedOut;
    }
  }
  waiters_.unlock();
  return Slow::kTook;
}

bool Mutex::try_lock() {
  internal::FiberControl* self = internal::require_fiber("weft::Mutex::try_lock");
  uint32_t expected = kFree;
  if (!state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    return false;
  }
  owner_.store(self, std::memory_order_relaxed);
  return true;
}

void Mutex::unlock() {
  internal::FiberControl* self = internal::current_fiber_or_null();
  if (self == nullptr || owner_.load(std::memory_order_relaxed) != self) {
    throw UsageError(
        "weft::Mutex::unlock called by a fiber (or thread) that does not hold the mutex");
  }
  owner_.store(nullptr, std::memory_order_relaxed);
  // Release: publishes the critical section to the next holder.
  uint32_t s = kLocked;
  if (state_.compare_exchange_strong(s, kFree, std::memory_order_release,
                                     std::memory_order_relaxed)) {
    return;  // nobody waits
  }
  // From the CAS below that frees the mutex, another fiber may take it,
  // unlock it and destroy it (DestroyAfterWaitTest), while we still read
  // woken_ and lock waiters_. Count ourselves in unlocking_ until our last
  // touch; ~Mutex waits for zero. Relaxed: the release of the CAS that
  // frees the mutex (or of waiters_' unlock, on the hand-over path)
  // publishes it to whoever takes the mutex next.
  unlocking_.fetch_add(1, std::memory_order_relaxed);
  struct Leave {
    std::atomic<uint32_t>& n;
    // Release: our touches come before a destructor that reads zero.
    ~Leave() { n.fetch_sub(1, std::memory_order_release); }
  } leave{unlocking_};
  // Acquire: if this reads a kContended that a woken waiter wrote on
  // retrying (or any later value), the waiter's clearing of woken_ is
  // visible below, so a woken_ still set means a woken waiter that has not
  // yet retried, and skipping the wake-up loses none: that waiter marks the
  // mutex contended again (or takes it marked) before it parks. A stale
  // false only costs an extra wake. The CAS fails only if a waiter switched
  // the mutex to kHandOff (the holder alone releases it).
  if (s == kContended && state_.compare_exchange_strong(s, kFree, std::memory_order_acq_rel,
                                                        std::memory_order_relaxed)) {
    if (woken_.load(std::memory_order_relaxed)) return;
    waiters_.lock();
    // Set before the wake and under the lock: the woken waiter clears it
    // under the same lock, so it cannot clear it before we set it.
    woken_.store(true, std::memory_order_relaxed);
    if (!waiters_.notify_one()) woken_.store(false, std::memory_order_relaxed);
    waiters_.unlock();
    return;
  }
  // kHandOff: pass the mutex, still locked, to the oldest waiter. The lock
  // orders our critical section before its. A waiter that is leaving
  // (killed, timed out) passes it on to the next (WaitQueue::notify).
  waiters_.lock();
  handed_over_ = true;
  if (!waiters_.notify_one()) {
    // Nobody left: release it. Under the lock, so a fiber about to queue
    // either queued already (and was handed the mutex) or sees kFree.
    handed_over_ = false;
    state_.store(kFree, std::memory_order_release);
  }
  waiters_.unlock();
}

}  // namespace weft
