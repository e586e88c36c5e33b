// weft::Event — gevent's Event: a flag fibers can wait for.
//
//   weft::Event started;
//   weft::spawn([&] { setup(); started.set(); });
//   started.wait();                                     // parks until set()
//   if (!started.wait_for(absl::Milliseconds(100))) {}  // false on timeout
//
// Timed waits follow weft's one convention: `wait_for(absl::Duration)` and
// `wait_until(absl::Time)` return false on timeout; the untimed wait()
// returns nothing. Destroying an Event while fibers wait on it aborts the
// process with a message (it is a use-after-free in the making).
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
  // Aborts, naming the Event and how many fibers wait, if any still do.
  ~Event();

  // Sets the flag and wakes every waiter. Any fiber or thread; blocks nothing.
  void set();
  // Clears the flag; later waits block again.
  void clear() { flag_.store(false, std::memory_order_relaxed); }
  bool is_set() const { return flag_.load(std::memory_order_acquire); }
  // Parks the fiber until the flag is set. Fiber-only; FiberExit if killed
  // while waiting, TimeoutError if a weft::Timeout expires.
  void wait();
  // As wait(), giving up after `timeout` / at `deadline`; returns the flag
  // (false on timeout).
  bool wait_for(absl::Duration timeout);
  bool wait_until(absl::Time deadline);

 private:
  bool wait_until_ns(int64_t deadline_ns);
  std::atomic<bool> flag_{false};
  WaitQueue waiters_{internal::WaitKind::kEvent};
};

}  // namespace weft
