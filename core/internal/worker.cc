// The worker loop: how a worker finds the next fiber to run.
//
// Order of search (DESIGN.md §2):
//   1. the next slot — the fiber most recently woken here, so a ping-pong pair
//      stays on one core with its data in cache. Used at most kMaxNextStreak
//      times in a row (Tokio caps it at 3), or two fibers waking each other
//      would starve the rest; past the cap the woken fiber goes to the back
//      of the yield FIFO;
//   2. the own RunQueue, LIFO (the freshest spawn: best locality for fork-join);
//   3. the yield FIFO, then the Injector;
//   4. a non-blocking look at the poller (if no other worker holds it);
//   5. stealing one fiber (and up to half the victim's queue) from random
//      victims;
//   6. sleeping in Parker::park until woken, or until the next timer is due,
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
#include "weft/core/internal/worker.h"

#include <sys/prctl.h>

#include <algorithm>

#include "weft/core/internal/clock.h"
#include "weft/core/internal/overflow.h"
#include "weft/core/internal/park.h"
#include "weft/core/internal/runtime_core.h"

namespace weft::internal {
namespace {

constexpr int kStealRounds = 4;
constexpr std::size_t kMaxStealBatch = 32;
constexpr uint64_t kIdBlock = 1024;
constexpr std::size_t kIoSpreadBatch = 8;  // see spread_io_batch

thread_local Worker* t_worker = nullptr;

inline void cpu_relax() { __builtin_ia32_pause(); }

}  // namespace

Worker* Worker::current() {
  // The memory clobber keeps the compiler from reusing a thread_local address
  // computed before a context switch (the fiber may now run elsewhere).
  asm volatile("" ::: "memory");
  return t_worker;
}

// Declared in park.h (require_fiber). Reads the thread_local itself rather
// than through Worker::current(): out of line just the same, so no caller
// keeps the address across a switch.
FiberControl* current_fiber_or_null() {
  asm volatile("" ::: "memory");
  Worker* w = t_worker;
  return w != nullptr ? w->current_fiber() : nullptr;
}

Worker::Worker(RuntimeCore* rt, int index, std::size_t run_queue_capacity)
    : rt_(rt),
      index_(index),
      fair_countdown_(kFairInterval),
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
  // The kernel rounds a sleeping thread's timeouts up by its timer slack (50 us
  // by default); a worker parked until the next fiber timer should wake on
  // time, so a 10 us sleep_for does not take 60.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  alt_stack_ = install_signal_stack();
  sched_ctx_.adopt_current_thread();
  loop();
  release_signal_stack(alt_stack_);
  t_worker = nullptr;
}

void Worker::loop() {
  while (FiberControl* f = find_work()) {
    Handover h;
    switch_to(f, &h, false);
    // Back on the scheduler stack: a fiber found nothing runnable locally.
    // Still this worker's thread: the scheduler loop never migrates.
  }
}

void Worker::exit_current(Handover* h) {
  switch_to(pick_local(), h, true);
  __builtin_trap();  // a dead fiber is never resumed
}

void Worker::yield_current() {
  FiberControl* next = pick_for_yield();
  if (next == nullptr) return;  // nothing else to run: carry on
  Handover h;
  h.action = &Worker::on_yielded;
  h.arg = current_;
  switch_to(next, &h, false, /*balanced=*/true);
}

void Worker::on_yielded(Handover* h) {
  Worker* w = Worker::current();
  auto* f = static_cast<FiberControl*>(h->arg);
  if (w->rt_->parker().sleeping() != 0) {
    w->requeue(f);
    return;
  }
  w->append_yielded(f);
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

FiberControl* Worker::pick_fair() {
  if (!timers_.empty()) fire_timers();
  poll_io();
  if (FiberControl* f = pop_injector()) return f;
  return pop_yielded();
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
FiberControl* Worker::pop_injector() {
  Injector& inj = rt_->injector();
  if (inj.empty()) return nullptr;
  FiberControl* f = inj.pop();
  if (f == nullptr) return nullptr;
  WorkerCounters::bump(counters_.injector_pops);
  if (!inj.empty()) rt_->parker().notify_global();
  return f;
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
  // pop() pays a seq-cst fence even on an empty queue; size_hint() first.
  // Exact here, not a hint: only we move bottom_, and top_ only grows, so a
  // stale top_ can only overstate the size. Zero means pop() would find
  // nothing.
  if (runq_.size_hint() != 0) {
    if (FiberControl* f = runq_.pop()) return f;
  }
  if (FiberControl* f = pop_yielded()) return f;
  return pop_injector();
}

FiberControl* Worker::pick_for_yield() {
  if (--fair_countdown_ == 0) {
    fair_countdown_ = kFairInterval;
    if (FiberControl* f = pick_fair()) return f;
  }
  if (next_ != nullptr) {
    FiberControl* f = next_;
    next_ = nullptr;
    return f;
  }
  if (runq_.size_hint() != 0) {
    if (FiberControl* f = runq_.pop()) return f;
  }
  if (FiberControl* f = pop_yielded()) return f;
  return pop_injector();
}

FiberControl* Worker::find_work() {
  for (;;) {
    if (rt_->exiting()) return nullptr;
    if (!timers_.empty()) fire_timers();
    if (FiberControl* f = pick_local()) return f;
    if (poll_io() != 0) continue;
    if (rt_->worker_count() > 1) {
      if (FiberControl* f = steal()) return f;
    }
    park();
  }
}

FiberControl* Worker::steal() {
  Parker& parker = rt_->parker();
  if (!parker.begin_search()) return nullptr;
  const int n = rt_->worker_count();
  for (int round = 0; round < kStealRounds; ++round) {
    int start = static_cast<int>(next_random() % static_cast<uint32_t>(n));
    for (int i = 0; i < n; ++i) {
      int v = (start + i) % n;
      if (v == index_) continue;
      RunQueue<FiberControl>& victim = rt_->worker(v)->runq_;
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
      parker.end_search(true);
      return f;
    }
    // Still counted as searching, so pop_injector's notify leaves the
    // wake to end_search below: one wake, not two.
    if (FiberControl* f = pop_injector()) {
      parker.end_search(true);
      return f;
    }
    // A short backoff (~3 us in all) before the next round; a due timer of
    // our own ends the search at once.
    if (!timers_.empty() && timers_.next_deadline() <= monotonic_now_ns()) break;
    for (int spin = 0; spin < 16 << round; ++spin) cpu_relax();
  }
  parker.end_search(false);
  return nullptr;
}

bool Worker::any_work_visible() {
  if (!rt_->injector().empty()) return true;
  for (int i = 0; i < rt_->worker_count(); ++i) {
    if (rt_->worker(i)->runq_.size_hint() != 0) return true;
  }
  return !timers_.empty() && timers_.next_deadline() <= monotonic_now_ns();
}

void Worker::park() {
  Parker& parker = rt_->parker();
  parker.prepare_park(index_);
  // Re-check after announcing ourselves (the fence is in prepare_park).
  if (rt_->exiting() || any_work_visible()) {
    parker.cancel_park(index_);
    return;
  }
  WorkerCounters::bump(counters_.parks);
  collecting_io_ = true;
  parker.park(index_, timers_.empty() ? -1 : timers_.next_deadline());
  collecting_io_ = false;
  spread_io_batch();
}

int Worker::poll_io() {
  Poller& p = rt_->poller();
  if (!p.in_use() || !p.try_acquire()) return 0;
  collecting_io_ = true;
  int n = p.poll(0);
  collecting_io_ = false;
  p.release();
  spread_io_batch();
  return n;
}

// Where the fibers one poll woke go. In readiness order, behind what is
// already queued (FIFO across polls: served LIFO through the RunQueue, a
// busy server's newest connections kept overtaking its oldest, and p99 at
// 1,000 connections was 3x nginx's). A small batch stays here, on the
// private FIFO: waking a sleeping worker costs a futex wake plus its own
// wake-up and sleep (several microseconds of CPU), more than a few fibers
// that each do a read and a write (echo_server, 2 workers, echo_load -c100:
// context switches 47k -> 29k in 3 s, server CPU 1724 -> 1546 ms). A batch
// big enough to keep a second worker busy goes to the Injector, in one lock,
// where every worker can take from it, and wakes a sleeper.
void Worker::spread_io_batch() {
  if (io_count_ == 0) return;
  WorkerCounters::bump(counters_.io_wakeups, io_count_);
  if (io_count_ >= kIoSpreadBatch) {
    rt_->injector().push_batch(io_head_, io_tail_, io_count_);
    rt_->parker().notify_global();
  } else if (yielded_tail_ == nullptr) {
    yielded_head_ = io_head_;
    yielded_tail_ = io_tail_;
  } else {
    yielded_tail_->next_ready = io_head_;
    yielded_tail_ = io_tail_;
  }
  io_head_ = io_tail_ = nullptr;
  io_count_ = 0;
}

void Worker::fire_timers() {
  std::size_t n = timers_.pop_due(monotonic_now_ns(), [this](const TimerHeap::Entry& e) {
    rt_->try_wake(e.fiber, e.token);
  });
  if (n != 0) WorkerCounters::bump(counters_.timers_fired, n);
}

void Worker::push_run_queue(FiberControl* f) {
  if (runq_.push(f)) return;
  // Full: move the older half to the Injector in one batch (Go, Tokio).
  FiberControl* head = nullptr;
  FiberControl* tail = nullptr;
  std::size_t n = 0;
  for (std::size_t i = 0; i < runq_.capacity() / 2; ++i) {
    FiberControl* g = runq_.steal();
    if (g == nullptr) break;
    if (head == nullptr) {
      head = g;
    } else {
      tail->next_ready = g;
    }
    tail = g;
    ++n;
  }
  if (n != 0) rt_->injector().push_batch(head, tail, n);
  if (!runq_.push(f)) rt_->injector().push(f);
  rt_->parker().notify_global();
}

void Worker::requeue(FiberControl* f) {
  push_run_queue(f);
  rt_->parker().notify_local();
}

void Worker::schedule_spawned(FiberControl* f) { requeue(f); }

void Worker::schedule_woken_slow(FiberControl* f) {
  if (collecting_io_) {  // woken by our own poll: placed by spread_io_batch
    f->next_ready = nullptr;
    if (io_tail_ == nullptr) {
      io_head_ = f;
    } else {
      io_tail_->next_ready = f;
    }
    io_tail_ = f;
    ++io_count_;
    return;
  }
  FiberControl* displaced = next_;
  next_ = f;
  if (displaced != nullptr) requeue(displaced);
}

uint64_t Worker::next_fiber_id() {
  if (id_next_ == id_end_) {
    id_next_ = rt_->reserve_ids(kIdBlock);
    id_end_ = id_next_ + kIdBlock;
  }
  return id_next_++;
}

uint32_t Worker::next_random() {
  // xorshift32: cheap, per worker, good enough to spread victims.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 17;
  rng_ ^= rng_ << 5;
  return rng_;
}

}  // namespace weft::internal
