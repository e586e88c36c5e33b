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
// mutex is free may take it first (barging keeps throughput up).
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
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

  // Acquires the mutex. Blocks the fiber (never the thread) while another
  // holds it. Fiber-only: throws UsageError on a plain thread, and FiberExit
  // if the fiber is killed while waiting, TimeoutError if a weft::Timeout
  // expires (the mutex is then not held).
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION();
  // Acquires the mutex if it is free; never blocks. Fiber-only.
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  // Releases the mutex and wakes one waiter. Throws UsageError if the
  // calling fiber does not hold it. Blocks nothing.
  void unlock() ABSL_UNLOCK_FUNCTION();

 private:
  friend class CondVar;
  // lock(); when `interruptible` is false neither a kill nor a weft::Timeout
  // abandons the wait (CondVar must hand the mutex back even to a fiber
  // being killed or timed out).
  void lock_impl(bool interruptible) ABSL_EXCLUSIVE_LOCK_FUNCTION();

  // 0 unlocked, 1 locked, 2 locked with (possible) waiters (Drepper's
  // "Futexes Are Tricky", mutex 2). Fast paths are one CAS / one exchange.
  std::atomic<uint32_t> state_{0};
  // The holder, for misuse checks; written by the holder, read by unlock().
  std::atomic<internal::FiberControl*> owner_{nullptr};
  std::atomic<bool> woken_{false};
  WaitQueue waiters_;
};

}  // namespace weft
