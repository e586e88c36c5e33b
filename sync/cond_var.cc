#include "weft/sync/cond_var.h"

#include "weft/core/errors.h"
#include "weft/core/internal/fiber_api.h"

namespace weft {

CondVar::~CondVar() { waiters_.abort_if_waited_on("weft::CondVar"); }

// The mutex leaves and re-enters `lock` (a std::unique_lock), which the
// static analysis does not follow.
bool CondVar::wait_ns(std::unique_lock<Mutex>& lock,
                      int64_t deadline_ns) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  internal::FiberControl* self = internal::require_fiber("weft::CondVar::wait");
  // Queue first, then release the mutex: a notify after the unlock finds us.
  waiters_.lock();
  lock.unlock();
  WaitQueue::Result r = waiters_.wait(deadline_ns);
  waiters_.unlock();
  // Re-acquired before any exception leaves, like std::condition_variable,
  // even when the fiber is being killed.
  Mutex* mu = lock.release();  // unlocked above: re-acquire and let `lock` own it again
  mu->lock_impl(false);
  lock = std::unique_lock<Mutex>(*mu, std::adopt_lock);
  if (r == WaitQueue::Result::kInterrupted) internal::throw_if_killed(self);
  return r != WaitQueue::Result::kTimeout || internal::monotonic_now_ns() < deadline_ns;
}

void CondVar::wait(std::unique_lock<Mutex>& lock) { wait_ns(lock, INT64_MAX); }

bool CondVar::wait_until(std::unique_lock<Mutex>& lock, absl::Time deadline) {
  return wait_ns(lock, internal::deadline_at(deadline));
}

void CondVar::notify_one() {
  waiters_.lock();
  waiters_.notify_one();
  waiters_.unlock();
}

void CondVar::notify_all() {
  waiters_.lock();
  waiters_.notify_all();
  waiters_.unlock();
}

}  // namespace weft
