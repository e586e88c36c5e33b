// A primitive may be destroyed as soon as a fiber has seen the wake-up it
// waited for, even while the waker is still returning from its call:
//
//   {
//     weft::WaitGroup wg;             // on the fiber's stack
//     wg.add(1);
//     spawn([&] { work(); wg.done(); }).detach();
//     wg.wait();                      // returns once the count is zero...
//   }                                 // ...and wg's memory is reused here
//
// done() must not touch `wg` after the point where a waiter can see zero.
// Each round below allocates the primitive on the heap, hands it to a plain
// thread that wakes it (for the Mutex, a fiber that unlocks it), polls on
// the fiber until the wake is visible, and deletes it at once. Four waker threads on two cores get preempted
// anywhere, including between a waker's visible step and its last touch;
// AddressSanitizer then reports the late touch as a heap use after free and
// ThreadSanitizer as a race with the delete. (Found by CI: a detached
// fiber's WaitGroup::done() locked the wait queue after the waiter had
// returned and its stack frame was reused.)
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

class DestroyAfterWaitTest : public test::RuntimeTest {};

constexpr int kPairs = 4;

// Each test stops after its rounds or after this long, whichever comes
// first: oversubscribed cores make a round's cost vary a hundredfold (a
// waker thread may wait a whole time slice for a core). Before the fixes,
// under ASan, each primitive's tests (both worker counts) failed in 4 to 8
// runs of 8.
constexpr absl::Duration kBudget = absl::Milliseconds(400);

// Runs `rounds` rounds on each of kPairs fiber/thread pairs. Per round the
// fiber makes a primitive with `make`, passes it to its thread, which calls
// `wake` on it; the fiber calls `seen` until it returns true, then deletes
// the primitive.
template <typename P, typename Make, typename Wake, typename Seen>
void Race(int64_t rounds, Make make, Wake wake, Seen seen) {
  struct Pair {
    std::atomic<P*> slot{nullptr};
    std::atomic<bool> stop{false};
  };
  std::vector<std::unique_ptr<Pair>> pairs;
  for (int i = 0; i < kPairs; ++i) pairs.push_back(std::make_unique<Pair>());
  std::vector<std::thread> wakers;
  for (auto& pair : pairs) {
    wakers.emplace_back([&wake, p = pair.get()] {
      for (;;) {
        P* prim = p->slot.exchange(nullptr, std::memory_order_acquire);
        if (prim != nullptr) {
          wake(*prim);
        } else if (p->stop.load(std::memory_order_acquire)) {
          return;
        } else {
          __builtin_ia32_pause();
        }
      }
    });
  }
  std::vector<Fiber<void>> fibers;
  const absl::Time stop = absl::Now() + kBudget;
  auto body = [&](Pair* p) {
    for (int64_t r = 0; r < rounds && absl::Now() < stop; ++r) {
      P* prim = make();
      p->slot.store(prim, std::memory_order_release);
      while (!seen(*prim)) __builtin_ia32_pause();
      delete prim;
    }
  };
  for (auto& pair : pairs) fibers.push_back(spawn([&body, p = pair.get()] { body(p); }));
  join_all(fibers);
  for (auto& pair : pairs) pair->stop.store(true, std::memory_order_release);
  for (auto& w : wakers) w.join();
}

TEST_P(DestroyAfterWaitTest, WaitGroupAfterWaitReturns) {
  Run([] {
    Race<WaitGroup>(
        test::Scaled(200000, 20),
        [] {
          auto* wg = new WaitGroup;
          wg->add(1);
          return wg;
        },
        [](WaitGroup& wg) { wg.done(); },
        [](WaitGroup& wg) {
          if (wg.count() != 0) return false;
          wg.wait();  // returns at once: the count is zero
          return true;
        });
  });
}

TEST_P(DestroyAfterWaitTest, LatchAfterTryWait) {
  Run([] {
    Race<Latch>(
        test::Scaled(200000, 20), [] { return new Latch(1); }, [](Latch& l) { l.count_down(); },
        [](Latch& l) { return l.try_wait(); });
  });
}

TEST_P(DestroyAfterWaitTest, EventAfterWaitReturns) {
  Run([] {
    Race<Event>(
        test::Scaled(200000, 20), [] { return new Event; }, [](Event& e) { e.set(); },
        [](Event& e) {
          if (!e.is_set()) return false;
          e.wait();  // returns at once: the flag is set
          return true;
        });
  });
}

TEST_P(DestroyAfterWaitTest, SemaphoreAfterAcquire) {
  Run([] {
    Race<Semaphore>(
        test::Scaled(200000, 20), [] { return new Semaphore(0); },
        [](Semaphore& s) { s.release(); }, [](Semaphore& s) { return s.try_acquire(); });
  });
}

// The fiber that unlocks finds the mutex marked contended by a waiter that
// has since given up (try_lock_for timed out): its unlock() frees the mutex,
// then looks for a waiter to wake. Meanwhile the other fiber takes the
// mutex, unlocks it and destroys it, as code does when the last holder
// of a reference count guarded by the mutex frees the object.
TEST_P(DestroyAfterWaitTest, MutexAfterUnlock) {
  Run([] {
    struct Held {
      Mutex mu;
      std::atomic<int> step{0};  // 1: mu is locked by the unlocker; 2: unlock it
    };
    constexpr int64_t kRounds = test::Scaled(20000, 10);
    static Held done_marker;
    Held* const kDone = &done_marker;
    std::vector<Fiber<void>> fibers;
    const absl::Time stop = absl::Now() + kBudget;
    for (int pair = 0; pair < 2; ++pair) {
      auto slot = std::make_shared<std::atomic<Held*>>(nullptr);
      fibers.push_back(spawn([slot, kDone] {  // the unlocker, until kDone
        for (;;) {
          Held* h;
          while ((h = slot->exchange(nullptr, std::memory_order_acquire)) == nullptr) {
            yield();
          }
          if (h == kDone) return;
          h->mu.lock();
          h->step.store(1, std::memory_order_release);
          while (h->step.load(std::memory_order_acquire) != 2) yield();
          h->mu.unlock();
        }
      }));
      fibers.push_back(spawn([slot, stop, kDone] {  // the destroyer
        for (int64_t r = 0; r < kRounds && absl::Now() < stop; ++r) {
          auto* h = new Held;
          slot->store(h, std::memory_order_release);
          while (h->step.load(std::memory_order_acquire) != 1) yield();
          EXPECT_FALSE(h->mu.try_lock_for(absl::Microseconds(20)));  // marks it contended
          h->step.store(2, std::memory_order_release);
          while (!h->mu.try_lock()) yield();
          h->mu.unlock();
          delete h;
        }
        slot->store(kDone, std::memory_order_release);
      }));
    }
    join_all(fibers);
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, DestroyAfterWaitTest, ::testing::Values(2, 4),
                         test::WorkerCountName);

}  // namespace
}  // namespace weft
