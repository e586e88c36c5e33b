// weft::WaitGroup — wait for a group of fibers to finish (Go's sync.WaitGroup).
//
//   weft::WaitGroup wg;
//   for (int i = 0; i < n; ++i) {
//     wg.add(1);
//     weft::spawn([&] { work(); wg.done(); });
//   }
//   wg.wait();   // parks until every done() has been called
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "weft/sync/wait_queue.h"

namespace weft {

class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  // Adds `delta` (may be negative) to the counter; when it reaches zero every
  // waiter wakes. Throws UsageError if the counter would go negative. Any
  // fiber or thread; blocks nothing.
  void add(int64_t delta);
  void done() { add(-1); }
  // Parks the fiber until the counter is zero. Fiber-only; FiberExit if
  // killed, TimeoutError if a weft::Timeout expires.
  void wait();
  // As wait(), at most `timeout`; true if the counter reached zero.
  bool wait_for(absl::Duration timeout);

  int64_t count() const { return count_.load(std::memory_order_acquire); }

 private:
  bool wait_until(int64_t deadline_ns);
  std::atomic<int64_t> count_{0};
  WaitQueue waiters_;
};

// weft::Latch — a single-use countdown (std::latch for fibers).
class Latch {
 public:
  // Throws UsageError if `expected` is negative.
  explicit Latch(int64_t expected);
  // Decrements by `n`; UsageError below zero. Any fiber or thread.
  void count_down(int64_t n = 1) { group_.add(-n); }
  bool try_wait() const { return group_.count() == 0; }
  // Parks the fiber until the count is zero. Fiber-only.
  void wait() { group_.wait(); }
  void arrive_and_wait(int64_t n = 1) {
    count_down(n);
    wait();
  }

 private:
  WaitGroup group_;
};

}  // namespace weft
