// Worker: one OS thread running fibers, with its own run queue, "next" slot,
// timers and stack cache. See worker.cc for the scheduling loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "weft/core/internal/context.h"
#include "weft/core/internal/fiber_control.h"
#include "weft/core/internal/probes.h"
#include "weft/core/internal/stack_pool.h"
#include "weft/core/private/asymmetric_fence.h"
#include "weft/core/private/run_queue.h"
#include "weft/core/private/stack_sample.h"
#include "weft/core/private/timer_heap.h"

namespace weft::internal {

class RuntimeCore;

// Per-worker counters. Each is written only by its worker (a load and a
// store, no locked instruction) and read by anyone with acquire; release on
// the store so that `finished` can be read after `spawned` consistently by
// the shutdown scan (see RuntimeCore::live_fibers).
struct WorkerCounters {
  std::atomic<uint64_t> spawned{0};   // fibers created on this worker
  std::atomic<uint64_t> finished{0};  // fibers that ended on this worker
  std::atomic<uint64_t> switches{0};  // context switches into a fiber
  std::atomic<uint64_t> steals{0};    // fibers taken from other workers
  std::atomic<uint64_t> parks{0};     // times the thread went to sleep
  std::atomic<uint64_t> timers_fired{0};
  std::atomic<uint64_t> injector_pops{0};
  std::atomic<uint64_t> io_wakeups{0};     // fibers woken by the poller here
  std::atomic<uint64_t> timer_wakeups{0};  // fibers woken by a timer firing here
  // Fibers made runnable here: every wake (the poller's, a timer's, a
  // fiber's) and every spawn. One counter for all, bumped once per event,
  // which also picks the scheduling-delay samples (kDelaySampleEvery): the
  // wakes by fibers are what remains after spawns, I/O and timers
  // (Runtime::stats), so they cost no counter of their own.
  std::atomic<uint64_t> runnable_events{0};
  std::atomic<uint64_t> poller_wakeups{0};  // polls here that woke fibers
  // Idle time (ns of real monotonic time spent asleep in IdleWorkers::sleep),
  // one word so a reader needs no second load: >= 0 while awake (the total),
  // total minus the sleep's start time (< 0: a start is larger than any
  // total) while asleep. Reader: idle = w >= 0 ? w : w + now.
  std::atomic<int64_t> idle_word{0};
  // Scheduling delay (runnable -> running), sampled: one wake or spawn in
  // Worker::kDelaySampleEvery is time-stamped (two clock reads, on the
  // waking and the running worker). Bucket b counts delays in [2^b, 2^(b+1))
  // ns (bucket 0: [0, 2)). Counted by the worker that runs the fiber.
  static constexpr int kDelayBuckets = 40;
  std::atomic<uint64_t> delay_buckets[kDelayBuckets] = {};
  std::atomic<uint64_t> delay_max_ns{0};
  // Timer entries this worker's heap holds now (a gauge, not a count of
  // events): its waiting fibers' deadlines plus stale entries not yet swept
  // (see TimerHeap). Stored by the worker after each change.
  std::atomic<uint64_t> timers{0};
  // Times the monitor handed this worker's queued fibers to the others
  // while it was blocked (monitor.cc). Written by the monitor thread only,
  // with the same bump (it is that counter's only writer).
  std::atomic<uint64_t> handoffs{0};

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
  pthread_t native_thread() { return thread_.native_handle(); }

  // The worker of the calling thread, or null. Never inlined, and behind a
  // compiler barrier: a fiber can resume on another thread, and a cached
  // thread_local address would then name the old worker.
  __attribute__((noinline)) static Worker* current();

  int index() const { return index_; }
  RuntimeCore* runtime() const { return rt_; }
  FiberControl* current_fiber() const { return current_; }
  // current_'s address, for the dump's racy read from another thread
  // (dump.cc): the read happens in its uninstrumented code.
  FiberControl* const* current_fiber_slot() const { return &current_; }
  // True if another fiber is runnable here (next slot, RunQueue, yield
  // FIFO). On this worker's thread only. A fiber about to spin-wait should
  // rather park, and let that work run, when this is true.
  bool has_local_work() {
    const bool entered = enter_sched();
    bool any = next_ != nullptr || yielded_head_ != nullptr || runq_.size_hint() != 0 ||
               waiting_spawners_ != 0;
    if (entered) leave_sched();
    return any;
  }
  StackCache& stacks() { return stacks_; }
  const WorkerCounters& counters() const { return counters_; }
  // The worker's coarse clock: monotonic ns as of its last clock read
  // (waking from sleep, firing timers, every kCoarseTickEvery-th fair turn,
  // the steal loop's backoff). Stale by at most the running fiber's turn
  // plus a few hundred scheduling decisions; read by park_current to stamp
  // a wait for the dump, where a clock read would cost more than the park.
  // This worker's thread only.
  int64_t coarse_now_ns() const { return coarse_now_ns_; }
  // When the worker thread started (real monotonic ns): busy = wall - idle.
  int64_t started_ns() const { return started_ns_; }
  WorkerCounters& counters() { return counters_; }
  RunQueue<FiberControl>& run_queue() { return runq_; }

  // --- Called on this worker's thread only. ---

  // A freshly spawned fiber: to the RunQueue, where thieves can take it at
  // once. The spawns of one turn of the running fiber form a batch that
  // starts in spawn order (see "Start order" in worker.cc).
  void schedule_spawned(FiberControl* f) {
    if (count_runnable()) [[unlikely]]
      sample_runnable(f);
    if (spawn_batch_ == 0) spawn_batch_base_ = runq_.bottom_index();
    ++spawn_batch_;
    requeue_spawned(f);
  }
  // A woken fiber: to the next slot, so it runs as soon as the current fiber
  // stops (ping-pong stays on one core); the slot's old occupant moves to the
  // RunQueue. Inline for the common case (an empty slot, no poll running).
  // A spawner woken while the batch it spawned has not all started waits
  // until it has (see "Start order" in worker.cc).
  void schedule_woken(FiberControl* f) {
    const bool sample = count_runnable();
    const bool entered = enter_sched();
    if (!collecting_woken_ && next_ == nullptr && f != marked_spawner_) [[likely]] {
      // Stamped before f is visible in next_, which a hand-off may give to
      // another worker once this scheduler section ends.
      if (sample) [[unlikely]]
        sample_runnable(f);
      next_ = f;
    } else {
      schedule_woken_slow(f, sample);
    }
    if (entered) leave_sched();
  }

  // Suspends the current fiber: switches to the next runnable fiber, or to
  // this worker's scheduler loop if there is none; `h->action` runs on the
  // other side. Returns when someone resumes the fiber, perhaps on another
  // worker: re-read Worker::current() afterwards. Inline: the switch is
  // compiled into the caller (see switch_to).
  [[gnu::always_inline]] void suspend(Handover* h) {
    enter_sched_outer();  // left by switch_to
    switch_to(pick_local(), h, false);
  }
  // Like suspend, for a finished fiber that will never resume.
  [[noreturn]] void exit_current(Handover* h);
  // Switches to another runnable fiber if there is one (FIFO among them) and
  // requeues the current one; returns at once if there is none.
  void yield_current();

  // Adds the timer of f's wait `token` and records it in f (timer_worker,
  // timer_id). Sweeps the heap first when stale entries (waits that ended
  // on other workers) outnumber the live ones.
  void add_timer(int64_t deadline_ns, FiberControl* f, uint64_t token) {
    if (timers_.wants_sweep()) [[unlikely]]
      sweep_timers();
    f->timer_worker = this;
    f->timer_id = timers_.add(deadline_ns, f, token);
    publish_timer_count();
  }
  // Removes the timer of f's wait `token`, which ended early, if it is
  // still pending here. f is the running fiber, on this worker.
  void remove_timer(FiberControl* f, uint64_t token) {
    if (timers_.remove(f->timer_id, f, token)) publish_timer_count();
  }
  // The timer of a wait that ended while its fiber resumed elsewhere: count
  // it stale, for the next sweep. Any thread.
  void note_stale_timer() { timers_.note_stale(); }
  // Fiber ids come in blocks per worker (no shared counter line per spawn).
  uint64_t next_fiber_id() {
    if (id_next_ == id_end_) [[unlikely]]
      reserve_id_block();
    return id_next_++;
  }

  // Puts f at the bottom of the RunQueue (spilling half to the Injector when
  // full) and lets a sleeping worker know there is work to steal.
  void requeue(FiberControl* f);
  // requeue for a spawn: wakes a sleeper less often (see worker.cc).
  void requeue_spawned(FiberControl* f);

  // --- The monitor's side (monitor.cc); called on the monitor thread. ---

  // Changes whenever a fiber is switched in here, or yields with nothing
  // else to run (a suspension point that does not switch). Acquire: pairs
  // with the worker's release bumps; the monitor reads nothing through it,
  // but the acquire costs nothing on x86 and keeps the pair obvious.
  uint64_t progress_stamp() const {
    return counters_.switches.load(std::memory_order_acquire) +
           yields_in_place_.load(std::memory_order_acquire);
  }
  // True while the thread runs fiber code, outside every scheduler section
  // (a hint: it may change at once).
  bool in_fiber_code() const { return in_sched_.load(std::memory_order_relaxed) == 0; }
  // What one hand-off attempt found.
  enum class HandOff {
    kRefused,  // in a scheduler section, or moved on: nothing done
    kEmpty,    // nothing queued behind the fiber
    kMoved,    // work handed over (counted in `handoffs`)
  };
  // The worker has run one fiber since `stamp` without a switch: moves the
  // fibers only it could run (next slot, yield FIFO, spawners waiting for
  // their batch) to the Injector and wakes the sleeping workers, who also
  // steal its RunQueue. The monitor may call it again in the same episode:
  // the blocked fiber may have woken more since.
  HandOff hand_off(uint64_t stamp);
  // The stack sample slot the monitor's signal fills (stack_sample.h).
  StackSample& sample() { return sample_; }
  // For the signal handler, on this worker's thread: the running fiber if
  // it is still inside the episode `stamp` (no scheduler section, no
  // switch since), else null.
  FiberControl* fiber_still_running(uint64_t stamp) const {
    if (in_sched_.load(std::memory_order_relaxed) != 0) return nullptr;
    if (progress_stamp() != stamp) return nullptr;
    return current_;
  }

 private:
  // Scheduler sections (see "Hand-off" in monitor.cc). enter_sched marks
  // the thread as touching what the monitor may take (next_, the yield
  // FIFO, the batch marks' waiting spawners) and waits while the monitor
  // holds them; nested entries do nothing and return false. switch_to
  // leaves before every jump, so fiber code always runs outside one.
  [[gnu::always_inline]] bool enter_sched() {
    // Relaxed: only this thread writes in_sched_.
    if (in_sched_.load(std::memory_order_relaxed) != 0) return false;
    enter_sched_outer();
    return true;
  }
  // enter_sched where no section can be open: from fiber code (suspend,
  // yield_current, exit_current) and in the loop after a switch back.
  [[gnu::always_inline]] void enter_sched_outer() {
    // The light half of the Dekker pair with hand_off (asymmetric_fence.h):
    // either the monitor sees in_sched_ set and backs off, or we see
    // monitor_holds_ set and wait.
    store_then_fence(in_sched_, 1);
    // Acquire: pairs with hand_off's release store of 0 (its writes to our
    // queues are then ours).
    if (monitor_holds_.load(std::memory_order_acquire) != 0) [[unlikely]]
      wait_for_monitor();
  }
  // Release: pairs with hand_off's acquire load; our writes to the queues
  // happen-before whatever the monitor then reads of them.
  void leave_sched() { in_sched_.store(0, std::memory_order_release); }
  __attribute__((noinline, cold)) void wait_for_monitor();

  void thread_main();
  void loop();
  FiberControl* find_work();
  // Every kFairInterval-th scheduling decision is a fair one (pick_fair);
  // the next slot runs at most kMaxNextStreak times in a row (worker.cc).
  static constexpr uint32_t kFairInterval = 61;
  static constexpr uint32_t kMaxNextStreak = 3;

  // The common case (the next slot, within its streak) is compiled into the
  // caller; the rest is pick_local_slow.
  [[gnu::always_inline]] FiberControl* pick_local() {
    if (spawn_batch_ != 0) [[unlikely]]
      seal_spawn_batch();
    bool fair_turn = --fair_countdown_ == 0;
    if (!fair_turn && next_ != nullptr && next_streak_ < kMaxNextStreak) [[likely]] {
      FiberControl* f = next_;
      next_ = nullptr;
      ++next_streak_;
      return f;
    }
    return pick_local_slow(fair_turn);
  }
  FiberControl* pick_local_slow(bool fair_turn);
  // Ends the running fiber's spawn batch: its fibers, still in the RunQueue,
  // are put in spawn order, and the batch is marked (worker.cc). Before
  // every pick.
  void seal_spawn_batch() {
    if (spawn_batch_ > 1) seal_spawn_batch_slow();
    spawn_batch_ = 0;
  }
  void seal_spawn_batch_slow();
  // The spawner of the newest batch that has all started, if it was woken
  // meanwhile (it waited for that); pops the marks of started batches.
  FiberControl* take_released_spawner();
  // Pops the top mark; returns its waiting spawner, if any.
  FiberControl* pop_batch_mark();
  FiberControl* release_waiting_spawner();
  void refresh_marks();
  void schedule_woken_slow(FiberControl* f, bool sample);
  // Scheduling-delay sampling (WorkerCounters::delay_buckets): stamps f
  // runnable now; record_delay, at its switch-in, counts the delay.
  static constexpr uint32_t kDelaySampleEvery = 256;  // a power of two
  // Counts one runnable event; true if its fiber is to be sampled.
  bool count_runnable() {
    const uint64_t n = counters_.runnable_events.load(std::memory_order_relaxed) + 1;
    counters_.runnable_events.store(n, std::memory_order_release);
    return (n & (kDelaySampleEvery - 1)) == 0;
  }
  __attribute__((noinline, cold)) void sample_runnable(FiberControl* f);
  __attribute__((noinline, cold)) void record_delay(FiberControl* f);
  FiberControl* pick_for_yield();
  FiberControl* pick_queued();
  FiberControl* pick_fair();
  // The Injector's oldest fiber, or null; hands the wake-up on if it leaves
  // more behind (see worker.cc). `batch`: the RunQueue is empty, take a
  // share of the Injector into it too.
  FiberControl* pop_injector(bool batch);
  FiberControl* take_from_injector(bool batch);
  FiberControl* steal();
  void sleep();
  int poll_io();
  void place_woken_batch();
  bool any_work_visible();
  void fire_timers();
  void sweep_timers();
  void publish_timer_count() {
    // Release, like the counters: read with acquire by Runtime::stats().
    counters_.timers.store(timers_.size(), std::memory_order_release);
  }
  // The RunQueue's push inline; a full queue (rare) spills out of line, so
  // the common path saves no registers for it.
  void push_run_queue(FiberControl* f) {
    if (!runq_.push(f)) [[unlikely]]
      spill_run_queue(f);
  }
  __attribute__((noinline)) void spill_run_queue(FiberControl* f);
  FiberControl* pop_yielded();
  void append_yielded(FiberControl* f);
  static void on_yielded(Handover* h);

  // Every worker switch is compiled into its caller (suspend, and through it
  // park_current; exit_current, yield_current, loop): without sanitizers
  // through Context::jump_inline, so no call and no return disturb the CPU's
  // return-stack buffer. Context::jump's two out-of-line forms each leave it
  // out of step (see the essay in context.cc): Boost's jmp-ended switch
  // leaves the call's return address on it, so every return after a switch
  // is predicted against the wrong entry; the ret-ended one is right only
  // when both sides suspended through the same call. The inline switch
  // pushes nothing: the resumed fiber's returns are predicted from the
  // entries the suspended fiber's own calls pushed, which match whenever
  // both parked through the same functions (a ping-pong), and a fresh fiber
  // (entered by jmp at its trampoline) runs on top of them without consuming
  // any. With a sanitizer, Context::jump carries the annotations (and, for
  // ASan, `dies`; `balanced` picks its ret-ended form).
  //
  // Nothing after the switch may use `this`: the fiber that suspended may
  // resume on another worker (the scheduler loop, which never migrates, is
  // the exception). The hand-over that runs after the switch names no Worker.
  [[gnu::always_inline]] void switch_to(FiberControl* next, Handover* h, bool dies,
                                        bool balanced = false, bool keep_section = false) {
    Context* from = current_ != nullptr ? &current_->ctx : &sched_ctx_;
    Context* to = &sched_ctx_;
    if (next != nullptr) {
      next->last_worker = this;
      WorkerCounters::bump(counters_.switches);
      WEFT_PROBE_SWITCH_IN(next->id, index_);
      if (next->runnable_ns != 0) [[unlikely]]
        record_delay(next);
      to = &next->ctx;
    }
    current_ = next;
    // The other side runs fiber code (the loop re-enters its section);
    // with keep_section, the handover closes the section instead (yield).
    if (!keep_section) leave_sched();
#if defined(WEFT_INLINE_SWITCH)
    (void)dies;
    (void)balanced;
    Context::jump_inline(from, to, h);
#else
    Context::jump(from, to, h, dies, balanced);
#endif
  }
  uint32_t next_random();
  __attribute__((noinline)) void reserve_id_block();

  RuntimeCore* const rt_;
  const int index_;
  std::thread thread_;
  Context sched_ctx_;                // the thread's own stack: the loop runs here
  FiberControl* current_ = nullptr;  // the running fiber; null in the loop
  FiberControl* next_ = nullptr;     // the "next" slot (owner only, not stealable)
  // Fibers that yielded while every other worker was busy: a private FIFO
  // (linked through next_ready), so yielding takes no atomic RMW. When a
  // worker sleeps, yielders go to the RunQueue instead, where it can steal.
  FiberControl* yielded_head_ = nullptr;
  FiberControl* yielded_tail_ = nullptr;
  uint32_t next_streak_ = 0;  // consecutive runs from the next slot
  // The running fiber's spawn batch: how many fibers it spawned since it was
  // switched in, and the RunQueue index of the first (see schedule_spawned).
  uint32_t spawn_batch_ = 0;
  int64_t spawn_batch_base_ = 0;
  // Sealed batches that may not have all started, newest on top: the
  // RunQueue index of each one's first fiber, its spawner, and the spawner
  // if it was woken meanwhile and waits for the batch to start. At most one
  // mark per level of a fork-join tree; past kMaxBatchMarks a batch goes
  // unmarked (its spawner is woken at once, as any fiber). marked_spawner_
  // is the top mark's spawner while it has not been woken, else null (one
  // compare on the wake path); waiting_spawners_ counts the marks whose
  // spawner waits, and release_floor_ is the top mark's base while it is
  // not zero, else INT64_MIN (one compare with the RunQueue's bottom on the
  // pick path; refresh_marks keeps the three in step).
  struct BatchMark {
    int64_t base;
    FiberControl* spawner;
    FiberControl* waiting;
  };
  static constexpr uint32_t kMaxBatchMarks = 32;
  BatchMark batch_marks_[kMaxBatchMarks];
  uint32_t batch_mark_count_ = 0;
  // The RunQueue indices of the last batch taken from the Injector
  // (pop_injector); INT64_MIN both when there is none.
  int64_t pulled_lo_ = INT64_MIN;
  int64_t pulled_hi_ = INT64_MIN;
  FiberControl* marked_spawner_ = nullptr;
  uint32_t waiting_spawners_ = 0;
  int64_t release_floor_ = INT64_MIN;
  // Set while this worker polls or fires timers: fibers woken meanwhile are
  // collected here in readiness (or deadline) order, linked through
  // next_ready, and placed once the batch is complete (place_woken_batch).
  bool collecting_woken_ = false;
  FiberControl* woken_head_ = nullptr;
  FiberControl* woken_tail_ = nullptr;
  std::size_t woken_count_ = 0;
  // Scheduling decisions left until the next fair one (see pick_fair; every
  // kFairInterval-th decision in worker.cc).
  uint32_t fair_countdown_;
  uint32_t coarse_tick_ = 0;  // fair turns since the coarse clock moved
  static constexpr uint32_t kCoarseTickEvery = 4;
  int64_t coarse_now_ns_ = 0;
  int64_t started_ns_ = 0;
  uint32_t rng_;
  // The runtime has this one worker: nobody steals from our RunQueue. Set
  // by thread_main before the loop (worker_count is final by then).
  bool alone_ = false;
  uint64_t id_next_ = 0;
  uint64_t id_end_ = 0;
  RunQueue<FiberControl> runq_;
  TimerHeap timers_;
  StackCache stacks_;
  WorkerCounters counters_;
  void* alt_stack_ = nullptr;  // sigaltstack for the overflow reporter
  // Scheduler sections and the monitor's hold on them (enter_sched,
  // hand_off). in_sched_ is written by this thread only, read by the
  // monitor; monitor_holds_ the reverse. Each on its own line: the monitor
  // writes monitor_holds_ only while it hands off.
  alignas(64) std::atomic<uint64_t> in_sched_{1};  // 1 until the loop's first switch
  std::atomic<uint64_t> yields_in_place_{0};       // see progress_stamp
  alignas(64) std::atomic<uint64_t> monitor_holds_{0};
  StackSample sample_;
};

}  // namespace weft::internal
