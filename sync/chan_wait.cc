// Parking for channel waiters (see internal/chan_wait.h).
#include "weft/sync/internal/chan_wait.h"

#include <cstdio>
#include <cstdlib>

#include "weft/core/internal/fiber_api.h"

namespace weft::internal {
namespace {

struct PublishArgs {
  ChanWaiter* ws;
  int n;
  SpinLock* const* locks;
  int n_locks;
};

// Runs in the Handover, after the fiber switched out: a claimer finds the
// waiters only under a lock, so once the token is in every waiter the locks
// may go. The first unlock may let a claimer in, which may wake the fiber and
// end its stack frame: copy the lock pointers first.
// (No analysis: it releases locks its caller's fiber took, after the switch.)
bool publish(FiberControl*, uint64_t token, void* arg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  auto* a = static_cast<PublishArgs*>(arg);
  for (int i = 0; i < a->n; ++i) a->ws[i].token = token;
  SpinLock* copy[kMaxSelectLocks];
  const int n_locks = a->n_locks;
  for (int i = 0; i < n_locks; ++i) copy[i] = a->locks[i];
  for (int i = 0; i < n_locks; ++i) copy[i]->unlock();
  return false;
}

}  // namespace

void park_waiters(ChanWaiter* ws, int n, SpinLock* const* locks, int n_locks, int64_t deadline_ns) {
  PublishArgs a{ws, n, locks, n_locks};
  set_wait_site(ws[0].fiber, WaitKind::kSelect, 0);
  park_current(deadline_ns, &publish, &a);
}

void abort_destroyed_with_waiters(const char* what, std::size_t n) {
  std::fprintf(stderr,
               "weft: %s destroyed while %zu fiber%s wait%s on it (destroy it only once no "
               "fiber can wait on it any more)\n",
               what, n, n == 1 ? "" : "s", n == 1 ? "s" : "");
  std::fflush(stderr);
  std::abort();
}

void unlock_and_throw_outside_fiber(SpinLock& lock, const char* who)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {  // releases a lock its caller took
  lock.unlock();
  throw_outside_fiber(who);
}

}  // namespace weft::internal
