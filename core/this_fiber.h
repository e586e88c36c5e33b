// Functions about the calling fiber: yield, sleep, identity.
//
//   weft::yield();                               // let other fibers run
//   weft::sleep_for(absl::Milliseconds(5));      // park this fiber for 5 ms
//   weft::sleep_until(absl::Now() + absl::Seconds(1));
//   std::cout << weft::current() << "\n";        // <Fiber 7 "worker" on worker 1>
//
// All of them are fiber-only: on a plain thread they throw weft::UsageError
// (a plain thread should use std::this_thread). Sleeping and yielding are
// suspension points: a fiber being killed throws weft::FiberExit from them,
// and one whose weft::Timeout (core/timeout.h) has expired, TimeoutError.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace weft {

// Lets other runnable fibers run, then continues; returns at once if there
// are none. Blocks nothing. Yielding fibers take turns in FIFO order.
void yield();

// Parks the calling fiber for `d` (its worker runs other fibers meanwhile).
// sleep_for(ZeroDuration()) or a negative duration is yield(), as gevent's
// sleep(0). Blocks the fiber, not the thread.
void sleep_for(absl::Duration d);

// Parks the calling fiber until `t` (wall clock; converted to the monotonic
// clock when called, so later wall-clock steps do not affect it).
void sleep_until(absl::Time t);

// A printable snapshot of a fiber's identity.
struct FiberInfo {
  uint64_t id = 0;
  std::string name;  // empty unless set with set_name
  int worker = -1;   // the worker thread running it when the snapshot was taken

  std::string to_string() const;  // <Fiber 7 "name" on worker 1>
};
std::ostream& operator<<(std::ostream& os, const FiberInfo& info);

// The calling fiber (gevent.getcurrent()).
FiberInfo current();

// Names the calling fiber (truncated to 31 bytes) for current(), Fiber::name()
// and diagnostics.
void set_name(std::string_view name);

// True if the calling thread is running a weft fiber.
bool in_fiber();

}  // namespace weft
