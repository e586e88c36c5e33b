#include "weft/sync/wait_queue.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "gtest/gtest.h"
#include "weft/core/internal/clock.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using Result = WaitQueue::Result;

// One wait under the queue's lock.
Result WaitOnce(WaitQueue& q, int64_t deadline_ns = INT64_MAX) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  q.lock();
  Result r = q.wait(deadline_ns);
  q.unlock();
  return r;
}

int Notify(WaitQueue& q, int n) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  q.lock();
  int woken = q.notify(n);
  q.unlock();
  return woken;
}

// Returns once the waiter that announced itself has parked: wait() releases
// the lock only after the fiber has switched out.
void SyncWithQueue(WaitQueue& q) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  q.lock();
  q.unlock();
}

class WaitQueueTest : public test::RuntimeTest {};

TEST_P(WaitQueueTest, DeadlineExpiresWithTimeout) {
  Run([&] {
    WaitQueue q;
    auto start = std::chrono::steady_clock::now();
    int64_t deadline = internal::monotonic_now_ns() + 20'000'000;
    Result r;
    do {
      r = WaitOnce(q, deadline);  // a spurious wake also reports kTimeout
    } while (r == Result::kTimeout && internal::monotonic_now_ns() < deadline);
    EXPECT_EQ(r, Result::kTimeout);
    EXPECT_GE(test::MillisSince(start), 19);
    EXPECT_EQ(Notify(q, 1), 0);  // the timed-out waiter left the queue
  });
}

TEST_P(WaitQueueTest, PastDeadlineTimesOut) {
  Run([&] {
    WaitQueue q;
    EXPECT_EQ(WaitOnce(q, internal::monotonic_now_ns() - 1), Result::kTimeout);
  });
}

TEST_P(WaitQueueTest, NotifyOneWakesInFifoOrder) {
  constexpr int kWaiters = 8;
  Run([&] {
    WaitQueue q;
    std::mutex order_mu;
    std::vector<int> order;
    std::atomic<int> arrived{0};
    std::vector<Fiber<Result>> fs;
    for (int i = 0; i < kWaiters; ++i) {
      fs.push_back(spawn([&, i]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        q.lock();
        arrived.store(i + 1);
        Result r = q.wait();
        q.unlock();
        std::lock_guard<std::mutex> g(order_mu);
        order.push_back(i);
        return r;
      }));
      while (arrived.load() != i + 1) yield();
      SyncWithQueue(q);  // waiter i is now linked, behind waiter i-1
    }
    for (int i = 0; i < kWaiters; ++i) {
      EXPECT_EQ(Notify(q, 1), 1);
      EXPECT_EQ(fs[i].get(), Result::kNotified);
    }
    EXPECT_EQ(Notify(q, 1), 0);
    std::vector<int> expected;
    for (int i = 0; i < kWaiters; ++i) expected.push_back(i);
    EXPECT_EQ(order, expected);
  });
}

TEST_P(WaitQueueTest, NotifyAllReturnsCount) {
  constexpr int kWaiters = 6;
  Run([&] {
    WaitQueue q;
    std::atomic<int> arrived{0};
    std::vector<Fiber<Result>> fs;
    for (int i = 0; i < kWaiters; ++i) {
      fs.push_back(spawn([&, i]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        q.lock();
        arrived.store(i + 1);
        Result r = q.wait();
        q.unlock();
        return r;
      }));
      while (arrived.load() != i + 1) yield();
      SyncWithQueue(q);
    }
    int woken = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      q.lock();
      EXPECT_TRUE(q.has_waiters());
      int n = q.notify_all();
      EXPECT_FALSE(q.has_waiters());
      q.unlock();
      return n;
    }();
    EXPECT_EQ(woken, kWaiters);
    for (auto& f : fs) EXPECT_EQ(f.get(), Result::kNotified);
  });
}

TEST_P(WaitQueueTest, NotifyFromPlainThread) {
  Runtime rt(options());
  WaitQueue q;
  std::atomic<bool> waiting{false};
  auto f = rt.spawn([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    q.lock();
    waiting = true;
    Result r = q.wait();
    q.unlock();
    return r;
  });
  std::thread t([&] {
    while (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // The lock is free only once the fiber has parked, so this finds it.
    while (Notify(q, 1) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  t.join();
  EXPECT_EQ(f.get(), Result::kNotified);
}

TEST(WaitQueueUsageTest, WaitOutsideFiberThrowsAndReleasesLock) {
  WaitQueue q;
  [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {  // wait() releases the lock as it throws
    q.lock();
    EXPECT_THROW(q.wait(), UsageError);
  }();
  SyncWithQueue(q);  // would spin forever if wait() had kept the lock
}

TEST_P(WaitQueueTest, ShutdownWhileWaitingReportsKilled) {
  std::atomic<bool> waiting{false};
  std::atomic<int> result{-1};
  WaitQueue q;
  {
    Runtime rt(options());
    rt.spawn([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      q.lock();
      waiting = true;
      Result r = q.wait();
      q.unlock();
      result = static_cast<int>(r);
    });
    while (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    SyncWithQueue(q);
  }
  EXPECT_EQ(result.load(), static_cast<int>(Result::kInterrupted));
  EXPECT_EQ(Notify(q, 1), 0);
}

INSTANTIATE_TEST_SUITE_P(Workers, WaitQueueTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
