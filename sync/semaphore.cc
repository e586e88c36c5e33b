#include "weft/sync/semaphore.h"

#include <string>

#include "weft/core/errors.h"
#include "weft/core/internal/fiber_api.h"

namespace weft {

Semaphore::Semaphore(int64_t initial) : count_(initial) {
  if (initial < 0) {
    throw UsageError("weft::Semaphore: the initial count must be >= 0, got " +
                     std::to_string(initial));
  }
}

bool Semaphore::try_acquire() {
  int64_t c = count_.load(std::memory_order_relaxed);
  // Acquire on success: pairs with the release in release().
  while (c > 0) {
    if (count_.compare_exchange_weak(c, c - 1, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool Semaphore::acquire_until_ns(int64_t deadline_ns) {
  internal::FiberControl* self = internal::require_fiber("weft::Semaphore::acquire");
  if (try_acquire()) return true;
  waiters_.lock();
  for (;;) {
    // Checked under the lock: release() adds and notifies under it, so it
    // cannot miss a waiter that saw 0 here.
    if (try_acquire()) break;
    WaitQueue::Result r = waiters_.wait(deadline_ns);
    if (r == WaitQueue::Result::kNotified) {
      // Woken by release(): retrying now (see woken_).
      --woken_;
      if (try_acquire()) {
        // Units that releasers left for waiters they did not wake, counting
        // on the pending ones: wake for those beyond the rest still pending.
        wake_locked(available() - woken_);
        break;
      }
      continue;
    }
    if (r == WaitQueue::Result::kInterrupted) {
      waiters_.unlock();
      internal::throw_if_killed(self);
      return false;  // unwinding: give up rather than park again
    }
    if (r == WaitQueue::Result::kTimeout && internal::monotonic_now_ns() >= deadline_ns) {
      bool got = try_acquire();
      waiters_.unlock();
      return got;
    }
  }
  waiters_.unlock();
  return true;
}

Semaphore::~Semaphore() { waiters_.abort_if_waited_on("weft::Semaphore"); }

void Semaphore::acquire() { acquire_until_ns(INT64_MAX); }

bool Semaphore::acquire_for(absl::Duration timeout) {
  return acquire_until_ns(internal::deadline_after(timeout));
}

bool Semaphore::acquire_until(absl::Time deadline) {
  return acquire_until_ns(internal::deadline_at(deadline));
}

void Semaphore::release(int64_t n) {
  if (n < 1) throw UsageError("weft::Semaphore::release: n must be >= 1, got " + std::to_string(n));
  // The units are added under the queue's lock and the unlock is the last
  // touch of the Semaphore, so a fiber that takes one (even with
  // try_acquire, lock-free) may destroy the Semaphore at once: the
  // destructor takes the same lock and cannot finish before we let go.
  // Adding before the lock let an acquirer free the memory we were about
  // to lock (DestroyAfterWaitTest).
  waiters_.lock();
  // Release: publishes what the releaser did to the next acquirer.
  count_.fetch_add(n, std::memory_order_release);
  // Waiters already woken and not yet back will take units too: wake only
  // as many more as the units beyond theirs.
  wake_locked(n - woken_);
  waiters_.unlock();
}

void Semaphore::wake_locked(int64_t n) {
  if (n <= 0) return;
  woken_ += waiters_.notify(static_cast<int>(std::min<int64_t>(n, INT32_MAX)));
}

}  // namespace weft
