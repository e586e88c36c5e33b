// Fiber::kill and kill_and_join: the target unwinds from whatever it waits in
// with FiberExit, its destructors run, and its handle reports it killed.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using test::MillisSince;
using ::testing::HasSubstr;

constexpr absl::Duration kForever = absl::Hours(1);
// Long enough for a fiber that announced it is about to wait to be parked.
constexpr absl::Duration kSettle = absl::Milliseconds(20);

// Counts its destructions, to prove a killed fiber unwinds.
struct DestructorCounter {
  std::atomic<int>* count;
  ~DestructorCounter() { count->fetch_add(1); }
};

// Parks the calling fiber until `flag` is set.
void WaitUntil(const std::atomic<bool>& flag) {
  while (!flag.load()) sleep_for(absl::Milliseconds(1));
}

class KillTest : public test::RuntimeTest {
 protected:
  // Spawns `wait` in a fiber that holds a DestructorCounter, lets it reach
  // its wait, kills it, and checks it ended killed, unwound, and without
  // running past the wait.
  template <typename Wait>
  void ExpectKillInterrupts(Wait wait) {
    std::atomic<int> destroyed{0};
    std::atomic<bool> entered{false};
    std::atomic<bool> passed{false};
    auto f = spawn([&] {
      DestructorCounter c{&destroyed};
      entered = true;
      wait();
      passed = true;
    });
    WaitUntil(entered);
    sleep_for(kSettle);
    EXPECT_FALSE(f.ready());
    f.kill();
    f.join();
    EXPECT_TRUE(f.killed());
    EXPECT_FALSE(passed.load());
    EXPECT_EQ(destroyed.load(), 1);
    EXPECT_THROW(f.get(), FiberKilled);
  }
};

TEST_P(KillTest, InterruptsSleep) {
  Run([this] { ExpectKillInterrupts([] { sleep_for(kForever); }); });
}

TEST_P(KillTest, InterruptsSleepUntil) {
  Run([this] { ExpectKillInterrupts([] { sleep_until(absl::Now() + kForever); }); });
}

TEST_P(KillTest, InterruptsAYieldLoop) {
  Run([this] {
    ExpectKillInterrupts([] {
      for (;;) yield();
    });
  });
}

TEST_P(KillTest, InterruptsJoinAndLeavesTheJoinedFiberAlone) {
  Run([this] {
    Event release;
    auto target = spawn([&] { release.wait(); });
    ExpectKillInterrupts([&] { target.join(); });
    // The killed joiner took its record out of the join word: joining again
    // works and sees the target's real end.
    EXPECT_FALSE(target.ready());
    release.set();
    target.join();
    EXPECT_FALSE(target.killed());
  });
}

TEST_P(KillTest, InterruptsJoinAll) {
  Run([this] {
    Event release;
    auto a = spawn([&] { release.wait(); });
    auto b = spawn([&] { release.wait(); });
    ExpectKillInterrupts([&] { join_all({a, b}); });
    release.set();
    EXPECT_TRUE(join_all({a, b}));
  });
}

TEST_P(KillTest, InterruptsMutexLock) {
  Run([this] {
    Mutex mu;
    mu.lock();
    ExpectKillInterrupts([&] { std::lock_guard<Mutex> g(mu); });
    mu.unlock();
    // The killed waiter left nothing behind: the mutex works for others.
    auto other = spawn([&] {
      std::lock_guard<Mutex> g(mu);
      return 1;
    });
    EXPECT_EQ(other.get(), 1);
  });
}

TEST_P(KillTest, InterruptsCondVarWaitAndReleasesTheMutex) {
  Run([this] {
    Mutex mu;
    CondVar cv;
    bool never = false;
    ExpectKillInterrupts([&] {
      std::unique_lock<Mutex> lk(mu);
      cv.wait(lk, [&] { return never; });
    });
    // CondVar re-acquired the mutex before FiberExit left, and unique_lock
    // released it while unwinding.
    if (mu.try_lock()) {
      mu.unlock();
    } else {
      ADD_FAILURE() << "the mutex is still held";
    }
  });
}

TEST_P(KillTest, InterruptsSemaphoreAcquireWithoutTakingAUnit) {
  Run([this] {
    Semaphore sem(0);
    ExpectKillInterrupts([&] { sem.acquire(); });
    sem.release();
    EXPECT_EQ(sem.available(), 1);
  });
}

TEST_P(KillTest, InterruptsWaitGroupAndEventWaits) {
  Run([this] {
    WaitGroup wg;
    wg.add(1);
    ExpectKillInterrupts([&] { wg.wait(); });
    wg.done();
    Event ev;
    ExpectKillInterrupts([&] { ev.wait(); });
  });
}

TEST_P(KillTest, InterruptsChannelRecv) {
  Run([this] {
    Channel<int> ch;  // unbuffered
    ExpectKillInterrupts([&] { ch.recv(); });
    // The killed receiver is gone: nobody takes a value without waiting.
    int v = 5;
    EXPECT_FALSE(ch.try_send(v));
  });
}

TEST_P(KillTest, InterruptsChannelSend) {
  Run([this] {
    Channel<int> full(1);
    ASSERT_TRUE(full.send(1).ok());
    ExpectKillInterrupts([&] { (void)full.send(2); });
    EXPECT_EQ(full.size(), 1u);  // the killed sender added nothing
    Channel<int> unbuffered;
    ExpectKillInterrupts([&] { (void)unbuffered.send(3); });
    EXPECT_FALSE(unbuffered.try_recv().has_value());  // its value was withdrawn
  });
}

TEST_P(KillTest, InterruptsSelect) {
  Run([this] {
    Channel<int> a;
    Channel<int> b;
    ExpectKillInterrupts([&] {
      std::optional<int> x;
      std::optional<int> y;
      select(on_recv(a, x), on_recv(b, y));
    });
    int v = 1;
    EXPECT_FALSE(a.try_send(v));
    EXPECT_FALSE(b.try_send(v));
  });
}

TEST_P(KillTest, KillingAFinishedFiberDoesNothing) {
  Run([] {
    auto f = spawn([] { return 5; });
    f.join();
    f.kill();
    EXPECT_FALSE(f.killed());
    EXPECT_TRUE(f.kill_and_join(absl::ZeroDuration()));
    EXPECT_EQ(f.get(), 5);
  });
}

TEST_P(KillTest, KillingTwiceIsKillingOnce) {
  Run([] {
    std::atomic<int> destroyed{0};
    auto f = spawn([&] {
      DestructorCounter c{&destroyed};
      sleep_for(kForever);
    });
    sleep_for(kSettle);
    f.kill();
    f.kill();
    EXPECT_TRUE(f.kill_and_join());
    EXPECT_TRUE(f.killed());
    EXPECT_EQ(destroyed.load(), 1);
  });
}

TEST_P(KillTest, EmptyHandleThrowsUsageError) {
  Run([] {
    Fiber<int> empty;
    try {
      empty.kill();
      FAIL() << "kill on an empty handle succeeded";
    } catch (const UsageError& e) {
      EXPECT_THAT(e.what(), HasSubstr("kill"));
    }
    auto f = spawn([] {});
    f.detach();
    EXPECT_THROW(f.kill(), UsageError);
    EXPECT_THROW(f.kill_and_join(), UsageError);
  });
}

TEST_P(KillTest, AFiberKillingItselfThrowsAtOnce) {
  Run([] {
    std::atomic<int> destroyed{0};
    std::atomic<bool> after{false};
    std::atomic<Fiber<void>*> handle{nullptr};
    Fiber<void> f = spawn([&] {
      DestructorCounter c{&destroyed};
      while (handle.load() == nullptr) yield();
      handle.load()->kill();  // no suspension point between here and `after`
      after = true;
    });
    handle = &f;
    while (!f.ready()) sleep_for(absl::Milliseconds(1));
    EXPECT_TRUE(f.killed());
    EXPECT_FALSE(after.load());
    EXPECT_EQ(destroyed.load(), 1);
  });
}

TEST_P(KillTest, KillFromAPlainThread) {
  Runtime rt(options());
  std::atomic<int> destroyed{0};
  std::atomic<bool> entered{false};
  auto f = rt.spawn([&] {
    DestructorCounter c{&destroyed};
    entered = true;
    Event never;
    never.wait();
  });
  while (!entered.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  f.kill();
  EXPECT_TRUE(f.kill_and_join(absl::Seconds(30)));
  EXPECT_TRUE(f.killed());
  EXPECT_EQ(destroyed.load(), 1);
}

TEST_P(KillTest, AFiberKilledBeforeItRanNeverRunsItsBody) {
  // Keep every worker busy (spinning, never suspending) so the target
  // cannot start before it is killed.
  Runtime rt(options());
  std::atomic<bool> release{false};
  std::atomic<int> spinning{0};
  std::vector<Fiber<void>> spinners;
  for (int i = 0; i < workers(); ++i) {
    spinners.push_back(rt.spawn([&] {
      spinning.fetch_add(1);
      while (!release.load()) std::this_thread::yield();
    }));
  }
  while (spinning.load() != workers()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::atomic<bool> ran{false};
  auto capture = std::make_shared<int>(1);
  std::weak_ptr<int> watch = capture;
  auto target = rt.spawn([&ran, c = std::move(capture)] { ran = true; });
  target.kill();
  release = true;
  EXPECT_TRUE(target.join_for(absl::Seconds(30)));
  EXPECT_TRUE(target.killed());
  EXPECT_FALSE(ran.load());
  EXPECT_TRUE(watch.expired()) << "the closure's captures must be destroyed";
  for (auto& s : spinners) s.join();
}

TEST_P(KillTest, KillAndJoinTimesOutOnAFiberThatIgnoresIt) {
  // Driven from a plain thread: the fiber computes without suspending, which
  // would starve a driving fiber on a single worker.
  Runtime rt(options());
  std::atomic<bool> entered{false};
  std::atomic<bool> caught{false};
  std::atomic<bool> stop{false};
  auto f = rt.spawn([&] {
    try {
      entered = true;
      sleep_for(kForever);
    } catch (const FiberExit&) {
      caught = true;
      // Swallows the kill and computes without suspending.
      while (!stop.load()) std::this_thread::yield();
      return 7;
    }
    return 0;
  });
  while (!entered.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_FALSE(f.kill_and_join(absl::Milliseconds(30)));
  stop = true;
  EXPECT_TRUE(f.kill_and_join(absl::Seconds(30)));
  EXPECT_TRUE(caught.load());
  EXPECT_FALSE(f.killed());  // it returned normally
  EXPECT_EQ(f.get(), 7);
}

TEST_P(KillTest, AKillIsStickyAtEverySuspensionPoint) {
  Run([] {
    std::atomic<int> exits{0};
    auto f = spawn([&] {
      try {
        sleep_for(kForever);
      } catch (const FiberExit&) {
        exits.fetch_add(1);
      }
      try {
        yield();
      } catch (const FiberExit&) {
        exits.fetch_add(1);
        throw;
      }
    });
    sleep_for(kSettle);
    f.kill();
    f.join();
    EXPECT_EQ(exits.load(), 2);
    EXPECT_TRUE(f.killed());
  });
}

TEST_P(KillTest, AKilledFibersDestructorMayStillWait) {
  Run([] {
    // A wait in a destructor while FiberExit unwinds does not throw: it
    // stops waiting early, and the fiber still ends killed.
    struct SleepsInDestructor {
      std::atomic<bool>* done;
      ~SleepsInDestructor() {
        sleep_for(absl::Milliseconds(5));
        *done = true;
      }
    };
    std::atomic<bool> done{false};
    auto f = spawn([&] {
      SleepsInDestructor s{&done};
      sleep_for(kForever);
    });
    sleep_for(kSettle);
    f.kill();
    f.join();
    EXPECT_TRUE(done.load());
    EXPECT_TRUE(f.killed());
  });
}

TEST_P(KillTest, ManyKillsRacingWithWakeUps) {
  // Kills land while the targets are being notified, time out or finish:
  // each target ends exactly once, killed or not, and never hangs.
  Run([] {
    const int kFibers = static_cast<int>(test::Scaled(200, 4));
    Semaphore sem(0);
    std::vector<Fiber<int>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(spawn([&sem, i] {
        if (i % 3 == 0) return sem.acquire_for(absl::Milliseconds(1)) ? 1 : 0;
        if (i % 3 == 1) sem.acquire();
        return 1;
      }));
    }
    sem.release(kFibers / 3);
    for (int i = 0; i < kFibers; i += 2) fs[i].kill();
    sem.release(kFibers);  // whatever was not killed can finish
    int killed = 0;
    for (auto& f : fs) {
      ASSERT_TRUE(f.join_for(absl::Seconds(30)));
      killed += f.killed() ? 1 : 0;
    }
    EXPECT_LE(killed, (kFibers + 1) / 2);
  });
}

// The kill/park handshake: a kill that lands while its target is parking
// (after the target checked its flag, before its wait is published) must
// still wake it. Each target waits on an Event nobody sets, so only the kill
// can end its wait; a kill lost in the race leaves it parked for good and
// join_for fails. Killed from a plain thread, at varying delays, so the two
// sides run on different CPUs.
TEST_P(KillTest, AKillRacingWithParkingIsNeverLost) {
  const int kRounds = static_cast<int>(test::Scaled(3000, 10));
  Runtime rt(options());
  Event never;
  int lost = 0;
  for (int round = 0; round < kRounds && lost == 0; ++round) {
    std::atomic<bool> started{false};
    Fiber<void> f = rt.spawn([&] {
      started.store(true);
      never.wait();
    });
    while (!started.load()) {
    }
    for (int spin = 0; spin < round % 64; ++spin) __builtin_ia32_pause();
    f.kill();
    if (!f.join_for(absl::Seconds(10))) ++lost;
  }
  EXPECT_EQ(lost, 0);
}

INSTANTIATE_TEST_SUITE_P(Workers, KillTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
