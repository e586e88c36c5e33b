// nanosleep, clock_nanosleep, sleep and usleep from a fiber park it on weft's
// timer. A kill or an expired weft::Timeout ends the sleep early as a signal
// would: EINTR (and the time left, where the call reports it).
#include <time.h>
#include <unistd.h>

#include "weft/io/hook/hooked_wait.h"
#include "weft/io/hook/real_calls.h"

namespace hk = weft::hook::internal;
using weft::internal::FiberControl;
using weft::internal::monotonic_now_ns;

namespace {

constexpr int64_t kNsPerSec = 1000000000;

bool valid(const timespec* ts) {
  return ts != nullptr && ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < kNsPerSec;
}

int64_t ns_of(const timespec& ts) { return int64_t{ts.tv_sec} * kNsPerSec + ts.tv_nsec; }

// Sleeps until deadline; on EINTR writes the time left to `rem`.
int sleep_until(FiberControl* self, int64_t deadline, timespec* rem) {
  int e = hk::fiber_sleep_until(self, deadline);
  if (e != 0 && rem != nullptr) {
    int64_t left = std::max<int64_t>(0, deadline - monotonic_now_ns());
    rem->tv_sec = left / kNsPerSec;
    rem->tv_nsec = left % kNsPerSec;
  }
  return e;
}

}  // namespace

extern "C" {

int nanosleep(const timespec* req, timespec* rem) {
  FiberControl* self = hk::hooked_fiber();
  if (self == nullptr || !valid(req)) return WEFT_REAL(nanosleep)(req, rem);
  if (int e = sleep_until(self, monotonic_now_ns() + ns_of(*req), rem); e != 0) {
    hk::set_errno(e);
    return -1;
  }
  return 0;
}

// Returns the error number itself, as clock_nanosleep does. CPU-time clocks
// go to libc (they block the worker).
int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
  FiberControl* self = hk::hooked_fiber();
  if (self == nullptr || !valid(req) ||
      (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME && clock != CLOCK_BOOTTIME)) {
    return WEFT_REAL(clock_nanosleep)(clock, flags, req, rem);
  }
  int64_t deadline;
  if ((flags & TIMER_ABSTIME) == 0) {
    deadline = monotonic_now_ns() + ns_of(*req);
  } else {
    timespec now{};
    clock_gettime(clock, &now);
    deadline = monotonic_now_ns() + (ns_of(*req) - ns_of(now));
    rem = nullptr;  // an absolute sleep reports no remainder
  }
  return sleep_until(self, deadline, rem);
}

unsigned int sleep(unsigned int seconds) {
  FiberControl* self = hk::hooked_fiber();
  if (self == nullptr) return WEFT_REAL(sleep)(seconds);
  timespec rem{0, 0};
  if (sleep_until(self, monotonic_now_ns() + int64_t{seconds} * kNsPerSec, &rem) == 0) return 0;
  return static_cast<unsigned>(rem.tv_sec) + (rem.tv_nsec > 0 ? 1 : 0);
}

int usleep(useconds_t usec) {
  FiberControl* self = hk::hooked_fiber();
  if (self == nullptr) return WEFT_REAL(usleep)(usec);
  if (int e = sleep_until(self, monotonic_now_ns() + int64_t{usec} * 1000, nullptr); e != 0) {
    hk::set_errno(e);
    return -1;
  }
  return 0;
}

}  // extern "C"
