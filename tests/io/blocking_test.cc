#include "weft/io/blocking.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/private/runtime_core.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

class BlockingTest : public test::RuntimeTest {};

// Kills a fiber the way Fiber::kill and shutdown do (through its control
// block, which the fiber hands out with `self()`).
internal::FiberControl* self() { return internal::require_fiber("blocking_test"); }
void kill(internal::FiberControl* f) { f->runtime->request_kill(f); }

// Counts live instances, to show results of killed calls are destroyed.
std::atomic<int> g_live{0};
struct Counted {
  Counted() { g_live.fetch_add(1); }
  ~Counted() { g_live.fetch_sub(1); }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
};

// Spins (on a plain thread) until `flag` is set or 30 s pass.
bool wait_flag(const std::atomic<bool>& flag) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// The same from a fiber, without blocking its worker.
bool wait_flag_in_fiber(const std::atomic<bool>& flag) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > end) return false;
    sleep_for(absl::Milliseconds(1));
  }
  return true;
}

int add(int a, int b) { return a + b; }

TEST_P(BlockingTest, ReturnsResultFromAnotherThread) {
  Run([] {
    std::thread::id fiber_thread = std::this_thread::get_id();
    auto [value, thread] = blocking([] { return std::make_pair(42, std::this_thread::get_id()); });
    EXPECT_EQ(value, 42);
    EXPECT_NE(thread, fiber_thread);
    EXPECT_EQ(blocking(add, 2, 3), 5);
    std::string s = "abc";
    EXPECT_EQ(blocking([](const std::string& x, int n) { return x + std::to_string(n); }, s, 7),
              "abc7");
  });
}

TEST_P(BlockingTest, MoveOnlyResultsAndArguments) {
  Run([] {
    std::unique_ptr<int> p = blocking([] { return std::make_unique<int>(7); });
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 7);
    auto q = std::make_unique<int>(9);
    int got = blocking([](std::unique_ptr<int> x) { return *x; }, std::move(q));
    EXPECT_EQ(got, 9);
    // Passed by reference, so the argument was moved from inside fn.
    EXPECT_EQ(q, nullptr);
  });
}

TEST_P(BlockingTest, VoidAndReferenceResults) {
  Run([] {
    int x = 0;
    blocking([&] { x = 5; });
    EXPECT_EQ(x, 5);
    int& r = blocking([&]() -> int& { return x; });
    EXPECT_EQ(&r, &x);
    const int& cr = blocking([](const int& v) -> const int& { return v; }, x);
    EXPECT_EQ(&cr, &x);
  });
}

TEST_P(BlockingTest, RethrowsInTheFiber) {
  Run([] {
    try {
      blocking([]() -> int { throw std::runtime_error("disk on fire"); });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "disk on fire");
    }
    EXPECT_THROW(blocking([] { throw 17; }), int);
    // The fiber goes on normally afterwards.
    EXPECT_EQ(blocking([] { return 1; }), 1);
  });
}

TEST_P(BlockingTest, ManyConcurrentCallsFromManyFibers) {
  const int kFibers = 64;
  const int kCalls = static_cast<int>(test::Scaled(40, 4));
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  int64_t total = Run([&] {
    std::vector<Fiber<int64_t>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(spawn([&, i] {
        int64_t sum = 0;
        for (int j = 0; j < kCalls; ++j) {
          sum += blocking([&, i, j] {
            int now = in_flight.fetch_add(1) + 1;
            int seen = max_in_flight.load();
            while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
            }
            if (j % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
            in_flight.fetch_sub(1);
            return static_cast<int64_t>(i) * 1000 + j;
          });
        }
        return sum;
      }));
    }
    int64_t all = 0;
    for (auto& f : fs) all += f.get();
    return all;
  });
  int64_t expected = 0;
  for (int i = 0; i < kFibers; ++i) {
    for (int j = 0; j < kCalls; ++j) expected += int64_t{i} * 1000 + j;
  }
  EXPECT_EQ(total, expected);
  EXPECT_LE(max_in_flight.load(), internal::offload_pool_stats().max_threads);
  EXPECT_EQ(in_flight.load(), 0);
}

// fn blocks its offload thread until another fiber on the same single
// worker has made progress: only possible if the worker is not blocked.
TEST(BlockingOneWorker, WorkerRunsOtherFibersWhileFnBlocks) {
  weft::run({.workers = 1}, [] {
    std::atomic<int> ticks{0};
    std::atomic<bool> stop{false};
    auto ticker = spawn([&] {
      while (!stop.load()) {
        ticks.fetch_add(1);
        sleep_for(absl::Milliseconds(1));
      }
    });
    bool saw_progress = blocking([&] {
      int start = ticks.load();
      auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (ticks.load() < start + 5 && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return ticks.load() >= start + 5;
    });
    EXPECT_TRUE(saw_progress);
    // The case: fn just sleeps 200 ms; the ticker keeps running.
    int before = ticks.load();
    int during = blocking([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      return ticks.load();
    });
    EXPECT_GT(during, before);
    stop.store(true);
    ticker.join();
  });
}

TEST_P(BlockingTest, KillWaitsForFnThenUnwinds) {
  std::atomic<bool> started{false};
  std::atomic<bool> fn_done{false};
  std::atomic<bool> done_when_unwound{false};
  std::atomic<bool> returned{false};
  Run([&] {
    std::atomic<internal::FiberControl*> ctl{nullptr};
    auto f = spawn([&] {
      ctl.store(self());
      struct Guard {
        std::atomic<bool>* fn_done;
        std::atomic<bool>* out;
        ~Guard() { out->store(fn_done->load()); }
      } guard{&fn_done, &done_when_unwound};
      int local = 0;  // fn writes here: the frame must outlive fn
      auto r = blocking([&] {
        started.store(true);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        local = 1;
        fn_done.store(true);
        return std::make_unique<Counted>();
      });
      (void)local;
      returned.store(true);
    });
    ASSERT_TRUE(wait_flag_in_fiber(started));
    kill(ctl.load());
    f.join();
    EXPECT_TRUE(f.killed());
  });
  EXPECT_TRUE(fn_done.load());
  EXPECT_TRUE(done_when_unwound.load()) << "the fiber unwound while fn still ran";
  EXPECT_FALSE(returned.load()) << "blocking() returned to a killed fiber";
  EXPECT_EQ(g_live.load(), 0) << "the killed call's result was not destroyed";
}

TEST_P(BlockingTest, KilledBeforeTheCallDoesNotRunIt) {
  std::atomic<bool> ran{false};
  Run([&] {
    auto f = spawn([&] {
      kill(self());
      blocking([&] { ran.store(true); });
    });
    f.join();
    EXPECT_TRUE(f.killed());
  });
  EXPECT_FALSE(ran.load());
}

// A destructor of a fiber being killed may still offload (say, a flush):
// the call runs and returns instead of throwing again.
TEST_P(BlockingTest, UnwindingFiberMayStillOffload) {
  std::atomic<bool> flushed{false};
  std::atomic<bool> sleeping{false};
  Run([&] {
    std::atomic<internal::FiberControl*> ctl{nullptr};
    auto f = spawn([&] {
      ctl.store(self());
      struct Flusher {
        std::atomic<bool>* flushed;
        ~Flusher() {
          int v = blocking([] { return 3; });
          flushed->store(v == 3);
        }
      } flusher{&flushed};
      sleeping.store(true);
      sleep_for(absl::Seconds(60));
    });
    ASSERT_TRUE(wait_flag_in_fiber(sleeping));
    kill(ctl.load());
    f.join();
    EXPECT_TRUE(f.killed());
  });
  EXPECT_TRUE(flushed.load());
}

TEST_P(BlockingTest, ShutdownWaitsForCallInFlight) {
  std::atomic<bool> started{false};
  std::atomic<bool> fn_done{false};
  std::atomic<bool> done_when_unwound{false};
  Runtime rt(options());
  Fiber<void> f = rt.spawn([&] {
    struct Guard {
      std::atomic<bool>* fn_done;
      std::atomic<bool>* out;
      ~Guard() { out->store(fn_done->load()); }
    } guard{&fn_done, &done_when_unwound};
    blocking([&] {
      started.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      fn_done.store(true);
    });
    ADD_FAILURE() << "blocking() returned normally during shutdown";
  });
  ASSERT_TRUE(wait_flag(started));
  rt.shutdown();
  EXPECT_TRUE(fn_done.load());
  EXPECT_TRUE(done_when_unwound.load());
  EXPECT_TRUE(f.ready());
  EXPECT_TRUE(f.killed());
}

TEST_P(BlockingTest, CallsFromSeveralRuntimesShareThePool) {
  std::atomic<int> sum{0};
  auto body = [&] {
    std::vector<Fiber<void>> fs;
    for (int i = 1; i <= 20; ++i)
      fs.push_back(spawn([&, i] { sum.fetch_add(blocking(add, i, 0)); }));
    for (auto& f : fs) f.join();
  };
  std::thread other([&] { weft::run(options(), body); });
  Run(body);
  other.join();
  EXPECT_EQ(sum.load(), 2 * 210);
}

TEST(BlockingPlainThread, RunsInline) {
  uint64_t calls_before = internal::offload_pool_stats().calls;
  std::thread::id caller = std::this_thread::get_id();
  EXPECT_EQ(blocking([] { return std::this_thread::get_id(); }), caller);
  EXPECT_EQ(blocking(add, 20, 22), 42);
  EXPECT_THROW(blocking([] { throw std::logic_error("x"); }), std::logic_error);
  auto p = blocking([] { return std::make_unique<int>(1); });
  EXPECT_EQ(*p, 1);
  EXPECT_EQ(internal::offload_pool_stats().calls, calls_before);
}

// More calls than threads: they queue, run in parallel up to the bound, and
// the threads exit once idle; a later call starts a thread again.
TEST(BlockingPool, BoundedParallelAndThreadsExitWhenIdle) {
  internal::set_offload_idle_timeout(absl::Milliseconds(50));
  const int max = internal::offload_pool_stats().max_threads;
  EXPECT_GE(max, 4);
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  weft::run({.workers = 2}, [&] {
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < 4 * max; ++i) {
      fs.push_back(spawn([&] {
        blocking([&] {
          int now = in_flight.fetch_add(1) + 1;
          int seen = max_in_flight.load();
          while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          in_flight.fetch_sub(1);
        });
      }));
    }
    for (auto& f : fs) f.join();
  });
  EXPECT_LE(max_in_flight.load(), max);
  EXPECT_GE(max_in_flight.load(), 2) << "queued calls did not run in parallel";
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (internal::offload_pool_stats().threads != 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(internal::offload_pool_stats().threads, 0);
  EXPECT_EQ(weft::run({.workers = 1}, [] { return blocking(add, 1, 1); }), 2);
  internal::set_offload_idle_timeout(absl::Seconds(10));
}

INSTANTIATE_TEST_SUITE_P(Workers, BlockingTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
