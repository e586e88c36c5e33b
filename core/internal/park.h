// The fiber-side wait primitives every blocking operation is built on.
//
// park_current() is the one way a fiber waits: it switches away and, only
// after the switch, publishes itself (epoch, then the caller's `publish`
// callback). Whoever wants to wake it calls RuntimeCore::try_wake with the
// token it was given. A wait may end spuriously (a kill, a timer, a stale
// token of an earlier wait is impossible by construction, but a kill is not):
// callers loop on their condition.
#pragma once

#include <cstdint>
#include <exception>

#include "weft/core/errors.h"
#include "weft/core/internal/fiber_control.h"

namespace weft::internal {

class Worker;

// Called in the Handover, after the switch, with the wait's token. Makes the
// fiber findable by its waker and must not touch `arg` once it has done so.
// Returns true if the wait is already satisfied (the fiber is then resumed
// at once instead of parked).
using PublishFn = bool (*)(FiberControl* self, uint64_t token, void* arg);

// Parks the running fiber until woken, until `deadline_ns` (monotonic;
// INT64_MAX: none), or until killed. Blocks the fiber, not the thread.
void park_current(int64_t deadline_ns, PublishFn publish, void* arg);

// The running fiber; throws UsageError naming `who` on a plain thread.
FiberControl* require_fiber(const char* who);

// Throws FiberExit if the running fiber has been asked to die, unless it is
// already unwinding (a destructor that waits must not throw: it then simply
// stops waiting early).
inline void throw_if_killed(FiberControl* self) {
  if (self->kill_requested.load(std::memory_order_relaxed) && std::uncaught_exceptions() == 0) {
    throw FiberExit{};
  }
}

// Waits for `target` to finish, until `deadline_ns`. From a fiber it parks
// the fiber; from a plain thread it blocks the thread. True if finished.
bool join_fiber(FiberControl* target, int64_t deadline_ns);

// The entry point of every fiber (see Context::make).
[[noreturn]] void fiber_main(Handover*);

}  // namespace weft::internal
