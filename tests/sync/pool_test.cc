#include "weft/sync/pool.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kForever = absl::Hours(1);
// Every test that could hang if a slot leaked runs under this, so it fails
// with TimeoutError instead.
constexpr absl::Duration kHangGuard = absl::Seconds(60);

// Tracks how many callers are inside at once, and the most ever seen.
struct ConcurrencyMeter {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
  void enter() {
    int n = now.fetch_add(1) + 1;
    int m = max.load();
    while (n > m && !max.compare_exchange_weak(m, n)) {
    }
  }
  void leave() { now.fetch_sub(1); }
};

class PoolTest : public test::RuntimeTest {};

TEST_P(PoolTest, SizeMustBePositive) {
  Run([] {
    for (int n : {0, -1}) {
      try {
        Pool p(n);
        ADD_FAILURE() << "Pool(" << n << ") was created";
      } catch (const UsageError& e) {
        EXPECT_THAT(e.what(), HasSubstr("size must be >= 1"));
      }
    }
    Pool one(1);
    EXPECT_EQ(one.size(), 1);
    EXPECT_EQ(one.free_count(), 1);
    EXPECT_FALSE(one.full());
  });
}

TEST_P(PoolTest, SpawnReturnsAHandleWithTheValue) {
  Run([] {
    Timeout guard(kHangGuard);
    Pool pool(2);
    auto f = pool.spawn([](int x, const std::string& s) { return s + std::to_string(2 * x); }, 21,
                        std::string("v="));
    EXPECT_EQ(f.get(), "v=42");
    pool.join();
    EXPECT_EQ(pool.free_count(), 2);
  });
}

TEST_P(PoolTest, NeverRunsMoreThanItsSize) {
  Run([] {
    Timeout guard(kHangGuard);
    const int kFibers = static_cast<int>(test::Scaled(60, 3));
    for (int size : {1, 3}) {
      Pool pool(size);
      ConcurrencyMeter meter;
      std::vector<Fiber<void>> fs;
      for (int i = 0; i < kFibers; ++i) {
        fs.push_back(pool.spawn([&meter, i] {
          meter.enter();
          if (i % 2 == 0) {
            sleep_for(absl::Microseconds(200));
          } else {
            yield();
          }
          meter.leave();
        }));
      }
      pool.join();
      EXPECT_LE(meter.max.load(), size);
      EXPECT_GE(meter.max.load(), 1);
      EXPECT_EQ(meter.now.load(), 0);
      EXPECT_EQ(pool.free_count(), size);
      for (auto& f : fs) EXPECT_TRUE(f.ready());
    }
  });
}

TEST_P(PoolTest, SpawnWaitsForAFreeSlot) {
  Run([] {
    Timeout guard(kHangGuard);
    Pool pool(2);
    Event go;
    ConcurrencyMeter meter;
    auto body = [&] {
      meter.enter();
      go.wait();
      meter.leave();
    };
    pool.spawn(body).detach();
    pool.spawn(body).detach();
    EXPECT_TRUE(pool.full());
    EXPECT_EQ(pool.free_count(), 0);
    std::atomic<bool> third_spawned{false};
    auto spawner = spawn([&] {
      pool.spawn(body).detach();
      third_spawned = true;
    });
    sleep_for(absl::Milliseconds(30));
    EXPECT_FALSE(third_spawned.load()) << "spawn did not wait for a slot";
    go.set();
    spawner.join();
    EXPECT_TRUE(third_spawned.load());
    pool.join();
    EXPECT_EQ(meter.max.load(), 2);
    EXPECT_EQ(pool.free_count(), 2);
  });
}

TEST_P(PoolTest, JoinWaitsForEveryFiber) {
  Run([] {
    Timeout guard(kHangGuard);
    Pool pool(3);
    std::atomic<int> done{0};
    for (int i = 0; i < 12; ++i) {
      pool.spawn([&done, i] {
            sleep_for(absl::Milliseconds(i % 4));
            done.fetch_add(1);
          })
          .detach();  // the pool still counts detached fibers
    }
    pool.join();
    EXPECT_EQ(done.load(), 12);
    pool.join();  // nothing left: returns at once
    EXPECT_TRUE(pool.join_for(absl::ZeroDuration()));
  });
}

// join() returns only once every handle reads ready: the slot is given back
// after the fiber's end is published, not when its function returns (as
// gevent's Pool.join, after which every greenlet is dead). Many short rounds
// from a plain thread, so the joiner runs in parallel with the fibers' ends.
TEST_P(PoolTest, JoinReturnsOnceEveryHandleIsReady) {
  Runtime rt(options());
  Pool pool(rt, 4);
  const int kRounds = static_cast<int>(test::Scaled(2000, 10));
  for (int round = 0; round < kRounds; ++round) {
    std::vector<Fiber<int>> fs;
    for (int i = 0; i < 4; ++i) fs.push_back(pool.spawn([i] { return i; }));
    pool.join();
    for (auto& f : fs) ASSERT_TRUE(f.ready()) << "round " << round;
    EXPECT_EQ(pool.free_count(), 4);
  }
}

TEST_P(PoolTest, JoinForTimesOutThenSucceeds) {
  Run([] {
    Timeout guard(kHangGuard);
    Pool pool(2);
    Event go;
    pool.spawn([&] { go.wait(); }).detach();
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(pool.join_for(absl::Milliseconds(20)));
    EXPECT_GE(test::MillisSince(start), 19);
    go.set();
    EXPECT_TRUE(pool.join_for(absl::Seconds(30)));
  });
}

TEST_P(PoolTest, JoinUntilTimesOutThenSucceeds) {
  Run([] {
    Timeout guard(kHangGuard);
    Pool pool(2);
    Event go;
    pool.spawn([&] { go.wait(); }).detach();
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(pool.join_until(absl::Now() + absl::Milliseconds(20)));
    EXPECT_GE(test::MillisSince(start), 19);
    EXPECT_FALSE(pool.join_until(absl::InfinitePast()));  // passed: only looks
    go.set();
    EXPECT_TRUE(pool.join_until(absl::InfiniteFuture()));
    EXPECT_TRUE(pool.join_until(absl::InfinitePast()));  // idle: true at once
  });
}

// From a plain thread, join_until blocks the thread until its deadline.
TEST_P(PoolTest, JoinUntilFromAPlainThread) {
  Runtime rt(options());
  Pool pool(rt, 1);
  Event go;
  pool.spawn([&] { go.wait(); }).detach();
  EXPECT_FALSE(pool.join_until(absl::Now() + absl::Milliseconds(10)));
  go.set();
  EXPECT_TRUE(pool.join_until(absl::Now() + absl::Seconds(30)));
}

TEST_P(PoolTest, AnExceptionReleasesTheSlot) {
  Run([] {
    Timeout guard(kHangGuard);
    Pool pool(1);
    auto bad = pool.spawn([]() -> int { throw std::runtime_error("boom"); });
    auto good = pool.spawn([] { return 7; });  // needs bad's slot
    EXPECT_EQ(good.get(), 7);
    EXPECT_THROW(bad.get(), std::runtime_error);
    pool.join();
    EXPECT_EQ(pool.free_count(), 1);
  });
}

// A spawn that fails after the slot was taken (here: a closure too large
// for a fiber's stack) gives the slot back before it throws.
TEST_P(PoolTest, AFailedSpawnReleasesTheSlot) {
  Runtime rt({.workers = GetParam(), .stack_size = 64 * 1024});
  Pool pool(rt, 1);
  auto big = std::make_unique<std::array<char, 64 * 1024>>();
  EXPECT_THROW(pool.spawn([b = *big] { return b[0]; }), UsageError);
  EXPECT_EQ(pool.free_count(), 1);
  EXPECT_EQ(pool.spawn([] { return 3; }).get(), 3);  // would wait forever for a leaked slot
  EXPECT_TRUE(pool.join_for(absl::Seconds(30)));
}

TEST_P(PoolTest, AKillReleasesTheSlot) {
  Run([] {
    Timeout guard(kHangGuard);
    Pool pool(1);
    std::atomic<bool> entered{false};
    auto sleeper = pool.spawn([&] {
      entered = true;
      sleep_for(kForever);
    });
    while (!entered.load()) sleep_for(absl::Milliseconds(1));
    sleeper.kill();
    auto next = pool.spawn([] { return 1; });  // needs the sleeper's slot
    EXPECT_EQ(next.get(), 1);
    EXPECT_TRUE(sleeper.killed());
    // Killed at once, perhaps before it ran: its slot comes back either way.
    for (int i = 0; i < 20; ++i) pool.spawn([] { sleep_for(kForever); }).kill();
    pool.join();
    EXPECT_EQ(pool.free_count(), 1);
  });
}

TEST_P(PoolTest, AWaitingSpawnIsInterruptedByKillAndTimeout) {
  Run([] {
    Timeout guard(kHangGuard);
    Pool pool(1);
    Event go;
    pool.spawn([&] { go.wait(); }).detach();
    std::atomic<bool> spawned{false};
    auto waiter = spawn([&] {
      pool.spawn([] {}).detach();
      spawned = true;
    });
    sleep_for(absl::Milliseconds(20));
    waiter.kill();
    waiter.join();
    EXPECT_TRUE(waiter.killed());
    EXPECT_FALSE(spawned.load());
    {
      Timeout t(absl::Milliseconds(20));
      EXPECT_THROW(pool.spawn([] {}), TimeoutError);
    }
    go.set();
    pool.join();
    EXPECT_EQ(pool.free_count(), 1);  // neither waiter took a slot
  });
}

TEST_P(PoolTest, WorksFromAPlainThreadWithARuntime) {
  Runtime rt(options());
  Pool pool(rt, 2);
  ConcurrencyMeter meter;
  std::vector<Fiber<int>> fs;
  for (int i = 0; i < 10; ++i) {
    fs.push_back(pool.spawn([&meter, i] {  // blocks this thread while full
      meter.enter();
      sleep_for(absl::Milliseconds(2));
      meter.leave();
      return i;
    }));
  }
  EXPECT_TRUE(pool.join_for(absl::Seconds(60)));
  pool.join();
  EXPECT_LE(meter.max.load(), 2);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(fs[i].get(), i);
  EXPECT_EQ(pool.free_count(), 2);
}

TEST_P(PoolTest, ThreadsAndFibersShareOnePool) {
  Runtime rt(options());
  Pool pool(rt, 3);
  ConcurrencyMeter meter;
  std::atomic<int> done{0};
  auto body = [&] {
    meter.enter();
    sleep_for(absl::Microseconds(300));
    meter.leave();
    done.fetch_add(1);
  };
  const int kEach = static_cast<int>(test::Scaled(40, 4));
  std::thread t1([&] {
    for (int i = 0; i < kEach; ++i) pool.spawn(body).detach();
  });
  auto from_fiber = rt.spawn([&] {
    for (int i = 0; i < kEach; ++i) pool.spawn(body).detach();
  });
  t1.join();
  from_fiber.join();
  EXPECT_TRUE(pool.join_for(absl::Seconds(60)));
  EXPECT_EQ(done.load(), 2 * kEach);
  EXPECT_LE(meter.max.load(), 3);
  EXPECT_EQ(pool.free_count(), 3);
}

TEST_P(PoolTest, SpawnWithoutARuntimeFromAPlainThreadIsAUsageError) {
  Pool pool(2);
  EXPECT_THROW(pool.spawn([] {}), UsageError);
  EXPECT_EQ(pool.free_count(), 2);  // refused before taking a slot
}

TEST_P(PoolTest, DestroyingThePoolLetsItsFibersFinish) {
  Run([] {
    Timeout guard(kHangGuard);
    std::atomic<int> done{0};
    Event go;
    {
      Pool pool(2);
      for (int i = 0; i < 2; ++i) {
        pool.spawn([&] {
              go.wait();
              done.fetch_add(1);
            })
            .detach();
      }
    }  // the fibers still hold the pool's state
    go.set();
    while (done.load() != 2) sleep_for(absl::Milliseconds(1));
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, PoolTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
