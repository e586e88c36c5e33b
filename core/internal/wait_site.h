// WaitSite: what a parked fiber waits on, for Runtime::dump and the `park`
// USDT probe (probes.h).
//
// Every park_current call names its site: a kind, and the object it waits
// on (the primitive's address, an fd, a fiber id). The parking fiber stores
// the two words in its FiberControl (plain stores on its own control block:
// no atomic, no clock read), so naming the site costs the park two stores.
// The dump reads them racily (see core/private/dump.cc).
#pragma once

#include <cstdint>

namespace weft::internal {

enum class WaitKind : uint32_t {
  kNone = 0,  // running, runnable, or a wait that named no site
  kSleep,     // sleep_for / sleep_until (object: 0)
  kJoin,      // Fiber::join and friends (object: the joined fiber's id)
  kMutex,     // object: the WaitQueue inside the primitive, here and below
  kCondVar,
  kSemaphore,
  kWaitGroup,  // also a Latch (built on one)
  kEvent,
  kWaitQueue,    // a bare weft::WaitQueue
  kChannelSend,  // object: the Channel
  kChannelRecv,
  kSelect,  // object: 0 (several channels)
  kFdRead,  // object: the fd
  kFdWrite,
  kOffload,    // weft::blocking (object: 0)
  kHookSleep,  // a hooked sleep/usleep/nanosleep, or poll's nap
};

struct WaitSite {
  WaitKind kind = WaitKind::kNone;
  uint64_t object = 0;
};

// "Mutex", "Channel recv", "fd readable"...; never null.
const char* wait_kind_name(WaitKind kind);

}  // namespace weft::internal
