// TimerHeap (core/private/timer_heap.h): deadline order, removal from the
// middle, stale sweeps; then, through a runtime, that a timed wait which
// ends early (woken on its own worker, on another, from a plain thread,
// killed, cut by a Timeout) leaves no timer behind, and that shutdown with
// pending timers ends every waiter.
#include "weft/core/private/timer_heap.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft::internal {
namespace {

// Timers are never dereferenced by the heap: fake fiber pointers will do.
FiberControl* FakeFiber(int i) {
  return reinterpret_cast<FiberControl*>(static_cast<uintptr_t>(64 * (i + 1)));
}

std::vector<TimerHeap::Entry> PopDue(TimerHeap& heap, int64_t now) {
  std::vector<TimerHeap::Entry> out;
  heap.pop_due(now, [&](const TimerHeap::Entry& e) { out.push_back(e); });
  return out;
}

TEST(TimerHeapTest, StartsEmpty) {
  TimerHeap heap;
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
  EXPECT_EQ(heap.pop_due(INT64_MAX, [](const TimerHeap::Entry&) { FAIL(); }), 0u);
}

TEST(TimerHeapTest, NextDeadlineIsTheEarliest) {
  TimerHeap heap;
  heap.add(50, FakeFiber(0), 1);
  EXPECT_EQ(heap.next_deadline(), 50);
  heap.add(70, FakeFiber(1), 1);
  EXPECT_EQ(heap.next_deadline(), 50);
  heap.add(10, FakeFiber(2), 1);
  EXPECT_EQ(heap.next_deadline(), 10);
  EXPECT_EQ(heap.size(), 3u);
}

TEST(TimerHeapTest, PopDueTakesOnlyDueEntriesInDeadlineOrder) {
  TimerHeap heap;
  heap.add(30, FakeFiber(3), 13);
  heap.add(10, FakeFiber(1), 11);
  heap.add(40, FakeFiber(4), 14);
  heap.add(20, FakeFiber(2), 12);

  EXPECT_TRUE(PopDue(heap, 9).empty());
  auto due = PopDue(heap, 20);  // inclusive
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].deadline_ns, 10);
  EXPECT_EQ(due[0].fiber, FakeFiber(1));
  EXPECT_EQ(due[0].token, 11u);
  EXPECT_EQ(due[1].deadline_ns, 20);
  EXPECT_EQ(due[1].fiber, FakeFiber(2));
  EXPECT_EQ(due[1].token, 12u);
  EXPECT_EQ(heap.size(), 2u);
  EXPECT_EQ(heap.next_deadline(), 30);

  due = PopDue(heap, 1000);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].fiber, FakeFiber(3));
  EXPECT_EQ(due[1].fiber, FakeFiber(4));
  EXPECT_TRUE(heap.empty());
}

TEST(TimerHeapTest, RandomDeadlinesComeOutSorted) {
  std::mt19937_64 rng(42);
  TimerHeap heap;
  std::vector<int64_t> deadlines;
  for (int i = 0; i < 10000; ++i) {
    int64_t d = static_cast<int64_t>(rng() % 5000);  // many duplicates
    deadlines.push_back(d);
    heap.add(d, FakeFiber(i), static_cast<uint64_t>(i));
  }
  std::sort(deadlines.begin(), deadlines.end());
  std::vector<int64_t> got;
  std::vector<bool> seen(10000, false);
  // Pop in several steps, as a worker does between scheduling decisions.
  for (int64_t now = 0; now <= 5000; now += 250) {
    for (const auto& e : PopDue(heap, now)) {
      EXPECT_LE(e.deadline_ns, now);
      got.push_back(e.deadline_ns);
      ASSERT_FALSE(seen[e.token]) << "timer " << e.token << " fired twice";
      seen[e.token] = true;
      EXPECT_EQ(e.fiber, FakeFiber(static_cast<int>(e.token)));
    }
    if (!heap.empty()) {
      EXPECT_GT(heap.next_deadline(), now);
    }
  }
  EXPECT_EQ(got, deadlines);
  EXPECT_TRUE(heap.empty());
}

TEST(TimerHeapTest, UsableAfterABigBurstIsDrained) {
  TimerHeap heap;
  for (int i = 0; i < 20000; ++i) heap.add(i, FakeFiber(i), 0);
  EXPECT_EQ(PopDue(heap, INT64_MAX).size(), 20000u);
  EXPECT_TRUE(heap.empty());
  heap.add(5, FakeFiber(0), 7);
  EXPECT_EQ(heap.next_deadline(), 5);
  EXPECT_EQ(PopDue(heap, 5).size(), 1u);
}

TEST(TimerHeapTest, DrainTakesEverythingDueOrNot) {
  TimerHeap heap;
  heap.add(INT64_MAX - 1, FakeFiber(0), 1);
  heap.add(5, FakeFiber(1), 2);
  heap.add(1000000, FakeFiber(2), 3);
  std::vector<uint64_t> tokens;
  heap.drain([&](const TimerHeap::Entry& e) { tokens.push_back(e.token); });
  std::sort(tokens.begin(), tokens.end());
  EXPECT_EQ(tokens, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
  heap.drain([](const TimerHeap::Entry&) { FAIL(); });
}

TEST(TimerHeapTest, RemoveTakesOutOnlyThatTimer) {
  TimerHeap heap;
  heap.add(30, FakeFiber(3), 13);
  TimerHeap::Id ten = heap.add(10, FakeFiber(1), 11);
  heap.add(40, FakeFiber(4), 14);
  TimerHeap::Id twenty = heap.add(20, FakeFiber(2), 12);

  EXPECT_TRUE(heap.remove(twenty, FakeFiber(2), 12));
  EXPECT_EQ(heap.size(), 3u);
  EXPECT_TRUE(heap.remove(ten, FakeFiber(1), 11));  // the root
  EXPECT_EQ(heap.next_deadline(), 30);
  auto due = PopDue(heap, INT64_MAX);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].fiber, FakeFiber(3));
  EXPECT_EQ(due[1].fiber, FakeFiber(4));
}

TEST(TimerHeapTest, RemoveOfAFiredOrReusedTimerDoesNothing) {
  TimerHeap heap;
  TimerHeap::Id id = heap.add(5, FakeFiber(0), 1);
  ASSERT_EQ(PopDue(heap, 5).size(), 1u);
  EXPECT_FALSE(heap.remove(id, FakeFiber(0), 1)) << "fired already";

  heap.add(100, FakeFiber(9), 99);  // keeps the heap from resetting its ids
  TimerHeap::Id a = heap.add(7, FakeFiber(0), 5);
  ASSERT_EQ(PopDue(heap, 7).size(), 1u);
  TimerHeap::Id b = heap.add(8, FakeFiber(1), 6);  // may reuse a's slot
  EXPECT_FALSE(heap.remove(a, FakeFiber(0), 5));
  EXPECT_FALSE(heap.remove(b, FakeFiber(1), 4)) << "an older wait's token";
  EXPECT_EQ(heap.size(), 2u);
  EXPECT_TRUE(heap.remove(b, FakeFiber(1), 6));
  EXPECT_FALSE(heap.remove(b, FakeFiber(1), 6)) << "removed twice";
  EXPECT_EQ(heap.size(), 1u);
  EXPECT_EQ(heap.next_deadline(), 100);
}

// Adds, removals (of any entry) and pops, checked against a sorted
// reference after every step.
TEST(TimerHeapTest, RandomAddsRemovesAndPopsMatchAReference) {
  std::mt19937_64 rng(7);
  TimerHeap heap;
  struct Pending {
    TimerHeap::Id id;
    int fiber;
    uint64_t token;
  };
  std::multimap<int64_t, Pending> ref;
  uint64_t next_token = 1;
  int64_t now = 0;
  for (int step = 0; step < 200000; ++step) {
    uint64_t op = rng() % 8;
    if (op < 4 || ref.empty()) {
      int64_t d = now + static_cast<int64_t>(rng() % 1000);
      int fiber = static_cast<int>(rng() % 500);
      uint64_t token = next_token++;
      ref.insert({d, {heap.add(d, FakeFiber(fiber), token), fiber, token}});
    } else if (op < 7) {
      auto it = ref.begin();
      std::advance(it, static_cast<long>(rng() % ref.size()));
      ASSERT_TRUE(heap.remove(it->second.id, FakeFiber(it->second.fiber), it->second.token));
      ref.erase(it);
    } else {
      now += static_cast<int64_t>(rng() % 50);
      for (const auto& e : PopDue(heap, now)) {
        ASSERT_FALSE(ref.empty());
        ASSERT_EQ(e.deadline_ns, ref.begin()->first);
        // Equal deadlines may come out in any order: find this one.
        auto [lo, hi] = ref.equal_range(e.deadline_ns);
        auto it = std::find_if(lo, hi, [&](const auto& kv) { return kv.second.token == e.token; });
        ASSERT_NE(it, hi) << "popped a timer that was removed or never added";
        ASSERT_EQ(e.fiber, FakeFiber(it->second.fiber));
        ref.erase(it);
      }
    }
    ASSERT_EQ(heap.size(), ref.size());
    if (!ref.empty()) {
      ASSERT_EQ(heap.next_deadline(), ref.begin()->first);
    }
  }
}

// The shape of a server's reads: every wait adds a far timer and removes it
// at once. The heap never holds more than the one waiting.
TEST(TimerHeapTest, EarlyRemovalKeepsTheHeapAtTheWaiters) {
  TimerHeap heap;
  heap.add(INT64_MAX - 1, FakeFiber(0), 1);  // one long waiter throughout
  for (uint64_t i = 0; i < 1000000; ++i) {
    TimerHeap::Id id = heap.add(static_cast<int64_t>(i) + 3600000000000, FakeFiber(1), 2 * i + 1);
    ASSERT_TRUE(heap.remove(id, FakeFiber(1), 2 * i + 1));
  }
  EXPECT_EQ(heap.size(), 1u);
  EXPECT_EQ(heap.next_deadline(), INT64_MAX - 1);
}

TEST(TimerHeapTest, RemoveStaleKeepsTheLiveInDeadlineOrder) {
  std::mt19937_64 rng(3);
  TimerHeap heap;
  std::vector<TimerHeap::Id> ids;
  for (int i = 0; i < 5000; ++i) {
    ids.push_back(
        heap.add(static_cast<int64_t>(rng() % 100000), FakeFiber(i), static_cast<uint64_t>(i)));
  }
  // Odd tokens are stale.
  std::size_t removed =
      heap.remove_stale([](const TimerHeap::Entry& e) { return e.token % 2 == 1; });
  EXPECT_EQ(removed, 2500u);
  EXPECT_EQ(heap.size(), 2500u);
  // The kept ones can still be removed by id (their positions were redone)...
  EXPECT_TRUE(heap.remove(ids[10], FakeFiber(10), 10));
  EXPECT_FALSE(heap.remove(ids[11], FakeFiber(11), 11)) << "swept already";
  // ...and pop in deadline order.
  auto due = PopDue(heap, INT64_MAX);
  ASSERT_EQ(due.size(), 2499u);
  for (std::size_t i = 0; i < due.size(); ++i) {
    EXPECT_EQ(due[i].token % 2, 0u);
    if (i > 0) {
      EXPECT_LE(due[i - 1].deadline_ns, due[i].deadline_ns);
    }
  }
}

TEST(TimerHeapTest, WantsASweepOnceStaleOnesOutnumberTheLive) {
  TimerHeap heap;
  for (int i = 0; i < 100; ++i) heap.add(i, FakeFiber(i), 1);
  EXPECT_FALSE(heap.wants_sweep());
  EXPECT_FALSE(heap.wants_idle_sweep());
  for (int i = 0; i < 50; ++i) heap.note_stale();
  EXPECT_TRUE(heap.wants_idle_sweep());
  EXPECT_FALSE(heap.wants_sweep()) << "50 stale of 100: not more than the live";
  heap.note_stale();
  EXPECT_TRUE(heap.wants_sweep());
  heap.remove_stale([](const TimerHeap::Entry&) { return false; });
  EXPECT_FALSE(heap.wants_sweep()) << "a sweep takes the count";
  EXPECT_FALSE(heap.wants_idle_sweep());

  TimerHeap small;  // under the floor a sweep is not worth it before an add
  for (int i = 0; i < 10; ++i) small.add(i, FakeFiber(i), 1);
  for (int i = 0; i < 10; ++i) small.note_stale();
  EXPECT_FALSE(small.wants_sweep());
  EXPECT_TRUE(small.wants_idle_sweep());

  TimerHeap big;  // an idle worker rescans a big heap only for an eighth
  for (int i = 0; i < 8000; ++i) big.add(i, FakeFiber(i), 1);
  for (int i = 0; i < 1000; ++i) big.note_stale();
  EXPECT_FALSE(big.wants_idle_sweep());
  big.note_stale();
  EXPECT_TRUE(big.wants_idle_sweep());
}

// note_stale from other threads while the owner adds, removes and sweeps
// (TSan checks the one cross-thread member).
TEST(TimerHeapTest, NoteStaleFromOtherThreads) {
  TimerHeap heap;
  std::atomic<bool> stop{false};
  std::vector<std::thread> noters;
  for (int t = 0; t < 2; ++t) {
    noters.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) heap.note_stale();
    });
  }
  for (int i = 0; i < test::Scaled(100000); ++i) {
    TimerHeap::Id id = heap.add(i, FakeFiber(i % 100), static_cast<uint64_t>(i));
    if (i % 3 != 0) heap.remove(id, FakeFiber(i % 100), static_cast<uint64_t>(i));
    if (heap.wants_sweep()) {
      heap.remove_stale([](const TimerHeap::Entry& e) { return e.token % 2 == 0; });
    }
  }
  stop.store(true);
  for (auto& t : noters) t.join();
  heap.remove_stale([](const TimerHeap::Entry&) { return true; });
  EXPECT_TRUE(heap.empty());
}

// --- Through a runtime: timed waits that end early leave nothing behind. ---

class TimedWaitTest : public test::RuntimeTest {};

constexpr absl::Duration kHour = absl::Hours(1);

// Polls (from a plain thread) until rt's timer count is at most `want`
// (exactly `want` if `exact`), for up to 10 s; returns the last count read.
uint64_t AwaitTimerCount(Runtime& rt, uint64_t want, bool exact = false) {
  auto start = std::chrono::steady_clock::now();
  uint64_t n = rt.stats().timers;
  while ((exact ? n != want : n > want) && test::MillisSince(start) < 10000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    n = rt.stats().timers;
  }
  return n;
}

// The most timers `waiting` timed waiters may hold on `workers` workers:
// each worker keeps at most as many stale entries (waits that ended while
// their fiber resumed on another worker) as live ones, plus 64 (TimerHeap's
// sweep floor), checked before each add; a worker that was already asleep
// when an entry was counted stale sweeps it when it next wakes. On one
// worker every fiber resumes where its timer is: exact.
uint64_t Bound(uint64_t waiting, int workers) {
  if (workers == 1) return waiting;
  return 2 * waiting + 65 * static_cast<uint64_t>(workers);
}

uint64_t WorkerTimerSum(const RuntimeStats& s) {
  uint64_t sum = 0;
  for (const WorkerStats& w : s.workers) sum += w.timers;
  return sum;
}

// Two fibers ping-pong through semaphores, every acquire with a one-hour
// deadline and released at once. With 2+ workers the two often run on
// different workers, and a wait parked on one is resumed on the other.
TEST_P(TimedWaitTest, WaitsWokenEarlyLeaveNoTimers) {
  Runtime rt(options());
  const int64_t rounds = test::Scaled(50000);
  uint64_t worst = 0;
  rt.spawn([&] {
      Semaphore ping(0), pong(0);
      Fiber<void> partner = spawn([&] {
        for (int64_t i = 0; i < rounds; ++i) {
          ASSERT_TRUE(ping.acquire_for(kHour));
          pong.release();
        }
      });
      for (int64_t i = 0; i < rounds; ++i) {
        ping.release();
        ASSERT_TRUE(pong.acquire_for(kHour));
        if (i % 64 == 0) worst = std::max(worst, rt.stats().timers);
      }
      partner.join();
    }).join();
  EXPECT_LE(worst, Bound(2, workers())) << "timers of waits that ended early piled up";
  EXPECT_LE(AwaitTimerCount(rt, Bound(0, workers())), Bound(0, workers()));
  RuntimeStats s = rt.stats();
  EXPECT_EQ(WorkerTimerSum(s), s.timers);
}

// Fibers park with a deadline and a plain thread wakes them: each resumes
// on whichever worker takes it from the injection queue, often not the one
// that holds its timer (TSan: the fiber's record of its timer crosses
// threads with it).
TEST_P(TimedWaitTest, WaitsWokenFromAPlainThreadLeaveNoTimers) {
  Runtime rt(options());
  constexpr int kWaiters = 16;
  const int64_t rounds = test::Scaled(2000);
  std::vector<std::unique_ptr<Semaphore>> go, done;
  for (int i = 0; i < kWaiters; ++i) {
    go.push_back(std::make_unique<Semaphore>(0));
    done.push_back(std::make_unique<Semaphore>(0));
  }
  std::vector<Fiber<void>> waiters;
  std::atomic<int64_t> woken{0};
  uint64_t worst = 0;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(rt.spawn([&, i] {
      for (int64_t r = 0; r < rounds; ++r) {
        if (!go[i]->acquire_for(kHour)) return;
        woken.fetch_add(1, std::memory_order_relaxed);
        done[i]->release();
      }
    }));
  }
  for (int64_t r = 0; r < rounds; ++r) {
    for (int i = 0; i < kWaiters; ++i) go[i]->release();
    // The waiters' acks, awaited by a fiber (a plain thread cannot wait).
    rt.spawn([&] {
        for (int i = 0; i < kWaiters; ++i) ASSERT_TRUE(done[i]->acquire_for(kHour));
      }).join();
    worst = std::max(worst, rt.stats().timers);
  }
  for (auto& f : waiters) f.join();
  EXPECT_EQ(woken.load(), rounds * kWaiters);
  EXPECT_LE(worst, Bound(kWaiters + 1, workers())) << "timers of waits that ended early piled up";
  EXPECT_LE(AwaitTimerCount(rt, Bound(kWaiters + 1, workers())), Bound(kWaiters + 1, workers()));
}

// The count is of live timers: sleepers are counted while they sleep.
TEST_P(TimedWaitTest, CountsSleepersWhileTheySleep) {
  Runtime rt(options());
  constexpr int kSleepers = 100;
  std::atomic<bool> release{false};
  std::vector<Fiber<void>> fs;
  for (int i = 0; i < kSleepers; ++i) {
    fs.push_back(rt.spawn([&] {
      while (!release.load()) sleep_for(absl::Milliseconds(300));
    }));
  }
  // Each is asleep or about to re-arm: 100 timers, nothing stale (the
  // sleeps end by their timers, which leave nothing behind).
  EXPECT_EQ(AwaitTimerCount(rt, kSleepers, /*exact=*/true), static_cast<uint64_t>(kSleepers));
  release.store(true);
  for (auto& f : fs) f.join();
  EXPECT_EQ(AwaitTimerCount(rt, 0), 0u);
}

// A kill ends a timed wait at once and takes its timer with it: a
// thousand victims, one at a time, each parked for an hour.
TEST_P(TimedWaitTest, KillEndsATimedWaitAndItsTimer) {
  Runtime rt(options());
  Semaphore never(0);
  constexpr int kVictims = 1000;
  for (int i = 0; i < kVictims; ++i) {
    std::atomic<bool> parking{false};
    Fiber<void> victim = rt.spawn([&] {
      parking.store(true);
      never.acquire_for(kHour);
      ADD_FAILURE() << "the wait ended without the kill";
    });
    while (!parking.load()) std::this_thread::yield();
    auto start = std::chrono::steady_clock::now();
    victim.kill();
    victim.join();
    ASSERT_LT(test::MillisSince(start), 5000);
    ASSERT_TRUE(victim.killed());
  }
  EXPECT_LE(AwaitTimerCount(rt, Bound(1, workers())), Bound(1, workers()));
}

// A weft::Timeout still cuts a wait with a longer deadline (its timer is
// the park's, clamped), and waits under one that does not expire leave no
// timer once woken early.
TEST_P(TimedWaitTest, TimeoutStillInterruptsATimedWait) {
  Runtime rt(options());
  rt.spawn([&] {
      Semaphore never(0);
      auto start = std::chrono::steady_clock::now();
      try {
        Timeout t(absl::Milliseconds(30));
        never.acquire_for(kHour);
        ADD_FAILURE() << "no TimeoutError";
      } catch (const TimeoutError&) {
      }
      EXPECT_LT(test::MillisSince(start), 5000);

      for (int i = 0; i < 1000; ++i) {
        Semaphore soon(0);
        Fiber<void> releaser = spawn([&] { soon.release(); });
        Timeout t(kHour);
        EXPECT_TRUE(soon.acquire_for(kHour));
        releaser.join();
      }
    }).join();
  EXPECT_LE(AwaitTimerCount(rt, Bound(1, workers())), Bound(1, workers()));
}

// Shutdown with timers pending: every waiter unwinds (its RAII runs), the
// runtime stops promptly, and nothing leaks (ASan).
TEST_P(TimedWaitTest, ShutdownEndsWaitsWithPendingTimers) {
  constexpr int kWaiters = 50;
  std::atomic<int> unwound{0};
  auto rt = std::make_unique<Runtime>(options());
  Semaphore never(0);
  for (int i = 0; i < kWaiters; ++i) {
    rt->spawn([&, i] {
        struct Count {
          std::atomic<int>* n;
          ~Count() { n->fetch_add(1); }
        } count{&unwound};
        if (i % 2 == 0) {
          sleep_for(kHour);
        } else {
          never.acquire_for(kHour);
        }
      }).detach();
  }
  EXPECT_EQ(AwaitTimerCount(*rt, kWaiters, /*exact=*/true), static_cast<uint64_t>(kWaiters));
  auto start = std::chrono::steady_clock::now();
  rt.reset();
  EXPECT_LT(test::MillisSince(start), 5000);
  EXPECT_EQ(unwound.load(), kWaiters);
}

INSTANTIATE_TEST_SUITE_P(Workers, TimedWaitTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft::internal
