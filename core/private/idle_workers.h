// IdleWorkers: which workers are searching for work or asleep, and how to wake one.
//
// See idle_workers.cc for the protocol and why it never loses a wake-up.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "weft/core/internal/lock.h"

namespace weft::internal {

class Poller;

class IdleWorkers {
 public:
  // `poller` (may be null) is where one sleeping worker at a time blocks
  // instead of its futex, so I/O readiness also ends its sleep.
  IdleWorkers(int workers, Poller* poller);
  ~IdleWorkers();
  IdleWorkers(const IdleWorkers&) = delete;
  IdleWorkers& operator=(const IdleWorkers&) = delete;

  // A worker wants to steal. False if enough workers already search (at most
  // half of the awake ones, as in Go), in which case it should go to sleep.
  bool begin_search();
  // The worker stopped searching; `found` if it got work. The last searcher
  // to find work wakes a sleeper, so parallelism ramps up one worker at a time.
  void end_search(bool found);

  // After pushing to the pushing worker's own queues. Two relaxed loads on the
  // fast path; a missed wake-up here costs parallelism, never progress, since
  // the pushing worker runs its own queue before it sleeps.
  void notify_local() {
    // Relaxed: a hint; see idle_workers.cc ("Why local pushes skip the fence").
    if (sleeping_.load(std::memory_order_relaxed) != 0 &&
        searching_.load(std::memory_order_relaxed) == 0) {
      wake_one();
    }
  }
  // After pushing to the Injector (from any thread). Never misses a sleeper.
  void notify_global();
  void wake_all();
  void wake_one();
  // wake_all() on every IdleWorkers of the process: the manual clock
  // (clock.h) moved, and sleeping workers must re-check their timers.
  static void wake_all_everywhere();

  // Sleeping, in three steps: announce, re-check every queue, then sleep.
  void prepare_sleep(int w);
  void cancel_sleep(int w);
  // Blocks until woken, until deadline_ns (CLOCK_MONOTONIC; < 0: none), or
  // spuriously; if the poller is free, blocks in it (readiness ends the
  // sleep too, and wakes the fibers it concerns onto this worker). Always
  // leaves `w` unregistered.
  void sleep(int w, int64_t deadline_ns);

  uint32_t sleeping() const { return sleeping_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) Slot {
    // 1 while the worker is registered asleep, 0 once woken. The futex word.
    std::atomic<uint32_t> word{0};
    // The worker sleeps in the poller, not on `word`: wake it with a ring.
    bool polling = false;  // guarded by mu_ (a plain bool in a lock-free Slot)
  };
  void wake_slot(int w, bool polling);

  const int workers_;
  Poller* const poller_;
  // Counters read on every local push: keep them on their own line.
  alignas(64) std::atomic<uint32_t> searching_{0};
  std::atomic<uint32_t> sleeping_{0};
  alignas(64) Lock mu_;
  std::vector<int> sleepers_ ABSL_GUARDED_BY(mu_);  // LIFO: the warmest first
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace weft::internal
