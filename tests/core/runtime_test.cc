#include "weft/core/runtime.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using test::MillisSince;
using ::testing::HasSubstr;

constexpr absl::Duration kForever = absl::Hours(1);

// Counts its destructions, to prove a killed fiber unwinds.
struct DestructorCounter {
  std::atomic<int>* count;
  ~DestructorCounter() { count->fetch_add(1); }
};

// Polls from the calling (non-fiber) thread until `pred` holds or `ms` pass.
template <typename Pred>
bool WaitFor(Pred pred, int64_t ms = 10000) {
  auto start = std::chrono::steady_clock::now();
  while (!pred()) {
    if (MillisSince(start) > ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(RuntimeOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(RuntimeOptions{}.validate().ok());
  EXPECT_TRUE((RuntimeOptions{.workers = 1024}).validate().ok());
  EXPECT_TRUE((RuntimeOptions{.stack_size = 16 * 1024}).validate().ok());
  EXPECT_TRUE((RuntimeOptions{.stack_size = std::size_t{1} << 30}).validate().ok());
  EXPECT_TRUE((RuntimeOptions{.run_queue_capacity = 2}).validate().ok());
  EXPECT_TRUE((RuntimeOptions{.run_queue_capacity = std::size_t{1} << 20}).validate().ok());
}

TEST(RuntimeOptionsTest, RejectsBadWorkers) {
  for (int w : {-1, 1025}) {
    absl::Status s = RuntimeOptions{.workers = w}.validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << w;
    EXPECT_THAT(s.message(), HasSubstr("RuntimeOptions::workers")) << w;
    EXPECT_THAT(s.message(), HasSubstr(std::to_string(w))) << w;
  }
}

TEST(RuntimeOptionsTest, RejectsBadStackSize) {
  for (std::size_t size :
       {std::size_t{1}, std::size_t{16 * 1024 - 1}, (std::size_t{1} << 30) + 1}) {
    absl::Status s = RuntimeOptions{.stack_size = size}.validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_THAT(s.message(), HasSubstr("RuntimeOptions::stack_size")) << size;
    EXPECT_THAT(s.message(), HasSubstr(std::to_string(size))) << size;
  }
}

TEST(RuntimeOptionsTest, RejectsBadRunQueueCapacity) {
  for (std::size_t cap :
       {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{100}, std::size_t{1} << 21}) {
    absl::Status s = RuntimeOptions{.run_queue_capacity = cap}.validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << cap;
    EXPECT_THAT(s.message(), HasSubstr("RuntimeOptions::run_queue_capacity")) << cap;
  }
}

TEST(RuntimeTest, ConstructorThrowsUsageErrorWithValidateMessage) {
  RuntimeOptions bad{.workers = -3};
  try {
    Runtime rt(bad);
    FAIL() << "constructor accepted workers = -3";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), std::string(bad.validate().message()));
  }
}

TEST(RuntimeTest, CreateReportsInvalidArgument) {
  auto rt = Runtime::create({.stack_size = 1000});
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(rt.status().message(), HasSubstr("stack_size"));

  auto good = Runtime::create({.workers = 2});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)->workers(), 2);
}

TEST(RuntimeTest, ZeroWorkersMeansOnePerCore) {
  Runtime rt({.workers = 0});
  EXPECT_EQ(rt.workers(), static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(RuntimeTest, StackSizeIsRoundedUpToPages) {
  Runtime rt({.workers = 1, .stack_size = 20000});
  EXPECT_EQ(rt.stack_size(), 20480u);
  EXPECT_EQ(rt.stats().stack_size, 20480u);
  Runtime def({.workers = 1});
  EXPECT_EQ(def.stack_size(), default_stack_size());
}

TEST(RuntimeTest, ClosureTooLargeForStackThrowsUsageError) {
  Runtime rt({.workers = 1, .stack_size = 64 * 1024});
  std::array<char, 32 * 1024> big{};
  try {
    rt.spawn([big] { return big[0]; });
    FAIL() << "a 32 KiB closure was accepted on a 64 KiB stack";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("too large"));
  }
  // The runtime is still usable afterwards.
  EXPECT_EQ(rt.spawn([] { return 3; }).get(), 3);
}

TEST(RuntimeTest, ClosureWhoseConstructionThrowsLeavesRuntimeUsable) {
  struct ThrowsOnCopy {
    ThrowsOnCopy() = default;
    ThrowsOnCopy(const ThrowsOnCopy&) { throw std::runtime_error("copy"); }
    void operator()() const {}
  };
  Runtime rt({.workers = 2});
  ThrowsOnCopy f;
  EXPECT_THROW(rt.spawn(f), std::runtime_error);
  EXPECT_EQ(rt.spawn([] { return 4; }).get(), 4);
  EXPECT_EQ(rt.stats().live_fibers, 0u);
}

class RunTest : public test::RuntimeTest {};

TEST_P(RunTest, ReturnsTheMainFibersValue) {
  EXPECT_EQ(Run([] { return 42; }), 42);
  EXPECT_EQ(Run([] { return std::string("weft"); }), "weft");
  auto p = Run([] { return std::make_unique<int>(9); });
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 9);
}

TEST_P(RunTest, VoidMainReturnsZero) {
  bool ran = false;
  EXPECT_EQ(Run([&] { ran = true; }), 0);
  EXPECT_TRUE(ran);
}

TEST_P(RunTest, RethrowsWhatTheMainFiberThrew) {
  try {
    Run([]() -> int { throw std::invalid_argument("bad input"); });
    FAIL() << "run() did not rethrow";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad input");
  }
}

TEST_P(RunTest, RunsInsideAFiber) {
  EXPECT_FALSE(in_fiber());
  EXPECT_TRUE(Run([] { return in_fiber(); }));
}

TEST_P(RunTest, WaitsForTheMainFiberOnly) {
  // Fibers the main fiber leaves behind are killed at shutdown; they unwind.
  // (That is the point here, so the fixture's leak check is off.)
  std::atomic<int> destroyed{0};
  std::atomic<int> started{0};
  RunLeavingFibers([&] {
    for (int i = 0; i < 20; ++i) {
      spawn([&] {
        DestructorCounter c{&destroyed};
        started.fetch_add(1);
        sleep_for(kForever);
      });
    }
    while (started.load() < 20) sleep_for(absl::Milliseconds(1));
  });
  EXPECT_EQ(destroyed.load(), 20);
}

INSTANTIATE_TEST_SUITE_P(Workers, RunTest, test::WorkerCounts(), test::WorkerCountName);

class ShutdownTest : public test::RuntimeTest {};

TEST_P(ShutdownTest, KillsSleepingFibersAndRunsTheirDestructors) {
  constexpr int kFibers = 100;
  std::atomic<int> started{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> finished_normally{0};
  std::vector<Fiber<void>> handles;
  auto rt = std::make_unique<Runtime>(options());
  for (int i = 0; i < kFibers; ++i) {
    handles.push_back(rt->spawn([&, i] {
      DestructorCounter c{&destroyed};
      started.fetch_add(1);
      if (i % 2 == 0) {
        sleep_for(kForever);
      } else {
        sleep_until(absl::InfiniteFuture());
      }
      finished_normally.fetch_add(1);
    }));
  }
  ASSERT_TRUE(WaitFor([&] { return started.load() == kFibers; }));
  EXPECT_EQ(rt->stats().live_fibers, static_cast<uint64_t>(kFibers));

  auto start = std::chrono::steady_clock::now();
  rt->shutdown();
  EXPECT_LT(MillisSince(start), 10000);  // an hour-long sleep must not hold it up
  EXPECT_EQ(destroyed.load(), kFibers);
  EXPECT_EQ(finished_normally.load(), 0);
  EXPECT_EQ(rt->stats().live_fibers, 0u);
  for (auto& h : handles) {
    EXPECT_TRUE(h.ready());
    EXPECT_TRUE(h.killed());
  }
  EXPECT_THROW(handles[0].get(), FiberKilled);
  rt.reset();
}

TEST_P(ShutdownTest, KillsFibersBlockedInJoin) {
  std::atomic<int> destroyed{0};
  std::atomic<bool> joining{false};
  {
    Runtime rt(options());
    rt.spawn([&] {
      DestructorCounter c{&destroyed};
      auto sleeper = spawn([&] {
        DestructorCounter c2{&destroyed};
        sleep_for(kForever);
      });
      joining = true;
      sleeper.join();
    });
    ASSERT_TRUE(WaitFor([&] { return joining.load(); }));
  }
  EXPECT_EQ(destroyed.load(), 2);
}

TEST_P(ShutdownTest, FiberExitIsNotCaughtAsStdException) {
  std::atomic<bool> started{false};
  std::atomic<bool> swallowed{false};
  std::atomic<bool> saw_exit{false};
  Fiber<void> f;
  Runtime rt(options());
  f = rt.spawn([&] {
    try {
      started = true;
      sleep_for(kForever);
    } catch (const std::exception&) {
      swallowed = true;
    } catch (const FiberExit&) {
      saw_exit = true;
      throw;
    }
  });
  ASSERT_TRUE(WaitFor([&] { return started.load(); }));
  rt.shutdown();
  EXPECT_FALSE(swallowed.load());
  EXPECT_TRUE(saw_exit.load());
  EXPECT_TRUE(f.killed());
}

TEST_P(ShutdownTest, DestructorThatSleepsDuringShutdownDoesNotHang) {
  // A killed fiber's destructor may wait; it stops waiting early instead of
  // throwing FiberExit out of a destructor.
  struct SleepsInDestructor {
    std::atomic<int>* done;
    ~SleepsInDestructor() {
      sleep_for(absl::Milliseconds(1));
      sleep_for(kForever);
      done->fetch_add(1);
    }
  };
  std::atomic<int> done{0};
  std::atomic<int> started{0};
  {
    Runtime rt(options());
    for (int i = 0; i < 8; ++i) {
      rt.spawn([&] {
        SleepsInDestructor s{&done};
        started.fetch_add(1);
        sleep_for(kForever);
      });
    }
    ASSERT_TRUE(WaitFor([&] { return started.load() == 8; }));
  }
  EXPECT_EQ(done.load(), 8);
}

TEST_P(ShutdownTest, FibersSpawnedByDyingFibersAreKilledToo) {
  struct SpawnsInDestructor {
    std::atomic<int>* destroyed;
    std::atomic<int>* started;
    ~SpawnsInDestructor() {
      std::atomic<int>* d = destroyed;
      std::atomic<int>* s = started;
      spawn([d, s] {
        DestructorCounter c{d};
        s->fetch_add(1);
        sleep_for(kForever);
      });
    }
  };
  std::atomic<int> destroyed{0};
  std::atomic<int> late_started{0};
  std::atomic<int> started{0};
  {
    Runtime rt(options());
    for (int i = 0; i < 4; ++i) {
      rt.spawn([&] {
        SpawnsInDestructor s{&destroyed, &late_started};
        started.fetch_add(1);
        sleep_for(kForever);
      });
    }
    ASSERT_TRUE(WaitFor([&] { return started.load() == 4; }));
  }
  EXPECT_EQ(late_started.load(), 4);
  EXPECT_EQ(destroyed.load(), 4);
}

TEST_P(ShutdownTest, KillsFibersThatOnlyYield) {
  std::atomic<int> destroyed{0};
  std::atomic<int> started{0};
  {
    Runtime rt(options());
    for (int i = 0; i < 6; ++i) {
      rt.spawn([&, i] {
        DestructorCounter c{&destroyed};
        started.fetch_add(1);
        for (;;) {
          if (i % 2 == 0) {
            yield();
          } else {
            sleep_for(absl::ZeroDuration());
          }
        }
      });
    }
    ASSERT_TRUE(WaitFor([&] { return started.load() == 6; }));
  }
  EXPECT_EQ(destroyed.load(), 6);
}

TEST_P(ShutdownTest, SpawnAfterShutdownThrowsUsageError) {
  Runtime rt(options());
  rt.shutdown();
  try {
    rt.spawn([] {});
    FAIL() << "spawn on a stopped runtime succeeded";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("shutting down"));
  }
}

TEST_P(ShutdownTest, SpawnWhileShuttingDownThrowsUsageError) {
  // A fiber that ignores its kill holds shutdown() up; meanwhile spawns from
  // outside must be refused.
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  Runtime rt(options());
  rt.spawn([&] {
    started = true;
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  ASSERT_TRUE(WaitFor([&] { return started.load(); }));
  std::thread stopper([&] { rt.shutdown(); });
  bool refused = false;
  auto start = std::chrono::steady_clock::now();
  while (!refused && MillisSince(start) < 10000) {
    try {
      rt.spawn([] {}).detach();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } catch (const UsageError&) {
      refused = true;
    }
  }
  release = true;
  stopper.join();
  EXPECT_TRUE(refused);
}

TEST_P(ShutdownTest, IsIdempotent) {
  std::atomic<int> destroyed{0};
  std::atomic<int> started{0};
  auto rt = std::make_unique<Runtime>(options());
  for (int i = 0; i < 10; ++i) {
    rt->spawn([&] {
      DestructorCounter c{&destroyed};
      started.fetch_add(1);
      sleep_for(kForever);
    });
  }
  ASSERT_TRUE(WaitFor([&] { return started.load() == 10; }));
  rt->shutdown();
  EXPECT_EQ(destroyed.load(), 10);
  rt->shutdown();
  rt.reset();
  EXPECT_EQ(destroyed.load(), 10);
}

TEST_P(ShutdownTest, FromOwnFiberThrowsUsageError) {
  Runtime rt(options());
  auto f = rt.spawn([&rt]() -> std::string {
    try {
      rt.shutdown();
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  });
  EXPECT_THAT(f.get(), HasSubstr("own fibers"));
}

TEST_P(ShutdownTest, HandleMayOutliveItsRuntime) {
  Fiber<std::string> f;
  {
    Runtime rt(options());
    f = rt.spawn([] { return std::string(100, 'x'); });  // heap-allocated result
    f.join();
  }
  EXPECT_TRUE(f.valid());
  f.detach();  // drops the result; must not touch the destroyed runtime
  EXPECT_FALSE(f.valid());
}

INSTANTIATE_TEST_SUITE_P(Workers, ShutdownTest, test::WorkerCounts(), test::WorkerCountName);

TEST(ShutdownDeathTest, ConcurrentShutdownFromTwoThreadsReturnsInBoth) {
  // shutdown() documents that a second caller waits for the first. Run in a
  // child process: a hang (caught by alarm) or a crash there fails this test
  // instead of taking the whole binary down.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        alarm(20);
        for (int workers : {1, 2, 4, 8}) {
          for (int rep = 0; rep < 10; ++rep) {
            auto* rt = new Runtime({.workers = workers});
            rt->spawn([] { sleep_for(kForever); });
            std::thread a([rt] { rt->shutdown(); });
            std::thread b([rt] { rt->shutdown(); });
            a.join();
            b.join();
            delete rt;
          }
        }
        std::fflush(nullptr);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(RuntimeLifecycleDeathTest, ManyRuntimesOneAfterAnother) {
  // Each runtime runs 1,000 fibers at once, then is destroyed; nothing a
  // runtime holds per stack may outlive it. (Under ThreadSanitizer every
  // fiber context is a TSan thread, of which a process has 8128.) Run in a
  // child so that a sanitizer abort fails only this test.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        for (int r = 0; r < 12; ++r) {
          Runtime rt({.workers = 2});
          rt.spawn([] {
              std::vector<Fiber<void>> fs;
              for (int i = 0; i < 1000; ++i) fs.push_back(spawn([] { yield(); }));
              join_all(fs);
            }).join();
        }
        std::fflush(nullptr);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

class CrossRuntimeTest : public test::RuntimeTest {};

TEST_P(CrossRuntimeTest, FiberMaySpawnOnAndJoinAnotherRuntime) {
  Runtime other({.workers = 2});
  int v = Run([&] {
    auto f = other.spawn([] {
      sleep_for(absl::Milliseconds(5));
      return current().id;
    });
    uint64_t id = f.id();
    EXPECT_EQ(f.get(), id);
    // And the other way round: a fiber of `other` joins one of ours.
    auto mine = spawn([] {
      sleep_for(absl::Milliseconds(5));
      return 2;
    });
    return other.spawn([&mine] { return mine.get() + 1; }).get();
  });
  EXPECT_EQ(v, 3);
  EXPECT_EQ(other.stats().live_fibers, 0u);
}

TEST_P(CrossRuntimeTest, RunInsideAFiberOfAnotherRuntime) {
  // A nested runtime blocks the outer fiber's worker while it runs; it works,
  // it just costs that worker.
  EXPECT_EQ(
      Run([] { return weft::run({.workers = 2}, [] { return spawn([] { return 5; }).get(); }); }),
      5);
}

INSTANTIATE_TEST_SUITE_P(Workers, CrossRuntimeTest, test::WorkerCounts(), test::WorkerCountName);

class StatsTest : public test::RuntimeTest {};

TEST_P(StatsTest, CountsSpawnsFinishesSwitchesAndTimers) {
  constexpr int kChildren = 50;
  Runtime rt(options());
  RuntimeStats before = rt.stats();
  ASSERT_EQ(static_cast<int>(before.workers.size()), workers());
  EXPECT_EQ(before.live_fibers, 0u);
  EXPECT_EQ(before.stack_size, rt.stack_size());

  rt.spawn([] {
      std::vector<Fiber<void>> kids;
      for (int i = 0; i < kChildren; ++i) {
        kids.push_back(spawn([] { sleep_for(absl::Milliseconds(1)); }));
      }
      join_all(kids);
    }).join();

  RuntimeStats s = rt.stats();
  uint64_t spawned = 0, finished = 0, switches = 0, timers = 0;
  for (const WorkerStats& w : s.workers) {
    spawned += w.fibers_spawned;
    finished += w.fibers_finished;
    switches += w.switches;
    timers += w.timers_fired;
  }
  EXPECT_EQ(spawned, static_cast<uint64_t>(kChildren));  // the main fiber came from outside
  EXPECT_EQ(finished, static_cast<uint64_t>(kChildren) + 1);
  EXPECT_GE(switches, static_cast<uint64_t>(kChildren) + 1);
  EXPECT_GE(timers, 1u);
  EXPECT_EQ(s.live_fibers, 0u);
  EXPECT_GE(s.stacks_carved, 1u);
}

TEST_P(StatsTest, LiveFibersCountsSuspendedFibers) {
  std::atomic<int> started{0};
  std::atomic<bool> release{false};
  Runtime rt(options());
  std::vector<Fiber<void>> fs;
  for (int i = 0; i < 5; ++i) {
    fs.push_back(rt.spawn([&] {
      started.fetch_add(1);
      while (!release.load()) sleep_for(absl::Milliseconds(1));
    }));
  }
  ASSERT_TRUE(WaitFor([&] { return started.load() == 5; }));
  EXPECT_EQ(rt.stats().live_fibers, 5u);
  release = true;
  for (auto& f : fs) f.join();
  EXPECT_EQ(rt.stats().live_fibers, 0u);
}

TEST_P(StatsTest, MayBeReadWhileFibersRun) {
  Runtime rt(options());
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      RuntimeStats s = rt.stats();
      EXPECT_EQ(static_cast<int>(s.workers.size()), workers());
    }
  });
  rt.spawn([] {
      std::vector<Fiber<void>> fs;
      for (int64_t i = 0; i < test::Scaled(2000); ++i) fs.push_back(spawn([] { yield(); }));
      join_all(fs);
    }).join();
  done = true;
  reader.join();
  EXPECT_EQ(rt.stats().live_fibers, 0u);
}

INSTANTIATE_TEST_SUITE_P(Workers, StatsTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
