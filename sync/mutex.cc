#include "weft/sync/mutex.h"

#include <optional>
#include <string>

#include "weft/core/errors.h"
#include "weft/core/internal/park.h"
#include "weft/core/internal/worker.h"
#include "weft/core/this_fiber.h"

namespace weft {

void Mutex::lock() { lock_impl(true); }

void Mutex::lock_impl(bool interruptible) {
  internal::FiberControl* self = internal::require_fiber("weft::Mutex::lock");
  uint32_t expected = 0;
  // Acquire: pairs with the release in unlock(); the critical section starts here.
  if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
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
    const int spins = internal::Worker::current()->has_local_work() ? 0 : 10;
    for (int spin = 0; spin < spins; ++spin) {
      __builtin_ia32_pause();
      expected = 0;
      if (state_.load(std::memory_order_relaxed) == 0 &&
          state_.compare_exchange_weak(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        owner_.store(self, std::memory_order_relaxed);
        return;
      }
    }
    // Re-acquiring for CondVar::wait: a weft::Timeout must not cut this
    // wait short (it throws once the lock is held again), so hold them off.
    std::optional<internal::DeferTimeouts> defer;
    if (!interruptible) defer.emplace(self);
    waiters_.lock();
    // Mark contended; whoever unlocks will then notify. Acquire as above.
    while (state_.exchange(2, std::memory_order_acq_rel) != 0) {
      WaitQueue::Result r = waiters_.wait();
      if (r == WaitQueue::Result::kNotified) {
        woken_.store(false, std::memory_order_relaxed);
      } else if (r == WaitQueue::Result::kKilled) {
        waiters_.unlock();
        if (interruptible) internal::throw_if_killed(self);  // throws unless unwinding
        // Unwinding, or told not to give up: a killed fiber cannot park, so
        // let the holder run and try again.
        internal::Worker::current()->yield_current();
        waiters_.lock();
      }
    }
    waiters_.unlock();
  }
  // Relaxed: only read by the holder itself in unlock().
  owner_.store(self, std::memory_order_relaxed);
}

bool Mutex::try_lock() {
  internal::FiberControl* self = internal::require_fiber("weft::Mutex::try_lock");
  uint32_t expected = 0;
  if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    return false;
  }
  owner_.store(self, std::memory_order_relaxed);
  return true;
}

void Mutex::unlock() {
  internal::Worker* w = internal::Worker::current();
  internal::FiberControl* self = w != nullptr ? w->current_fiber() : nullptr;
  if (self == nullptr || owner_.load(std::memory_order_relaxed) != self) {
    throw UsageError(
        "weft::Mutex::unlock called by a fiber (or thread) that does not hold the mutex");
  }
  owner_.store(nullptr, std::memory_order_relaxed);
  // Release: publishes the critical section to the next holder.
  if (state_.exchange(0, std::memory_order_acq_rel) == 2) {
    if (woken_.load(std::memory_order_relaxed)) return;
    waiters_.lock();
    woken_.store(true, std::memory_order_relaxed);
    if (!waiters_.notify_one()) woken_.store(false, std::memory_order_relaxed);
    waiters_.unlock();
  }
}

}  // namespace weft
