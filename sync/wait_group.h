// weft::WaitGroup — wait for a group of fibers to finish (Go's sync.WaitGroup).
//
//   weft::WaitGroup wg;
//   for (int i = 0; i < n; ++i) {
//     wg.add(1);
//     weft::spawn([&] { work(); wg.done(); });
//   }
//   wg.wait();   // parks until every done() has been called
//
// Timed waits: `wait_for(absl::Duration)` / `wait_until(absl::Time)`, true
// if the counter reached zero (weft's one convention).
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
  // Aborts, naming the WaitGroup and how many fibers wait, if any still do.
  ~WaitGroup();

  // Adds `delta` (may be negative) to the counter; when it reaches zero every
  // waiter wakes. Throws UsageError if the counter would go negative. Any
  // fiber or thread; blocks nothing.
  void add(int64_t delta);
  void done() { add(-1); }
  // Parks the fiber until the counter is zero. Fiber-only; FiberExit if
  // killed, TimeoutError if a weft::Timeout expires.
  void wait();
  // As wait(), at most `timeout` / until `deadline`; true if the counter
  // reached zero.
  bool wait_for(absl::Duration timeout);
  bool wait_until(absl::Time deadline);

  int64_t count() const { return count_.load(std::memory_order_acquire); }

 private:
  bool wait_until_ns(int64_t deadline_ns);
  std::atomic<int64_t> count_{0};
  WaitQueue waiters_{internal::WaitKind::kWaitGroup};
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
  // As wait(), at most `timeout` / until `deadline`; true if the count
  // reached zero.
  bool wait_for(absl::Duration timeout) { return group_.wait_for(timeout); }
  bool wait_until(absl::Time deadline) { return group_.wait_until(deadline); }
  void arrive_and_wait(int64_t n = 1) {
    count_down(n);
    wait();
  }

 private:
  WaitGroup group_;
};

}  // namespace weft
