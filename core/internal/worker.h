// Worker: one OS thread running fibers, with its own run queue, "next" slot,
// timers and stack cache. See worker.cc for the scheduling loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "weft/core/internal/context.h"
#include "weft/core/internal/fiber_control.h"
#include "weft/core/internal/run_queue.h"
#include "weft/core/internal/stack_pool.h"
#include "weft/core/internal/timer_heap.h"

namespace weft::internal {

class RuntimeCore;

// Per-worker counters. Each is written only by its worker (a load and a
// store, no locked instruction) and read by anyone with acquire; release on
// the store so that `finished` can be read after `spawned` consistently by
// the shutdown scan (see RuntimeCore::live_fibers).
struct WorkerCounters {
  std::atomic<uint64_t> spawned{0};     // fibers created on this worker
  std::atomic<uint64_t> finished{0};    // fibers that ended on this worker
  std::atomic<uint64_t> switches{0};    // context switches into a fiber
  std::atomic<uint64_t> steals{0};      // fibers taken from other workers
  std::atomic<uint64_t> parks{0};       // times the thread went to sleep
  std::atomic<uint64_t> timers_fired{0};
  std::atomic<uint64_t> injector_pops{0};
  std::atomic<uint64_t> io_wakeups{0};  // fibers woken by the poller here

  static void bump(std::atomic<uint64_t>& c, uint64_t by = 1) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_release);
  }
};

class Worker {
 public:
  Worker(RuntimeCore* rt, int index, std::size_t run_queue_capacity);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void join_thread();

  // The worker of the calling thread, or null. Never inlined, and behind a
  // compiler barrier: a fiber can resume on another thread, and a cached
  // thread_local address would then name the old worker.
  __attribute__((noinline)) static Worker* current();

  int index() const { return index_; }
  RuntimeCore* runtime() const { return rt_; }
  FiberControl* current_fiber() const { return current_; }
  StackCache& stacks() { return stacks_; }
  const WorkerCounters& counters() const { return counters_; }
  WorkerCounters& counters() { return counters_; }
  RunQueue<FiberControl>& run_queue() { return runq_; }

  // --- Called on this worker's thread only. ---

  // A freshly spawned fiber: to the RunQueue, where thieves can take it.
  void schedule_spawned(FiberControl* f);
  // A woken fiber: to the next slot, so it runs as soon as the current fiber
  // stops (ping-pong stays on one core); the slot's old occupant moves to the
  // RunQueue.
  void schedule_woken(FiberControl* f);

  // Suspends the current fiber: switches to the next runnable fiber, or to
  // this worker's scheduler loop if there is none; `h->action` runs on the
  // other side. Returns when someone resumes the fiber, perhaps on another
  // worker: re-read Worker::current() afterwards.
  void suspend(Handover* h);
  // Like suspend, for a finished fiber that will never resume.
  [[noreturn]] void exit_current(Handover* h);
  // Switches to another runnable fiber if there is one (FIFO among them) and
  // requeues the current one; returns at once if there is none.
  void yield_current();

  void add_timer(int64_t deadline_ns, FiberControl* f, uint64_t token) {
    timers_.add(deadline_ns, f, token);
  }
  // Fiber ids come in blocks per worker (no shared counter line per spawn).
  uint64_t next_fiber_id();

  // Puts f at the bottom of the RunQueue (spilling half to the Injector when
  // full) and lets a sleeping worker know there is work to steal.
  void requeue(FiberControl* f);

 private:
  void thread_main();
  void loop();
  FiberControl* find_work();
  FiberControl* pick_local();
  FiberControl* pick_for_yield();
  FiberControl* pick_fair();
  FiberControl* steal();
  void park();
  int poll_io();
  void spread_io_batch();
  bool any_work_visible();
  void fire_timers();
  void push_run_queue(FiberControl* f);
  FiberControl* pop_yielded();
  void append_yielded(FiberControl* f);
  static void on_yielded(Handover* h);
  void switch_to(FiberControl* next, Handover* h, bool dies, bool balanced = false);
  uint32_t next_random();

  RuntimeCore* const rt_;
  const int index_;
  std::thread thread_;
  Context sched_ctx_;                  // the thread's own stack: the loop runs here
  FiberControl* current_ = nullptr;    // the running fiber; null in the loop
  FiberControl* next_ = nullptr;       // the "next" slot (owner only, not stealable)
  // Fibers that yielded while every other worker was busy: a private FIFO
  // (linked through next_ready), so yielding takes no atomic RMW. When a
  // worker sleeps, yielders go to the RunQueue instead, where it can steal.
  FiberControl* yielded_head_ = nullptr;
  FiberControl* yielded_tail_ = nullptr;
  uint32_t next_streak_ = 0;           // consecutive runs from the next slot
  // Set while this worker polls: fibers the poller wakes are collected here
  // in readiness order (linked through next_ready) and placed once the batch
  // is complete (spread_io_batch).
  bool collecting_io_ = false;
  FiberControl* io_head_ = nullptr;
  FiberControl* io_tail_ = nullptr;
  std::size_t io_count_ = 0;
  uint64_t tick_ = 0;                  // scheduling decisions made
  uint32_t rng_;
  uint64_t id_next_ = 0;
  uint64_t id_end_ = 0;
  RunQueue<FiberControl> runq_;
  TimerHeap timers_;
  StackCache stacks_;
  WorkerCounters counters_;
  void* alt_stack_ = nullptr;          // sigaltstack for the overflow reporter
};

}  // namespace weft::internal
