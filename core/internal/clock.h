// The runtime's clock: CLOCK_MONOTONIC in nanoseconds (vDSO, no syscall).
// Timers use it so that a wall-clock step never fires or stalls them.
//
// Tests can stop it: tests/testing/manual_clock.h installs a manual time in
// g_manual_now_ns and moves it with advance(), which wakes every sleeping
// worker (IdleWorkers::wake_all_everywhere) so each re-checks its timers;
// while it is installed, workers sleep without a timeout (idle_workers.cc),
// since a timeout on the real clock means nothing to the manual one. The
// cost in production is one relaxed load of a line nobody writes and a
// branch never taken (BM_Yield, BM_SleepMillion unchanged within noise).
// Rejected: a compile-time switch, which would need a second build of the
// library for the tests that use it.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace weft::internal {

// The manual clock's time in ns, or 0 when none is installed (production).
// Written only by weft::test::ManualClock. Relaxed everywhere: a reader on
// another thread may see an advance late, never out of order (one
// location); what must see it, a worker about to sleep, is ordered after it
// by IdleWorkers' lock, which advance() takes after its store.
inline constinit std::atomic<int64_t> g_manual_now_ns{0};

inline bool manual_clock_installed() {
  return g_manual_now_ns.load(std::memory_order_relaxed) != 0;
}

inline int64_t real_monotonic_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

inline int64_t monotonic_now_ns() {
  int64_t manual = g_manual_now_ns.load(std::memory_order_relaxed);
  if (__builtin_expect(manual != 0, 0)) return manual;
  return real_monotonic_now_ns();
}

// A monotonic deadline `d` from now, saturating (InfiniteDuration -> INT64_MAX).
inline int64_t deadline_after(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return INT64_MAX;
  int64_t now = monotonic_now_ns();
  if (d <= absl::ZeroDuration()) return now;
  int64_t ns = absl::ToInt64Nanoseconds(d);
  return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

// Converts a wall-clock deadline to the monotonic clock.
inline int64_t deadline_at(absl::Time t) {
  if (t == absl::InfiniteFuture()) return INT64_MAX;
  return deadline_after(t - absl::Now());
}

}  // namespace weft::internal
