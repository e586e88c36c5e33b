// The manual clock hook (tests/testing/manual_clock.h over
// core/internal/clock.h): timers fire when the test advances the clock, not
// before and not with wall time, whether the workers sleep on their futexes
// or in epoll_wait.
#include "weft/tests/testing/manual_clock.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "gtest/gtest.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using internal::FiberControl;

class ManualClockTest : public test::RuntimeTest {};

TEST_P(ManualClockTest, TheClockMovesOnlyWhenAdvanced) {
  test::ManualClock clock;
  int64_t t0 = internal::monotonic_now_ns();
  usleep(2000);
  EXPECT_EQ(internal::monotonic_now_ns(), t0) << "wall time moved the manual clock";
  clock.advance(absl::Milliseconds(5));
  EXPECT_EQ(internal::monotonic_now_ns(), t0 + 5'000'000);
}

TEST_P(ManualClockTest, ASleepEndsWhenTheClockPassesItsDeadline) {
  test::ManualClock clock;
  Run([&] {
    std::atomic<FiberControl*> self{nullptr};
    auto sleeper = spawn([&] {
      self = test::ThisFiber();
      int64_t start = internal::monotonic_now_ns();
      sleep_for(absl::Seconds(10));
      return internal::monotonic_now_ns() - start;
    });
    test::UntilParked(self);
    clock.advance(absl::Seconds(9));
    // Advanced, woken, still parked: 1 s of clock is left to wait.
    for (int i = 0; i < 100; ++i) yield();
    EXPECT_FALSE(sleeper.ready());
    clock.advance(absl::Seconds(1));
    EXPECT_EQ(sleeper.get(), absl::ToInt64Nanoseconds(absl::Seconds(10)));
  });
}

// With an fd watched, one sleeping worker blocks in epoll_wait: an advance
// must ring it, as a push would.
TEST_P(ManualClockTest, AWorkerSleepingInThePollerSeesTheAdvance) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  test::ManualClock clock;
  Run([&] {
    ASSERT_TRUE(internal::watch_fd(fds[0]).ok());
    std::atomic<FiberControl*> self{nullptr};
    auto sleeper = spawn([&] {
      self = test::ThisFiber();
      sleep_for(absl::Hours(1));
    });
    test::UntilParked(self);
    clock.advance(absl::Hours(1));
    sleeper.join();
    internal::forget_fd(fds[0]);
  });
  close(fds[0]);
  close(fds[1]);
}

// Sleepers with deadlines spread over a minute wake in deadline order, each
// only once the clock reached its deadline, as the clock moves in steps.
TEST_P(ManualClockTest, SleepersWakeInStepsWithTheClock) {
  constexpr int kSleepers = 6;
  test::ManualClock clock;
  Run([&] {
    std::atomic<int> woken{0};
    std::vector<std::atomic<FiberControl*>> selves(kSleepers);
    std::vector<Fiber<int>> fs;
    for (int i = 0; i < kSleepers; ++i) {
      fs.push_back(spawn([&, i] {
        selves[i] = test::ThisFiber();
        sleep_for(absl::Seconds(10 * (i + 1)));
        return woken.fetch_add(1);  // the order it woke in
      }));
    }
    for (auto& s : selves) test::UntilParked(s);
    for (int i = 0; i < kSleepers; ++i) {
      clock.advance(absl::Seconds(10));
      EXPECT_EQ(fs[i].get(), i);
      if (i + 1 < kSleepers) {
        EXPECT_FALSE(fs[i + 1].ready());
      }
    }
  });
}

TEST_P(ManualClockTest, TimeoutsAndTimedWaitsFollowTheClock) {
  test::ManualClock clock;
  Run([&] {
    std::atomic<FiberControl*> self{nullptr};
    auto waiter = spawn([&] {
      self = test::ThisFiber();
      Event never;
      bool timed_out = !never.wait_for(absl::Minutes(5));
      Timeout t(absl::Minutes(5));
      try {
        sleep_for(absl::Hours(10));
      } catch (const TimeoutError&) {
        return timed_out;
      }
      return false;
    });
    uint64_t e = test::UntilParked(self);
    clock.advance(absl::Minutes(5));  // the Event's wait_for
    test::UntilParked(self, e);
    clock.advance(absl::Minutes(5));  // the Timeout
    EXPECT_TRUE(waiter.get());
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, ManualClockTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
