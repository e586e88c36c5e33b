#include "weft/sync/event.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <unistd.h>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

class EventTest : public test::RuntimeTest {};

TEST_P(EventTest, SetWakesAllWaiters) {
  constexpr int kWaiters = 16;
  Run([&] {
    Event ev;
    std::atomic<int> started{0};
    std::vector<Fiber<bool>> fs;
    for (int i = 0; i < kWaiters; ++i) {
      fs.push_back(spawn([&] {
        started.fetch_add(1);
        ev.wait();
        return ev.is_set();
      }));
    }
    while (started.load() < kWaiters) yield();
    sleep_for(absl::Milliseconds(5));
    EXPECT_FALSE(ev.is_set());
    ev.set();
    for (auto& f : fs) EXPECT_TRUE(f.get());
  });
}

TEST_P(EventTest, WaitTimesOutThenSucceedsAfterSet) {
  Run([&] {
    Event ev;
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(ev.wait_for(absl::Milliseconds(20)));
    EXPECT_GE(test::MillisSince(start), 19);
    auto setter = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      ev.set();
    });
    EXPECT_TRUE(ev.wait_for(absl::Seconds(30)));
    EXPECT_TRUE(ev.is_set());
    EXPECT_TRUE(ev.wait_for(absl::ZeroDuration()));
    setter.join();
  });
}

TEST_P(EventTest, WaitUntilTakesADeadline) {
  Run([] {
    Event ev;
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(ev.wait_until(absl::Now() + absl::Milliseconds(20)));
    EXPECT_GE(test::MillisSince(start), 15);
    EXPECT_FALSE(ev.wait_until(absl::InfinitePast()));
    auto setter = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      ev.set();
    });
    EXPECT_TRUE(ev.wait_until(absl::Now() + absl::Seconds(30)));
    EXPECT_TRUE(ev.wait_until(absl::InfinitePast()));  // set: no wait needed
    setter.join();
  });
}

TEST_P(EventTest, ClearMakesWaitsBlockAgain) {
  Run([&] {
    Event ev;
    ev.set();
    ev.wait();
    EXPECT_TRUE(ev.is_set());
    ev.clear();
    EXPECT_FALSE(ev.is_set());
    EXPECT_FALSE(ev.wait_for(absl::Milliseconds(10)));
    ev.set();
    EXPECT_TRUE(ev.wait_for(absl::Milliseconds(10)));
  });
}

TEST_P(EventTest, SetPublishesWritesBeforeIt) {
  Run([&] {
    for (int round = 0; round < 50; ++round) {
      Event ev;
      int payload = 0;  // plain int: ordered only by set()/wait()
      auto w = spawn([&] {
        ev.wait();
        return payload;
      });
      payload = round + 1;
      ev.set();
      EXPECT_EQ(w.get(), round + 1);
    }
  });
}

TEST_P(EventTest, SetFromPlainThreadWakesFiber) {
  Runtime rt(options());
  Event ev;
  std::atomic<bool> waiting{false};
  auto f = rt.spawn([&] {
    waiting = true;
    ev.wait();
    return ev.is_set();
  });
  while (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::thread t([&] { ev.set(); });
  t.join();
  EXPECT_TRUE(f.get());
}

TEST(EventUsageTest, WaitOutsideFiberThrowsUsageError) {
  Event ev;
  EXPECT_THROW(ev.wait_for(absl::Milliseconds(1)), UsageError);
}

struct DtorCount {
  std::atomic<int>* n;
  ~DtorCount() { n->fetch_add(1); }
};

TEST_P(EventTest, ShutdownKillsFibersWaitingInWait) {
  constexpr int kWaiters = 8;
  std::atomic<int> dtors{0}, started{0};
  Event ev;
  auto start = std::chrono::steady_clock::now();
  {
    Runtime rt(options());
    for (int i = 0; i < kWaiters; ++i) {
      rt.spawn([&] {
        DtorCount d{&dtors};
        started.fetch_add(1);
        ev.wait();
        ADD_FAILURE() << "wait returned for an event never set";
      });
    }
    while (started.load() < kWaiters) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(dtors.load(), kWaiters);
  EXPECT_LT(test::MillisSince(start), 10000);
}

INSTANTIATE_TEST_SUITE_P(Workers, EventTest, test::WorkerCounts(), test::WorkerCountName);

// Destroying an Event that fibers wait on aborts with a message.
TEST(EventDeathTest, DestroyedWhileFibersWaitAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        alarm(20);
        Runtime rt({.workers = 2});
        auto f = rt.spawn([] {
          auto* ev = new Event;
          auto a = spawn([ev] { ev->wait(); });
          auto b = spawn([ev] { (void)ev->wait_for(absl::Hours(1)); });
          sleep_for(absl::Milliseconds(50));  // both parked
          delete ev;
        });
        f.join();
      },
      "weft::Event destroyed while 2 fibers wait on it");
}

}  // namespace
}  // namespace weft
