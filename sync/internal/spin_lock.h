// SpinLock: the lock inside every wait queue.
//
// Why not a mutex: a fiber that parks releases its wait queue's lock from the
// Handover that runs after it switched out, i.e. on the next context. To
// ThreadSanitizer that is another "thread" (each context is a TSan fiber), and
// unlocking a pthread mutex from another thread is an error; an atomic flag
// with acquire/release is fine. Held for a few dozen instructions at a time,
// so spinning is cheaper than sleeping; after a while it yields the thread in
// case the holder's thread was preempted.
#pragma once

#include <sched.h>

#include <atomic>

#include "absl/base/thread_annotations.h"

namespace weft::internal {

class ABSL_LOCKABLE SpinLock {
 public:
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    // Acquire: pairs with the release in unlock().
    while (locked_.exchange(true, std::memory_order_acquire)) {
      for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        if (spins < 128) {
          __builtin_ia32_pause();
        } else {
          sched_yield();
        }
      }
    }
  }
  void unlock() ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }

 private:
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
