// The order in which spawned fibers start (worker.cc, "Start order"): on one
// worker, the fibers a fiber spawns in one turn start in spawn order, as
// gevent starts greenlets; a new batch goes in front of older work; fibers
// whose timers fall due together run in deadline order. Across workers
// nothing is promised, so these run on one worker only.
#include <atomic>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "weft/weft.h"

namespace weft {
namespace {

const RuntimeOptions kOneWorker{.workers = 1};

// Appends what each fiber records; one worker, so no lock is needed.
struct Log {
  std::vector<std::string> lines;
  void add(std::string s) { lines.push_back(std::move(s)); }
};

TEST(SpawnOrderTest, SpawnsFromTheMainFiberStartInSpawnOrder) {
  Log log;
  run(kOneWorker, [&] {
    std::vector<Fiber<void>> fibers;
    for (int i = 0; i < 10; ++i) {
      fibers.push_back(spawn([&log, i] { log.add(std::to_string(i)); }));
    }
    join_all(fibers);
  });
  EXPECT_EQ(log.lines,
            (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
}

TEST(SpawnOrderTest, JoiningTheFirstRunsItFirst) {
  // The seed's getcurrent: g1, g2, g3 spawned, then joined one by one; each
  // runs to its end without a suspension point, so the order of starts is
  // the order of lines.
  Log log;
  run(kOneWorker, [&] {
    auto f = [&log](const char* name) {
      for (int i = 0; i < 3; ++i) log.add(std::string(name) + std::to_string(i));
    };
    auto g1 = spawn(f, "a");
    auto g2 = spawn(f, "b");
    auto g3 = spawn(f, "c");
    g1.join();
    g2.join();
    g3.join();
  });
  EXPECT_EQ(log.lines,
            (std::vector<std::string>{"a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2"}));
}

TEST(SpawnOrderTest, SpawnsFromANestedFiberStartInSpawnOrder) {
  Log log;
  run(kOneWorker, [&] {
    spawn([&] {
      std::vector<Fiber<void>> fibers;
      for (int i = 0; i < 5; ++i) {
        fibers.push_back(spawn([&log, i] { log.add(std::to_string(i)); }));
      }
      join_all(fibers);
    }).join();
  });
  EXPECT_EQ(log.lines, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

TEST(SpawnOrderTest, ANewBatchGoesInFrontOfOlderWork) {
  // Depth-first across generations: A's children run before A's younger
  // sibling B, each batch in spawn order.
  Log log;
  run(kOneWorker, [&] {
    auto a = spawn([&] {
      log.add("A");
      auto a1 = spawn([&] { log.add("A1"); });
      auto a2 = spawn([&] { log.add("A2"); });
      a1.join();
      a2.join();
    });
    auto b = spawn([&] { log.add("B"); });
    a.join();
    b.join();
  });
  EXPECT_EQ(log.lines, (std::vector<std::string>{"A", "A1", "A2", "B"}));
}

TEST(SpawnOrderTest, YieldingFibersTakeTurnsInSpawnOrder) {
  // getcurrent with gevent.sleep(0): one line each, round after round.
  Log log;
  run(kOneWorker, [&] {
    auto f = [&log](const char* name) {
      for (int i = 0; i < 3; ++i) {
        log.add(std::string(name) + std::to_string(i));
        weft::yield();
      }
    };
    auto g1 = spawn(f, "a");
    auto g2 = spawn(f, "b");
    auto g3 = spawn(f, "c");
    join_all({g1, g2, g3});
  });
  EXPECT_EQ(log.lines,
            (std::vector<std::string>{"a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"}));
}

// Context switches into fibers on the only worker of `rt`.
uint64_t Switches(Runtime& rt) { return rt.stats().workers.at(0).switches; }

TEST(SpawnOrderTest, AJoinerResumesOnlyOnceItsBatchHasStarted) {
  // Spawn 100, join them in order: the joiner is woken by the first's end,
  // but waits until the other 99 have started (as in gevent, where the
  // wake-up is queued behind them), so it is switched in about once, not
  // once per child: LIFO's cost, not twice it.
  Runtime rt(kOneWorker);
  uint64_t before = Switches(rt);
  rt.spawn([] {
      std::vector<Fiber<void>> fibers;
      for (int i = 0; i < 100; ++i) fibers.push_back(spawn([] {}));
      for (auto& f : fibers) f.join();
    }).join();
  uint64_t switches = Switches(rt) - before;
  EXPECT_GE(switches, 101u);
  EXPECT_LE(switches, 101u + 5);  // the joiner back once, and now and then a fair turn
}

int64_t Tree(int64_t num, int64_t size) {
  if (size == 1) return num;
  std::vector<Fiber<int64_t>> kids;
  for (int i = 0; i < 10; ++i) kids.push_back(spawn(Tree, num + i * (size / 10), size / 10));
  int64_t sum = 0;
  for (auto& k : kids) sum += k.get();
  return sum;
}

TEST(SpawnOrderTest, AForkJoinTreeSwitchesAsOftenAsLifo) {
  // skynet with 1,000 leaves: 1,111 fibers, 111 of which wait for their
  // children and are switched in once more each.
  Runtime rt(kOneWorker);
  uint64_t before = Switches(rt);
  EXPECT_EQ(rt.spawn(Tree, int64_t{0}, int64_t{1000}).get(), 499500);
  uint64_t switches = Switches(rt) - before;
  EXPECT_GE(switches, 1111u + 111u);
  EXPECT_LE(switches, 1111u + 111u + 40u);
}

TEST(SpawnOrderTest, FibersWhoseTimersFallDueTogetherRunInDeadlineOrder) {
  // Each sleeps until one of five deadlines spaced 1 ms apart (more than
  // the jitter of converting an absl::Time to the monotonic clock), all in
  // the past by the time the worker looks: one round of timers wakes all
  // five.
  Log log;
  run(kOneWorker, [&] {
    absl::Time start = absl::Now() + absl::Milliseconds(20);
    std::vector<Fiber<void>> fibers;
    for (int i = 0; i < 5; ++i) {
      fibers.push_back(spawn([&log, start, i] {
        sleep_until(start + absl::Milliseconds(i));
        log.add(std::to_string(i));
      }));
    }
    // Keep the worker busy past every deadline, so they are fired together.
    spawn([start] {
      while (absl::Now() < start + absl::Milliseconds(10)) {
      }
    }).join();
    join_all(fibers);
  });
  EXPECT_EQ(log.lines, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

TEST(SpawnOrderTest, OutsideSpawnsStartInTheOrderTheyWerePushed) {
  Log log;
  {
    Runtime rt(kOneWorker);
    // Hold the only worker so all ten are queued before any runs.
    std::atomic<bool> go{false};
    auto gate = rt.spawn([&] {
      while (!go.load(std::memory_order_acquire)) weft::yield();
    });
    std::vector<Fiber<void>> fibers;
    for (int i = 0; i < 10; ++i) {
      fibers.push_back(rt.spawn([&log, i] { log.add(std::to_string(i)); }));
    }
    go.store(true, std::memory_order_release);
    gate.join();
    for (auto& f : fibers) f.join();
  }
  EXPECT_EQ(log.lines,
            (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
}

TEST(SpawnOrderTest, OutsideSpawnsPastTheRunQueueStillStartInPushOrder) {
  // A worker takes the Injector's fibers a batch at a time into its
  // RunQueue (Worker::pop_injector); with a small ring the batches are
  // small and many, and they still start in the order they were pushed.
  constexpr int kFibers = 100;
  std::vector<int> order;
  {
    Runtime rt({.workers = 1, .run_queue_capacity = 8});
    std::atomic<bool> go{false};
    auto gate = rt.spawn([&] {
      while (!go.load(std::memory_order_acquire)) weft::yield();
    });
    std::vector<Fiber<void>> fibers;
    for (int i = 0; i < kFibers; ++i) fibers.push_back(rt.spawn([&order, i] { order.push_back(i); }));
    go.store(true, std::memory_order_release);
    gate.join();
    for (auto& f : fibers) f.join();
  }
  std::vector<int> expected(kFibers);
  for (int i = 0; i < kFibers; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
}

TEST(SpawnOrderTest, AFiberThatKeepsSpawningAndYieldingDoesNotHoldBackAnOlderOne) {
  // New batches go in front of older work, but a yield still goes to the
  // back of the line: an older runnable fiber gets a turn in every round of
  // the spawner's loop.
  constexpr int kRounds = 1000;
  int older_turns = 0;
  int children = 0;
  run(kOneWorker, [&] {
    std::atomic<bool> done{false};
    auto older = spawn([&] {
      while (!done.load(std::memory_order_relaxed)) {
        ++older_turns;
        weft::yield();
      }
    });
    auto spawner = spawn([&] {
      for (int i = 0; i < kRounds; ++i) {
        spawn([&] { ++children; }).detach();
        spawn([&] { ++children; }).detach();
        weft::yield();
      }
      done.store(true, std::memory_order_relaxed);
    });
    spawner.join();
    older.join();
  });
  EXPECT_EQ(children, 2 * kRounds);
  EXPECT_GE(older_turns, kRounds);
}

}  // namespace
}  // namespace weft
