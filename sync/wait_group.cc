#include "weft/sync/wait_group.h"

#include <string>

#include "weft/core/errors.h"
#include "weft/core/internal/fiber_api.h"

namespace weft {

// The counter reaches zero only under the queue's lock, and the waker's
// unlock is its last touch of the WaitGroup. A fiber that sees zero, in
// wait(), count() or Latch::try_wait(), may destroy the WaitGroup at once;
// the destructor takes the same lock (abort_if_waited_on), so it cannot
// finish before the waker's unlock. Zero first and lock after would let
// the waiter return and free the memory the waker is about to lock
// (DestroyAfterWaitTest).
void WaitGroup::add(int64_t delta) {
  int64_t c = count_.load(std::memory_order_relaxed);
  // Lock-free while the result stays above zero. acq_rel: a done()
  // publishes the finished work to the waiter (acquire in wait), through
  // the release sequence of count_ up to the last done().
  while (c + delta > 0) {
    if (count_.compare_exchange_weak(c, c + delta, std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  waiters_.lock();
  int64_t before = count_.fetch_add(delta, std::memory_order_acq_rel);
  if (before + delta < 0) {
    count_.fetch_sub(delta, std::memory_order_relaxed);
    waiters_.unlock();
    throw UsageError("weft::WaitGroup: the counter would become negative (" +
                     std::to_string(before + delta) + "): more done() than add()");
  }
  if (before + delta == 0 && delta != 0) waiters_.notify_all();
  waiters_.unlock();
}

bool WaitGroup::wait_until_ns(int64_t deadline_ns) {
  internal::FiberControl* self = internal::require_fiber("weft::WaitGroup::wait");
  // Zero seen here, outside the lock, was written under it (see add()).
  if (count_.load(std::memory_order_acquire) == 0) return true;
  waiters_.lock();
  // Checked under the lock: the last add() takes it to notify.
  while (count_.load(std::memory_order_acquire) != 0) {
    WaitQueue::Result r = waiters_.wait(deadline_ns);
    if (r == WaitQueue::Result::kInterrupted) {
      waiters_.unlock();
      internal::throw_if_killed(self);
      return count_.load(std::memory_order_acquire) == 0;
    }
    if (r == WaitQueue::Result::kTimeout && internal::monotonic_now_ns() >= deadline_ns) break;
  }
  bool zero = count_.load(std::memory_order_acquire) == 0;
  waiters_.unlock();
  return zero;
}

WaitGroup::~WaitGroup() { waiters_.abort_if_waited_on("weft::WaitGroup"); }

void WaitGroup::wait() { wait_until_ns(INT64_MAX); }

bool WaitGroup::wait_for(absl::Duration timeout) {
  return wait_until_ns(internal::deadline_after(timeout));
}

bool WaitGroup::wait_until(absl::Time deadline) {
  return wait_until_ns(internal::deadline_at(deadline));
}

Latch::Latch(int64_t expected) {
  if (expected < 0) {
    throw UsageError("weft::Latch: the count must be >= 0, got " + std::to_string(expected));
  }
  group_.add(expected);
}

}  // namespace weft
