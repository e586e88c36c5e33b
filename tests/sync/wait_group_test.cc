#include "weft/sync/wait_group.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <unistd.h>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

class WaitGroupTest : public test::RuntimeTest {};

TEST_P(WaitGroupTest, WaitReturnsAfterAllDone) {
  constexpr int kFibers = 32;
  Run([&] {
    WaitGroup wg;
    std::atomic<int> finished{0};
    for (int i = 0; i < kFibers; ++i) {
      wg.add(1);
      spawn([&, i] {
        sleep_for(absl::Microseconds(100 * (i % 5)));
        finished.fetch_add(1);
        wg.done();
      });
    }
    // Several waiters at once.
    std::vector<Fiber<int>> waiters;
    for (int i = 0; i < 4; ++i) {
      waiters.push_back(spawn([&] {
        wg.wait();
        return finished.load();
      }));
    }
    wg.wait();
    EXPECT_EQ(finished.load(), kFibers);
    EXPECT_EQ(wg.count(), 0);
    for (auto& w : waiters) EXPECT_EQ(w.get(), kFibers);
  });
}

TEST_P(WaitGroupTest, WaitOnZeroReturnsAtOnce) {
  Run([&] {
    WaitGroup wg;
    wg.wait();
    EXPECT_TRUE(wg.wait_for(absl::ZeroDuration()));
  });
}

TEST_P(WaitGroupTest, NegativeCounterThrowsUsageError) {
  Run([&] {
    WaitGroup wg;
    EXPECT_THROW(wg.done(), UsageError);
    EXPECT_EQ(wg.count(), 0);
    wg.add(2);
    EXPECT_THROW(wg.add(-3), UsageError);
    EXPECT_EQ(wg.count(), 2);
    wg.add(-2);
    EXPECT_TRUE(wg.wait_for(absl::ZeroDuration()));
  });
}

TEST_P(WaitGroupTest, WaitForTimesOut) {
  Run([&] {
    WaitGroup wg;
    wg.add(1);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(wg.wait_for(absl::Milliseconds(20)));
    EXPECT_GE(test::MillisSince(start), 19);
    auto f = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      wg.done();
    });
    EXPECT_TRUE(wg.wait_for(absl::Seconds(30)));
    f.join();
  });
}

TEST_P(WaitGroupTest, WaitUntilTakesADeadline) {
  Run([] {
    WaitGroup wg;
    wg.add(1);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(wg.wait_until(absl::Now() + absl::Milliseconds(20)));
    EXPECT_GE(test::MillisSince(start), 15);
    auto doer = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      wg.done();
    });
    EXPECT_TRUE(wg.wait_until(absl::Now() + absl::Seconds(30)));
    doer.join();
  });
}

TEST_P(WaitGroupTest, DoneFromPlainThreadWakesFiber) {
  Runtime rt(options());
  WaitGroup wg;
  wg.add(1);
  std::atomic<bool> waiting{false};
  auto f = rt.spawn([&] {
    waiting = true;
    wg.wait();
    return wg.count();
  });
  while (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::thread t([&] { wg.done(); });
  t.join();
  EXPECT_EQ(f.get(), 0);
}

TEST(WaitGroupUsageTest, WaitOutsideFiberThrowsUsageError) {
  WaitGroup wg;
  wg.add(1);
  EXPECT_THROW(wg.wait(), UsageError);
}

class LatchTest : public test::RuntimeTest {};

TEST_P(LatchTest, CountDownThenWait) {
  Run([&] {
    Latch latch(3);
    EXPECT_FALSE(latch.try_wait());
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < 3; ++i)
      fs.push_back(spawn([&] {
        sleep_for(absl::Milliseconds(1));
        latch.count_down();
      }));
    latch.wait();
    EXPECT_TRUE(latch.try_wait());
    for (auto& f : fs) f.join();
    latch.wait();  // stays open
  });
}

TEST_P(LatchTest, WaitForAndWaitUntil) {
  Run([] {
    Latch latch(1);
    EXPECT_FALSE(latch.wait_for(absl::Milliseconds(5)));
    EXPECT_FALSE(latch.wait_until(absl::Now() + absl::Milliseconds(5)));
    latch.count_down();
    EXPECT_TRUE(latch.wait_for(absl::ZeroDuration()));
    EXPECT_TRUE(latch.wait_until(absl::InfinitePast()));
  });
}

TEST_P(LatchTest, CountDownByN) {
  Run([&] {
    Latch latch(5);
    latch.count_down(4);
    EXPECT_FALSE(latch.try_wait());
    latch.count_down(1);
    EXPECT_TRUE(latch.try_wait());
    EXPECT_THROW(latch.count_down(), UsageError);
  });
}

TEST_P(LatchTest, ArriveAndWaitReleasesEveryoneTogether) {
  constexpr int kFibers = 12;
  Run([&] {
    Latch latch(kFibers);
    std::atomic<int> arrived{0};
    std::vector<Fiber<int>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(spawn([&] {
        arrived.fetch_add(1);
        latch.arrive_and_wait();
        return arrived.load();  // everyone arrived before anyone passes
      }));
    }
    for (auto& f : fs) EXPECT_EQ(f.get(), kFibers);
  });
}

TEST(LatchUsageTest, NegativeExpectedThrowsUsageError) {
  EXPECT_THROW(Latch(-1), UsageError);
  Latch zero(0);
  EXPECT_TRUE(zero.try_wait());
}

struct DtorCount {
  std::atomic<int>* n;
  ~DtorCount() { n->fetch_add(1); }
};

TEST_P(WaitGroupTest, ShutdownKillsFibersWaitingInWait) {
  constexpr int kWaiters = 8;
  std::atomic<int> dtors{0}, started{0};
  WaitGroup wg;
  wg.add(1);
  Latch latch(1);
  auto start = std::chrono::steady_clock::now();
  {
    Runtime rt(options());
    for (int i = 0; i < kWaiters; ++i) {
      rt.spawn([&, i] {
        DtorCount d{&dtors};
        started.fetch_add(1);
        if (i % 2 == 0) {
          wg.wait();
        } else {
          latch.wait();
        }
        ADD_FAILURE() << "wait returned with a nonzero counter";
      });
    }
    while (started.load() < kWaiters) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(dtors.load(), kWaiters);
  EXPECT_LT(test::MillisSince(start), 10000);
}

INSTANTIATE_TEST_SUITE_P(Workers, WaitGroupTest, test::WorkerCounts(), test::WorkerCountName);
INSTANTIATE_TEST_SUITE_P(Workers, LatchTest, test::WorkerCounts(), test::WorkerCountName);

TEST(WaitGroupDeathTest, DestroyedWhileFibersWaitAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        alarm(20);
        Runtime rt({.workers = 1});
        auto f = rt.spawn([] {
          auto* wg = new WaitGroup;
          wg->add(1);
          auto a = spawn([wg] { wg->wait(); });
          sleep_for(absl::Milliseconds(50));
          delete wg;
        });
        f.join();
      },
      "weft::WaitGroup destroyed while 1 fiber waits on it");
}

}  // namespace
}  // namespace weft
