// The runtime's clock: CLOCK_MONOTONIC in nanoseconds (vDSO, no syscall).
// Timers use it so that a wall-clock step never fires or stalls them.
#pragma once

#include <time.h>

#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace weft::internal {

inline int64_t monotonic_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
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
