// Scheduler stress: many fibers, many wake-ups, idle workers, shutdown under
// load. Each test takes at most a few seconds in Release; counts shrink under
// the sanitizers (test::Scaled), those that set how many fibers are alive at
// once by up to 100: ThreadSanitizer counts every fiber stack this process
// ever carved as a thread, and dies past 8128 of them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using test::MillisSince;
using test::Scaled;

struct DestructorCounter {
  std::atomic<int64_t>* count;
  ~DestructorCounter() { count->fetch_add(1, std::memory_order_relaxed); }
};

TEST(SchedulerStressTest, MillionFibersSpawnedAndJoined) {
  // 1000 spawners each spawn and join 1000 children, in waves, so that at
  // most ~10,000 fibers are alive at once.
  const int64_t kSpawners = 1000;
  const int64_t kChildren = Scaled(1000, 50);
  const int64_t kSpawnersPerWave = Scaled(100);
  constexpr int64_t kChildrenPerBatch = Scaled(100);
  Runtime rt({.workers = 2});
  int64_t total =
      rt.spawn([&] {
          int64_t sum = 0;
          for (int64_t wave = 0; wave < kSpawners; wave += kSpawnersPerWave) {
            std::vector<Fiber<int64_t>> spawners;
            for (int64_t s = wave; s < wave + kSpawnersPerWave; ++s) {
              spawners.push_back(spawn([s, kChildren] {
                int64_t sub = 0;
                std::vector<Fiber<int64_t>> kids;
                for (int64_t c = 0; c < kChildren; c += kChildrenPerBatch) {
                  kids.clear();
                  for (int64_t k = c; k < std::min(c + kChildrenPerBatch, kChildren); ++k) {
                    kids.push_back(spawn([v = s * kChildren + k] { return v; }));
                  }
                  for (auto& kid : kids) sub += kid.get();
                }
                return sub;
              }));
            }
            for (auto& sp : spawners) sum += sp.get();
          }
          return sum;
        }).get();
  const int64_t n = kSpawners * kChildren;
  EXPECT_EQ(total, n * (n - 1) / 2);
  RuntimeStats s = rt.stats();
  uint64_t finished = 0;
  for (const WorkerStats& w : s.workers) finished += w.fibers_finished;
  EXPECT_EQ(finished, static_cast<uint64_t>(n + kSpawners + 1));
  EXPECT_EQ(s.live_fibers, 0u);
  // Stacks are reused: far fewer carved than fibers run.
  EXPECT_LT(s.stacks_carved, static_cast<std::size_t>(n / 10));
}

class StressTest : public test::RuntimeTest {};

TEST_P(StressTest, ManySleepersSleepAtLeastTheirDuration) {
  const int kFibers = static_cast<int>(Scaled(10000, 100));
  std::atomic<int> too_early{0};
  std::atomic<int> done{0};
  Run([&] {
    std::vector<Fiber<void>> fs;
    fs.reserve(kFibers);
    std::mt19937 rng(7);
    for (int i = 0; i < kFibers; ++i) {
      int us = static_cast<int>(rng() % 5001);
      fs.push_back(spawn([us, &too_early, &done] {
        auto start = std::chrono::steady_clock::now();
        sleep_for(absl::Microseconds(us));
        auto slept = std::chrono::steady_clock::now() - start;
        if (slept < std::chrono::microseconds(us)) too_early.fetch_add(1);
        done.fetch_add(1);
      }));
    }
    join_all(fs);
  });
  EXPECT_EQ(done.load(), kFibers);
  EXPECT_EQ(too_early.load(), 0);
}

TEST_P(StressTest, JoinPingPongAcrossWorkers) {
  // Pairs of fibers waking each other: a parent spawns a child and parks in
  // join; the child, often stolen by another worker, wakes the parent.
  const int kPairs = 4;
  const int kRounds = static_cast<int>(Scaled(100000));
  std::atomic<int64_t> exchanges{0};
  Run([&] {
    std::vector<Fiber<void>> pairs;
    for (int p = 0; p < kPairs; ++p) {
      pairs.push_back(spawn([&] {
        for (int r = 0; r < kRounds; ++r) {
          auto child = spawn([r] {
            if (r % 2 == 0) yield();
            return r;
          });
          EXPECT_EQ(child.get(), r);
          exchanges.fetch_add(1, std::memory_order_relaxed);
        }
      }));
    }
    join_all(pairs);
  });
  EXPECT_EQ(exchanges.load(), int64_t{kPairs} * kRounds);
}

TEST_P(StressTest, YieldPingPongTakesTurns) {
  // Two fibers hand a token back and forth by yielding (sleep_for(0)) until
  // it is their turn; they may run on different workers or share one.
  const int kRounds = static_cast<int>(Scaled(200000));
  std::atomic<int> turn{0};
  Run([&] {
    auto player = [&](int me) {
      for (int r = 0; r < kRounds; ++r) {
        while (turn.load(std::memory_order_acquire) != me) sleep_for(absl::ZeroDuration());
        turn.store(1 - me, std::memory_order_release);
      }
    };
    auto a = spawn(player, 0);
    auto b = spawn(player, 1);
    EXPECT_TRUE(join_all({a, b}, absl::Seconds(120)));
  });
  EXPECT_EQ(turn.load(), 0);
}

TEST_P(StressTest, ChainOfJoinsUnwindsInOrder) {
  // Each fiber spawns the next and joins it: a 10,000-deep chain of parked
  // joiners, each woken by its child, wherever that child ran.
  const int kDepth = static_cast<int>(Scaled(10000, 100));
  struct Chain {
    static int Link(int left) {
      if (left == 0) return 0;
      return spawn(&Chain::Link, left - 1).get() + 1;
    }
  };
  for (int rep = 0; rep < 3; ++rep) EXPECT_EQ(Run([&] { return Chain::Link(kDepth); }), kDepth);
}

TEST_P(StressTest, OutsideSpawnsWakeIdleWorkers) {
  // Workers park between spawns; every spawn from this thread must be run
  // (a lost wake-up would leave it in the injector forever).
  const int kSpawns = static_cast<int>(Scaled(600));
  Runtime rt(options());
  int lost = 0;
  for (int i = 0; i < kSpawns; ++i) {
    switch (i % 3) {
      case 0:
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        break;  // all parked
      case 1:
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        break;  // parking
      default:
        break;  // still busy with the previous one
    }
    auto f = rt.spawn([i] { return i; });
    if (!f.join_for(absl::Seconds(10))) {
      ++lost;
      f.join();
    }
    EXPECT_EQ(f.get(), i);
  }
  EXPECT_EQ(lost, 0) << "spawns that took > 10 s to run: lost wake-ups";
}

TEST_P(StressTest, OutsideSpawnsFromManyThreads) {
  const int kThreads = 4;
  const int kPerThread = static_cast<int>(Scaled(2000, 100));
  Runtime rt(options());
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Fiber<void>> fs;
      for (int i = 0; i < kPerThread; ++i) {
        fs.push_back(rt.spawn([&ran] { ran.fetch_add(1); }));
        if (i % 100 == t) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      for (auto& f : fs) EXPECT_TRUE(f.join_for(absl::Seconds(30)));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ran.load(), kThreads * kPerThread);
}

TEST_P(StressTest, OutsideSpawnsOfComputingFibersReachEveryWorker) {
  // As many fibers as workers, spawned at once from this thread, each
  // computing without ever suspending until all have started: only if every
  // spawn wakes (or hands on the wake to) a sleeping worker do they all
  // start. A worker that took one from the Injector and left the rest there
  // with the others asleep used to stall a round for good.
  const int kRounds = static_cast<int>(Scaled(300, 10));
  const int n = workers();
  Runtime rt(options());
  int stalled = 0;
  for (int round = 0; round < kRounds && stalled == 0; ++round) {
    std::atomic<int> started{0};
    std::atomic<bool> release{false};
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < n; ++i) {
      fs.push_back(rt.spawn([&] {
        started.fetch_add(1);
        while (!release.load()) std::this_thread::yield();
      }));
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() != n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (started.load() != n) ++stalled;
    // Released either way: a stalled fiber starts once a spinner finishes.
    release = true;
    for (auto& f : fs) f.join();
    // Let the workers fall asleep again, every other round.
    if (round % 2 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(stalled, 0) << "a round's fibers did not all start within 10 s while workers slept";
}

TEST_P(StressTest, WakeUpsFromAnotherRuntime) {
  // A fiber of `other` finishing wakes a joiner parked in our runtime, from a
  // thread that is not ours: the wake goes through our injector while our
  // workers may be asleep.
  const int kRounds = static_cast<int>(Scaled(2000));
  Runtime other({.workers = 2});
  int64_t sum = Run([&] {
    int64_t s = 0;
    for (int i = 0; i < kRounds; ++i) {
      auto f = other.spawn([i] {
        if (i % 4 == 0) sleep_for(absl::Microseconds(200));
        return i;
      });
      if (!f.join_for(absl::Seconds(10))) {
        ADD_FAILURE() << "round " << i << ": cross-runtime wake-up lost";
        f.join();
      }
      s += f.get();
    }
    return s;
  });
  EXPECT_EQ(sum, int64_t{kRounds} * (kRounds - 1) / 2);
}

TEST_P(StressTest, RuntimeMayBeDestroyedRightAfterAForeignWake) {
  // A fiber of `other` finishing wakes a joiner of a short-lived runtime; the
  // joiner returns at once and its runtime is destroyed. The waking thread
  // must be done with that runtime (its injector, its idle workers) by then.
  const int kRounds = static_cast<int>(Scaled(300));
  Runtime other({.workers = 2});
  int sum = 0;
  for (int i = 0; i < kRounds; ++i) {
    Runtime rt(options());
    sum += rt.spawn([&other, i] { return other.spawn([i] { return i % 2; }).get(); }).get();
  }
  EXPECT_EQ(sum, kRounds / 2);
}

TEST_P(StressTest, JoinForRacesWithTheFinish) {
  // Timeouts that expire just as the target finishes: the joiner must take
  // its record back or wait for the target to be done with it, from a fiber
  // and from a plain thread alike.
  const int kRounds = static_cast<int>(Scaled(3000));
  Runtime rt(options());
  std::atomic<int> fiber_rounds{0};
  auto joiner = rt.spawn([&] {
    std::mt19937 rng(1);
    for (int i = 0; i < kRounds; ++i) {
      int us = static_cast<int>(rng() % 200);
      auto f = spawn([us] {
        sleep_for(absl::Microseconds(us));
        return us;
      });
      while (!f.join_for(absl::Microseconds(rng() % 200))) {
      }
      EXPECT_EQ(f.get(), us);
      fiber_rounds.fetch_add(1);
    }
  });
  std::mt19937 rng(2);
  for (int i = 0; i < kRounds / 3; ++i) {
    int us = static_cast<int>(rng() % 300);
    auto f = rt.spawn([us] {
      sleep_for(absl::Microseconds(us));
      return us;
    });
    while (!f.join_for(absl::Microseconds(rng() % 300))) {
    }
    EXPECT_EQ(f.get(), us);
  }
  joiner.join();
  EXPECT_EQ(fiber_rounds.load(), kRounds);
}

TEST_P(StressTest, DroppingHandlesRacesWithTheFinish) {
  // Whoever of the handle and the finishing fiber comes second frees the
  // stack, exactly once. A stack freed twice would later be handed to two
  // live fibers at once: check that live fibers never share a stack.
  const int kRounds = static_cast<int>(Scaled(200000, 40));
  Runtime rt(options());
  std::atomic<int> finished{0};
  rt.spawn([&] {
      std::mt19937 rng(3);
      for (int i = 0; i < kRounds; ++i) {
        auto f = spawn([&finished, spin = rng() % 64] {
          for (unsigned k = 0; k < spin; ++k) asm volatile("" ::: "memory");
          finished.fetch_add(1, std::memory_order_relaxed);
        });
        if (i % 4 == 0) yield();
        // f is dropped here: before, while or after the fiber finishes.
      }
    }).join();
  auto start = std::chrono::steady_clock::now();
  while (finished.load() != kRounds && MillisSince(start) < 30000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(finished.load(), kRounds);

  constexpr int kAlive = static_cast<int>(Scaled(2000, 100));
  std::vector<uintptr_t> stacks =
      rt.spawn([] {
          std::atomic<bool> go{false};
          std::vector<Fiber<uintptr_t>> fs;
          for (int i = 0; i < kAlive; ++i) {
            fs.push_back(spawn([&go] {
              while (!go.load()) sleep_for(absl::Milliseconds(1));
              // Where this fiber's stack is.
              return reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
            }));
          }
          go = true;
          std::vector<uintptr_t> out;
          for (auto& f : fs) out.push_back(f.get());
          return out;
        }).get();
  std::sort(stacks.begin(), stacks.end());
  for (std::size_t i = 1; i < stacks.size(); ++i) {
    ASSERT_GE(stacks[i] - stacks[i - 1], 4096u) << "two live fibers ran on one stack";
  }
  EXPECT_EQ(rt.stats().live_fibers, 0u);
}

TEST_P(StressTest, ShutdownWithManySuspendedFibers) {
  // Fibers sleeping for an hour, parked forever, or blocked in join: the
  // runtime's destruction must kill them all promptly and run every
  // destructor.
  const int kFibers = static_cast<int>(Scaled(10000, 100));
  std::atomic<int64_t> destroyed{0};
  std::atomic<int> started{0};
  int64_t expected_destructors = 0;
  auto rt = std::make_unique<Runtime>(options());
  rt->spawn([&] {
    for (int i = 0; i < kFibers; ++i) {
      switch (i % 3) {
        case 0:
          spawn([&] {
            DestructorCounter c{&destroyed};
            started.fetch_add(1);
            sleep_for(absl::Hours(1));
          });
          break;
        case 1:
          spawn([&] {
            DestructorCounter c{&destroyed};
            started.fetch_add(1);
            sleep_until(absl::InfiniteFuture());
          });
          break;
        default:
          spawn([&] {
            DestructorCounter c{&destroyed};
            auto inner = spawn([&] {
              DestructorCounter c2{&destroyed};
              sleep_for(absl::Hours(1));
            });
            started.fetch_add(1);
            inner.join();
          });
          break;
      }
    }
    DestructorCounter c{&destroyed};
    sleep_for(absl::Hours(1));
  });
  for (int i = 0; i < kFibers; ++i) expected_destructors += (i % 3 == 2) ? 2 : 1;
  ++expected_destructors;  // the spawner itself

  auto wait_start = std::chrono::steady_clock::now();
  while (started.load() < kFibers && MillisSince(wait_start) < 60000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(started.load(), kFibers);
  auto start = std::chrono::steady_clock::now();
  rt.reset();
  int64_t ms = MillisSince(start);
  EXPECT_EQ(destroyed.load(), expected_destructors);
  EXPECT_LT(ms, 20000) << "shutdown of " << kFibers << " suspended fibers took " << ms << " ms";
}

TEST_P(StressTest, SpawnRacingWithShutdownEitherThrowsOrRuns) {
  // A spawn from outside that overlaps shutdown() must either throw
  // UsageError or give a fiber that finishes (runs, or is killed); never a
  // fiber stranded in the injector of a stopped runtime.
  const int kReps = static_cast<int>(Scaled(200, 40));
  int stranded = 0;
  for (int rep = 0; rep < kReps && stranded == 0; ++rep) {
    auto rt = std::make_unique<Runtime>(options());
    std::vector<Fiber<void>> spawned;
    std::atomic<bool> spawning{false};
    std::thread spawner([&] {
      for (;;) {
        try {
          spawned.push_back(rt->spawn([] {}));
        } catch (const UsageError&) {
          return;
        }
        spawning = true;
        if (spawned.size() >= static_cast<std::size_t>(Scaled(256, 8))) {  // few stacks in use
          std::erase_if(spawned, [](const Fiber<void>& f) { return f.ready(); });
        }
      }
    });
    while (!spawning.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::microseconds(rep % 7 * 30));
    rt->shutdown();
    spawner.join();
    std::size_t first_stranded = spawned.size();
    for (std::size_t i = 0; i < spawned.size(); ++i) {
      if (!spawned[i].join_for(absl::Milliseconds(100))) {
        ++stranded;
        first_stranded = std::min(first_stranded, i);
      }
    }
    if (stranded != 0) {
      ADD_FAILURE() << "repetition " << rep << ": " << stranded << " of " << spawned.size()
                    << " fibers spawned without UsageError never ran (the first at index "
                    << first_stranded << ")";
    }
    spawned.clear();  // before the runtime: a stranded slot is not orphaned by its destruction
    rt.reset();
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, StressTest, test::WorkerCounts(), test::WorkerCountName);

// A channel hand-off and a kill reaching a parked receiver at the same
// moment: the sender (a fiber) and the killer (a plain thread) start
// together from a spin barrier. Exactly one of them ends the receiver's
// wait: it either returns the value (then is killed at its next wait) or
// dies without it, and then the value goes to the next receiver. Never
// both: a fiber resumed twice would run on two stacks at once.
TEST_P(StressTest, ChannelHandOffRacingWithAKill) {
  const int kRounds = static_cast<int>(Scaled(20000, 20));
  Runtime rt(options());
  Channel<int> ch;
  std::atomic<int> got{0}, backup_got{0}, sent{0};
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> ready{0};
    std::atomic<bool> parked{false};
    Fiber<void> receiver = rt.spawn([&] {
      parked.store(true);
      if (ch.recv()) got.fetch_add(1);
      (void)ch.recv();  // killed here if the value won
    });
    while (!parked.load()) {
    }
    for (int spin = 0; spin < 200; ++spin) __builtin_ia32_pause();  // let it park
    // Read before the sender may send (it waits for `ready` to reach 2).
    const int got_before = got.load();
    Fiber<void> sender = rt.spawn([&] {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      if (ch.send(round).ok()) sent.fetch_add(1);
    });
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    for (int spin = 0; spin < round % 16; ++spin) __builtin_ia32_pause();
    receiver.kill();
    ASSERT_TRUE(receiver.join_for(absl::Seconds(10))) << "round " << round;
    // The receiver counts the value before its next wait, where the kill
    // lands, so `got` tells who won. If the kill won, the sender still
    // waits: a second receiver takes the value. (Asking the sender with a
    // short join_for instead cost ~1 ms a round: 40-190 s in all.)
    if (got.load() == got_before) {
      rt.spawn([&] {
          if (ch.recv_for(absl::Seconds(10)).ok()) backup_got.fetch_add(1);
        }).join();
    }
    ASSERT_TRUE(sender.join_for(absl::Seconds(10))) << "round " << round;
  }
  EXPECT_EQ(sent.load(), kRounds);
  EXPECT_EQ(got.load() + backup_got.load(), kRounds);
}

// Kills each victim after a random pause of up to 2 ms, waiting for it to
// die, then waits for every worker; false if any of them hangs.
bool KillVictimsThenJoin(std::vector<Fiber<void>>& victims, std::vector<Fiber<void>>& workers) {
  std::mt19937 rng(7);
  for (auto& v : victims) {
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    v.kill();
    if (!v.join_for(absl::Seconds(10))) return false;
  }
  for (auto& w : workers) {
    if (!w.join_for(absl::Seconds(30))) return false;
  }
  return true;
}

// Counts the fibers inside a critical section; more than one is a breach.
struct Exclusive {
  Exclusive(std::atomic<int>& inside, std::atomic<int>& breaches) : inside(inside) {
    if (inside.fetch_add(1) != 0) breaches.fetch_add(1);
  }
  ~Exclusive() { inside.fetch_sub(1); }
  std::atomic<int>& inside;
};

// Many fibers on every worker contend for one Mutex while some give up
// (a weft::Timeout expires) and others are killed in the middle of lock().
// Holders suspend inside, so waiters wait long enough for the mutex's
// hand-over mode, where unlock() passes it to a waiter that may be leaving.
// The mutex wakes one waiter per unlock, and none while a woken one has not
// yet retried: a waiter that leaves, or a wake-up skipped wrongly, would
// leave the rest parked for good; a hand-over given twice would let two in.
// Every survivor must finish, no two fibers may ever be inside at once, and
// the counter must hold exactly the increments made under the lock.
TEST_P(StressTest, MutexWaitersSurviveKillsAndTimeouts) {
  const int kIters = static_cast<int>(Scaled(100000, 50));
  constexpr int kWorkers = 12, kVictims = 6;
  Runtime rt(options());
  Mutex mu;
  int64_t counter = 0;  // guarded by mu
  std::atomic<int64_t> increments{0}, timeouts{0};
  std::atomic<int> inside{0}, breaches{0};
  std::vector<Fiber<void>> workers, victims;
  for (int v = 0; v < kVictims; ++v) {
    victims.push_back(rt.spawn([&] {
      for (;;) {
        std::lock_guard<Mutex> g(mu);
        Exclusive e(inside, breaches);
        ++counter;
        increments.fetch_add(1, std::memory_order_relaxed);
        if (counter % 3 == 0) yield();
      }
    }));
  }
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(rt.spawn([&, w] {
      for (int i = 0; i < kIters; ++i) {
        try {
          // Every third fiber waits under a short deadline.
          std::optional<Timeout> t;
          if (w % 3 == 0) t.emplace(absl::Microseconds(20 + 200 * (i % 8)));
          std::lock_guard<Mutex> g(mu);
          Exclusive e(inside, breaches);
          ++counter;
          increments.fetch_add(1, std::memory_order_relaxed);
          if (i % 16 == 0) yield();  // hold it across a switch
        } catch (const TimeoutError&) {
          timeouts.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }));
  }
  ASSERT_TRUE(KillVictimsThenJoin(victims, workers));
  EXPECT_EQ(breaches.load(), 0);
  rt.spawn([&] {
      std::lock_guard<Mutex> g(mu);
      EXPECT_EQ(counter, increments.load());
    }).join();
  EXPECT_GE(increments.load(), int64_t{kWorkers} * kIters - timeouts.load());
}

// The same for a Semaphore of 3 units, with releases of several units at
// once from a plain thread: it wakes only for units beyond those its woken,
// not yet retried waiters will take, and a waiter that takes one and sees
// more left wakes the next. A unit lost on the way would leave fibers
// parked for good; one counted twice would let a fourth fiber in.
TEST_P(StressTest, SemaphoreWaitersSurviveKillsAndTimeouts) {
  const int kIters = static_cast<int>(Scaled(50000, 50));
  constexpr int kUnits = 3, kWorkers = 12, kVictims = 6;
  Runtime rt(options());
  Semaphore sem(kUnits);
  std::atomic<int> inside{0}, over{0};
  std::atomic<int64_t> entries{0}, timeouts{0};
  auto enter = [&] {
    if (inside.fetch_add(1) >= kUnits) over.fetch_add(1);
    entries.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<Fiber<void>> workers, victims;
  for (int v = 0; v < kVictims; ++v) {
    victims.push_back(rt.spawn([&] {
      for (int i = 0;; ++i) {
        sem.acquire();
        enter();
        if (i % 3 == 0) {
          try {
            yield();
          } catch (...) {
            inside.fetch_sub(1);
            sem.release();
            throw;
          }
        }
        inside.fetch_sub(1);
        sem.release();
      }
    }));
  }
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(rt.spawn([&, w] {
      for (int i = 0; i < kIters; ++i) {
        if (w % 3 == 0) {
          if (!sem.acquire_for(absl::Microseconds(20 + 200 * (i % 8)))) {
            timeouts.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
        } else {
          sem.acquire();
        }
        enter();
        if (i % 16 == 0) yield();
        inside.fetch_sub(1);
        sem.release();
      }
    }));
  }
  // A plain thread lends extra units in bursts and takes them back, so
  // release(n) with n > 1 wakes several waiters at once.
  std::atomic<bool> stop{false};
  std::thread lender([&] {
    while (!stop.load()) {
      int n = 0;
      while (n < 2 && sem.try_acquire()) ++n;
      if (n > 0) sem.release(n);
      std::this_thread::yield();
    }
  });
  bool finished = KillVictimsThenJoin(victims, workers);
  stop.store(true);
  lender.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(over.load(), 0);
  EXPECT_EQ(sem.available(), kUnits);
  EXPECT_GE(entries.load(), int64_t{kWorkers} * kIters - timeouts.load());
}

TEST(StealStressTest, IdleWorkerStealsCpuBoundFibers) {
  // One fiber spawns CPU-bound fibers that never suspend; only stealing can
  // put the second worker to use. They wait (spinning, not suspending) until
  // all are spawned: where spawning is slow (the first spawns carve fresh
  // stacks, ~ms each under TSan) the thief took each fiber as it appeared,
  // and the spawner's own worker, which the test needs busy too, found none
  // left (9 runs in 10 failed that way under TSan, alone, before).
  constexpr int kFibers = 64;
  Runtime rt({.workers = 2});
  std::atomic<bool> all_spawned{false};
  std::vector<int> ran_on =
      rt.spawn([&all_spawned] {
          std::vector<Fiber<int>> fs;
          for (int i = 0; i < kFibers; ++i) {
            fs.push_back(spawn([&all_spawned] {
              while (!all_spawned.load(std::memory_order_acquire)) {
              }
              int w = current().worker;
              auto start = std::chrono::steady_clock::now();
              while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2)) {
              }
              return w;
            }));
          }
          all_spawned.store(true, std::memory_order_release);
          std::vector<int> ws;
          for (auto& f : fs) ws.push_back(f.get());
          return ws;
        }).get();
  std::set<int> workers(ran_on.begin(), ran_on.end());
  EXPECT_EQ(workers, (std::set<int>{0, 1}));
  uint64_t steals = 0;
  for (const WorkerStats& w : rt.stats().workers) steals += w.steals;
  EXPECT_GT(steals, 0u);
}

}  // namespace
}  // namespace weft
