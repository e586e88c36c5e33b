// The worker loop: how a worker finds the next fiber to run.
//
// Order of search (DESIGN.md §2):
//   1. the next slot — the fiber most recently woken here, so a ping-pong pair
//      stays on one core with its data in cache. Used at most kMaxNextStreak
//      times in a row (Tokio caps it at 3), or two fibers waking each other
//      would starve the rest; past the cap the woken fiber goes to the back
//      of the yield FIFO;
//   2. the own RunQueue, LIFO across spawn batches, FIFO within one (see
//      "Start order" below);
//   3. the yield FIFO, then the Injector;
//   4. a non-blocking look at the poller (if no other worker holds it);
//   5. stealing one fiber (and up to half the victim's queue) from random
//      victims;
//   6. sleeping in IdleWorkers::sleep until woken, or until the next timer is due,
//      in epoll_wait if the poller is free (so readiness ends the sleep).
// Every kFairInterval decisions due timers, the poller, the Injector and the
// yield FIFO go first, so a busy worker starves neither timers, I/O nor
// outside work.
//
// The RunQueue itself is LIFO and never served oldest-first by its owner:
// like Cilk, a worker finishes its newest work first and leaves the oldest
// to thieves. Rejected: taking the oldest every kFairInterval decisions; on a
// fork-join tree (skynet) it starts a new subtree each time, and the stacks
// of a thousand half-started subtrees took peak RSS from 12 MB to 175 MB.
//
// Start order. The fibers one fiber spawns during one turn (from being
// switched in to switching out) form a batch, and a batch starts in spawn
// order, as gevent starts greenlets: spawn g1, g2, g3, then join g1, and g1
// runs first. Across batches the order stays LIFO: a new batch goes in
// front of older work, depth-first across generations, which is what keeps
// a fork-join tree's live stacks few (skynet 1M at 12 MB). Each spawn goes
// to the RunQueue at once, where a thief can take it while the parent still
// runs (a parent that spawns one child and then computes must not hide the
// child from idle workers); when the parent switches out, every pick first
// seals the batch: RunQueue::reverse_since turns the batch's stretch of the
// deque around, with one fence per batch, so the owner pops it oldest
// first. A batch of one costs nothing.
//
// The usual spawner then joins its children in order, and the first one's
// end wakes it. Run at once (the next slot), it would join the second,
// suspend again, and so on: twice the switches of LIFO, where the child
// joined first ran last. So a sealed batch of two or more is marked (its
// deque index and spawner, on a small per-worker stack, newest on top), and
// a spawner woken while its batch has not all started waits on its mark
// until it has (taken by us or by thieves: size_since), then comes before
// anything older than the batch. That is gevent's order too: its wake-up is
// queued behind the greenlets already scheduled. Every fair turn lets a
// waiting spawner run anyway, since a busy worker's queue may never drain
// down to the mark. The test AForkJoinTreeSwitchesAsOftenAsLifo counts it.
// What this guarantees:
//   - on one worker, the fibers a fiber spawns in one turn start in spawn
//     order (up to the RunQueue's capacity: a batch that overflows it has
//     its older part moved to the Injector, which runs after);
//   - fibers spawned from outside the runtime (the Injector) start in the
//     order they were pushed;
//   - across workers, none: a thief takes the oldest fibers of a batch and
//     runs them in parallel with the rest.
// Rejected: holding a batch back on a private list until the parent
// switches out (ordered, but idle workers could not steal the children of a
// parent that computes after spawning), and reordering by popping and
// re-pushing each child (a fence per child instead of one per batch).
//
// Switching is fiber to fiber: a fiber that suspends picks its successor
// itself (steps 1–3, cheap) and jumps straight into it. Only when nothing is
// runnable locally does it jump to the worker's scheduler loop (which runs on
// the thread's own stack), which then steals or sleeps. Sleeping on a fiber's
// stack was rejected: the suspending fiber's Handover (which publishes it as
// waiting) would not have run yet, and whoever should wake it could not.
//
// yield() puts the yielding fiber at the tail of a private FIFO that is
// served after the RunQueue, so yielding fibers take turns in order and a
// yield costs no locked instruction (on this VM a locked instruction costs
// more than the context switch itself). Rejected: requeueing at the bottom of
// the RunQueue and taking from its top (FIFO, but a CAS per yield, 3x slower).
// While some worker sleeps, the yielder goes to the RunQueue instead, so the
// sleeper is woken and can steal it.
#include "weft/core/private/worker.h"

#include <dlfcn.h>
#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <utility>

#include "weft/core/internal/clock.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/private/overflow.h"
#include "weft/core/private/runtime_core.h"

namespace weft::internal {
namespace {

constexpr int kStealRounds = 4;
constexpr std::size_t kMaxStealBatch = 32;
constexpr uint64_t kIdBlock = 1024;
constexpr std::size_t kWokenSpreadBatch = 8;  // see place_woken_batch
constexpr uint32_t kSpawnWakeDepth = 32;      // see requeue_spawned
constexpr std::size_t kInjectorBatch = 128;   // see pop_injector

thread_local Worker* t_worker = nullptr;

inline void cpu_relax() { __builtin_ia32_pause(); }

}  // namespace

Worker* Worker::current() {
  // The memory clobber keeps the compiler from reusing a thread_local address
  // computed before a context switch (the fiber may now run elsewhere).
  asm volatile("" ::: "memory");
  return t_worker;
}

// Declared in fiber_api.h. dlsym of a TLS symbol answers the calling
// thread's copy.
int* hook_gate_of_this_thread() { return static_cast<int*>(dlsym(RTLD_DEFAULT, "weft_hook_gate")); }

// Declared in fiber_api.h (require_fiber). Reads the thread_local itself rather
// than through Worker::current(): out of line just the same, so no caller
// keeps the address across a switch.
FiberControl* current_fiber_or_null() {
  asm volatile("" ::: "memory");
  Worker* w = t_worker;
  return w != nullptr ? w->current_fiber() : nullptr;
}

// Declared in fiber_api.h, for sync/ and io/.
bool has_local_work() { return Worker::current()->has_local_work(); }
void yield_current() { Worker::current()->yield_current(); }

Worker::Worker(RuntimeCore* rt, int index, std::size_t run_queue_capacity)
    : rt_(rt),
      index_(index),
      fair_countdown_(kFairInterval),
      coarse_now_ns_(real_monotonic_now_ns()),
      started_ns_(coarse_now_ns_),
      rng_(0x9E3779B9u * static_cast<uint32_t>(index + 1)),
      runq_(run_queue_capacity),
      stacks_(&rt->stack_pool()) {}

Worker::~Worker() = default;

void Worker::start() {
  thread_ = std::thread([this] { thread_main(); });
}

void Worker::join_thread() {
  if (thread_.joinable()) thread_.join();
}

void Worker::thread_main() {
  t_worker = this;
  // Every worker was built before the first one started.
  alone_ = rt_->worker_count() == 1;
  int* hook_gate = hook_gate_of_this_thread();
  if (hook_gate != nullptr) *hook_gate = 1;
  // The kernel rounds a sleeping thread's timeouts up by its timer slack (50 us
  // by default); a worker parked until the next fiber timer should wake on
  // time, so a 10 us sleep_for does not take 60.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  alt_stack_ = install_signal_stack();
  sched_ctx_.adopt_current_thread();
  loop();
  release_signal_stack(alt_stack_);
  if (hook_gate != nullptr) *hook_gate = 0;
  t_worker = nullptr;
}

void Worker::loop() {
  // The loop runs in a scheduler section throughout (in_sched_ starts at
  // 1); switch_to leaves it for the fiber, and we re-enter on return.
  while (FiberControl* f = find_work()) {
    Handover h;
    switch_to(f, &h, false);
    // Back on the scheduler stack: a fiber found nothing runnable locally.
    // Still this worker's thread: the scheduler loop never migrates.
    enter_sched_outer();
  }
  // Left in its section: the thread runs no fiber code any more.
}

void Worker::exit_current(Handover* h) {
  enter_sched_outer();                                // left by switch_to
  if (current_ == marked_spawner_) pop_batch_mark();  // nobody left to wait
  switch_to(pick_local(), h, true);
  __builtin_trap();  // a dead fiber is never resumed
}

void Worker::yield_current() {
  enter_sched_outer();  // from fiber code: no section is open
  FiberControl* next = pick_for_yield();
  if (next == nullptr) {  // nothing else to run: carry on
    // Still a suspension point: the monitor's episode ends here. Relaxed
    // load (our own counter), release store as for the WorkerCounters.
    WorkerCounters::bump(yields_in_place_);
    leave_sched();
    return;
  }
  Handover h;
  h.action = &Worker::on_yielded;
  h.arg = current_;
  // The section stays open across the jump: on_yielded, which runs right
  // after it on this thread, uses it and closes it (one section, not two).
  switch_to(next, &h, false, /*balanced=*/true, /*keep_section=*/true);
}

void Worker::on_yielded(Handover* h) {
  Worker* w = Worker::current();
  auto* f = static_cast<FiberControl*>(h->arg);
  // Still in yield_current's section (switch_to kept it open).
  if (w->rt_->idle_workers().sleeping() != 0) {
    w->requeue(f);
  } else {
    w->append_yielded(f);
  }
  w->leave_sched();
}

void Worker::wait_for_monitor() {
  // The monitor holds our queues for a few hundred instructions (hand_off),
  // unless the OS preempted it meanwhile: then give it our core.
  // Acquire: pairs with its release store of 0.
  for (int spins = 0; monitor_holds_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 1000) {
      cpu_relax();
    } else {
      sched_yield();
    }
  }
}

Worker::HandOff Worker::hand_off(uint64_t stamp) {
  // Monitor thread. Relaxed: ordered before our load of in_sched_ by the
  // heavy fence (the rare half of the Dekker pair with enter_sched).
  monitor_holds_.store(1, std::memory_order_relaxed);
  heavy_fence();
  // Acquire: pairs with leave_sched's release; the worker's last section
  // (its writes to next_, the FIFO, the marks) happened-before our reads.
  if (in_sched_.load(std::memory_order_acquire) != 0 || progress_stamp() != stamp) {
    monitor_holds_.store(0, std::memory_order_release);
    return HandOff::kRefused;
  }
  // The worker runs fiber code and enters no section until we let go:
  // these fields are ours for now.
  FiberControl* head = nullptr;
  FiberControl* tail = nullptr;
  std::size_t n = 0;
  auto take = [&](FiberControl* f) {
    f->next_ready = nullptr;
    if (tail == nullptr) {
      head = f;
    } else {
      tail->next_ready = f;
    }
    tail = f;
    ++n;
  };
  if (next_ != nullptr) take(std::exchange(next_, nullptr));
  while (FiberControl* f = pop_yielded()) take(f);
  while (FiberControl* f = release_waiting_spawner()) take(f);
  // Release: pairs with enter_sched's acquire (wait_for_monitor): our
  // writes above happen-before the worker's next section.
  monitor_holds_.store(0, std::memory_order_release);
  if (n != 0) rt_->injector().push_batch(head, tail, n);
  if (n == 0 && runq_.size_hint() == 0) return HandOff::kEmpty;
  // Every sleeper, not one: they take the Injector's batch and steal the
  // RunQueue, which nobody else drains while we stay blocked.
  rt_->idle_workers().wake_all();
  WorkerCounters::bump(counters_.handoffs);
  return HandOff::kMoved;
}

void Worker::append_yielded(FiberControl* f) {
  f->next_ready = nullptr;
  if (yielded_tail_ == nullptr) {
    yielded_head_ = f;
  } else {
    yielded_tail_->next_ready = f;
  }
  yielded_tail_ = f;
}

FiberControl* Worker::pop_yielded() {
  FiberControl* f = yielded_head_;
  if (f != nullptr) {
    yielded_head_ = f->next_ready;
    if (yielded_head_ == nullptr) yielded_tail_ = nullptr;
    f->next_ready = nullptr;
  }
  return f;
}

// Inline up to the emptiness check (a yield with nothing else to run looks
// at the Injector every time); the rest is take_from_injector.
[[gnu::always_inline]] inline FiberControl* Worker::pop_injector(bool batch) {
  if (rt_->injector().empty()) return nullptr;
  return take_from_injector(batch);
}

FiberControl* Worker::pick_fair() {
  // The coarse clock moves here too, so a busy worker that neither sleeps
  // nor fires timers still stamps its parks (a clock read every
  // kCoarseTickEvery * kFairInterval decisions: ~0.2 ns a decision).
  if (++coarse_tick_ == kCoarseTickEvery) {
    coarse_tick_ = 0;
    coarse_now_ns_ = real_monotonic_now_ns();
  }
  if (!timers_.empty()) fire_timers();
  poll_io();
  // A spawner waiting for its batch to start waits no longer than this: a
  // busy worker's RunQueue may never drain below the batch.
  if (waiting_spawners_ != 0) return release_waiting_spawner();
  // Outside work keeps its order: while some of a batch taken from the
  // Injector may still be in our RunQueue, the rest of the Injector waits
  // behind it (see pop_injector).
  if (runq_.size_between(pulled_lo_, pulled_hi_) == 0) {
    if (FiberControl* f = pop_injector(/*batch=*/false)) return f;
  }
  return pop_yielded();
}

void Worker::seal_spawn_batch_slow() {
  runq_.reverse_since(spawn_batch_base_, /*no_thieves=*/alone_);
  // While reverse_since held the batch, the RunQueue looked empty: a worker
  // that was about to sleep may have re-checked it then (Worker::sleep) and
  // gone to sleep beside our work. The fence in notify_global pairs with
  // the one in its re-check: either it saw the batch, or we see it asleep
  // and wake it. (StealStressTest.IdleWorkerStealsCpuBoundFibers under TSan
  // on a busy machine lost its thief this way.)
  if (!alone_) rt_->idle_workers().notify_global();
  // A spawn from the scheduler loop (a hand-over) has no spawner to hold
  // back; a spawner that sealed the batch below too keeps its older mark.
  if (current_ == nullptr || batch_mark_count_ == kMaxBatchMarks) return;
  if (batch_mark_count_ != 0 && batch_marks_[batch_mark_count_ - 1].spawner == current_) return;
  batch_marks_[batch_mark_count_++] = {spawn_batch_base_, current_, nullptr};
  refresh_marks();
}

void Worker::refresh_marks() {
  marked_spawner_ = nullptr;
  release_floor_ = INT64_MIN;
  if (batch_mark_count_ == 0) return;
  const BatchMark& top = batch_marks_[batch_mark_count_ - 1];
  if (top.waiting == nullptr) marked_spawner_ = top.spawner;
  if (waiting_spawners_ != 0) release_floor_ = top.base;
}

FiberControl* Worker::pop_batch_mark() {
  FiberControl* waiting = batch_marks_[--batch_mark_count_].waiting;
  if (waiting != nullptr) --waiting_spawners_;
  refresh_marks();
  return waiting;
}

// Pops the marks of batches that have all started, newest first, and
// returns the first waiting spawner among them. A mark that has not is
// left, and so is everything under it (only ever a delay: once the RunQueue
// is empty every mark is popped).
FiberControl* Worker::take_released_spawner() {
  while (batch_mark_count_ != 0) {
    if (runq_.size_since(batch_marks_[batch_mark_count_ - 1].base) != 0) return nullptr;
    if (FiberControl* f = pop_batch_mark()) return f;
  }
  return nullptr;
}

// The newest waiting spawner, released though its batch has not all
// started (a fair turn). Its mark stays, so its next wake waits again.
FiberControl* Worker::release_waiting_spawner() {
  for (uint32_t i = batch_mark_count_; i-- > 0;) {
    BatchMark& m = batch_marks_[i];
    if (FiberControl* f = m.waiting) {
      m.waiting = nullptr;
      --waiting_spawners_;
      refresh_marks();
      return f;
    }
  }
  return nullptr;
}

// A push to the Injector wakes a sleeper only while nobody searches (the
// searcher is expected to take it and, being the last, wake the next one).
// But a worker woken for it, or a searcher that gave up and saw the push in
// its re-check before parking, takes it here and not in steal(), so no
// end_search(true) passes the wake on: with a batch of external spawns
// whose fibers compute without suspending, the rest stayed in the Injector
// while the other workers slept (the StressTest
// OutsideSpawnsOfComputingFibersReachEveryWorker). So whoever takes one and
// leaves more behind wakes the next worker itself; notify_global does
// nothing if one is searching or none sleeps, and the fence it pays is only
// paid while the Injector holds more than one.
//
// With `batch` (our RunQueue is empty: the search and the pick after an
// empty pop, not the fair turn), we take a share of the Injector at once,
// as Go's globrunqget does: up to its length over the worker count, plus
// one, at most kInjectorBatch. The first runs now; the rest go to our
// RunQueue newest first, so our pops take them oldest first and thieves
// can take them. One lock (and one fence) for the batch: a warm re-spawn
// of 100k fibers that spilled past the RunQueue paid a lock, an unlock and
// a fence per fiber coming back. The share leaves work for the others.
// Taken only when the RunQueue is empty, so the batch sits at its oldest
// end; its index range (pulled_lo_, pulled_hi_) keeps the fair turn
// (pick_fair) from taking newer Injector fibers while some of the batch
// may remain: outside spawns start in push order on one worker. The range
// is forgotten when our pops reach its start (pick_queued) and at the next
// batch; while thieves have taken the rest of it, newer fibers at its
// indices may delay the fair turn's look at the Injector until our
// RunQueue drains (then the pick takes from the Injector anyway).
FiberControl* Worker::take_from_injector(bool batch) {
  Injector& inj = rt_->injector();
  if (batch) pulled_lo_ = pulled_hi_ = INT64_MIN;
  std::size_t want = 1;
  if (batch) {
    want = inj.size_hint() / static_cast<std::size_t>(rt_->worker_count()) + 1;
    want = std::min({want, kInjectorBatch, runq_.capacity() / 2});
  }
  FiberControl* f = nullptr;
  const std::size_t n = inj.pop_batch(want, &f);
  if (n == 0) return nullptr;
  WorkerCounters::bump(counters_.injector_pops, n);
  if (n > 1) {
    FiberControl* newest_first = nullptr;
    for (FiberControl* g = f->next_ready; g != nullptr;) {
      FiberControl* older = newest_first;
      newest_first = g;
      g = g->next_ready;
      newest_first->next_ready = older;
    }
    f->next_ready = nullptr;
    pulled_lo_ = runq_.bottom_index();
    while (FiberControl* g = newest_first) {
      newest_first = g->next_ready;  // read first: once pushed, g may be stolen
      g->next_ready = nullptr;
      push_run_queue(g);
    }
    pulled_hi_ = runq_.bottom_index();
  }
  // The fence is paid once per batch; with n > 1 the RunQueue we just
  // filled is work a sleeper can steal.
  if (n > 1 || !inj.empty()) rt_->idle_workers().notify_global();
  return f;
}

// The RunQueue, the yield FIFO, the Injector; a spawner whose batch has all
// started (taken or run) comes before whatever is older than the batch.
[[gnu::always_inline]] inline FiberControl* Worker::pick_queued() {
  // Our own pops have reached the top mark's batch: it has all started. (If
  // thieves took it instead, the check after an empty pop below finds it.)
  if (runq_.bottom_index() <= release_floor_) [[unlikely]] {
    if (FiberControl* f = take_released_spawner()) return f;
  }
  // pop() pays a seq-cst fence even on an empty queue; size_hint() first.
  // Exact here, not a hint: only we move bottom_, and top_ only grows, so a
  // stale top_ can only overstate the size. Zero means pop() would find
  // nothing.
  // Alone, nobody steals: the pop needs no fence (one locked instruction
  // less per pick on a runtime of one worker).
  if (runq_.size_hint() != 0) {
    if (FiberControl* f = runq_.pop(/*no_thieves=*/alone_)) {
      // Our pops reached the pulled batch's first index: none of it is
      // left (see pop_injector). Forgotten here, before a push can reuse
      // the index, so a stale range never keeps the fair turn from the
      // Injector.
      if (runq_.bottom_index() <= pulled_lo_) [[unlikely]]
        pulled_lo_ = pulled_hi_ = INT64_MIN;
      return f;
    }
  }
  // Thieves may have emptied the queue under a batch: a waiting spawner
  // must not be left behind when we find nothing (size_since is exact now).
  if (waiting_spawners_ != 0) {
    if (FiberControl* f = take_released_spawner()) return f;
  }
  if (FiberControl* f = pop_yielded()) return f;
  return pop_injector(/*batch=*/true);
}

FiberControl* Worker::pick_local_slow(bool fair_turn) {
  if (fair_turn) {
    fair_countdown_ = kFairInterval;
    if (FiberControl* f = pick_fair()) {
      next_streak_ = 0;
      return f;
    }
  }
  if (next_ != nullptr) {
    FiberControl* f = next_;
    next_ = nullptr;
    if (next_streak_ < kMaxNextStreak) {
      ++next_streak_;
      return f;
    }
    // The slot has had its turns: send it to the back of the line.
    append_yielded(f);
  }
  next_streak_ = 0;
  return pick_queued();
}

FiberControl* Worker::pick_for_yield() {
  if (spawn_batch_ != 0) seal_spawn_batch();
  if (--fair_countdown_ == 0) {
    fair_countdown_ = kFairInterval;
    if (FiberControl* f = pick_fair()) return f;
  }
  if (next_ != nullptr) {
    FiberControl* f = next_;
    next_ = nullptr;
    return f;
  }
  return pick_queued();
}

FiberControl* Worker::find_work() {
  for (;;) {
    if (rt_->exiting()) return nullptr;
    if (!timers_.empty()) fire_timers();
    if (FiberControl* f = pick_local()) return f;
    if (poll_io() != 0) continue;
    if (rt_->worker_count() > 1) {
      if (FiberControl* f = steal()) return f;
      // Nothing to steal: if another worker is carving fresh stacks for a
      // burst of spawns, ready its next chunk, then look again.
      if (rt_->stack_pool().precarve(real_monotonic_now_ns())) continue;
    }
    sleep();
  }
}

FiberControl* Worker::steal() {
  IdleWorkers& idle = rt_->idle_workers();
  if (!idle.begin_search()) return nullptr;
  const int n = rt_->worker_count();
  for (int round = 0; round < kStealRounds; ++round) {
    int start = static_cast<int>(next_random() % static_cast<uint32_t>(n));
    bool saw_work = false;
    for (int i = 0; i < n; ++i) {
      int v = (start + i) % n;
      if (v == index_) continue;
      RunQueue<FiberControl>& victim = rt_->worker(v)->runq_;
      if (victim.size_hint() == 0) continue;  // a load, where steal() pays a fence
      saw_work = true;
      FiberControl* f = victim.steal();
      if (f == nullptr) continue;
      // Take up to half of what is left, so we do not come back at once.
      std::size_t more = std::min(victim.size_hint() / 2, kMaxStealBatch);
      uint64_t taken = 1;
      for (std::size_t k = 0; k < more; ++k) {
        FiberControl* g = victim.steal();
        if (g == nullptr) break;
        push_run_queue(g);
        ++taken;
      }
      WorkerCounters::bump(counters_.steals, taken);
      WEFT_PROBE_STEAL(index_, v, taken);
      idle.end_search(true);
      return f;
    }
    // Still counted as searching, so pop_injector's notify leaves the
    // wake to end_search below: one wake, not two.
    if (FiberControl* f = pop_injector(/*batch=*/true)) {
      idle.end_search(true);
      return f;
    }
    // A short backoff (~3 us in all) before the next round; a due timer of
    // our own ends the search at once. When every queue was empty the
    // backoff yields the core instead of spinning on it: spinning, with one
    // fiber spawning on the other worker, was 28% of a contended profile
    // (issue #14), and a CPU-bound neighbour process (or the worker doing
    // the work, if the kernel put both on one core) needs it more. With
    // nothing else runnable here, sched_yield returns at once, a backoff of
    // about the same length.
    if (!timers_.empty() && timers_.next_deadline() <= monotonic_now_ns()) break;
    if (saw_work) {
      for (int spin = 0; spin < 16 << round; ++spin) cpu_relax();
    } else {
      sched_yield();
    }
  }
  idle.end_search(false);
  return nullptr;
}

bool Worker::any_work_visible() {
  if (!rt_->injector().empty()) return true;
  for (int i = 0; i < rt_->worker_count(); ++i) {
    if (rt_->worker(i)->runq_.size_hint() != 0) return true;
  }
  return !timers_.empty() && timers_.next_deadline() <= monotonic_now_ns();
}

void Worker::sleep() {
  // Idle: give surplus pooled stacks' memory back, a batch at a time, and
  // look for work again between batches (stack_pool.cc); or wake when it
  // will be due.
  int64_t release_due = -1;
  if (rt_->release_idle_stacks(stacks_, &release_due) != 0) return;
  IdleWorkers& idle = rt_->idle_workers();
  idle.prepare_sleep(index_);
  // Re-check after announcing ourselves (the fence is in prepare_sleep).
  if (rt_->exiting() || any_work_visible()) {
    idle.cancel_sleep(index_);
    return;
  }
  WorkerCounters::bump(counters_.parks);
  // Idle anyway: sweep the entries of waits that ended on other workers,
  // so an idle worker holds only live timers (and stats() says so).
  if (timers_.wants_idle_sweep()) sweep_timers();
  collecting_woken_ = true;
  WEFT_PROBE_WORKER_SLEEP(index_);
  // Idle time: real clock reads (a manual clock would stop it), around a
  // sleep that costs a syscall anyway. Release stores: stats() acquires.
  const int64_t idle_total = counters_.idle_word.load(std::memory_order_relaxed);
  const int64_t t0 = real_monotonic_now_ns();
  counters_.idle_word.store(idle_total - t0, std::memory_order_release);
  int64_t deadline = timers_.empty() ? -1 : timers_.next_deadline();
  if (release_due >= 0 && (deadline < 0 || release_due < deadline)) deadline = release_due;
  idle.sleep(index_, deadline);
  coarse_now_ns_ = real_monotonic_now_ns();
  counters_.idle_word.store(idle_total + (coarse_now_ns_ - t0), std::memory_order_release);
  collecting_woken_ = false;
  rt_->note_worker_awake();  // a parked monitor watches again
  WEFT_PROBE_WORKER_WAKE(index_, woken_count_);
  if (woken_count_ != 0) {
    WorkerCounters::bump(counters_.io_wakeups, woken_count_);
    WorkerCounters::bump(counters_.poller_wakeups);
    WEFT_PROBE_POLLER_WAKE(index_, woken_count_);
  }
  place_woken_batch();
}

int Worker::poll_io() {
  Poller& p = rt_->poller();
  if (!p.in_use() || !p.try_acquire()) return 0;
  collecting_woken_ = true;
  int n = p.poll(0);
  collecting_woken_ = false;
  p.release();
  if (woken_count_ != 0) {
    WorkerCounters::bump(counters_.io_wakeups, woken_count_);
    WorkerCounters::bump(counters_.poller_wakeups);
    WEFT_PROBE_POLLER_WAKE(index_, woken_count_);
  }
  place_woken_batch();
  return n;
}

// Where the fibers one poll (or one round of timers) woke go. In readiness
// (or deadline) order, behind what is already queued (FIFO across polls:
// served LIFO through the RunQueue, a
// busy server's newest connections kept overtaking its oldest, and p99 at
// 1,000 connections was 3x nginx's). A small batch stays here, on the
// private FIFO: waking a sleeping worker costs a futex wake plus its own
// wake-up and sleep (several microseconds of CPU), more than a few fibers
// that each do a read and a write (echo_server, 2 workers, echo_load -c100:
// context switches 47k -> 29k in 3 s, server CPU 1724 -> 1546 ms). A batch
// big enough to keep a second worker busy goes to the Injector, in one lock,
// where every worker can take from it, and wakes a sleeper.
void Worker::place_woken_batch() {
  if (woken_count_ == 0) return;
  if (woken_count_ >= kWokenSpreadBatch) {
    rt_->injector().push_batch(woken_head_, woken_tail_, woken_count_);
    rt_->idle_workers().notify_global();
  } else if (yielded_tail_ == nullptr) {
    yielded_head_ = woken_head_;
    yielded_tail_ = woken_tail_;
  } else {
    yielded_tail_->next_ready = woken_head_;
    yielded_tail_ = woken_tail_;
  }
  woken_head_ = woken_tail_ = nullptr;
  woken_count_ = 0;
}

// Fibers whose timers fall due together are woken in deadline order, as
// gevent's loop runs them (three fibers that each sleep(1) go on taking
// turns in the order they first slept): collected like a poll's batch.
// Through the next slot, each woken fiber displaced the one before it to the
// LIFO RunQueue, and they ran newest deadline first.
void Worker::fire_timers() {
  collecting_woken_ = true;
  const int64_t now = monotonic_now_ns();
  if (!manual_clock_installed()) coarse_now_ns_ = now;
  uint64_t woken = 0;
  std::size_t n = timers_.pop_due(now, [this, &woken](const TimerHeap::Entry& e) {
    // Claimed, the wait is ours until wake(): tell the fiber its timer is
    // gone, so it neither looks for it here nor reports it stale.
    if (rt_->try_claim(e.fiber, e.token)) {
      e.fiber->timer_worker = nullptr;
      rt_->wake(e.fiber);
      ++woken;
    }
  });
  collecting_woken_ = false;
  if (n != 0) publish_timer_count();
  if (timers_.wants_sweep()) [[unlikely]]
    sweep_timers();
  // Counted before they are placed: once placed, another worker may run
  // them to their end, and whoever then reads the stats must see them.
  if (n != 0) {
    WorkerCounters::bump(counters_.timers_fired, n);
    WorkerCounters::bump(counters_.timer_wakeups, woken);
    WEFT_PROBE_TIMER_FIRE(index_, n);
  }
  place_woken_batch();
}

// Drops the entries of waits that ended on other workers (TimerHeap's
// "stale"): the wait `token` is over once the fiber's epoch has moved past
// it. Relaxed is enough: the token was stored by this thread (in the park's
// Handover), so by coherence we read it or a later value, and epochs only
// grow (also across slot reuse); a later value means the wait ended and the
// entry's CAS could only fail. An entry read as still parked stays.
void Worker::sweep_timers() {
  timers_.remove_stale([](const TimerHeap::Entry& e) {
    return e.fiber->epoch.load(std::memory_order_relaxed) != e.token;
  });
  publish_timer_count();
}

void Worker::spill_run_queue(FiberControl* f) {
  // Full: move the older half to the Injector in one batch (Go, Tokio),
  // taken with one CAS (RunQueue::take_oldest).
  FiberControl* head = nullptr;
  FiberControl* tail = nullptr;
  std::size_t n = runq_.take_oldest(runq_.capacity() / 2, [&](FiberControl* g) {
    if (head == nullptr) {
      head = g;
    } else {
      tail->next_ready = g;
    }
    tail = g;
  });
  if (n != 0) rt_->injector().push_batch(head, tail, n);
  if (!runq_.push(f)) rt_->injector().push(f);
  rt_->idle_workers().notify_global();
}

void Worker::requeue(FiberControl* f) {
  push_run_queue(f);
  rt_->idle_workers().notify_local();
}

// A burst of spawns (one fiber spawning a million sleepers) woke the
// sleeping worker for every spawn: it stole the one fiber there was, ran it
// to its first wait in a microsecond, found nothing more and slept again,
// and every spawn paid a futex wake (weft_peer sleepers -n 300000, 2
// workers: 226k futex calls, 200k context switches). So a spawn wakes a
// sleeper only for the first fiber of its batch (a parent that spawns one
// child and then computes must not hide it) and after every further
// kSpawnWakeDepth of the batch, enough for a thief to take a batch (half,
// up to 32). Counted in the batch rather than read from the RunQueue's
// size: that read took top_, the line the thieves' CAS moves, on every
// spawn.
void Worker::requeue_spawned(FiberControl* f) {
  push_run_queue(f);
  if (spawn_batch_ % kSpawnWakeDepth == 1) rt_->idle_workers().notify_local();
}

void Worker::schedule_woken_slow(FiberControl* f, bool sample) {
  // Stamped before f can reach another worker (requeue below).
  if (sample) sample_runnable(f);
  if (f == marked_spawner_ && !collecting_woken_) {
    BatchMark& top = batch_marks_[batch_mark_count_ - 1];
    if (runq_.size_since(top.base) != 0) {  // wait for the batch to start
      top.waiting = f;
      ++waiting_spawners_;
      refresh_marks();
      return;
    }
    pop_batch_mark();  // it has all started: an ordinary wake
    if (next_ == nullptr) {
      next_ = f;
      return;
    }
  }
  if (collecting_woken_) {  // woken by our own poll or timers: place_woken_batch
    f->next_ready = nullptr;
    if (woken_tail_ == nullptr) {
      woken_head_ = f;
    } else {
      woken_tail_->next_ready = f;
    }
    woken_tail_ = f;
    ++woken_count_;
    return;
  }
  FiberControl* displaced = next_;
  next_ = f;
  if (displaced != nullptr) requeue(displaced);
}

void Worker::sample_runnable(FiberControl* f) {
  // Real clock: the delay is a cost measured, not a deadline.
  f->runnable_ns = real_monotonic_now_ns();
}

void Worker::record_delay(FiberControl* f) {
  const int64_t d = real_monotonic_now_ns() - f->runnable_ns;
  f->runnable_ns = 0;
  const uint64_t ns = d > 0 ? static_cast<uint64_t>(d) : 0;
  int b = ns < 2 ? 0 : 63 - __builtin_clzll(ns);
  if (b >= WorkerCounters::kDelayBuckets) b = WorkerCounters::kDelayBuckets - 1;
  WorkerCounters::bump(counters_.delay_buckets[b]);
  if (ns > counters_.delay_max_ns.load(std::memory_order_relaxed)) {
    counters_.delay_max_ns.store(ns, std::memory_order_release);
  }
}

void Worker::reserve_id_block() {
  id_next_ = rt_->reserve_ids(kIdBlock);
  id_end_ = id_next_ + kIdBlock;
}

uint32_t Worker::next_random() {
  // xorshift32: cheap, per worker, good enough to spread victims.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 17;
  rng_ ^= rng_ << 5;
  return rng_;
}

}  // namespace weft::internal
