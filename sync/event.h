// weft::Event — gevent's Event: a flag fibers can wait for.
//
//   weft::Event started;
//   weft::spawn([&] { setup(); started.set(); });
//   started.wait();                                 // parks until set()
//   if (!started.wait(absl::Milliseconds(100))) {}  // false on timeout
#pragma once

#include <atomic>

#include "absl/time/time.h"
#include "weft/sync/wait_queue.h"

namespace weft {

class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the flag and wakes every waiter. Any fiber or thread; blocks nothing.
  void set();
  // Clears the flag; later waits block again.
  void clear() { flag_.store(false, std::memory_order_relaxed); }
  bool is_set() const { return flag_.load(std::memory_order_acquire); }
  // Parks the fiber until the flag is set or `timeout` passes; returns the
  // flag. Fiber-only; FiberExit if killed while waiting, TimeoutError if a
  // weft::Timeout expires.
  bool wait(absl::Duration timeout = absl::InfiniteDuration());

 private:
  std::atomic<bool> flag_{false};
  WaitQueue waiters_;
};

}  // namespace weft
