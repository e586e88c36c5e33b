// select: lock every channel involved (in address order), run a ready case
// if there is one (starting at a random case, for fairness), otherwise park
// in every case's wait queue at once (WaitQueue::wait_any) and try again
// when any of them is notified.
#include "weft/sync/select.h"

#include <algorithm>
#include <random>
#include <string>

#include "weft/core/errors.h"

namespace weft::internal {

namespace {
uint32_t next_random() {
  // Per thread, only to spread the starting case: no need for quality.
  thread_local uint32_t x = 0x9E3779B9u ^ static_cast<uint32_t>(
      reinterpret_cast<uintptr_t>(&x) >> 4);
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}
}  // namespace

int select_cases(SelectCase* const* cases, int n, int64_t deadline_ns, bool poll)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (n < 1 || n > WaitQueue::kMaxWaitAny) {
    throw UsageError("weft::select takes 1 .. 16 cases, got " + std::to_string(n));
  }
  // Distinct channel locks, in address order.
  WaitQueue* locks[WaitQueue::kMaxWaitAny];
  int n_locks = 0;
  for (int i = 0; i < n; ++i) {
    WaitQueue* q = &cases[i]->lock_queue();
    bool seen = false;
    for (int j = 0; j < n_locks; ++j) seen |= locks[j]->lock_id() == q->lock_id();
    if (!seen) locks[n_locks++] = q;
  }
  std::sort(locks, locks + n_locks,
            [](WaitQueue* a, WaitQueue* b) { return a->lock_id() < b->lock_id(); });
  auto lock_all = [&] {
    for (int j = 0; j < n_locks; ++j) locks[j]->lock();
  };
  auto unlock_all = [&] {
    for (int j = n_locks - 1; j >= 0; --j) locks[j]->unlock();
  };
  WaitQueue* queues[WaitQueue::kMaxWaitAny];
  for (int i = 0; i < n; ++i) queues[i] = &cases[i]->wait_queue();

  lock_all();
  for (;;) {
    int start = static_cast<int>(next_random() % static_cast<uint32_t>(n));
    for (int k = 0; k < n; ++k) {
      int i = (start + k) % n;
      if (cases[i]->ready()) {
        cases[i]->complete();
        unlock_all();
        return i;
      }
    }
    if (poll || (deadline_ns != INT64_MAX && monotonic_now_ns() >= deadline_ns)) {
      unlock_all();
      return -1;
    }
    WaitQueue::Result r = WaitQueue::wait_any(queues, n, deadline_ns);  // locks held again
    if (r == WaitQueue::Result::kKilled) {
      unlock_all();
      throw_if_killed(require_fiber("weft::select"));
      return -1;  // already unwinding: give up
    }
  }
}

}  // namespace weft::internal
