// select: lock every channel involved (in address order), run a ready case
// if there is one (starting at a random case, for fairness), otherwise link
// one waiter per case into its channel's queue and park. The first
// counterpart (or close) to claim the fiber completes its case through the
// waiter, as for a plain send or recv (sync/internal/chan_wait.h); the
// others then find the fiber already claimed and pass it by. Back from the
// park, the select re-takes the locks and unlinks the waiters still queued.
#include "weft/sync/select.h"

#include <algorithm>
#include <string>

#include "weft/core/errors.h"

namespace weft::internal {

namespace {
uint32_t next_random() {
  // Per thread, only to spread the starting case: no need for quality.
  thread_local uint32_t x =
      0x9E3779B9u ^ static_cast<uint32_t>(reinterpret_cast<uintptr_t>(&x) >> 4);
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}
}  // namespace

int select_cases(SelectCase* const* cases, int n, int64_t deadline_ns, bool poll) {
  if (n < 1 || n > kMaxSelectLocks) {
    throw UsageError("weft::select takes 1 .. 16 cases, got " + std::to_string(n));
  }
  // Distinct channel locks, in address order: one global order, so two
  // selects over the same channels cannot deadlock.
  SpinLock* locks[kMaxSelectLocks];
  int n_locks = 0;
  for (int i = 0; i < n; ++i) {
    SpinLock* l = cases[i]->lock();
    if (std::find(locks, locks + n_locks, l) == locks + n_locks) locks[n_locks++] = l;
  }
  std::sort(locks, locks + n_locks);
  auto lock_all = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {  // a run-time number of locks
    for (int j = 0; j < n_locks; ++j) locks[j]->lock();
  };
  auto unlock_all = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {  // a run-time number of locks
    for (int j = n_locks - 1; j >= 0; --j) locks[j]->unlock();
  };

  lock_all();
  for (;;) {
    int start = static_cast<int>(next_random() % static_cast<uint32_t>(n));
    for (int k = 0; k < n; ++k) {
      int i = (start + k) % n;
      FiberControl* wake = nullptr;
      bool done;
      try {
        done = cases[i]->try_complete(&wake);
      } catch (...) {  // moving a value threw (see Channel::send_now)
        unlock_all();
        throw;
      }
      if (done) {
        unlock_all();
        wake_claimed(wake);
        return i;
      }
    }
    if (poll || (deadline_ns != INT64_MAX && monotonic_now_ns() >= deadline_ns)) {
      unlock_all();
      return -1;
    }
    FiberControl* self;
    try {
      self = require_fiber("weft::select");
    } catch (...) {
      unlock_all();
      throw;
    }
    if (wait_interrupted(self)) {
      unlock_all();
      throw_if_killed(self);
      return -1;  // already unwinding: give up
    }
    SelectWait sel;
    ChanWaiter ws[kMaxSelectLocks];
    for (int i = 0; i < n; ++i) {
      ws[i].fiber = self;
      ws[i].select = &sel;
      ws[i].case_index = i;
      cases[i]->enqueue(&ws[i]);
    }
    park_waiters(ws, n, locks, n_locks, deadline_ns);
    lock_all();
    for (int i = 0; i < n; ++i) cases[i]->dequeue(&ws[i]);
    if (sel.fired >= 0) {
      unlock_all();
      cases[sel.fired]->finish(ws[sel.fired].outcome);
      return sel.fired;
    }
    if (wait_interrupted(self)) {
      unlock_all();
      throw_if_killed(self);
      return -1;  // already unwinding: give up
    }
    // Timed out or woken spuriously: look again (the deadline check above).
  }
}

}  // namespace weft::internal
