// IdleWorkers on its own, no runtime: plain threads play the workers and
// follow the sleeping protocol of Worker::sleep (announce, re-check, sleep),
// while a notifier publishes work the way a push to the Injector does (a
// relaxed store, then notify_global). A lost wake-up shows as work that
// stays pending while every sleeper sleeps: each round waits for its work to
// be taken with a deadline, and reports the round instead of hanging.
#include "weft/core/private/idle_workers.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/core/private/poller.h"
#include "weft/tests/testing/runtime_fixture.h"

namespace weft::internal {
namespace {

// How long a round may take before its work counts as lost: generous, since
// on these 2 shared cores a woken thread may wait for the CPU a while.
constexpr auto kRoundDeadline = std::chrono::seconds(10);

class Sleepers {
 public:
  // `n` threads, each a worker of `idle`, taking work from `work_`.
  Sleepers(IdleWorkers& idle, int n) : idle_(idle) {
    for (int w = 0; w < n; ++w) threads_.emplace_back([this, w] { Loop(w); });
  }
  ~Sleepers() { Stop(); }

  // Publishes one unit of work, as a push to the Injector does: the push
  // itself is a plain (relaxed) store, ordered before the read of the
  // sleepers only by notify_global's fence.
  void Publish() {
    work_.store(1, std::memory_order_relaxed);
    idle_.notify_global();
  }
  // True once a sleeper took the work (false: lost, or too slow).
  bool WaitTaken() {
    auto deadline = std::chrono::steady_clock::now() + kRoundDeadline;
    while (work_.load(std::memory_order_acquire) != 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }
  int64_t taken() const { return taken_.load(); }

  void Stop() {
    if (stop_.exchange(true)) return;
    // wake_all after the flag: a sleeper either sees the flag in its
    // re-check or is registered and woken here (the same Dekker pair).
    idle_.wake_all();
    // After a lost wake-up a sleeper may never wake: say so and abort rather
    // than hang until ctest's timeout.
    auto deadline = std::chrono::steady_clock::now() + kRoundDeadline;
    while (exited_.load() != static_cast<int>(threads_.size())) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "IdleWorkersTest: %d of %zu sleepers never woke up; aborting\n",
                     static_cast<int>(threads_.size()) - exited_.load(), threads_.size());
        std::abort();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (auto& t : threads_) t.join();
  }

 private:
  bool TryTake() {
    int one = 1;
    if (work_.load(std::memory_order_relaxed) == 1 &&
        work_.compare_exchange_strong(one, 0, std::memory_order_acq_rel)) {
      taken_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    return false;
  }

  void Loop(int w) {
    uint32_t pauses = static_cast<uint32_t>(w);
    while (!stop_.load()) {
      if (TryTake()) continue;
      idle_.prepare_sleep(w);
      // The re-check, after prepare_sleep's fence: relaxed, as
      // Worker::any_work_visible reads the Injector's length.
      if (stop_.load(std::memory_order_relaxed) || work_.load(std::memory_order_relaxed) != 0) {
        idle_.cancel_sleep(w);
        continue;
      }
      // A real worker does a little more between its re-check and its sleep
      // (counters, its next timer) and may be descheduled there: a pause of
      // varying length widens that window, where only the futex word (or the
      // poller's doorbell) keeps a wake-up from being lost.
      for (uint32_t i = 0, n = (pauses++ * 2654435761u) >> 22; i < n; ++i) {
        __builtin_ia32_pause();
      }
      idle_.sleep(w, -1);
    }
    exited_.fetch_add(1);
  }

  IdleWorkers& idle_;
  std::atomic<int> work_{0};
  std::atomic<int64_t> taken_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> exited_{0};
  std::vector<std::thread> threads_;
};

void NoLostWakeUp(int sleepers, Poller* poller) {
  IdleWorkers idle(sleepers, poller);
  Sleepers s(idle, sleepers);
  const int rounds = static_cast<int>(weft::test::Scaled(5000, 5));
  for (int r = 0; r < rounds; ++r) {
    // Three timings, so every order of the race gets exercised: at once
    // (the sleepers are still taking or re-checking), the moment a sleeper
    // has announced itself (it is between prepare_sleep and the futex: the
    // narrow window the futex word must cover), and after they all settled.
    switch (r % 3) {
      case 0:
        break;
      case 1:
        while (idle.sleeping() == 0) {
        }
        break;
      case 2:
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        break;
    }
    s.Publish();
    if (!s.WaitTaken()) {
      ADD_FAILURE() << "lost wake-up: the work published in round " << r << " of " << rounds
                    << " was never taken (" << sleepers << " sleepers, "
                    << (poller != nullptr ? "one polling" : "none polling") << ")";
      break;
    }
  }
  s.Stop();
  EXPECT_EQ(idle.sleeping(), 0u);
}

TEST(IdleWorkersTest, NoLostWakeUpOneSleeper) { NoLostWakeUp(1, nullptr); }

TEST(IdleWorkersTest, NoLostWakeUpSeveralSleepers) { NoLostWakeUp(3, nullptr); }

// One sleeper at a time blocks in epoll_wait instead of its futex: a wake-up
// aimed at it must ring the doorbell, never a futex it is not waiting on.
TEST(IdleWorkersTest, NoLostWakeUpWithAPollingSleeper) {
  Poller poller;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  ASSERT_TRUE(poller.watch(fds[0]).ok());  // in_use(): sleepers now poll
  NoLostWakeUp(1, &poller);
  NoLostWakeUp(3, &poller);
  Poller::forget(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

// Two threads publish at the same time: they may publish the same unit
// twice before it is taken (then it is taken once), but neither may see its
// unit stay pending while every worker sleeps.
TEST(IdleWorkersTest, ConcurrentNotifiersLoseNothing) {
  constexpr int kSleepers = 3;
  const int rounds = static_cast<int>(weft::test::Scaled(2000, 5));
  IdleWorkers idle(kSleepers, nullptr);
  Sleepers s(idle, kSleepers);
  std::atomic<int> failures{0};
  std::vector<std::thread> notifiers;
  for (int n = 0; n < 2; ++n) {
    notifiers.emplace_back([&] {
      for (int r = 0; r < rounds && failures.load() == 0; ++r) {
        s.Publish();
        if (!s.WaitTaken()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : notifiers) t.join();
  EXPECT_EQ(failures.load(), 0) << "published work stayed pending with every worker asleep";
  s.Stop();
  EXPECT_GE(s.taken(), rounds);
}

// wake_all ends every sleep, including one blocked in the poller.
TEST(IdleWorkersTest, WakeAllWakesEverySleeper) {
  Poller poller;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  ASSERT_TRUE(poller.watch(fds[0]).ok());
  constexpr int kSleepers = 3;
  IdleWorkers idle(kSleepers, &poller);
  std::atomic<int> woke{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kSleepers; ++w) {
    threads.emplace_back([&, w] {
      idle.prepare_sleep(w);
      idle.sleep(w, -1);
      woke.fetch_add(1);
    });
  }
  while (idle.sleeping() != kSleepers) std::this_thread::yield();
  idle.wake_all();
  for (auto& t : threads) t.join();
  EXPECT_EQ(woke.load(), kSleepers);
  EXPECT_EQ(idle.sleeping(), 0u);
  Poller::forget(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

// A sleep with a deadline ends by itself (the timer path of a worker).
TEST(IdleWorkersTest, SleepEndsAtItsDeadline) {
  IdleWorkers idle(1, nullptr);
  idle.prepare_sleep(0);
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t deadline = int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec + 20 * 1000000;
  idle.sleep(0, deadline);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  EXPECT_GE(int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec, deadline);
  EXPECT_EQ(idle.sleeping(), 0u);
}

}  // namespace
}  // namespace weft::internal
