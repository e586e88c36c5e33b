#include "weft/sync/semaphore.h"

#include <algorithm>
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

class SemaphoreTest : public test::RuntimeTest {};

TEST_P(SemaphoreTest, NeverMoreThanNHolders) {
  constexpr int kSlots = 3, kFibers = 16;
  const int64_t kIters = test::Scaled(2000);
  Run([&] {
    Semaphore sem(kSlots);
    std::atomic<int> holders{0}, max_holders{0};
    std::atomic<int64_t> total{0};
    std::vector<Fiber<void>> fs;
    for (int f = 0; f < kFibers; ++f) {
      fs.push_back(spawn([&] {
        for (int64_t i = 0; i < kIters; ++i) {
          sem.acquire();
          int now = holders.fetch_add(1) + 1;
          int m = max_holders.load();
          while (now > m && !max_holders.compare_exchange_weak(m, now)) {
          }
          if (i % 8 == 0) yield();
          total.fetch_add(1);
          holders.fetch_sub(1);
          sem.release();
        }
      }));
    }
    for (auto& f : fs) f.join();
    EXPECT_LE(max_holders.load(), kSlots);
    EXPECT_GE(max_holders.load(), 1);
    EXPECT_EQ(total.load(), kFibers * kIters);
    EXPECT_EQ(sem.available(), kSlots);
  });
}

TEST_P(SemaphoreTest, TryAcquire) {
  Run([&] {
    Semaphore sem(2);
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_FALSE(sem.try_acquire());
    sem.release(2);
    EXPECT_EQ(sem.available(), 2);
  });
}

TEST_P(SemaphoreTest, AcquireForTimesOut) {
  Run([&] {
    Semaphore sem(0);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(sem.acquire_for(absl::Milliseconds(20)));
    EXPECT_GE(test::MillisSince(start), 19);
    EXPECT_EQ(sem.available(), 0);
    auto releaser = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      sem.release();
    });
    EXPECT_TRUE(sem.acquire_for(absl::Seconds(30)));
    EXPECT_EQ(sem.available(), 0);
    releaser.join();
  });
}

TEST_P(SemaphoreTest, AcquireUntilTakesADeadline) {
  Run([] {
    Semaphore sem(0);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(sem.acquire_until(absl::Now() + absl::Milliseconds(20)));
    EXPECT_GE(test::MillisSince(start), 15);
    auto releaser = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      sem.release();
    });
    EXPECT_TRUE(sem.acquire_until(absl::Now() + absl::Seconds(30)));
    EXPECT_EQ(sem.available(), 0);
    sem.release();
    EXPECT_TRUE(sem.acquire_until(absl::InfinitePast()));  // available: taken at once
    releaser.join();
  });
}

TEST_P(SemaphoreTest, ReleaseNWakesNWaiters) {
  constexpr int kWaiters = 8;
  Run([&] {
    Semaphore sem(0);
    std::atomic<int> got{0};
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < kWaiters; ++i) {
      fs.push_back(spawn([&] {
        sem.acquire();
        got.fetch_add(1);
      }));
    }
    sleep_for(absl::Milliseconds(5));
    sem.release(kWaiters);
    for (auto& f : fs) f.join();
    EXPECT_EQ(got.load(), kWaiters);
    EXPECT_EQ(sem.available(), 0);
  });
}

// Releases in a row, before any woken waiter has run: a release that finds
// a woken waiter still pending wakes nobody, so the waiter that takes a unit
// and sees more left must wake the next, or units would sit unused while
// fibers wait. Then the same with the releaser re-acquiring each unit at
// once (a barger), which the pending waiters must survive.
TEST_P(SemaphoreTest, BackToBackReleasesReachEveryWaiter) {
  constexpr int kWaiters = 6;
  Run([&] {
    Timeout guard(absl::Seconds(10));  // a lost wake-up fails instead of hanging
    Semaphore sem(0);
    std::atomic<int> got{0}, parked{0};
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < kWaiters; ++i) {
      fs.push_back(spawn([&] {
        parked.fetch_add(1);
        sem.acquire();
        got.fetch_add(1);
      }));
    }
    while (parked.load() < kWaiters) yield();
    sleep_for(absl::Milliseconds(5));  // let them park
    for (int i = 0; i < kWaiters; ++i) {
      sem.release();
      if (i % 2 == 0) {
        ASSERT_TRUE(sem.try_acquire());  // barge: take it back...
        sem.release();                   // ...and return it
      }
    }
    for (auto& f : fs) f.join();
    EXPECT_EQ(got.load(), kWaiters);
    EXPECT_EQ(sem.available(), 0);
  });
}

TEST_P(SemaphoreTest, ReleaseFromPlainThreadWakesFiber) {
  Runtime rt(options());
  Semaphore sem(0);
  std::atomic<bool> waiting{false};
  auto f = rt.spawn([&] {
    waiting = true;
    sem.acquire();
    return true;
  });
  while (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::thread t([&] { sem.release(); });
  t.join();
  EXPECT_TRUE(f.get());
  EXPECT_EQ(sem.available(), 0);
}

TEST(SemaphoreUsageTest, InvalidArgumentsThrowUsageError) {
  EXPECT_THROW(Semaphore(-1), UsageError);
  Semaphore sem(1);
  EXPECT_THROW(sem.release(0), UsageError);
  EXPECT_THROW(sem.release(-3), UsageError);
  EXPECT_EQ(sem.available(), 1);
  EXPECT_THROW(sem.acquire(), UsageError);  // fiber-only
}

struct DtorCount {
  std::atomic<int>* n;
  ~DtorCount() { n->fetch_add(1); }
};

TEST_P(SemaphoreTest, ShutdownKillsFibersWaitingInAcquire) {
  constexpr int kWaiters = 8;
  std::atomic<int> dtors{0}, started{0};
  Semaphore sem(0);
  auto start = std::chrono::steady_clock::now();
  {
    Runtime rt(options());
    for (int i = 0; i < kWaiters; ++i) {
      rt.spawn([&] {
        DtorCount d{&dtors};
        started.fetch_add(1);
        sem.acquire();
        ADD_FAILURE() << "acquired a unit of an empty semaphore";
      });
    }
    while (started.load() < kWaiters) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(dtors.load(), kWaiters);
  EXPECT_EQ(sem.available(), 0);
  EXPECT_LT(test::MillisSince(start), 10000);
}

INSTANTIATE_TEST_SUITE_P(Workers, SemaphoreTest, test::WorkerCounts(), test::WorkerCountName);

TEST(SemaphoreDeathTest, DestroyedWhileFibersWaitAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        alarm(20);
        Runtime rt({.workers = 1});
        auto f = rt.spawn([] {
          auto* sem = new Semaphore(0);
          auto a = spawn([sem] { sem->acquire(); });
          sleep_for(absl::Milliseconds(50));
          delete sem;
        });
        f.join();
      },
      "weft::Semaphore destroyed while 1 fiber waits on it");
}

}  // namespace
}  // namespace weft
