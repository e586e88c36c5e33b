// Runtime::stats: the counters add up and count what a test does.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "gtest/gtest.h"
#include "weft/core/internal/clock.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using test::Scaled;

struct Totals {
  uint64_t spawned = 0, finished = 0, io = 0, timer = 0, fiber = 0;
};

Totals totals(const RuntimeStats& s) {
  Totals t;
  for (const WorkerStats& w : s.workers) {
    t.spawned += w.fibers_spawned;
    t.finished += w.fibers_finished;
    t.io += w.io_wakeups;
    t.timer += w.timer_wakeups;
    t.fiber += w.fiber_wakeups;
  }
  t.spawned += s.external_spawns;
  return t;
}

class StatsTest : public ::testing::TestWithParam<int> {};

TEST_P(StatsTest, SpawnedIsFinishedPlusLive) {
  Runtime rt({.workers = GetParam()});
  Event release;
  std::atomic<int> started{0};
  constexpr int kParked = 50;
  auto main = rt.spawn([&] {
    std::vector<Fiber<void>> done;
    for (int i = 0; i < 20; ++i) done.push_back(weft::spawn([] {}));
    join_all(done);
    for (int i = 0; i < kParked; ++i) {
      weft::spawn([&] {
        started.fetch_add(1);
        release.wait();
      }).detach();
    }
  });
  main.join();
  while (started.load() != kParked) std::this_thread::yield();
  // Quiet: only the parked fibers are alive, so the sums are exact.
  RuntimeStats s = rt.stats();
  Totals t = totals(s);
  EXPECT_EQ(s.live_fibers, uint64_t{kParked});
  EXPECT_EQ(t.spawned, t.finished + s.live_fibers);
  EXPECT_EQ(t.spawned, uint64_t{1 + 20 + kParked});
  release.set();
  rt.shutdown();
  s = rt.stats();
  t = totals(s);
  EXPECT_EQ(s.live_fibers, 0u);
  EXPECT_EQ(t.spawned, t.finished);
}

TEST_P(StatsTest, BusyPlusIdleIsWallTime) {
  Runtime rt({.workers = GetParam()});
  const int64_t t0 = internal::real_monotonic_now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  RuntimeStats before = rt.stats();
  const int64_t t1 = internal::real_monotonic_now_ns();
  // Each worker's split adds up to its own wall time, which lies between
  // the two clock reads around the runtime's life so far.
  for (const WorkerStats& w : before.workers) {
    EXPECT_GE(w.busy_ns, 0);
    EXPECT_GE(w.idle_ns, 0);
    EXPECT_LE(w.busy_ns + w.idle_ns, t1 - t0 + 50'000'000);  // started before t0
    EXPECT_GE(w.busy_ns + w.idle_ns, 50'000'000);
  }
  // A fiber that computes for 100 ms without a suspension point keeps one
  // worker busy for at least that long (wall time: preemption included).
  constexpr int64_t kSpin = 100'000'000;
  rt.spawn([] {
      const int64_t until = internal::real_monotonic_now_ns() + kSpin;
      while (internal::real_monotonic_now_ns() < until) {
      }
    }).join();
  RuntimeStats after = rt.stats();
  int64_t busy_gain = 0;
  for (std::size_t i = 0; i < after.workers.size(); ++i) {
    busy_gain = std::max(busy_gain, after.workers[i].busy_ns - before.workers[i].busy_ns);
  }
  EXPECT_GE(busy_gain, kSpin);
}

TEST(StatsTest, IdleRuntimeIsMostlyIdle) {
  Runtime rt({.workers = 2});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (const WorkerStats& w : rt.stats().workers) {
    // Asleep but for start-up and a few wake-ups: far more idle than busy.
    EXPECT_GT(w.idle_ns, w.busy_ns) << "busy " << w.busy_ns << " idle " << w.idle_ns;
  }
}

TEST(StatsTest, WakeSourcesCountWhatWoke) {
  // One worker: every wake happens on it, so the deltas are exact.
  Runtime rt({.workers = 1});
  Totals t0 = totals(rt.stats());
  // Five sleeps: five timer wakes, nothing else.
  rt.spawn([] {
      for (int i = 0; i < 5; ++i) sleep_for(absl::Milliseconds(1));
    }).join();
  Totals t1 = totals(rt.stats());
  EXPECT_EQ(t1.timer - t0.timer, 5u);
  EXPECT_EQ(t1.io - t0.io, 0u);
  // An Event set by another fiber: a fiber wake (the setter's), no timer.
  rt.spawn([] {
      Event e;
      auto waiter = weft::spawn([&] { e.wait(); });
      weft::yield();  // let it park
      e.set();
      waiter.join();  // the waiter's end wakes us: a fiber wake too
    }).join();
  Totals t2 = totals(rt.stats());
  EXPECT_GE(t2.fiber - t1.fiber, 2u);
  EXPECT_EQ(t2.timer - t1.timer, 0u);
  EXPECT_EQ(t2.io - t1.io, 0u);
  // A socket that becomes readable: an I/O wake.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  rt.spawn([&] {
      auto reader = weft::spawn([&] { ASSERT_TRUE(io::wait_readable(sv[0]).ok()); });
      sleep_for(absl::Milliseconds(5));  // the reader parks on the poller first
      ASSERT_EQ(write(sv[1], "x", 1), 1);
      reader.join();
      io::forget(sv[0]);
    }).join();
  Totals t3 = totals(rt.stats());
  EXPECT_EQ(t3.io - t2.io, 1u);
  EXPECT_GE(rt.stats().workers[0].poller_wakeups, 1u);
  close(sv[0]);
  close(sv[1]);
}

TEST(StatsTest, SchedulingDelayIsSampled) {
  Runtime rt({.workers = 1});
  constexpr int rounds = static_cast<int>(Scaled(20'000));
  rt.spawn([] {
      Channel<int> ping, pong;
      auto peer = weft::spawn([&] {
        for (int i = 0; i < rounds; ++i) EXPECT_TRUE(pong.send(*ping.recv()).ok());
      });
      for (int i = 0; i < rounds; ++i) {
        EXPECT_TRUE(ping.send(i).ok());
        pong.recv();
      }
      peer.join();
    }).join();
  DelayHistogram h = rt.stats().scheduling_delay;
  // About one wake in 256 is sampled: 2 * rounds wakes.
  EXPECT_GE(h.samples(), static_cast<uint64_t>(rounds) / 256);
  EXPECT_LE(h.p50_ns(), h.p99_ns());
  EXPECT_LE(h.p99_ns(), h.max_ns);
  EXPECT_GT(h.max_ns, 0u);
}

TEST(DelayHistogramTest, PercentilesAreBucketEdges) {
  DelayHistogram h;
  EXPECT_EQ(h.p50_ns(), 0u);
  h.counts[3] = 98;  // [8, 16) ns
  h.counts[10] = 2;  // [1024, 2048) ns
  h.max_ns = 1500;
  EXPECT_EQ(h.samples(), 100u);
  EXPECT_EQ(h.p50_ns(), 15u);
  EXPECT_EQ(h.percentile_ns(0.98), 15u);
  EXPECT_EQ(h.p99_ns(), 1500u);  // the bucket's edge, capped at the max
  DelayHistogram g;
  g.counts[3] = 1;
  g.max_ns = 9;
  g.merge(h);
  EXPECT_EQ(g.counts[3], 99u);
  EXPECT_EQ(g.max_ns, 1500u);
}

INSTANTIATE_TEST_SUITE_P(Workers, StatsTest, ::testing::Values(1, 2, 4), test::WorkerCountName);

}  // namespace
}  // namespace weft
