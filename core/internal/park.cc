// Parking fibers: park_current and park_uninterruptible (fiber_api.h).
//
// Publishing a parked fiber is two-phase (see kEpochStep): the Handover first
// marks the epoch "publishing" (4k+3), runs the wait's publish callback (which
// makes the fiber findable, e.g. by storing a JoinWaiter in a join word: see
// core/fiber.cc), and only then stores the token (4k+1). A waker that found the fiber early spins
// in try_wake until the token appears. This keeps wakers from resuming the
// fiber while its Handover is still reading the fiber's stack (the publish
// arguments live there). Rejected: publishing the token first (a kill could
// resume the fiber under the callback's feet) and publishing it last without
// the spin state (a waker that found the fiber early would lose its wake-up).
//
// A timed wait's timer goes into the parking worker's heap in the same
// Handover, and leaves it when the wait ends, whoever ended it: fired (the
// worker popped it), or removed by the fiber once resumed (end_timed_wait;
// see core/private/timer_heap.h for a fiber resumed on another worker).
#include "weft/core/internal/fiber_api.h"

#include <exception>
#include <string>

#include "weft/core/private/asymmetric_fence.h"
#include "weft/core/private/runtime_core.h"
#include "weft/core/private/worker.h"

namespace weft::internal {
namespace {

// The Handover comes first: on_parked finds the rest from the pointer it is
// given (one record on the parking fiber's stack, one store less).
struct ParkArgs {
  Handover h;
  FiberControl* self;
  uint64_t token;
  int64_t deadline_ns;
  PublishFn publish;
  void* arg;
};

// Out of line: inlined, the timer heap's growth path made on_parked save
// every callee-saved register on each park, timed or not.
[[gnu::noinline]] void add_park_timer(int64_t deadline_ns, FiberControl* self, uint64_t token) {
  Worker::current()->add_timer(deadline_ns, self, token);
}

// A timed wait is over (woken, timed out, killed): its timer must not
// outlive it. If it fired, the firing worker cleared timer_worker. Else
// the entry is still in the heap of the worker we parked on (or is being
// popped there right now, and its CAS will fail): removed here if we
// resumed on that worker, else counted stale there for its next sweep
// (a heap is its owner's only). Out of line, like add_park_timer.
[[gnu::noinline]] void end_timed_wait(FiberControl* self, uint64_t token) {
  Worker* owner = self->timer_worker;
  if (owner == nullptr) return;
  self->timer_worker = nullptr;
  if (owner == Worker::current()) {
    owner->remove_timer(self, token);
  } else {
    owner->note_stale_timer();
  }
}

void on_parked(Handover* h) {
  const auto* a = reinterpret_cast<const ParkArgs*>(h);
  // Read what is needed after publish() into locals first: once the fiber is
  // published, its stack (and *a, *h) may be gone. The other fields are read
  // before that point; only two values then live across the call.
  FiberControl* const self = a->self;
  const uint64_t token = a->token;
  // The timer goes in only now, after the switch: added before it, a timer
  // already due could fire while the fiber was still picking its successor
  // (pick_local fires due timers), find it not parked yet, and be dropped,
  // leaving the fiber asleep forever. Timers fire on this thread only, so
  // none can fire before this Handover has published the token below.
  if (a->deadline_ns != INT64_MAX) add_park_timer(a->deadline_ns, self, token);
  // Relaxed: until the token is stored below, only this thread touches epoch
  // except wakers spinning on it, who wait for the release store.
  self->epoch.store(token + 2, std::memory_order_relaxed);
  if (PublishFn publish = a->publish; publish != nullptr && publish(self, token, a->arg)) {
    self->epoch.store(token + 3, std::memory_order_relaxed);
    self->runtime->wake(self);
    return;
  }
  // Publishes the wait to wakers (a release store: their acquire load in
  // try_claim), and is our half of the Dekker pair with request_kill (flag,
  // fence, epoch): store, fence, flag. The fence is the light side of an
  // asymmetric pair (asymmetric_fence.h): the killer pays for it.
  store_then_fence(self->epoch, token);
  // From here on the fiber may already be woken, run, finish and have its
  // slot reused by a new spawn: read nothing of it but atomics. A stale
  // flag or token only makes interrupt_wait's claim fail (epochs only grow,
  // also across reuse).
  if (self->kill_requested.load(std::memory_order_relaxed)) [[unlikely]] {
    // Killed while parking: end the wait as a killer would, heavy fence
    // included (a claimer may be taking the wait without a CAS, see
    // RuntimeCore::try_claim_exclusive). Not self->runtime: a fiber parks
    // on a worker of its own runtime.
    heavy_fence();
    Worker::current()->runtime()->interrupt_wait(self, token);
  }
}

// park_uninterruptible's Handover: publish, and resume at once if told to.
struct UninterruptibleArgs {
  Handover h;
  FiberControl* self;
  PublishFn publish;
  void* arg;
};

void on_parked_uninterruptible(Handover* h) {
  const auto* a = reinterpret_cast<const UninterruptibleArgs*>(h);
  // Copy first: once published, the fiber may resume and *a be gone.
  FiberControl* const self = a->self;
  if (a->publish(self, 0, a->arg)) self->runtime->wake(self);
}

}  // namespace

void throw_outside_fiber(const char* who) {
  throw UsageError(std::string(who) +
                   " called outside a fiber; call it from a function started with "
                   "weft::spawn, Runtime::spawn or weft::run");
}

// When the wait began, for the dump: the worker's coarse clock (no clock
// read on this path; see Worker::coarse_now_ns). The site is the caller's
// (set_wait_site).
[[gnu::always_inline]] inline void note_park(Worker* w, FiberControl* self) {
  self->parked_ns = w->coarse_now_ns();
  WEFT_PROBE_PARK(self->id, static_cast<uint32_t>(self->wait_site.kind), self->wait_site.object);
}

void park_current(int64_t deadline_ns, PublishFn publish, void* arg) {
  Worker* w = Worker::current();
  FiberControl* self = w->current_fiber();
  note_park(w, self);
  // The one cost of weft::Timeout on this path when none is armed (the
  // field is then INT64_MAX). While unwinding, Timeouts do not apply (see
  // throw_if_killed): parking with an expired deadline would then only spin.
  if (self->timeout_deadline_ns < deadline_ns) [[unlikely]] {
    if (std::uncaught_exceptions() == 0) deadline_ns = self->timeout_deadline_ns;
  }
  // Relaxed: between waits only this fiber writes its epoch.
  uint64_t e = self->epoch.load(std::memory_order_relaxed);
  uint64_t token = (e & ~(kEpochStep - 1)) + 1;
  ParkArgs args{{}, self, token, deadline_ns, publish, arg};
  args.h.action = &on_parked;
  w->suspend(&args.h);
  // `w` may not be our worker any more (see Worker::suspend).
  if (deadline_ns != INT64_MAX) end_timed_wait(self, token);
  // wait_site is left as it is: the dump trusts it only while the epoch
  // says "parked" (no store on this path).
}

void park_uninterruptible(PublishFn publish, void* arg, WaitSite site) {
  Worker* w = Worker::current();
  set_wait_site(w->current_fiber(), site.kind, site.object);
  note_park(w, w->current_fiber());
  UninterruptibleArgs args{{}, w->current_fiber(), publish, arg};
  args.h.action = &on_parked_uninterruptible;
  w->suspend(&args.h);
  // Cleared: this wait leaves the epoch at "running", so the dump tells it
  // from a run by this field alone.
  args.self->wait_site.kind = WaitKind::kNone;
}

const char* wait_kind_name(WaitKind kind) {
  switch (kind) {
    case WaitKind::kNone:
      return "nothing";
    case WaitKind::kSleep:
      return "sleep";
    case WaitKind::kJoin:
      return "join of fiber";
    case WaitKind::kMutex:
      return "Mutex";
    case WaitKind::kCondVar:
      return "CondVar";
    case WaitKind::kSemaphore:
      return "Semaphore";
    case WaitKind::kWaitGroup:
      return "WaitGroup";
    case WaitKind::kEvent:
      return "Event";
    case WaitKind::kWaitQueue:
      return "WaitQueue";
    case WaitKind::kChannelSend:
      return "Channel send";
    case WaitKind::kChannelRecv:
      return "Channel recv";
    case WaitKind::kSelect:
      return "select";
    case WaitKind::kFdRead:
      return "fd readable";
    case WaitKind::kFdWrite:
      return "fd writable";
    case WaitKind::kOffload:
      return "offloaded call";
    case WaitKind::kHookSleep:
      return "hooked sleep";
  }
  return "unknown";
}

}  // namespace weft::internal
