#include "weft/core/this_fiber.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/manual_clock.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using test::MillisSince;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// Runs `call` on a plain thread and returns the UsageError's message, or
// "no exception".
template <typename F>
std::string UsageErrorOf(F call) {
  try {
    call();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no exception";
}

TEST(OutsideAFiberTest, FiberOnlyFunctionsThrowUsageError) {
  EXPECT_FALSE(in_fiber());
  struct Case {
    const char* name;
    std::function<void()> call;
  };
  std::vector<Case> cases = {
      {"weft::yield", [] { yield(); }},
      {"weft::sleep_for", [] { sleep_for(absl::Milliseconds(1)); }},
      {"weft::sleep_for", [] { sleep_for(absl::ZeroDuration()); }},
      {"weft::sleep_until", [] { sleep_until(absl::Now() + absl::Milliseconds(1)); }},
      {"weft::current", [] { current(); }},
      {"weft::set_name", [] { set_name("x"); }},
  };
  for (const Case& c : cases) {
    std::string what = UsageErrorOf(c.call);
    EXPECT_THAT(what, HasSubstr(c.name));
    EXPECT_THAT(what, HasSubstr("outside a fiber"));
    EXPECT_THAT(what, HasSubstr("weft::spawn"));  // says what to do instead
  }
}

TEST(OutsideAFiberTest, SpawnThrowsUsageErrorPointingAtRuntimeSpawn) {
  std::string what = UsageErrorOf([] { spawn([] {}); });
  EXPECT_THAT(what, HasSubstr("weft::spawn"));
  EXPECT_THAT(what, HasSubstr("Runtime::spawn"));
}

TEST(OutsideAFiberTest, PlainThreadNextToARuntimeIsNotAFiber) {
  Runtime rt({.workers = 2});
  std::thread t([] {
    EXPECT_FALSE(in_fiber());
    EXPECT_THAT(UsageErrorOf([] { yield(); }), HasSubstr("outside a fiber"));
  });
  t.join();
}

class ThisFiberTest : public test::RuntimeTest {};

TEST_P(ThisFiberTest, SleepersFinishInDeadlineOrderAndInParallel) {
  // gevent's classic: sleeps of 300, 200 and 0 ms end in order 0, 200, 300,
  // and take 300 ms together, not 500. On the manual clock: each ends when
  // the clock passes its deadline, and 300 ms of it end them all.
  test::ManualClock clock;
  std::vector<int> order;
  std::mutex mu;
  Run([&] {
    std::vector<std::atomic<internal::FiberControl*>> selves(3);
    std::vector<Fiber<void>> fs;
    const int durations[] = {300, 200, 0};
    for (int i = 0; i < 3; ++i) {
      fs.push_back(spawn([&, i] {
        selves[i] = test::ThisFiber();
        sleep_for(absl::Milliseconds(durations[i]));
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(durations[i]);
      }));
    }
    fs[2].join();  // sleep_for(0) only yields
    test::UntilParked(selves[0]);
    test::UntilParked(selves[1]);
    clock.advance(absl::Milliseconds(200));
    fs[1].join();
    clock.advance(absl::Milliseconds(99));
    for (int i = 0; i < 100; ++i) yield();
    EXPECT_FALSE(fs[0].ready()) << "woke 1 ms before its deadline";
    clock.advance(absl::Milliseconds(1));
    fs[0].join();
  });
  EXPECT_EQ(order, (std::vector<int>{0, 200, 300}));
}

TEST_P(ThisFiberTest, ParallelSleepsOverlap) {
  // Three sleeps of 200 ms end together once 200 ms of (manual) clock passed.
  test::ManualClock clock;
  Run([&] {
    std::vector<std::atomic<internal::FiberControl*>> selves(3);
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < 3; ++i) {
      fs.push_back(spawn([&, i] {
        selves[i] = test::ThisFiber();
        sleep_for(absl::Milliseconds(200));
      }));
    }
    for (auto& s : selves) test::UntilParked(s);
    clock.advance(absl::Milliseconds(200));
    join_all(fs);
  });
}

TEST_P(ThisFiberTest, SleepForSleepsAtLeastTheDuration) {
  Run([] {
    for (int ms : {1, 5, 20}) {
      auto start = std::chrono::steady_clock::now();
      sleep_for(absl::Milliseconds(ms));
      EXPECT_GE(MillisSince(start), ms);
    }
  });
}

TEST_P(ThisFiberTest, VeryShortSleepsAlwaysWake) {
  // Sleeps of a few hundred nanoseconds expire while the fiber is still
  // switching out; their timer must still wake it.
  constexpr int kSleeps = static_cast<int>(test::Scaled(20000));
  Run([] {
    std::atomic<int> done{0};
    auto sleeper = spawn([&done] {
      std::mt19937 rng(11);
      for (int i = 0; i < kSleeps; ++i) {
        sleep_for(absl::Nanoseconds(rng() % 2000));
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
    EXPECT_TRUE(sleeper.join_for(absl::Seconds(5)))
        << "sleep " << done.load() + 1 << " of " << int{kSleeps} << " never woke up";
  });
}

TEST_P(ThisFiberTest, SleepForZeroOrNegativeReturns) {
  Run([] {
    sleep_for(absl::ZeroDuration());
    sleep_for(absl::Milliseconds(-10));
    sleep_for(-absl::InfiniteDuration());
  });
}

TEST_P(ThisFiberTest, SleepUntilWaitsForTheDeadline) {
  Run([] {
    absl::Time deadline = absl::Now() + absl::Milliseconds(20);
    sleep_until(deadline);
    EXPECT_GE(absl::Now(), deadline);
    auto start = std::chrono::steady_clock::now();
    sleep_until(absl::Now() - absl::Seconds(1));  // in the past: just a yield
    sleep_until(absl::InfinitePast());
    EXPECT_LT(MillisSince(start), 1000);
  });
}

TEST_P(ThisFiberTest, SleepingFiberDoesNotBlockItsWorker) {
  // With one worker, a fiber that yields in a loop runs while another sleeps.
  Run([] {
    std::atomic<bool> woke{false};
    auto sleeper = spawn([&woke] {
      sleep_for(absl::Milliseconds(50));
      woke = true;
    });
    int spins = 0;
    while (!woke.load()) {
      yield();
      ++spins;
    }
    EXPECT_GT(spins, 0);
    sleeper.join();
  });
}

TEST_P(ThisFiberTest, CurrentPrintsIdNameAndWorker) {
  Run([this] {
    FiberInfo anon = current();
    EXPECT_GT(anon.id, 0u);
    EXPECT_GE(anon.worker, 0);
    EXPECT_LT(anon.worker, workers());
    EXPECT_EQ(anon.name, "");
    EXPECT_THAT(anon.to_string(), MatchesRegex("<Fiber [0-9]+ on worker [0-9]+>"));
    EXPECT_EQ(anon.to_string(), "<Fiber " + std::to_string(anon.id) + " on worker " +
                                    std::to_string(anon.worker) + ">");

    set_name("pinger");
    FiberInfo named = current();
    EXPECT_EQ(named.id, anon.id);
    EXPECT_EQ(named.name, "pinger");
    std::ostringstream os;
    os << named;
    EXPECT_EQ(os.str(), named.to_string());
    EXPECT_THAT(os.str(), MatchesRegex("<Fiber [0-9]+ \"pinger\" on worker [0-9]+>"));
  });
}

TEST(FiberInfoTest, FormatsWithoutARuntime) {
  EXPECT_EQ((FiberInfo{7, "f(5)", 1}).to_string(), "<Fiber 7 \"f(5)\" on worker 1>");
  EXPECT_EQ((FiberInfo{7, "", 0}).to_string(), "<Fiber 7 on worker 0>");
}

TEST_P(ThisFiberTest, InFiberIsTrueInsideOnly) {
  EXPECT_FALSE(in_fiber());
  Run([] {
    EXPECT_TRUE(in_fiber());
    EXPECT_TRUE(spawn([] { return in_fiber(); }).get());
  });
  EXPECT_FALSE(in_fiber());
}

TEST_P(ThisFiberTest, YieldWithNothingElseToRunReturns) {
  Run([] {
    for (int i = 0; i < 1000; ++i) yield();
  });
}

TEST_P(ThisFiberTest, YieldingFibersAllFinish) {
  std::atomic<int> total{0};
  Run([&] {
    std::vector<Fiber<void>> fs;
    for (int f = 0; f < 16; ++f) {
      fs.push_back(spawn([&] {
        for (int i = 0; i < 500; ++i) {
          total.fetch_add(1);
          yield();
        }
      }));
    }
    join_all(fs);
  });
  EXPECT_EQ(total.load(), 16 * 500);
}

TEST(YieldFairnessTest, YieldingFibersTakeTurnsRoundRobinOnOneWorker) {
  constexpr int kFibers = 3;
  constexpr int kRounds = 200;  // spans several of the scheduler's fairness ticks
  std::vector<int> log;         // one worker: no lock needed
  weft::run({.workers = 1}, [&] {
    std::vector<Fiber<void>> fs;
    for (int f = 0; f < kFibers; ++f) {
      fs.push_back(spawn([&log, f] {
        for (int i = 0; i < kRounds; ++i) {
          log.push_back(f);
          yield();
        }
      }));
    }
    join_all(fs);
  });
  ASSERT_EQ(log.size(), static_cast<std::size_t>(kFibers * kRounds));
  // The first turn visits every fiber once; every later turn repeats it.
  std::vector<int> first(log.begin(), log.begin() + kFibers);
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<int>{0, 1, 2}));
  for (std::size_t i = kFibers; i < log.size(); ++i) {
    ASSERT_EQ(log[i], log[i - kFibers]) << "turn order broke at entry " << i;
  }
}

TEST(YieldFairnessTest, SleepZeroIsAYieldToo) {
  std::vector<int> log;
  weft::run({.workers = 1}, [&] {
    auto a = spawn([&log] {
      for (int i = 0; i < 50; ++i) {
        log.push_back(0);
        sleep_for(absl::ZeroDuration());
      }
    });
    auto b = spawn([&log] {
      for (int i = 0; i < 50; ++i) {
        log.push_back(1);
        sleep_for(absl::ZeroDuration());
      }
    });
    join_all({a, b});
  });
  ASSERT_EQ(log.size(), 100u);
  for (std::size_t i = 1; i < log.size(); ++i) EXPECT_NE(log[i], log[i - 1]) << i;
}

TEST(YieldFairnessTest, YieldingFiberDoesNotStarveASpawnFromOutside) {
  Runtime rt({.workers = 1});
  std::atomic<bool> stop{false};
  auto spinner = rt.spawn([&stop] {
    while (!stop.load()) yield();
  });
  auto outsider = rt.spawn([] { return 1; });
  EXPECT_TRUE(outsider.join_for(absl::Seconds(30)));
  stop = true;
  spinner.join();
}

TEST(YieldFairnessTest, WokenFiberDoesNotStarveTheQueue) {
  // A fiber that keeps spawning and joining a child is woken through the next
  // slot every time; the older `other` must still get its turn.
  weft::run({.workers = 1}, [] {
    std::atomic<bool> stop{false};
    auto ping = spawn([&stop] {
      auto other = spawn([&stop] { stop = true; });
      while (!stop.load()) spawn([] {}).join();
      other.join();
    });
    EXPECT_TRUE(ping.join_for(absl::Seconds(30)));
    stop = true;
    ping.join();
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, ThisFiberTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
