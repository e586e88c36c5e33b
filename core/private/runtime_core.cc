// Spawning, waking, killing, and shutting a runtime down.
//
// Shutdown protocol. shutdown() runs on a thread outside the runtime:
//   1. stopping_ = true: spawns from outside now throw UsageError; spawns
//      from inside (a dying fiber's destructor may spawn) start pre-killed.
//   2. Every live fiber is asked to die: the scan walks every stack slot ever
//      handed out (StackPool::for_each_slot; no per-spawn registry to
//      maintain) and calls request_kill on those in state kLive. A parked
//      fiber is woken; a runnable or running one throws FiberExit at its next
//      suspension point. Its destructors run as it unwinds.
//   3. Wait until live_fibers() == 0, re-scanning now and then for fibers
//      spawned during the unwinding. A fiber that never suspends again holds
//      shutdown up for as long as it runs: cooperative scheduling cannot
//      preempt it.
//   4. exit_ = true, wake every worker, join the threads.
// Rejected: a registry of live fibers (a lock or a contended line per spawn)
// and detaching unfinished fibers (their RAII would never run).
//
// Kill protocol (Fiber::kill, and step 2 above). request_kill sets the
// fiber's sticky kill_requested flag, then reads its epoch; if the fiber is
// parked with a published token, it is woken with that token (losing the
// race to another waker is fine: the fiber re-checks the flag whenever a
// wait ends). A fiber parking at the same time does the mirror image in
// on_parked (store the token, then read the flag); with a store-load fence
// on each side (asymmetric: the parking fiber's costs nothing, the killer's is a
// membarrier, see asymmetric_fence.h) at least one sees the other and no
// kill is lost between "checked the flag" and "parked". Every suspension point calls
// throw_if_killed before and after its wait, once its bookkeeping is undone, so FiberExit leaves
// nothing linked behind. A fiber killed before its first run throws before
// its body (exit_if_killed_before_start, core/fiber.cc), except while the
// runtime stops; a fiber killing itself throws at once (kill_fiber, same
// file).
// Rejected: unlinking the victim from whatever it waits in (every kind of
// wait would need an unlink hook racing with its notifier; a wake-up with
// the token lets the waiter clean up after itself, as after a timeout).
#include "weft/core/private/runtime_core.h"

#include <chrono>
#include <cstdio>
#include <new>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "weft/core/errors.h"
#include "weft/core/internal/clock.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/private/asymmetric_fence.h"
#include "weft/core/private/overflow.h"
#include "weft/core/private/worker.h"

namespace weft::internal {
namespace {

// Builds a FiberControl over a fresh slot's header, keeping what the pool set.
void init_fiber_slot(SlotHeader* h) {
  bool canary = h->has_canary;
  auto* f = new (h) FiberControl;
  f->has_canary = canary;
}

// The wake-up epoch, which must survive a released slot's rebuild (see
// "Giving memory back" in stack_pool.cc). Relaxed: the slot is free, and
// nobody but stale wakers (who only compare it) touches it.
uint64_t fiber_epoch(SlotHeader* h) {
  return static_cast<FiberControl*>(h)->epoch.load(std::memory_order_relaxed);
}
void set_fiber_epoch(SlotHeader* h, uint64_t e) {
  static_cast<FiberControl*>(h)->epoch.store(e, std::memory_order_relaxed);
}

// Stacks an idle worker keeps in its own cache; the rest go to the shared
// list, whose surplus over RuntimeOptions::stack_reserve is released.
constexpr std::size_t kIdleCacheKeep = 64;
// How long the stack pool must stay quiet before its surplus is released.
constexpr int64_t kReleaseGraceNs = 200'000'000;

char* align_down(char* p, std::size_t a) {
  return reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) & ~(uintptr_t{a} - 1));
}

}  // namespace

RuntimeCore::RuntimeCore(const CoreOptions& options)
    : pool_(options.stack_size, kControlBytes, &init_fiber_slot),
      idle_workers_(options.workers, &poller_),
      stack_reserve_(options.stack_reserve) {
  pool_.enable_release(&fiber_epoch, &set_fiber_epoch);
  register_overflow_pool(&pool_);
  init_asymmetric_fence();  // before any fiber of ours can park
  workers_.reserve(options.workers);
  for (int i = 0; i < options.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(this, i, options.run_queue_capacity));
  }
  if (Monitor::needed(options.monitor, options.workers)) {
    monitor_ = std::make_unique<Monitor>(this, options.monitor);
  }
  for (auto& w : workers_) w->start();
  if (monitor_ != nullptr) monitor_->start();
}

RuntimeCore::~RuntimeCore() {
  shutdown();
  workers_.clear();  // returns the workers' cached stacks to pool_
  unregister_overflow_pool(&pool_);
  // Fiber handles that outlive the runtime keep their (finished) slot; mark
  // them orphaned so dropping them later touches nothing of ours.
  bool orphans = false;
  pool_.for_each_slot([&](SlotHeader* h) {
    if (h->state.load(std::memory_order_acquire) == SlotState::kZombie) {
      static_cast<FiberControl*>(h)->runtime = nullptr;
      orphans = true;
    }
  });
  if (orphans) pool_.leak_slabs();
}

RuntimeCore* RuntimeCore::current() {
  Worker* w = Worker::current();
  return w != nullptr ? w->runtime() : nullptr;
}

FiberControl* RuntimeCore::allocate(std::size_t task_bytes, std::size_t task_align) {
  Worker* w = Worker::current();
  bool local = w != nullptr && w->runtime() == this;
  if (!local) {
    // Count the spawn before checking for shutdown (seq_cst both): Dekker
    // pair with shutdown(), which sets stopping_ and then counts live fibers.
    // Either we see stopping_ and back off, or shutdown sees our fiber and
    // waits for it, never a fiber stranded in a stopped runtime's Injector.
    external_spawned_.fetch_add(1, std::memory_order_seq_cst);
    // Keeps shutdown from freeing the runtime until start() has returned.
    external_busy_.fetch_add(1, std::memory_order_seq_cst);
    if (stopping_.load(std::memory_order_seq_cst)) {
      external_spawned_.fetch_sub(1, std::memory_order_relaxed);
      external_busy_.fetch_sub(1, std::memory_order_release);
      throw UsageError("weft: spawn on a Runtime that is shutting down");
    }
  }
  if (task_bytes + kControlBytes > stack_size() / 4) {
    if (!local) {
      external_spawned_.fetch_sub(1, std::memory_order_relaxed);
      external_busy_.fetch_sub(1, std::memory_order_release);
    }
    throw UsageError(absl::StrCat("weft: the fiber's closure (", task_bytes,
                                  " bytes) is too large for its stack (", stack_size(),
                                  " bytes); capture large data by pointer or raise "
                                  "RuntimeOptions::stack_size"));
  }
  SlotHeader* h = local ? w->stacks().take() : pool_.take_shared();
  auto* f = static_cast<FiberControl*>(h);  // built by init_fiber_slot
  // Written once per slot, not on every reuse: wakers that may hold a stale
  // pointer to a fiber that has since finished (a poller word, a parking
  // fiber's own Handover) read it without synchronising with this spawn.
  // A slot only ever serves this runtime's pool; the destructor clears it
  // for orphaned handles.
  if (f->runtime != this) f->runtime = this;
  f->id = local ? w->next_fiber_id() : reserve_ids(1);
  f->invoke = nullptr;
  // destroy_result and error are null already: release_slot cleared them
  // (a fresh or rebuilt slot is built null). Clearing error here again
  // cost a std::exception_ptr's release dance on every spawn.
  f->exit_hook = nullptr;
  f->result = nullptr;
  // Relaxed: the fiber is not shared until start() publishes it.
  f->join_word.store(kJoinNone, std::memory_order_relaxed);
  f->kill_requested.store(stopping(), std::memory_order_relaxed);
  f->killed = false;
  f->timeouts = nullptr;
  f->timeout_deadline_ns = INT64_MAX;
  f->next_ready = nullptr;
  f->last_worker = nullptr;
  f->name[0] = '\0';
  char* task = align_down(reinterpret_cast<char*>(f) - task_bytes, task_align);
  f->task = task;
  f->ctx.make(pool_.lo_of(h), align_down(task, 64), &fiber_main);
  return f;
}

void RuntimeCore::abandon(FiberControl* f) {
  Worker* w = Worker::current();
  bool external = w == nullptr || w->runtime() != this;
  if (external) external_spawned_.fetch_sub(1, std::memory_order_relaxed);
  release_slot(f);
  if (external) external_busy_.fetch_sub(1, std::memory_order_release);
}

void RuntimeCore::start(FiberControl* f) {
  f->state.store(SlotState::kLive, std::memory_order_relaxed);
  Worker* w = Worker::current();
  const bool ours = w != nullptr && w->runtime() == this;
  // One site for both kinds of spawn: one uprobe fewer to place.
  WEFT_PROBE_SPAWN(f->id, ours ? w->index() : WEFT_PROBE_NO_WORKER);
  if (ours) {
    WorkerCounters::bump(w->counters().spawned);
    w->schedule_spawned(f);
  } else {
    // Counted in allocate().
    injector_.push(f);
    idle_workers_.notify_global();
    // Release: our last touch of the runtime; pairs with shutdown's acquire.
    external_busy_.fetch_sub(1, std::memory_order_release);
  }
}

void RuntimeCore::release_handle(FiberControl* f) {
  RuntimeCore* rt = f->runtime;
  // Acquire: pairs with the fiber's exchange to kJoinDone (its result and
  // every write to the slot are then ours).
  uintptr_t jw = f->join_word.load(std::memory_order_acquire);
  if (jw != kJoinDone) {
    // Still running: hand the slot to the fiber, unless it finishes first.
    if (f->join_word.compare_exchange_strong(jw, kJoinDetached, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
      return;
    }
  }
  if (rt != nullptr) {
    rt->release_slot(f);
  } else if (f->destroy_result != nullptr) {
    f->destroy_result(f);  // orphaned by a destroyed runtime: the slot stays leaked
    f->error = nullptr;
  }
}

void RuntimeCore::release_slot(FiberControl* f) {
  if (f->destroy_result != nullptr) f->destroy_result(f);
  f->destroy_result = nullptr;
  f->error = nullptr;
  // Most slots have a guard page and no canary: no call for them.
  if (f->has_canary && !pool_.canary_intact(f)) [[unlikely]] {
    std::fprintf(stderr, "weft: fiber %llu overflowed its stack (size %zu bytes)\n",
                 static_cast<unsigned long long>(f->id), stack_size());
    std::abort();
  }
  f->state.store(SlotState::kFree, std::memory_order_relaxed);
  Worker* w = Worker::current();
  if (w != nullptr && w->runtime() == this) {
    w->stacks().give(f);
  } else {
    pool_.give_shared(f, f, 1);
  }
}

// The surplus goes only once the shared list has seen no take or give for
// this long: a program that spawns a burst, joins it and spawns the next
// (BM_SleepMillion's warm round) keeps its warm stacks, where releasing at
// the first idle moment made every re-spawn a page fault again (6.6 us a
// fiber instead of ~0.2). Go's scavenger paces itself for the same reason.
std::size_t RuntimeCore::release_idle_stacks(StackCache& cache, int64_t* due_ns) {
  *due_ns = -1;
  cache.trim(kIdleCacheKeep);
  // The worker's own cache: its pages go once this worker has spawned and
  // ended nothing for a grace (the steady traffic it serves never shows in
  // the pool's activity, so the pool's quiet says nothing about it).
  int64_t now = -1;
  if (cache.trim_pending()) {
    now = monotonic_now_ns();
    *due_ns = cache.trim_pages_when_quiet(now, kReleaseGraceNs);
  }
  if (pool_.shared_free() <= stack_reserve_ && pool_.warm_free() == 0) return 0;
  const uint64_t activity = pool_.activity();
  if (now < 0) now = monotonic_now_ns();
  if (activity != release_seen_activity_.load(std::memory_order_relaxed)) {
    release_seen_activity_.store(activity, std::memory_order_relaxed);
    release_due_ns_.store(now + kReleaseGraceNs, std::memory_order_relaxed);
  }
  const int64_t due = release_due_ns_.load(std::memory_order_relaxed);
  if (now < due) {
    if (*due_ns < 0 || due < *due_ns) *due_ns = due;
    return 0;
  }
  // The surplus first, warm slots before trimmed ones; then the reserve
  // keeps one page a slot (StackPool::trim_idle).
  if (std::size_t released = pool_.release_idle(stack_reserve_); released != 0) return released;
  return pool_.trim_idle();
}

// RuntimeCore::wake's body, compiled into both of its entry points (the
// member, and fiber_api.h's wake below, sync/'s and io/'s), so that the
// latter is not a second call on every wake of a channel or a mutex.
[[gnu::always_inline]] inline void RuntimeCore::wake_inline(FiberControl* f) {
  // One Worker::current() per wake; the common case (a fiber of ours woken
  // on one of our workers: the next slot) is inline, the rest out of line.
  Worker* w = Worker::current();
  if (w != nullptr && w->runtime() == this) [[likely]] {
    WEFT_PROBE_WAKE(f->id, w->index());
    w->schedule_woken(f);
    return;
  }
  wake_external(f);
}

void RuntimeCore::wake(FiberControl* f) { wake_inline(f); }

void RuntimeCore::wake_external(FiberControl* f) {
  // A waker from outside (a plain thread, or another runtime's worker)
  // keeps this runtime alive until it is done: the woken fiber may finish
  // and the runtime be destroyed while we are still in notify_global().
  // Counted before the push, so a shutdown that sees the fiber finished
  // also sees us (push/pop order the two).
  external_busy_.fetch_add(1, std::memory_order_relaxed);
  WEFT_PROBE_WAKE(f->id, WEFT_PROBE_NO_WORKER);
  // Relaxed: a statistic, read by stats() with no other field to agree with.
  external_wakeups_.fetch_add(1, std::memory_order_relaxed);
  injector_.push(f);
  idle_workers_.notify_global();
  // Release: pairs with the acquire load in shutdown().
  external_busy_.fetch_sub(1, std::memory_order_release);
}

bool RuntimeCore::try_wake(FiberControl* f, uint64_t token) {
  if (!try_claim(f, token)) return false;
  wake(f);
  return true;
}

bool RuntimeCore::try_claim(FiberControl* f, uint64_t token) {
  for (;;) {
    // Acquire: pairs with the seq_cst store of the token in on_parked, so we
    // see everything the fiber published before parking.
    uint64_t e = f->epoch.load(std::memory_order_acquire);
    if (e == token + 2) {  // still publishing: a handful of instructions away
      __builtin_ia32_pause();
      continue;
    }
    if (e != token) return false;
    if (f->epoch.compare_exchange_weak(e, token + 3, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
      return true;
    }
  }
}

// Exclusive claims. A channel's waiter with no deadline can be woken only
// by whoever holds the channel's lock (and claims it) or by a kill; a CAS on
// the epoch to arbitrate between the two costs ~5 ns on every hand-off, for
// a race that needs a kill. So the claimer, under the lock, instead stores
// the token in exclusive_claim, orders that before reading the kill flag
// (light side of the asymmetric fence), and if the flag is clear owns the
// wait and stores the woken epoch plainly. The killer stores the flag, runs
// the heavy fence, and before its CAS reads exclusive_claim: equal to the
// token, the wait is the claimer's. Dekker: a claimer that read the flag
// clear is seen by every killer that comes after the fence. A claimer that
// reads it set falls back to the CAS, where exactly one of them wins; a
// killer that backed off is fine, the fiber sees its flag at its next
// suspension point. on_parked, finding the flag set after publishing, plays
// the killer (heavy fence included). Without the asymmetric fence every
// claim is a CAS.
bool RuntimeCore::try_claim_exclusive(FiberControl* f, uint64_t token) {
  if (!g_asymmetric_fence.load(std::memory_order_relaxed)) return try_claim(f, token);
  uint64_t e;
  // Acquire, as in try_claim: spin while the parking fiber is still publishing.
  while ((e = f->epoch.load(std::memory_order_acquire)) == token + 2) __builtin_ia32_pause();
  if (e != token) return false;
  if (!f->kill_requested.load(std::memory_order_relaxed)) {
    f->exclusive_claim.store(token, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the light fence
    if (!f->kill_requested.load(std::memory_order_relaxed)) {
      // Ours: no killer will CAS this wait. Relaxed: the fiber reads its
      // epoch only after running, which our wake() orders after this.
      f->epoch.store(token + 3, std::memory_order_relaxed);
      return true;
    }
  }
  return try_claim(f, token);  // a kill is racing: arbitrate by CAS
}

void RuntimeCore::request_kill(FiberControl* f) {
  f->kill_requested.store(true, std::memory_order_relaxed);
  heavy_fence();
  interrupt_if_parked(f);
}

void RuntimeCore::interrupt_if_parked(FiberControl* f) {
  // After the flag and the heavy fence: the Dekker pair with on_parked
  // (epoch, light fence, flag). Acquire, as in try_claim.
  uint64_t e = f->epoch.load(std::memory_order_acquire);
  // Still publishing token e - 2: a handful of instructions away.
  if ((e & kEpochPhaseMask) == kEpochPublishing) {
    const uint64_t publishing = e;
    while ((e = f->epoch.load(std::memory_order_acquire)) == publishing) __builtin_ia32_pause();
  }
  if ((e & kEpochPhaseMask) == kEpochPublished) interrupt_wait(f, e);
}

void RuntimeCore::interrupt_wait(FiberControl* f, uint64_t token) {
  // A claimer that took the wait without a CAS (try_claim_exclusive) has
  // it; otherwise arbitrate by CAS. Call after the kill flag and a heavy
  // fence.
  if (f->exclusive_claim.load(std::memory_order_relaxed) == token) return;
  try_wake(f, token);
}

uint64_t RuntimeCore::live_fibers() const {
  // Finished before spawned, each with acquire: a finish we count implies we
  // also count its spawn, so the result never undercounts (see the essay).
  uint64_t finished = 0;
  for (const auto& w : workers_) finished += w->counters().finished.load(std::memory_order_acquire);
  // Seq-cst: the other half of the Dekker pair in allocate() (external spawns).
  uint64_t spawned = external_spawned_.load(std::memory_order_seq_cst);
  for (const auto& w : workers_) spawned += w->counters().spawned.load(std::memory_order_acquire);
  return spawned - finished;
}

void RuntimeCore::kill_all_live() {
  // request_kill for every live fiber, with one heavy fence for them all:
  // every flag, the fence, then every epoch.
  auto live = [](SlotHeader* h) {
    return h->state.load(std::memory_order_acquire) == SlotState::kLive;
  };
  pool_.for_each_slot([&](SlotHeader* h) {
    if (live(h))
      static_cast<FiberControl*>(h)->kill_requested.store(true, std::memory_order_relaxed);
  });
  heavy_fence();
  pool_.for_each_slot([&](SlotHeader* h) {
    if (live(h)) interrupt_if_parked(static_cast<FiberControl*>(h));
  });
}

void RuntimeCore::shutdown() {
  Worker* w = Worker::current();
  if (w != nullptr && w->runtime() == this) {
    throw UsageError("weft: a Runtime cannot be shut down or destroyed from one of its own fibers");
  }
  if (shut_down_.exchange(true, std::memory_order_acq_rel)) {
    // Another thread shuts down (or did): wait until it has joined the
    // workers (a std::thread must be joined by one thread only).
    while (!joined_.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return;
  }
  stopping_.store(true, std::memory_order_seq_cst);
  auto last_scan = std::chrono::steady_clock::now();
  kill_all_live();
  auto pause = std::chrono::microseconds(50);
  while (live_fibers() != 0 || external_busy_.load(std::memory_order_acquire) != 0) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
    auto now = std::chrono::steady_clock::now();
    if (now - last_scan > std::chrono::milliseconds(100)) {
      kill_all_live();  // fibers spawned while others unwound
      last_scan = now;
    }
  }
  // The monitor first: it reads the workers, which are about to go.
  if (monitor_ != nullptr) monitor_->stop();
  exit_.store(true, std::memory_order_release);
  idle_workers_.wake_all();
  for (auto& worker : workers_) worker->join_thread();
  joined_.store(true, std::memory_order_release);
}

// fiber_api.h's waker side, for sync/ and io/: a fiber is woken by the
// runtime it belongs to. Here, next to the members, so each compiles to them.
bool try_wake(FiberControl* f, uint64_t token) { return f->runtime->try_wake(f, token); }
bool try_claim(FiberControl* f, uint64_t token) { return f->runtime->try_claim(f, token); }
bool try_claim_exclusive(FiberControl* f, uint64_t token) {
  return f->runtime->try_claim_exclusive(f, token);
}
void wake(FiberControl* f) { f->runtime->wake_inline(f); }

}  // namespace weft::internal
