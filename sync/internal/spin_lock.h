// SpinLock: the lock inside every wait queue.
//
// Why not a mutex: a fiber that parks releases its wait queue's lock from the
// Handover that runs after it switched out, i.e. on the next context. To
// ThreadSanitizer that is another "thread" (each context is a TSan fiber), and
// unlocking a pthread mutex from another thread is an error; an atomic flag
// with acquire/release is fine. Held for a few dozen instructions at a time,
// so spinning is cheaper than sleeping (see lock_contended for how).
#pragma once

#include <sched.h>

#include <atomic>

#include "absl/base/thread_annotations.h"

namespace weft::internal {

class ABSL_LOCKABLE SpinLock {
 public:
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    // Acquire: pairs with the release in unlock().
    if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]] {
      return;
    }
    lock_contended();
  }
  void unlock() ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }

 private:
  // Test-and-test-and-set with exponential backoff: 1, 2, 4 ... 64 pauses
  // between looks at the flag (a pause is ~25 ns on this project's
  // machine), then sched_yield once kSpinBudget pauses are spent, in case
  // the holder's thread was preempted. Backing off matters when two workers
  // hammer one lock (4 producers and 4 consumers on a channel): spinning
  // every pause keeps pulling the line from the holder, while a waiter that
  // backs off lets the holder take the lock again for its next operation
  // without a transfer (BM_ChannelThroughput, 2 workers: ~11 M/s with one
  // pause per look, ~50 M/s with this; 60-67 M/s on one worker).
  static constexpr int kMaxBackoff = 64;
  static constexpr int kSpinBudget = 1024;

  __attribute__((noinline)) void lock_contended() {
    int backoff = 1;
    int spent = 0;
    do {
      while (locked_.load(std::memory_order_relaxed)) {
        if (spent < kSpinBudget) {
          for (int i = 0; i < backoff; ++i) __builtin_ia32_pause();
          spent += backoff;
          if (backoff < kMaxBackoff) backoff *= 2;
        } else {
          sched_yield();
        }
      }
      // Acquire: as in lock().
    } while (locked_.exchange(true, std::memory_order_acquire));
  }

  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE SpinLockGuard {
 public:
  explicit SpinLockGuard(SpinLock& l) ABSL_EXCLUSIVE_LOCK_FUNCTION(l) : l_(l) { l_.lock(); }
  ~SpinLockGuard() ABSL_UNLOCK_FUNCTION() { l_.unlock(); }
  SpinLockGuard(const SpinLockGuard&) = delete;
  SpinLockGuard& operator=(const SpinLockGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace weft::internal
