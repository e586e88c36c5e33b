// Parking, waking and joining fibers.
//
// Publishing a parked fiber is two-phase (see kEpochStep): the Handover first
// marks the epoch "publishing" (4k+3), runs the wait's publish callback (which
// makes the fiber findable, e.g. by storing a JoinWaiter in a join word), and
// only then stores the token (4k+1). A waker that found the fiber early spins
// in try_wake until the token appears. This keeps wakers from resuming the
// fiber while its Handover is still reading the fiber's stack (the publish
// arguments live there). Rejected: publishing the token first (a kill could
// resume the fiber under the callback's feet) and publishing it last without
// the spin state (a waker that found the fiber early would lose its wake-up).
#include "weft/core/internal/park.h"

#include <condition_variable>
#include <mutex>

#include "weft/core/internal/asymmetric_fence.h"
#include "weft/core/internal/clock.h"
#include "weft/core/internal/runtime_core.h"
#include "weft/core/internal/worker.h"

namespace weft::internal {
namespace {

// The Handover comes first: on_parked finds the rest from the pointer it is
// given (one record on the parking fiber's stack, one store less).
struct ParkArgs {
  Handover h;
  FiberControl* self;
  uint64_t token;
  int64_t deadline_ns;
  PublishFn publish;
  void* arg;
};

// Out of line: inlined, the timer heap's growth path made on_parked save
// every callee-saved register on each park, timed or not.
[[gnu::noinline]] void add_park_timer(int64_t deadline_ns, FiberControl* self, uint64_t token) {
  Worker::current()->add_timer(deadline_ns, self, token);
}

void on_parked(Handover* h) {
  const auto* a = reinterpret_cast<const ParkArgs*>(h);
  // Read what is needed after publish() into locals first: once the fiber is
  // published, its stack (and *a, *h) may be gone. The other fields are read
  // before that point; only two values then live across the call.
  FiberControl* const self = a->self;
  const uint64_t token = a->token;
  // The timer goes in only now, after the switch: added before it, a timer
  // already due could fire while the fiber was still picking its successor
  // (pick_local fires due timers), find it not parked yet, and be dropped,
  // leaving the fiber asleep forever. Timers fire on this thread only, so
  // none can fire before this Handover has published the token below.
  if (a->deadline_ns != INT64_MAX) add_park_timer(a->deadline_ns, self, token);
  // Relaxed: until the token is stored below, only this thread touches epoch
  // except wakers spinning on it, who wait for the release store.
  self->epoch.store(token + 2, std::memory_order_relaxed);
  if (PublishFn publish = a->publish; publish != nullptr && publish(self, token, a->arg)) {
    self->epoch.store(token + 3, std::memory_order_relaxed);
    self->runtime->wake(self);
    return;
  }
  // Publishes the wait to wakers (a release store: their acquire load in
  // try_claim), and is our half of the Dekker pair with request_kill (flag,
  // fence, epoch): store, fence, flag. The fence is the light side of an
  // asymmetric pair (asymmetric_fence.h): the killer pays for it.
  store_then_fence(self->epoch, token);
  // From here on the fiber may already be woken, run, finish and have its
  // slot reused by a new spawn: read nothing of it but atomics. A stale
  // flag or token only makes interrupt_wait's claim fail (epochs only grow,
  // also across reuse).
  if (self->kill_requested.load(std::memory_order_relaxed)) [[unlikely]] {
    // Killed while parking: end the wait as a killer would, heavy fence
    // included (a claimer may be taking the wait without a CAS, see
    // RuntimeCore::try_claim_exclusive). Not self->runtime: a fiber parks
    // on a worker of its own runtime.
    heavy_fence();
    Worker::current()->runtime()->interrupt_wait(self, token);
  }
}

// A fiber or thread waiting in join_fiber; lives on the waiter's stack.
struct ThreadSignal {
  std::mutex mu;
  std::condition_variable cv;
  bool signalled = false;
};

struct JoinWaiter {
  FiberControl* fiber = nullptr;  // the joining fiber, or null for a thread
  ThreadSignal* thread = nullptr;
  FiberControl* target = nullptr;
  uint64_t token = 0;
  bool published = false;          // stored in target->join_word
  // Set (release) by the target after it copied fiber/token out: from then on
  // it never touches this record. Read (acquire) by a joiner that timed out
  // but lost the race to unregister.
  std::atomic<bool> taken{false};
};

bool publish_join(FiberControl* self, uint64_t token, void* arg) {
  auto* rec = static_cast<JoinWaiter*>(arg);
  rec->token = token;
  rec->published = true;
  uintptr_t expected = kJoinNone;
  // acq_rel: release publishes rec's fields to the target; acquire (on
  // failure) sees the target's result if it is already done.
  if (rec->target->join_word.compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(rec),
                                                     std::memory_order_acq_rel,
                                                     std::memory_order_acquire)) {
    return false;  // do not touch rec from here on
  }
  rec->published = false;
  return true;  // already finished (or, on misuse, joined by someone else)
}

// After a wait ends, takes our JoinWaiter back out of the join word, or waits
// until the target, which already took it, is done with it.
void unpublish_join(JoinWaiter* rec) {
  uintptr_t expected = reinterpret_cast<uintptr_t>(rec);
  if (rec->target->join_word.compare_exchange_strong(expected, kJoinNone, std::memory_order_acq_rel,
                                                     std::memory_order_acquire)) {
    return;
  }
  while (!rec->taken.load(std::memory_order_acquire)) __builtin_ia32_pause();
}

bool join_from_thread(FiberControl* target, int64_t deadline_ns) {
  ThreadSignal sig;
  JoinWaiter rec;
  rec.thread = &sig;
  rec.target = target;
  uintptr_t expected = kJoinNone;
  if (!target->join_word.compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(&rec),
                                                 std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
    return expected == kJoinDone;
  }
  std::unique_lock<std::mutex> lock(sig.mu);
  while (!sig.signalled) {
    if (deadline_ns == INT64_MAX) {
      sig.cv.wait(lock);
      continue;
    }
    int64_t left = deadline_ns - monotonic_now_ns();
    if (left <= 0) break;
    sig.cv.wait_for(lock, std::chrono::nanoseconds(left));
  }
  if (sig.signalled) return true;
  lock.unlock();
  expected = reinterpret_cast<uintptr_t>(&rec);
  if (target->join_word.compare_exchange_strong(expected, kJoinNone, std::memory_order_acq_rel,
                                                std::memory_order_acquire)) {
    return false;
  }
  // The target took our record: it is about to signal. Wait for it, so it
  // never touches a dead record.
  lock.lock();
  sig.cv.wait(lock, [&] { return sig.signalled; });
  return true;
}

// Runs on the context that follows a finished fiber, on the same thread.
void on_finished(Handover* h) {
  auto* f = static_cast<FiberControl*>(h->arg);
  RuntimeCore* rt = f->runtime;
  Worker* w = Worker::current();
  WorkerCounters::bump(w->counters().finished);
  // TSan models each context as a thread and allows only ~8k at once: give
  // the dead fiber's back now, not when the slot is reused.
  f->ctx.release();
  f->state.store(SlotState::kZombie, std::memory_order_relaxed);
  // Read before the exchange below: after it the slot may be the handle's.
  void (*hook)(void*) noexcept = f->exit_hook;
  void* hook_arg = f->exit_hook_arg;
  // acq_rel: release publishes the result to the joiner; acquire sees its
  // record. Unless the handle is gone, the slot is the handle's from here on:
  // do not touch f after this line.
  uintptr_t jw = f->join_word.exchange(kJoinDone, std::memory_order_acq_rel);
  if (jw == kJoinDetached) {
    rt->release_slot(f);
  } else if (jw != kJoinNone) {
    auto* rec = reinterpret_cast<JoinWaiter*>(jw);
    if (rec->thread != nullptr) {
      ThreadSignal* sig = rec->thread;
      std::lock_guard<std::mutex> lock(sig->mu);
      sig->signalled = true;
      sig->cv.notify_one();  // under the lock: the waiter cannot return and free sig first
    } else {
      FiberControl* joiner = rec->fiber;
      uint64_t token = rec->token;
      rec->taken.store(true, std::memory_order_release);  // last touch of rec
      joiner->runtime->try_wake(joiner, token);  // the joiner's runtime, maybe not ours
    }
  }
  // Last: whoever the hook tells (a weft::Pool's join) finds the fiber ready.
  if (hook != nullptr) hook(hook_arg);
}

}  // namespace

void throw_outside_fiber(const char* who) {
  throw UsageError(std::string(who) +
                   " called outside a fiber; call it from a function started with "
                   "weft::spawn, Runtime::spawn or weft::run");
}

void park_current(int64_t deadline_ns, PublishFn publish, void* arg) {
  Worker* w = Worker::current();
  FiberControl* self = w->current_fiber();
  // The one cost of weft::Timeout on this path when none is armed (the
  // field is then INT64_MAX). While unwinding, Timeouts do not apply (see
  // throw_if_killed): parking with an expired deadline would then only spin.
  if (self->timeout_deadline_ns < deadline_ns) [[unlikely]] {
    if (std::uncaught_exceptions() == 0) deadline_ns = self->timeout_deadline_ns;
  }
  // Relaxed: between waits only this fiber writes its epoch.
  uint64_t e = self->epoch.load(std::memory_order_relaxed);
  uint64_t token = (e & ~(kEpochStep - 1)) + 1;
  ParkArgs args{{}, self, token, deadline_ns, publish, arg};
  args.h.action = &on_parked;
  w->suspend(&args.h);
}

bool join_fiber(FiberControl* target, int64_t deadline_ns) {
  if (target->join_word.load(std::memory_order_acquire) == kJoinDone) return true;
  Worker* w = Worker::current();
  FiberControl* self = w != nullptr ? w->current_fiber() : nullptr;
  if (self == nullptr) return join_from_thread(target, deadline_ns);
  if (self == target) throw UsageError("weft: a fiber cannot join itself");
  for (;;) {
    if (target->join_word.load(std::memory_order_acquire) == kJoinDone) return true;
    throw_if_killed(self);
    if (deadline_ns != INT64_MAX && monotonic_now_ns() >= deadline_ns) return false;
    JoinWaiter rec;
    rec.fiber = self;
    rec.target = target;
    park_current(deadline_ns, &publish_join, &rec);
    if (rec.published) unpublish_join(&rec);
  }
}

void exit_if_killed_before_start(FiberControl* self) {
  // A kill before the first run (Fiber::kill) means the body never runs,
  // as gevent's kill of a greenlet that has not started. Fibers spawned
  // while the runtime shuts down start pre-killed too (see allocate); they
  // run to their first suspension point instead, so work that a dying
  // fiber's destructor hands to a new fiber gets done if it need not wait.
  if (!self->runtime->stopping()) throw FiberExit{};
}

void fiber_main(Handover*) {
  FiberControl* self = Worker::current()->current_fiber();
  try {
    self->invoke(self);
  } catch (const FiberExit&) {
    self->killed = true;
  } catch (...) {
    self->error = std::current_exception();
  }
  Handover h;
  h.action = &on_finished;
  h.arg = self;
  Worker::current()->exit_current(&h);
}

}  // namespace weft::internal
