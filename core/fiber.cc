// A fiber's life after spawn: the entry point every fiber runs (fiber_main),
// its end (on_finished: the result published through the join word, the
// slot freed or left to the handle, the exit hook), joining (join_fiber, from
// a fiber or a plain thread; join_all) and killing (kill_fiber). The handle
// is core/fiber.h; spawning is core/spawn.h and RuntimeCore::allocate/start.
//
// The join word (FiberControl::join_word) decides who frees a finished
// fiber's slot and who is told it finished, with one atomic RMW on each side
// at most: see fiber_control.h. A joining fiber parks with publish_join,
// which stores its JoinWaiter in the word only after it switched out (the
// park protocol of core/internal/park.cc); a joining thread stores its record
// at once and sleeps on a condition variable.
#include "weft/core/fiber.h"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "weft/core/errors.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/private/runtime_core.h"
#include "weft/core/private/worker.h"
#include "weft/core/spawn.h"

namespace weft {
namespace internal {
namespace {

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
  bool published = false;  // stored in target->join_word
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
  // the dead fiber's back now (to this thread's cache, see context.cc), not
  // when the slot is reused.
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
      joiner->runtime->try_wake(joiner, token);           // the joiner's runtime, maybe not ours
    }
  }
  // Last: whoever the hook tells (a weft::Pool's join) finds the fiber ready.
  if (hook != nullptr) hook(hook_arg);
}

}  // namespace

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
    set_wait_site(self, WaitKind::kJoin, target->id);
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

void kill_fiber(FiberControl* f) {
  // Acquire: pairs with the fiber's exchange to kJoinDone. A finished fiber
  // is left alone (its runtime may even be gone: the handle is orphaned).
  if (f->join_word.load(std::memory_order_acquire) == kJoinDone) return;
  f->runtime->request_kill(f);
  // Killing oneself raises at once, as greenlet.kill() on the current
  // greenlet does; not while unwinding (a destructor must not throw): the
  // sticky flag then fires at the next suspension point.
  Worker* w = Worker::current();
  if (w != nullptr && w->current_fiber() == f && std::uncaught_exceptions() == 0) {
    throw FiberExit{};
  }
}

}  // namespace internal

JoinAllResult join_all(std::span<const FiberRef> fibers, absl::Duration timeout) {
  int64_t deadline = internal::deadline_after(timeout);
  bool timed_out = false;
  for (const FiberRef& f : fibers) {
    if (f.control() != nullptr && !internal::join_fiber(f.control(), deadline)) {
      timed_out = true;
      break;
    }
  }
  if (!timed_out) return JoinAllResult(fibers.size());
  // One snapshot after the waiting: fibers after the one that timed out may
  // have finished too (and count: gevent's joinall also reports them).
  std::vector<bool> done(fibers.size());
  for (std::size_t i = 0; i < fibers.size(); ++i) {
    internal::FiberControl* c = fibers[i].control();
    // Acquire: pairs with the fiber's exchange to kJoinDone.
    done[i] = c == nullptr || c->join_word.load(std::memory_order_acquire) == internal::kJoinDone;
  }
  return JoinAllResult(std::move(done));
}

}  // namespace weft
