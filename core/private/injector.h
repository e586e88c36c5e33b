// Injector: the runtime-wide FIFO of runnable fibers that have no worker yet:
// spawns from threads outside the runtime, fibers woken from outside, and
// the overflow of a full RunQueue. Workers poll it when their own queues are
// empty and, for fairness, every kInjectorInterval ticks even when they are not.
//
// A mutex-protected intrusive list: it is off the hot path (local spawns and
// wake-ups never touch it), and a batch push or pop takes the lock once.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "weft/core/internal/fiber_control.h"
#include "weft/core/internal/lock.h"

namespace weft::internal {

class Injector {
 public:
  // Appends the chain head..tail (linked through next_ready) of `n` fibers.
  void push_batch(FiberControl* head, FiberControl* tail, std::size_t n) {
    tail->next_ready = nullptr;
    LockGuard lock(mu_);
    if (tail_ == nullptr) {
      head_ = head;
    } else {
      tail_->next_ready = head;
    }
    tail_ = tail;
    // Relaxed: len_ is a hint for empty(); the list itself is read under mu_.
    len_.store(len_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void push(FiberControl* f) { push_batch(f, f, 1); }

  // Pops the oldest fiber, or null.
  FiberControl* pop() {
    FiberControl* f = nullptr;
    pop_batch(1, &f);
    return f;
  }

  // Pops up to `max` (>= 1) of the oldest fibers as a chain linked through
  // next_ready, oldest first (the last one's link null), into *head; returns
  // how many, 0 if none. One lock for the batch; the walk to the batch's end
  // is done under it.
  std::size_t pop_batch(std::size_t max, FiberControl** head) {
    if (empty()) return 0;
    LockGuard lock(mu_);
    FiberControl* first = head_;
    if (first == nullptr) return 0;
    FiberControl* last = first;
    std::size_t n = 1;
    while (n < max && last->next_ready != nullptr) {
      last = last->next_ready;
      ++n;
    }
    head_ = last->next_ready;
    if (head_ == nullptr) tail_ = nullptr;
    last->next_ready = nullptr;
    len_.store(len_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
    *head = first;
    return n;
  }

  // Racy, like empty(): how many fibers the Injector holds.
  std::size_t size_hint() const { return len_.load(std::memory_order_relaxed); }

  // Racy: may miss a push that is in flight. Callers that must not miss one
  // (a worker about to sleep) order it after their own seq_cst publication
  // (see idle_workers.cc).
  bool empty() const { return len_.load(std::memory_order_relaxed) == 0; }

 private:
  Lock mu_;
  FiberControl* head_ ABSL_GUARDED_BY(mu_) = nullptr;
  FiberControl* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::atomic<std::size_t> len_{0};  // written under mu_, read anywhere
};

}  // namespace weft::internal
