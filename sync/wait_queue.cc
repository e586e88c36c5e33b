// WaitQueue: park under a lock, released after the switch.
//
// wait() links a Waiter into the list while holding the lock, then parks
// with a publish callback (core/internal/fiber_api.h) that stores the wait's token
// in the Waiter and *then* releases the lock, from the Handover that runs
// after the fiber has switched out. A notifier must take the lock to find the
// Waiter, so it can only see it once its token is valid and the fiber is
// (being) parked; internal::try_wake covers the last few instructions of
// publication by spinning. Rejected: releasing the lock before parking (a
// notify in between is lost) and a per-waiter futex (blocks the thread).
#include "weft/sync/wait_queue.h"

#include <cstddef>

#include "weft/core/errors.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/sync/internal/chan_wait.h"

namespace weft {

struct WaitQueueAccess {
  static void append(WaitQueue& q, WaitQueue::Waiter* w) {
    w->prev = q.tail_;
    w->next = nullptr;
    if (q.tail_ != nullptr) {
      q.tail_->next = w;
    } else {
      q.head_ = w;
    }
    q.tail_ = w;
    w->linked = true;
  }
  static void unlink(WaitQueue& q, WaitQueue::Waiter* w) {
    (w->prev != nullptr ? w->prev->next : q.head_) = w->next;
    (w->next != nullptr ? w->next->prev : q.tail_) = w->prev;
    w->next = w->prev = nullptr;
    w->linked = false;
  }
  struct Publish {
    WaitQueue* q;
    WaitQueue::Waiter* w;
  };
  // Runs in the Handover: the fiber has switched out.
  static bool publish(internal::FiberControl*, uint64_t token, void* arg)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {  // releases the lock wait() took, across the switch
    auto* p = static_cast<Publish*>(arg);
    WaitQueue* q = p->q;
    p->w->token = token;
    q->lock_.unlock();  // from here on neither *p nor the Waiter is ours
    return false;
  }
};

// The lock moves between this function and the Handover (see the essay), which
// the static analysis cannot follow.
WaitQueue::Result WaitQueue::wait(int64_t deadline_ns) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  internal::FiberControl* self;
  try {
    self = internal::require_fiber("weft::WaitQueue::wait (and every weft sync wait)");
  } catch (...) {
    lock_.unlock();
    throw;
  }
  if (internal::wait_interrupted(self)) return Result::kInterrupted;
  Waiter w;
  w.fiber = self;
  WaitQueueAccess::append(*this, &w);
  WaitQueueAccess::Publish p{this, &w};
  internal::set_wait_site(self, kind_, reinterpret_cast<uintptr_t>(this));
  internal::park_current(deadline_ns, &WaitQueueAccess::publish, &p);
  lock_.lock();
  if (w.linked) WaitQueueAccess::unlink(*this, &w);
  if (w.notified) return Result::kNotified;
  if (internal::wait_interrupted(self)) return Result::kInterrupted;
  return Result::kTimeout;  // or spurious: callers re-check their condition
}

void WaitQueue::abort_if_waited_on(const char* what) {
  lock_.lock();
  std::size_t n = 0;
  for (Waiter* w = head_; w != nullptr; w = w->next) ++n;
  lock_.unlock();
  if (n != 0) internal::abort_destroyed_with_waiters(what, n);
}

int WaitQueue::notify(int n) {
  int woken = 0;
  while (woken < n && head_ != nullptr) {
    Waiter* w = head_;
    WaitQueueAccess::unlink(*this, w);
    // A waiter whose timer or kill got there first is already leaving: it
    // does not count, and the notification goes to the next one.
    if (internal::try_wake(w->fiber, w->token)) {
      w->notified = true;  // read by the waiter only after it re-takes the lock
      ++woken;
    }
  }
  return woken;
}

}  // namespace weft
