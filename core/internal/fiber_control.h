// FiberControl: everything the runtime knows about one fiber. It lives at the
// top of the fiber's own stack (see stack_pool.h), followed by the fiber's
// closure, so spawning allocates nothing on the heap.
//
// Who owns a fiber, and where it is, at each point of its life:
//
//   spawned  -> runnable: in exactly one run queue (a worker's next slot, a
//               worker's RunQueue or the Injector). Whoever pops it owns it.
//   running  -> owned by the worker thread executing it (Worker::current_).
//   parked   -> owned by whatever will wake it: a timer entry, a join word,
//               a wait queue. A timer entry outlives an early wake only
//               until the fiber resumes (see TimerHeap). Published there only after the fiber has
//               switched out (by a Handover action), so nobody can resume a
//               fiber whose registers are still being saved.
//   finished -> SlotState::kZombie while a Fiber<T> handle holds the result,
//               then back to a StackCache.
//
// Lifetime: the join word decides who frees the slot, with one atomic RMW on
// each side at most. The fiber, as it finishes, exchanges the word to
// kJoinDone: if the handle was dropped first (kJoinDetached) the fiber frees
// its slot, otherwise the handle owns it from then on and frees it when
// dropped (no RMW needed: nobody else touches a finished fiber's slot).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>

#include "weft/core/internal/context.h"
#include "weft/core/internal/stack_pool.h"
#include "weft/core/internal/wait_site.h"

namespace weft {
class Timeout;
}  // namespace weft

namespace weft::internal {

class RuntimeCore;
class Worker;

// Values of FiberControl::join_word besides a JoinWaiter pointer.
inline constexpr uintptr_t kJoinNone = 0;      // running, nobody joined yet
inline constexpr uintptr_t kJoinDone = 1;      // finished; result readable
inline constexpr uintptr_t kJoinDetached = 2;  // handle dropped while running

// Parking epoch encoding (FiberControl::epoch), in steps of 4 per wait:
//   4k     running, or parked in a wait nobody may interrupt;
//   4k+1   parked and published: a waker holding this token may wake it;
//   4k+3   parked, still publishing (a Handover is running): wakers spin;
//   4k+4   woken; the next wait uses token 4k+5.
inline constexpr uint64_t kEpochStep = 4;
// The phase of an epoch within its step (epoch & kEpochPhaseMask).
inline constexpr uint64_t kEpochPhaseMask = kEpochStep - 1;
inline constexpr uint64_t kEpochPublished = 1;   // 4k+1
inline constexpr uint64_t kEpochPublishing = 3;  // 4k+3

struct FiberControl : SlotHeader {
  Context ctx;
  RuntimeCore* runtime = nullptr;
  uint64_t id = 0;

  // Runs the closure and stores its result or exception; set by spawn.
  void (*invoke)(FiberControl*) = nullptr;
  // Destroys the closure's result (if any) when the slot is released.
  void (*destroy_result)(FiberControl*) = nullptr;
  // Called once after the fiber has ended and its handle reads ready (see
  // ExitHook in spawn.h); null for most fibers. Set before start().
  void (*exit_hook)(void*) noexcept = nullptr;
  void* exit_hook_arg = nullptr;
  void* task = nullptr;    // the closure, just below us on the stack
  void* result = nullptr;  // the result slot inside `task` (ResultSlot<T>)

  // kJoinNone, kJoinDone, kJoinDetached or a JoinWaiter*. Written by the
  // joiner (CAS kJoinNone -> waiter, in a Handover after it switched out; CAS
  // back on timeout), by a dropped handle (CAS kJoinNone -> kJoinDetached) and
  // by the fiber (exchange -> kJoinDone, in its final Handover).
  // acq_rel everywhere: the joiner must see the result, the fiber must see the
  // waiter's fields.
  std::atomic<uintptr_t> join_word{kJoinNone};

  // Parking epoch (see kEpochStep). Only the fiber itself moves it from
  // running to parked (in its Handover, after the switch); a waker moves it
  // from parked to woken by CAS with the token it was given, so of several
  // wakers (a timer, a notify, a kill) exactly one wins and stale tokens fail.
  // Never reset when the slot is reused: a stale timer for an earlier fiber
  // in the same slot cannot match a later one's token.
  std::atomic<uint64_t> epoch{0};

  // The token of the last wait claimed without a CAS
  // (RuntimeCore::try_claim_exclusive): a killer that finds it equal to the
  // token it is about to interrupt leaves the wait to its claimer. Stale
  // values are older tokens, which never match a later wait.
  std::atomic<uint64_t> exclusive_claim{0};

  // Set (seq_cst) by kill(); sticky. Checked by the fiber at every suspension
  // point, which then throws weft::FiberExit.
  std::atomic<bool> kill_requested{false};
  bool killed = false;  // finished by FiberExit; written by the fiber before join_word

  // The weft::Timeout scopes alive on this fiber, innermost first (linked
  // through Timeout::outer_), and the earliest deadline among those still
  // armed (monotonic ns; INT64_MAX: none). park_current clamps every wait to
  // it; throw_if_killed throws TimeoutError once it has passed. Fiber-local:
  // read and written only by the fiber itself, so plain fields.
  Timeout* timeouts = nullptr;
  int64_t timeout_deadline_ns = INT64_MAX;

  // The timer of the fiber's current timed wait: the worker whose heap holds
  // it and its id there (TimerHeap::add), or null once it fired. Written in
  // the park's Handover before the wait is published, and by the worker
  // that fires it after claiming the wait; read by the fiber once resumed
  // (park_current), which removes the timer or reports it stale. Plain
  // fields: each write happens before the fiber's next run (the epoch's
  // release store and acquire claim, then the run queue's hand-off).
  Worker* timer_worker = nullptr;
  uint32_t timer_id = 0;

  std::exception_ptr error;            // what the closure threw; read after join
  FiberControl* next_ready = nullptr;  // link in the Injector's list
  Worker* last_worker = nullptr;       // where it last ran (for printing only)
  // What the fiber waits on while parked, and since when (monotonic ns, the
  // worker's coarse clock: see Worker::coarse_now_ns). Written by the fiber
  // itself in park_current; read only by Runtime::dump, racily (dump.cc).
  WaitSite wait_site;
  int64_t parked_ns = 0;
  // Scheduling-delay sample (Runtime::stats): the monotonic time it became
  // runnable, for one wake in Worker::kDelaySampleEvery; 0 otherwise. Set
  // and cleared by the workers that make it runnable and run it (the run
  // queues' hand-off orders the two).
  int64_t runnable_ns = 0;
  char name[32] = {0};
};

}  // namespace weft::internal
