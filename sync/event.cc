#include "weft/sync/event.h"

#include "weft/core/internal/clock.h"
#include "weft/core/internal/park.h"

namespace weft {

void Event::set() {
  // Release: what the setter did before set() is visible after wait().
  flag_.store(true, std::memory_order_release);
  waiters_.lock();
  waiters_.notify_all();
  waiters_.unlock();
}

bool Event::wait(absl::Duration timeout) {
  internal::FiberControl* self = internal::require_fiber("weft::Event::wait");
  if (is_set()) return true;
  int64_t deadline = internal::deadline_after(timeout);
  waiters_.lock();
  while (!is_set()) {
    WaitQueue::Result r = waiters_.wait(deadline);
    if (r == WaitQueue::Result::kKilled) {
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
