// The monitor thread (core/private/monitor.cc): the blocked-worker hand-off
// and the blocking detector.
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/core/runtime.h"
#include "weft/core/spawn.h"
#include "weft/core/this_fiber.h"
#include "weft/sync/event.h"

namespace {

using Clock = std::chrono::steady_clock;

// A blocking call weft knows nothing of: the raw system call, not libc's
// nanosleep (which weft::hook would make cooperative where it is linked).
void raw_sleep_ms(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (syscall(SYS_nanosleep, &ts, &ts) != 0) {
  }
}

uint64_t total_handoffs(weft::Runtime& rt) {
  uint64_t n = 0;
  for (const weft::WorkerStats& w : rt.stats().workers) n += w.handoffs;
  return n;
}

// Fiber A wakes 100 parked fibers (the last one lands in its worker's next
// slot, which no other worker can take; the rest go to its RunQueue) and
// spawns 100 more, then blocks its worker for 300 ms in a raw system call.
// Returns when each of the 200 finished, in ms after A began to block
// (negative: before).
std::vector<int64_t> run_behind_blocked_fiber(weft::Runtime& rt) {
  constexpr int kWoken = 100;
  constexpr int kSpawned = 100;
  std::vector<Clock::time_point> done(kWoken + kSpawned);
  Clock::time_point blocked;
  rt.spawn([&] {
      weft::Event go;
      std::atomic<int> parked{0};
      std::vector<weft::Fiber<void>> fibers;
      for (int i = 0; i < kWoken; ++i) {
        fibers.push_back(weft::spawn([&, i] {
          parked.fetch_add(1);
          go.wait();
          done[i] = Clock::now();
        }));
      }
      while (parked.load() != kWoken) weft::sleep_for(absl::Milliseconds(1));
      weft::sleep_for(absl::Milliseconds(5));  // every one of them inside wait()
      go.set();
      for (int i = kWoken; i < kWoken + kSpawned; ++i) {
        fibers.push_back(weft::spawn([&, i] { done[i] = Clock::now(); }));
      }
      blocked = Clock::now();
      raw_sleep_ms(300);
      for (auto& f : fibers) f.join();
    }).join();
  std::vector<int64_t> done_ms;
  for (Clock::time_point t : done) {
    done_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(t - blocked).count());
  }
  return done_ms;
}

TEST(HandOffTest, FibersQueuedBehindABlockedWorkerRunElsewhere) {
  weft::Runtime rt({.workers = 2});  // the default threshold, 1 ms
  std::vector<int64_t> done_ms = run_behind_blocked_fiber(rt);
  const int64_t last = *std::max_element(done_ms.begin(), done_ms.end());
  // Without the hand-off the one in the next slot waits the full 300 ms.
  EXPECT_LT(last, 100) << "the last queued fiber finished " << last << " ms into the block";
  EXPECT_GE(total_handoffs(rt), 1u);
  std::printf("hand-off: the last of 200 queued fibers finished %lld ms into a 300 ms block\n",
              static_cast<long long>(last));
}

// Spins without a suspension point; noinline so that it has its own frame
// and symbol in the detector's report.
__attribute__((noinline)) void SpinWithoutSuspending(int ms) {
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
    for (int i = 0; i < 100000; ++i) asm volatile("" ::: "memory");
  }
}

// The monitor's first look finds nothing queued behind the fiber; the fiber
// then wakes another into its next slot and blocks. A later look in the
// same episode must still hand it over.
TEST(HandOffTest, FibersWokenAfterTheFirstLookRunElsewhere) {
  weft::Runtime rt({.workers = 2});
  Clock::time_point blocked;
  Clock::time_point done;
  rt.spawn([&] {
      weft::Event go;
      std::atomic<bool> parked{false};
      weft::Fiber<void> woken = weft::spawn([&] {
        parked.store(true);
        go.wait();
        done = Clock::now();
      });
      while (!parked.load()) weft::sleep_for(absl::Milliseconds(1));
      weft::sleep_for(absl::Milliseconds(5));  // inside wait()
      SpinWithoutSuspending(5);                // past the threshold, with nothing queued
      go.set();                                // into this worker's next slot
      blocked = Clock::now();
      raw_sleep_ms(300);
      woken.join();
    }).join();
  const int64_t last =
      std::chrono::duration_cast<std::chrono::milliseconds>(done - blocked).count();
  EXPECT_LT(last, 100) << "the fiber woken after the first look finished " << last
                       << " ms into the block";
  EXPECT_GE(total_handoffs(rt), 1u);
}

TEST(HandOffTest, OffMeansTheyWaitForTheCall) {
  weft::Runtime rt({.workers = 2, .handoff_threshold = absl::ZeroDuration()});
  std::vector<int64_t> done_ms = run_behind_blocked_fiber(rt);
  const int64_t last = *std::max_element(done_ms.begin(), done_ms.end());
  EXPECT_GE(last, 250) << "a fiber in the blocked worker's next slot ran elsewhere";
  EXPECT_EQ(total_handoffs(rt), 0u);
}

TEST(HandOffTest, BadThresholdIsAnError) {
  auto rt = weft::Runtime::create({.handoff_threshold = absl::Milliseconds(-1)});
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kInvalidArgument);
  auto rt2 =
      weft::Runtime::create({.detect_blocking = true, .blocking_threshold = absl::ZeroDuration()});
  EXPECT_EQ(rt2.status().code(), absl::StatusCode::kInvalidArgument);
}

// What the detector's callback received.
struct Reports {
  std::mutex mu;
  std::vector<weft::BlockingReport> all;

  std::function<void(const weft::BlockingReport&)> callback() {
    return [this](const weft::BlockingReport& r) {
      std::lock_guard<std::mutex> lock(mu);
      all.push_back(r);
    };
  }
  std::vector<weft::BlockingReport> get() {
    std::lock_guard<std::mutex> lock(mu);
    return all;
  }
};

TEST(BlockingDetectorTest, ReportsABusyLoopOnceWithItsStack) {
  Reports reports;
  weft::Runtime rt({.workers = 2, .detect_blocking = true, .on_blocking = reports.callback()});
  auto f = rt.spawn([] {
    weft::set_name("spinner");
    SpinWithoutSuspending(300);
  });
  const uint64_t id = f.id();
  f.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a late report would show
  std::vector<weft::BlockingReport> all = reports.get();
  ASSERT_EQ(all.size(), 1u);
  const weft::BlockingReport& r = all[0];
  std::printf("%s", r.to_string().c_str());
  EXPECT_EQ(r.fiber_id, id);
  EXPECT_EQ(r.fiber_name, "spinner");
  EXPECT_TRUE(r.worker == 0 || r.worker == 1);
  EXPECT_GE(r.blocked_for, absl::Milliseconds(100));
  EXPECT_LT(r.blocked_for, absl::Milliseconds(300));
  bool named = std::any_of(r.stack.begin(), r.stack.end(), [](const std::string& frame) {
    return frame.find("SpinWithoutSuspending") != std::string::npos;
  });
  EXPECT_TRUE(named) << r.to_string();
}

TEST(BlockingDetectorTest, SilentOnAWellBehavedWorkload) {
  Reports reports;
  weft::Runtime rt({.workers = 2, .detect_blocking = true, .on_blocking = reports.callback()});
  std::atomic<int> suspensions{0};
  std::vector<weft::Fiber<void>> fibers;
  const auto end = Clock::now() + std::chrono::seconds(1);
  for (int k = 0; k < 4; ++k) {
    fibers.push_back(rt.spawn([&] {
      for (int i = 0; Clock::now() < end; ++i) {
        if (i % 8 == 0) {
          weft::sleep_for(absl::Microseconds(50));
        } else {
          weft::yield();
        }
        suspensions.fetch_add(1, std::memory_order_relaxed);
      }
    }));
  }
  for (auto& f : fibers) f.join();
  EXPECT_GE(suspensions.load(), 10000);
  EXPECT_TRUE(reports.get().empty()) << reports.get()[0].to_string();
}

TEST(BlockingDetectorTest, SilentOnAnIdleRuntime) {
  Reports reports;
  weft::Runtime rt({.workers = 2,
                    .detect_blocking = true,
                    .blocking_threshold = absl::Milliseconds(20),
                    .on_blocking = reports.callback()});
  rt.spawn([] { weft::sleep_for(absl::Milliseconds(10)); }).join();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(reports.get().empty()) << reports.get()[0].to_string();
}

}  // namespace
