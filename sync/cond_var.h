// weft::CondVar — a condition variable for fibers, used with weft::Mutex.
//
//   weft::Mutex mu;
//   weft::CondVar cv;
//   bool ready = false;
//   // waiter:
//   std::unique_lock<weft::Mutex> lk(mu);
//   cv.wait(lk, [&] { return ready; });
//   // notifier (any fiber or thread):
//   { std::lock_guard<weft::Mutex> g(mu); ready = true; }
//   cv.notify_one();
//
// Waits may end spuriously; the predicate overloads loop for you.
#pragma once

#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "weft/sync/mutex.h"
#include "weft/sync/wait_queue.h"

namespace weft {

class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;
  // Destroying a CondVar that fibers wait on aborts the process, with a
  // message naming it and how many wait.
  ~CondVar();

  // Atomically releases `lock` and parks the fiber until notified (or
  // spuriously); re-acquires `lock` before returning, also when it throws
  // FiberExit because the fiber was killed (or TimeoutError because a
  // weft::Timeout expired). Fiber-only. Blocks the fiber.
  void wait(std::unique_lock<Mutex>& lock);
  // As wait(), until `deadline`; false if it returned because the deadline
  // passed.
  bool wait_until(std::unique_lock<Mutex>& lock, absl::Time deadline);
  bool wait_for(std::unique_lock<Mutex>& lock, absl::Duration timeout) {
    return wait_until(lock, absl::Now() + timeout);
  }

  // Waits until pred() holds; pred is checked with `lock` held.
  template <typename Pred>
  void wait(std::unique_lock<Mutex>& lock, Pred pred) {
    while (!pred()) wait(lock);
  }
  // Waits until pred() holds or `deadline` passes; returns pred().
  template <typename Pred>
  bool wait_until(std::unique_lock<Mutex>& lock, absl::Time deadline, Pred pred) {
    while (!pred()) {
      if (!wait_until(lock, deadline)) return pred();
    }
    return true;
  }
  template <typename Pred>
  bool wait_for(std::unique_lock<Mutex>& lock, absl::Duration timeout, Pred pred) {
    return wait_until(lock, absl::Now() + timeout, pred);
  }

  // Wakes one / every waiting fiber. Any fiber or thread; blocks nothing.
  void notify_one();
  void notify_all();

 private:
  bool wait_ns(std::unique_lock<Mutex>& lock, int64_t deadline_ns);
  WaitQueue waiters_{internal::WaitKind::kCondVar};
};

}  // namespace weft
