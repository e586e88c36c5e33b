// weft::Timeout: a scoped deadline that makes every suspension point in its
// scope throw TimeoutError once it passes.
#include "weft/core/timeout.h"

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/manual_clock.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using test::MillisSince;
using ::testing::HasSubstr;

constexpr absl::Duration kForever = absl::Hours(1);
constexpr absl::Duration kShort = absl::Milliseconds(50);
// Generous upper bound for "fired about when due": only ever a hang detector.
constexpr int64_t kLateMs = 2000;

class TimeoutTest : public test::RuntimeTest {
 protected:
  // Runs `wait` (which would otherwise never return) inside a Timeout of
  // kShort and checks it throws that Timeout's error, neither early nor
  // never.
  template <typename Wait>
  void ExpectTimeoutInterrupts(Wait wait) {
    auto start = std::chrono::steady_clock::now();
    bool passed = false;
    try {
      Timeout t(kShort);
      try {
        wait();
        passed = true;
      } catch (const TimeoutError& e) {
        EXPECT_TRUE(e.is(t));
        EXPECT_EQ(&e.source(), &t);
        EXPECT_TRUE(t.fired());
        EXPECT_FALSE(t.armed());
        throw;
      }
    } catch (const TimeoutError& e) {
      EXPECT_THAT(e.what(), HasSubstr("50ms"));
    }
    int64_t ms = MillisSince(start);
    EXPECT_FALSE(passed);
    EXPECT_GE(ms, absl::ToInt64Milliseconds(kShort) - 1);  // the clock may round down
    EXPECT_LT(ms, kLateMs);
  }
};

TEST_P(TimeoutTest, InterruptsSleep) {
  Run([this] {
    ExpectTimeoutInterrupts([] { sleep_for(kForever); });
    ExpectTimeoutInterrupts([] { sleep_until(absl::Now() + kForever); });
  });
}

TEST_P(TimeoutTest, InterruptsAYieldLoop) {
  Run([this] {
    ExpectTimeoutInterrupts([] {
      for (;;) yield();
    });
  });
}

TEST_P(TimeoutTest, InterruptsJoinAndLeavesTheTargetJoinable) {
  Run([this] {
    Event release;
    auto target = spawn([&] {
      release.wait();
      return 3;
    });
    ExpectTimeoutInterrupts([&] { target.join(); });
    ExpectTimeoutInterrupts([&] { target.get(); });
    ExpectTimeoutInterrupts([&] { join_all({target}); });
    release.set();
    EXPECT_EQ(target.get(), 3);  // the timed-out joins left nothing behind
  });
}

TEST_P(TimeoutTest, InterruptsMutexLock) {
  Run([this] {
    Mutex mu;
    mu.lock();
    ExpectTimeoutInterrupts([&] { std::lock_guard<Mutex> g(mu); });
    mu.unlock();
    EXPECT_EQ(spawn([&] {
                std::lock_guard<Mutex> g(mu);
                return 1;
              }).get(),
              1);
  });
}

TEST_P(TimeoutTest, InterruptsCondVarWaitWithTheMutexHeldAgain) {
  Run([this] {
    Mutex mu;
    CondVar cv;
    bool held_when_thrown = false;
    ExpectTimeoutInterrupts([&] {
      std::unique_lock<Mutex> lk(mu);
      try {
        cv.wait(lk, [] { return false; });
      } catch (const TimeoutError&) {
        held_when_thrown = lk.owns_lock();
        throw;
      }
    });
    EXPECT_TRUE(held_when_thrown);
    if (mu.try_lock()) {
      mu.unlock();
    } else {
      ADD_FAILURE() << "the mutex is still held";
    }
  });
}

TEST_P(TimeoutTest, CondVarReacquiresAContendedMutexBeforeThrowing) {
  // The deadline passes while another fiber holds the mutex: the waiter
  // must wait for it (not spin, not throw without it) and then throw.
  Run([] {
    Mutex mu;
    CondVar cv;
    std::atomic<bool> holding{false};
    std::atomic<bool> released{false};
    auto holder = spawn([&] {
      sleep_for(absl::Milliseconds(10));
      std::lock_guard<Mutex> g(mu);
      holding = true;
      sleep_for(absl::Milliseconds(100));  // past the waiter's deadline
      released = true;
    });
    bool threw = false;
    {
      std::unique_lock<Mutex> lk(mu);
      Timeout t(absl::Milliseconds(40));
      try {
        cv.wait(lk, [] { return false; });
      } catch (const TimeoutError& e) {
        threw = e.is(t);
        EXPECT_TRUE(lk.owns_lock());
        EXPECT_TRUE(released.load());  // it waited for the holder
      }
    }
    EXPECT_TRUE(threw);
    EXPECT_TRUE(holding.load());
    holder.join();
  });
}

TEST_P(TimeoutTest, InterruptsSemaphoreAcquireWithoutTakingAUnit) {
  Run([this] {
    Semaphore sem(0);
    ExpectTimeoutInterrupts([&] { sem.acquire(); });
    ExpectTimeoutInterrupts([&] { sem.acquire_for(kForever); });
    sem.release();
    EXPECT_EQ(sem.available(), 1);
  });
}

TEST_P(TimeoutTest, InterruptsWaitGroupLatchAndEvent) {
  Run([this] {
    WaitGroup wg;
    wg.add(1);
    ExpectTimeoutInterrupts([&] { wg.wait(); });
    Latch latch(1);
    ExpectTimeoutInterrupts([&] { latch.wait(); });
    Event ev;
    ExpectTimeoutInterrupts([&] { ev.wait(); });
    wg.done();
  });
}

TEST_P(TimeoutTest, InterruptsChannelRecvAndSend) {
  Run([this] {
    Channel<int> ch(1);
    ExpectTimeoutInterrupts([&] { (void)ch.recv(); });
    ASSERT_TRUE(ch.send(1).ok());
    ExpectTimeoutInterrupts([&] { (void)ch.send(2); });
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.recv().value_or(-1), 1);  // the timed-out send added nothing
    Channel<int> unbuffered;
    ExpectTimeoutInterrupts([&] { (void)unbuffered.send(3); });
    EXPECT_FALSE(unbuffered.try_recv().has_value());  // its value was withdrawn
    int v = 4;
    ExpectTimeoutInterrupts([&] { (void)unbuffered.recv(); });
    EXPECT_FALSE(unbuffered.try_send(v));  // the receiver left
  });
}

TEST_P(TimeoutTest, InterruptsSelect) {
  Run([this] {
    Channel<int> a;
    Channel<int> b;
    std::optional<int> x;
    std::optional<int> y;
    ExpectTimeoutInterrupts([&] { select(on_recv(a, x), on_recv(b, y)); });
    ExpectTimeoutInterrupts([&] { select_for(on_recv(a, x), on_send(b, 1), kForever); });
    int v = 1;
    EXPECT_FALSE(a.try_send(v));  // the select left a's receivers
  });
}

TEST_P(TimeoutTest, AnExpiredTimeoutThrowsAtTheNextSuspensionPoint) {
  Run([] {
    Timeout t(absl::Milliseconds(1));
    auto start = std::chrono::steady_clock::now();
    while (MillisSince(start) < 5) {
    }  // computing: nothing interrupts it
    EXPECT_FALSE(t.fired());
    EXPECT_THROW(sleep_for(kForever), TimeoutError);
    EXPECT_TRUE(t.fired());
    Timeout zero(absl::ZeroDuration());
    EXPECT_THROW(yield(), TimeoutError);
  });
}

TEST_P(TimeoutTest, AWaitThatFinishesInTimeIsNotDisturbed) {
  Run([] {
    Channel<int> ch(4);
    auto producer = spawn([&] {
      for (int i = 0; i < 100; ++i) {
        if (!ch.send(i).ok()) return;
        if (i % 10 == 0) sleep_for(absl::Milliseconds(1));
      }
    });
    int sum = 0;
    {
      Timeout t(absl::Seconds(60));
      for (int i = 0; i < 100; ++i) sum += *ch.recv();
      sleep_for(absl::Milliseconds(1));
      producer.join();
      EXPECT_FALSE(t.fired());
      EXPECT_TRUE(t.armed());
    }
    EXPECT_EQ(sum, 99 * 100 / 2);
  });
}

TEST_P(TimeoutTest, LeavingTheScopeDisarmsIt) {
  // On the manual clock: the fiber's three sleeps end when the main fiber
  // advances it, past each Timeout's deadline.
  test::ManualClock clock;
  Run([&] {
    std::atomic<internal::FiberControl*> self{nullptr};
    auto f = spawn([&] {
      self = test::ThisFiber();
      {
        Timeout t(absl::Milliseconds(20));
        sleep_for(absl::Milliseconds(1));
      }
      sleep_for(absl::Milliseconds(60));  // past the old deadline: nothing happens
      Timeout c(absl::Milliseconds(20));
      c.cancel();
      c.cancel();
      EXPECT_FALSE(c.armed());
      sleep_for(absl::Milliseconds(60));
      EXPECT_FALSE(c.fired());
    });
    uint64_t e = test::UntilParked(self);
    clock.advance(absl::Milliseconds(1));
    e = test::UntilParked(self, e);
    clock.advance(absl::Milliseconds(60));
    test::UntilParked(self, e);
    clock.advance(absl::Milliseconds(60));
    f.join();
  });
}

TEST_P(TimeoutTest, FiresAtMostOnce) {
  Run([] {
    Timeout t(absl::Milliseconds(20));
    EXPECT_THROW(sleep_for(kForever), TimeoutError);
    auto start = std::chrono::steady_clock::now();
    sleep_for(absl::Milliseconds(30));  // still in t's scope: undisturbed
    EXPECT_GE(MillisSince(start), 29);
    EXPECT_TRUE(t.fired());
  });
}

TEST_P(TimeoutTest, NestedInnerEarlierFiresTheInner) {
  Run([] {
    Timeout outer(absl::Seconds(60));
    bool inner_fired = false;
    {
      Timeout inner(absl::Milliseconds(30));
      try {
        sleep_for(kForever);
      } catch (const TimeoutError& e) {
        inner_fired = e.is(inner);
        EXPECT_FALSE(e.is(outer));
      }
    }
    EXPECT_TRUE(inner_fired);
    EXPECT_FALSE(outer.fired());
    sleep_for(absl::Milliseconds(5));  // the outer scope goes on
  });
}

TEST_P(TimeoutTest, NestedOuterEarlierUnwindsThroughTheInner) {
  Run([] {
    bool inner_rethrew = false;
    bool outer_caught = false;
    try {
      Timeout outer(absl::Milliseconds(30));
      try {
        Timeout inner(absl::Seconds(60));
        try {
          sleep_for(kForever);
        } catch (const TimeoutError& e) {
          if (!e.is(inner)) {
            inner_rethrew = true;
            throw;
          }
        }
      } catch (const TimeoutError& e) {
        outer_caught = e.is(outer);
      }
    } catch (const TimeoutError&) {
      ADD_FAILURE() << "the outer handler should have kept it";
    }
    EXPECT_TRUE(inner_rethrew);
    EXPECT_TRUE(outer_caught);
  });
}

TEST_P(TimeoutTest, ItIsPerFiber) {
  Run([] {
    Timeout t(absl::Milliseconds(20));
    // A fiber spawned inside the scope does not inherit it.
    auto child = spawn([] {
      sleep_for(absl::Milliseconds(60));
      return 1;
    });
    EXPECT_THROW(sleep_for(kForever), TimeoutError);
    EXPECT_EQ(child.get(), 1);
  });
}

TEST_P(TimeoutTest, AWaitInADestructorWhileUnwindingDoesNotThrow) {
  Run([] {
    struct SleepsInDestructor {
      int64_t* slept_ms;
      ~SleepsInDestructor() {
        auto start = std::chrono::steady_clock::now();
        sleep_for(absl::Milliseconds(30));  // both Timeouts below have expired
        *slept_ms = MillisSince(start);
      }
    };
    int64_t slept_ms = -1;
    bool caught = false;
    try {
      Timeout outer(absl::Milliseconds(15));
      Timeout inner(absl::Milliseconds(10));
      SleepsInDestructor s{&slept_ms};
      sleep_for(kForever);
    } catch (const TimeoutError&) {
      caught = true;
    }
    EXPECT_TRUE(caught);
    EXPECT_GE(slept_ms, 29) << "the destructor's sleep was cut short";
  });
}

TEST_P(TimeoutTest, KillWinsOverAnExpiredTimeout) {
  // Driven from a plain thread: the fiber spins without suspending, which
  // would starve a driving fiber on a single worker.
  Runtime rt(options());
  std::atomic<bool> killed_flag{false};
  std::atomic<bool> armed{false};
  std::atomic<bool> timed_out{false};
  auto f = rt.spawn([&] {
    Timeout t(absl::ZeroDuration());  // expired at once
    armed = true;
    while (!killed_flag.load()) std::this_thread::yield();  // no suspension point
    try {
      sleep_for(kForever);  // both pending: FiberExit
    } catch (const TimeoutError&) {
      timed_out = true;
    }
  });
  while (!armed.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  f.kill();
  killed_flag = true;
  EXPECT_TRUE(f.join_for(absl::Seconds(30)));
  EXPECT_TRUE(f.killed());
  EXPECT_FALSE(timed_out.load());
}

TEST_P(TimeoutTest, KillInterruptsAWaitInsideATimeout) {
  Run([] {
    std::atomic<bool> timed_out{false};
    std::atomic<bool> entered{false};
    auto f = spawn([&] {
      Timeout t(absl::Seconds(60));
      entered = true;
      try {
        sleep_for(kForever);
      } catch (const TimeoutError&) {
        timed_out = true;
      }
    });
    while (!entered.load()) sleep_for(absl::Milliseconds(1));
    sleep_for(absl::Milliseconds(10));
    f.kill();
    f.join();
    EXPECT_TRUE(f.killed());
    EXPECT_FALSE(timed_out.load());
  });
}

TEST_P(TimeoutTest, TimeoutInsideAKilledFibersCleanupIsIgnored) {
  // A killed fiber that unwinds and waits in a destructor under an expired
  // Timeout neither throws nor hangs.
  Run([] {
    std::atomic<bool> cleaned{false};
    struct Cleanup {
      std::atomic<bool>* done;
      ~Cleanup() {
        sleep_for(absl::Milliseconds(5));
        *done = true;
      }
    };
    auto f = spawn([&] {
      Timeout t(absl::Milliseconds(1));
      Cleanup c{&cleaned};
      Event never;
      try {
        never.wait();
      } catch (const TimeoutError&) {
        never.wait();  // t fired once; only the kill ends this
      }
    });
    sleep_for(absl::Milliseconds(20));
    f.kill();
    f.join();
    EXPECT_TRUE(f.killed());
    EXPECT_TRUE(cleaned.load());
  });
}

TEST_P(TimeoutTest, TimeoutErrorIsNotAStdException) {
  Run([] {
    bool by_std = false;
    bool by_name = false;
    try {
      Timeout t(absl::Milliseconds(1));
      try {
        sleep_for(kForever);
      } catch (const std::exception&) {
        by_std = true;
      }
    } catch (const TimeoutError&) {
      by_name = true;
    }
    EXPECT_FALSE(by_std);
    EXPECT_TRUE(by_name);
  });
}

TEST_P(TimeoutTest, InfiniteNeverFiresAndDeadlinesMayBeAbsolute) {
  Run([] {
    Timeout never(absl::InfiniteDuration());
    Timeout never_at(absl::InfiniteFuture());
    sleep_for(absl::Milliseconds(5));
    EXPECT_TRUE(never.armed());
    EXPECT_TRUE(never_at.armed());
    Timeout at(absl::Now() + absl::Milliseconds(20));
    EXPECT_THROW(sleep_for(kForever), TimeoutError);
    EXPECT_TRUE(at.fired());
    EXPECT_FALSE(never.fired());
  });
}

TEST_P(TimeoutTest, AnEscapedTimeoutErrorIsTheFibersError) {
  Run([] {
    auto f = spawn([] {
      Timeout t(absl::Milliseconds(5));
      sleep_for(kForever);
    });
    f.join();
    EXPECT_FALSE(f.killed());
    EXPECT_THROW(f.get(), TimeoutError);
  });
}

TEST_P(TimeoutTest, ManyFibersEachWithTheirOwnDeadline) {
  Run([] {
    const int kFibers = static_cast<int>(test::Scaled(100, 4));
    std::vector<Fiber<int>> fs;
    Channel<int> never;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(spawn([&never, i] {
        Timeout t(absl::Milliseconds(1 + i % 20));
        try {
          if (i % 2 == 0) {
            never.recv();
          } else {
            sleep_for(kForever);
          }
        } catch (const TimeoutError& e) {
          return e.is(t) ? 1 : 0;
        }
        return 0;
      }));
    }
    int fired = 0;
    for (auto& f : fs) fired += f.get();
    EXPECT_EQ(fired, kFibers);
  });
}

TEST(TimeoutOutsideAFiberTest, IsAUsageError) {
  try {
    Timeout t(absl::Seconds(1));
    FAIL() << "a Timeout on a plain thread was created";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("weft::Timeout"));
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, TimeoutTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
