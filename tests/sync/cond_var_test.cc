#include "weft/sync/cond_var.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

class CondVarTest : public test::RuntimeTest {};

TEST_P(CondVarTest, ProducersConsumersLoseNoWakeups) {
  constexpr int kProducers = 4, kConsumers = 4;
  constexpr size_t kCapacity = 4;
  const int64_t kPerProducer = test::Scaled(5000);
  Run([&] {
    Mutex mu;
    CondVar not_empty, not_full;
    std::deque<int64_t> q;
    int producers_left = kProducers;
    std::atomic<int64_t> consumed{0}, sum{0};
    std::vector<Fiber<void>> fs;
    for (int p = 0; p < kProducers; ++p) {
      fs.push_back(spawn([&] {
        for (int64_t i = 1; i <= kPerProducer; ++i) {
          std::unique_lock<Mutex> lk(mu);
          not_full.wait(lk, [&] { return q.size() < kCapacity; });
          q.push_back(i);
          lk.unlock();
          not_empty.notify_one();
        }
        std::lock_guard<Mutex> g(mu);
        if (--producers_left == 0) not_empty.notify_all();
      }));
    }
    for (int c = 0; c < kConsumers; ++c) {
      fs.push_back(spawn([&] {
        for (;;) {
          std::unique_lock<Mutex> lk(mu);
          not_empty.wait(lk, [&] { return !q.empty() || producers_left == 0; });
          if (q.empty()) return;
          int64_t v = q.front();
          q.pop_front();
          lk.unlock();
          not_full.notify_one();
          consumed.fetch_add(1);
          sum.fetch_add(v);
        }
      }));
    }
    for (auto& f : fs) f.join();
    EXPECT_EQ(consumed.load(), kProducers * kPerProducer);
    EXPECT_EQ(sum.load(), kProducers * kPerProducer * (kPerProducer + 1) / 2);
    EXPECT_TRUE(q.empty());
  });
}

TEST_P(CondVarTest, WaitForTimesOutAndReholdsMutex) {
  Run([&] {
    Mutex mu;
    CondVar cv;
    std::unique_lock<Mutex> lk(mu);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(cv.wait_for(lk, absl::Milliseconds(20)));
    EXPECT_GE(test::MillisSince(start), 19);
    EXPECT_TRUE(lk.owns_lock());
    EXPECT_FALSE(spawn([&] { return mu.try_lock(); }).get());
    EXPECT_NO_THROW(lk.unlock());
  });
}

TEST_P(CondVarTest, PredicateOverloads) {
  Run([&] {
    Mutex mu;
    CondVar cv;
    bool ready = false;
    {
      std::unique_lock<Mutex> lk(mu);
      // Predicate false throughout: returns false, mutex held.
      EXPECT_FALSE(cv.wait_for(lk, absl::Milliseconds(10), [&] { return ready; }));
      EXPECT_TRUE(lk.owns_lock());
      EXPECT_FALSE(cv.wait_until(lk, absl::Now() + absl::Milliseconds(5), [&] { return ready; }));
      // Predicate already true: returns at once.
      ready = true;
      EXPECT_TRUE(cv.wait_for(lk, absl::ZeroDuration(), [&] { return ready; }));
      ready = false;
    }
    auto setter = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      {
        std::lock_guard<Mutex> g(mu);
        ready = true;
      }
      cv.notify_one();
    });
    {
      std::unique_lock<Mutex> lk(mu);
      EXPECT_TRUE(cv.wait_for(lk, absl::Seconds(30), [&] { return ready; }));
      EXPECT_TRUE(lk.owns_lock());
    }
    setter.join();
    {
      std::unique_lock<Mutex> lk(mu);
      ready = false;
    }
    auto setter2 = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      {
        std::lock_guard<Mutex> g(mu);
        ready = true;
      }
      cv.notify_all();
    });
    std::unique_lock<Mutex> lk(mu);
    cv.wait(lk, [&] { return ready; });
    EXPECT_TRUE(ready);
    lk.unlock();
    setter2.join();
  });
}

TEST_P(CondVarTest, NotifyAllWakesAll) {
  constexpr int kWaiters = 16;
  Run([&] {
    Mutex mu;
    CondVar cv;
    int waiting = 0;
    bool go = false;
    std::atomic<int> woken{0};
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < kWaiters; ++i) {
      fs.push_back(spawn([&] {
        std::unique_lock<Mutex> lk(mu);
        ++waiting;
        cv.wait(lk, [&] { return go; });
        woken.fetch_add(1);
      }));
    }
    for (;;) {
      std::unique_lock<Mutex> lk(mu);
      if (waiting == kWaiters) {
        go = true;
        break;
      }
      lk.unlock();
      yield();
    }
    cv.notify_all();
    for (auto& f : fs) f.join();
    EXPECT_EQ(woken.load(), kWaiters);
  });
}

TEST_P(CondVarTest, NotifyFromPlainThread) {
  Runtime rt(options());
  Mutex mu;
  CondVar cv;
  bool ready = false;
  std::atomic<bool> waiting{false};
  auto f = rt.spawn([&] {
    std::unique_lock<Mutex> lk(mu);
    waiting = true;
    cv.wait(lk, [&] { return ready; });
    return ready;
  });
  while (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The flag is written under the mutex by a fiber: a plain thread cannot lock
  // weft::Mutex, so set it from a fiber and notify from this thread.
  rt.spawn([&] {
      std::lock_guard<Mutex> g(mu);
      ready = true;
    }).join();
  cv.notify_one();
  EXPECT_TRUE(f.get());
}

struct DtorCount {
  std::atomic<int>* n;
  ~DtorCount() { n->fetch_add(1); }
};

TEST_P(CondVarTest, ShutdownKillsFibersWaitingInWait) {
  constexpr int kWaiters = 8;
  std::atomic<int> dtors{0}, started{0}, held_on_exit{0};
  Mutex mu;
  CondVar cv;
  auto start = std::chrono::steady_clock::now();
  {
    Runtime rt(options());
    for (int i = 0; i < kWaiters; ++i) {
      rt.spawn([&] {
        DtorCount d{&dtors};
        std::unique_lock<Mutex> lk(mu);
        started.fetch_add(1);
        struct CheckHeld {
          std::unique_lock<Mutex>* lk;
          std::atomic<int>* held;
          ~CheckHeld() {
            if (lk->owns_lock()) held->fetch_add(1);
          }
        } check{&lk, &held_on_exit};
        cv.wait(lk, [] { return false; });
      });
    }
    while (started.load() < kWaiters) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(dtors.load(), kWaiters);
  // CondVar::wait documents that the mutex is re-held when FiberExit leaves it.
  EXPECT_EQ(held_on_exit.load(), kWaiters);
  EXPECT_LT(test::MillisSince(start), 10000);
}

INSTANTIATE_TEST_SUITE_P(Workers, CondVarTest, test::WorkerCounts(), test::WorkerCountName);

// Destroying a CondVar that fibers wait on aborts with a message.
TEST(CondVarDeathTest, DestroyedWhileFibersWaitAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        alarm(20);
        Runtime rt({.workers = 2});
        auto f = rt.spawn([] {
          Mutex mu;
          auto* cv = new CondVar;
          auto a = spawn([&mu, cv] {
            std::unique_lock<Mutex> lk(mu);
            cv->wait(lk);
          });
          sleep_for(absl::Milliseconds(50));  // parked in wait()
          delete cv;
        });
        f.join();
      },
      "weft::CondVar destroyed while 1 fiber waits on it");
}

}  // namespace
}  // namespace weft
