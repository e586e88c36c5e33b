#include "weft/sync/event.h"

#include "weft/core/internal/fiber_api.h"

namespace weft {

// The flag is set under the queue's lock and the unlock is set()'s last
// touch of the Event, so a fiber that sees the flag (wait() or is_set())
// may destroy the Event at once: the destructor takes the same lock
// (abort_if_waited_on) and cannot finish before set() has let go. Setting
// the flag before taking the lock let the waiter free the memory set() was
// about to lock (DestroyAfterWaitTest).
void Event::set() {
  waiters_.lock();
  // Release: what the setter did before set() is visible after wait().
  flag_.store(true, std::memory_order_release);
  waiters_.notify_all();
  waiters_.unlock();
}

Event::~Event() { waiters_.abort_if_waited_on("weft::Event"); }

void Event::wait() { wait_until_ns(INT64_MAX); }

bool Event::wait_for(absl::Duration timeout) {
  return wait_until_ns(internal::deadline_after(timeout));
}

bool Event::wait_until(absl::Time deadline) {
  return wait_until_ns(internal::deadline_at(deadline));
}

bool Event::wait_until_ns(int64_t deadline) {
  internal::FiberControl* self = internal::require_fiber("weft::Event::wait");
  if (is_set()) return true;
  waiters_.lock();
  while (!is_set()) {
    WaitQueue::Result r = waiters_.wait(deadline);
    if (r == WaitQueue::Result::kInterrupted) {
      waiters_.unlock();
      internal::throw_if_killed(self);
      return is_set();
    }
    if (r == WaitQueue::Result::kTimeout && internal::monotonic_now_ns() >= deadline) break;
  }
  bool set = is_set();
  waiters_.unlock();
  return set;
}

}  // namespace weft
