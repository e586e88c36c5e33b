// A manual clock for timer tests: while a ManualClock is alive, the
// runtime's clock (core/internal/clock.h) stands still and moves only when
// the test calls advance(). Sleeps, timed waits, join_for, Timeout and I/O
// deadlines of fibers then fire exactly when the test says, however slow or
// loaded the machine, and a test of "wakes after 10 s" takes no 10 s.
//
//   weft::test::ManualClock clock;
//   std::atomic<internal::FiberControl*> sleeper{nullptr};
//   auto f = spawn([&] { sleeper = weft::test::ThisFiber(); sleep_for(absl::Seconds(10)); });
//   weft::test::UntilParked(sleeper);    // its deadline is set: now + 10 s
//   clock.advance(absl::Seconds(9));     // not yet
//   EXPECT_FALSE(f.ready());
//   clock.advance(absl::Seconds(1));     // due: f wakes
//   f.join();
//
// Install it before the fibers whose deadlines it should govern compute them
// (a deadline taken from the real clock is far from the manual one). One at
// a time per process. Timed waits of plain threads (Fiber::join_for from a
// thread, Pool's waits, fd waits in poll(2)) still hand the kernel a
// duration computed on the manual clock, which then passes in real time:
// keep manual-clock tests on fibers. absl::Now() (used by the `_until(Time)`
// forms to convert a wall-clock deadline) is not affected.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "weft/core/internal/clock.h"
#include "weft/core/private/idle_workers.h"
#include "weft/core/private/worker.h"
#include "weft/core/this_fiber.h"

namespace weft::test {

class ManualClock {
 public:
  // Starts at the real monotonic time, so deadlines already computed stay
  // about as far away as they were.
  ManualClock() {
    int64_t expected = 0;
    // Relaxed, like every access to the hook: advance() orders the new time
    // before the workers' re-check through IdleWorkers' lock (see there).
    bool installed = internal::g_manual_now_ns.compare_exchange_strong(
        expected, internal::real_monotonic_now_ns(), std::memory_order_relaxed);
    EXPECT_TRUE(installed) << "a ManualClock is already installed";
  }
  // Back to the real clock. Fibers still waiting then wait on real time for
  // deadlines taken from the manual one: destroy runtimes first.
  ~ManualClock() { internal::g_manual_now_ns.store(0, std::memory_order_relaxed); }
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  // The clock's time (monotonic nanoseconds).
  int64_t now_ns() const { return internal::g_manual_now_ns.load(std::memory_order_relaxed); }

  // Moves the clock forward by `d` and wakes every sleeping worker of every
  // runtime, so each re-checks its timers against the new time and fires
  // those now due. Returns at once: the woken fibers run on their workers
  // afterwards. Any thread or fiber.
  void advance(absl::Duration d) {
    internal::g_manual_now_ns.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_relaxed);
    internal::IdleWorkers::wake_all_everywhere();
  }
};

// The calling fiber's control block (for UntilParked); null on a plain thread.
inline internal::FiberControl* ThisFiber() {
  internal::Worker* w = internal::Worker::current();
  return w != nullptr ? w->current_fiber() : nullptr;
}

// Waits until the fiber published in `fiber` is parked (in a sleep, a timed
// wait, anything) in a wait later than the one `after` names, so any
// deadline it waits for has been computed; returns that wait's epoch, to pass
// as `after` next time. Yields (from a fiber) or spins (from a plain thread)
// meanwhile.
inline uint64_t UntilParked(const std::atomic<internal::FiberControl*>& fiber, uint64_t after = 0) {
  for (;;) {
    internal::FiberControl* f = fiber.load();
    if (f != nullptr) {
      uint64_t e = f->epoch.load(std::memory_order_acquire);
      // 4k+1: parked and published (fiber_control.h, kEpochStep).
      if ((e & 3) == 1 && e > after) return e;
    }
    if (ThisFiber() != nullptr) {
      weft::yield();
    } else {
      sched_yield();
    }
  }
}

}  // namespace weft::test
