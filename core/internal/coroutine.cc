// Coroutine stacks, and how a coroutine runs inside a fiber.
//
// Stacks. Generators and greenlets take their stacks from one process-wide
// StackPool (the same slabs, guard pages and overflow reporting as fibers),
// fronted by a per-thread StackCache, so creating one costs no heap
// allocation and no lock in the steady state. Rejected: the running
// Runtime's own pool. A generator may be created on a plain thread, and may
// outlive the runtime whose fiber created it (returned from weft::run, say),
// while a runtime unmaps its slabs when it is destroyed. The pool is never
// destroyed; it is sized by default_stack_size().
//
// Threads of execution. A coroutine has no scheduler identity: it runs when
// some code switches to it, on that code's thread, as part of that code's
// fiber. If it parks (weft::sleep_for inside a generator body), it is that
// fiber that parks: the worker saves the registers into the fiber's own
// FiberControl::ctx (now pointing into the coroutine's stack) and later
// resumes it there, perhaps on another worker. Nothing here is thread-local
// across a switch for that reason; greenlet.cc keeps its per-execution state
// per fiber.
//
// Sanitizers. A Context carries the bounds of its stack (ASan) and a TSan
// "fiber" (a shadow call stack plus clocks); the worker resumes a parked fiber
// with the bounds and TSan state of the fiber's own Context, whatever stack
// its execution was on when it parked. So:
//   * ASan: every coroutine switch records the running stack in the Context
//     being left (it may be a nested coroutine's, not the one the Context was
//     made for) and sets the running fiber's own Context to the bounds of the
//     stack being entered. The running stack is found from the frame address:
//     a coroutine stack if a guard page of the coroutine pool lies below it
//     within one stack size, else the fiber's stack, else the thread's.
//   * TSan: a coroutine has no TSan state of its own; it runs on the state of
//     the fiber or thread that switches to it (coroutine_switch adopts it just
//     before each jump), just as its frames belong to that execution. Rejected:
//     a TSan fiber per coroutine. After a coroutine parks, its frames would run
//     on the parked fiber's state, and popping them there empties that fiber's
//     shadow stack within a few sleeps (TSan then crashes).
//   What that choice asks: a finished coroutine must leave no frame on the
//   shadow stack of the execution that finished it. Its bottom frames never
//   return (the entry, and the last switch's Context::jump), so they are
//   WEFT_TSAN_UNTRACKED, and bodies return instead of switching away: the
//   body names its final target (exit_to) and coroutine_entry, untracked,
//   makes the switch. Before, each finished coroutine left three entries;
//   TSan aborts past 65,536, so a thread could finish about 20,000
//   coroutines under TSan, and every stack trace TSan stored (one per
//   allocation) grew with them: 10,000 greenlets on one thread took 17 s.
//   Without sanitizers none of this compiles in.
//
// Switch cost. A switch through a called function (Context::jump) leaves the
// CPU's return-stack buffer out of step whenever the two sides suspended at
// different call sites, as a generator's caller and its body always do: with
// Boost's jmp-ended jump the call's return address is pushed and never
// popped; with the `ret`-ended one the return is predicted from the
// suspending side's call and lands in the other side's. Either way a return
// after each switch is mispredicted: a send/yield round trip cost ~31 ns, a
// greenlet switch ~18-21 ns, against ~5 ns for a raw switch (~9.5 ns for two
// greenlets switching from one function, whose returns all match).
// coroutine_switch therefore switches with Context::jump_inline, compiled into
// its caller: no call and no return, so the buffer is never disturbed, and
// each inlined switch ends in its own indirect jmp, which the branch-target
// buffer predicts per site (a given send() usually resumes the same
// co.yield()). For that the whole path down to the switch is inlined into the
// user's code: Generator::next/send/Co::yield and Greenlet::switch_to
// (always_inline; their rare cases call out of line). Measured (weft_bench,
// medians, project VM): round trip 31-39 -> 13-14 ns, greenlet switch 18-24 ->
// 7-7.5 ns. A dying coroutine's last switch, made once, still goes through
// Context::jump, as do all switches in sanitizer builds (which must be
// annotated in context.cc); contexts suspended either way resume each other,
// as both keep Boost's frame.
#include "weft/core/internal/coroutine.h"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "weft/core/errors.h"
#include "weft/core/internal/stack_pool.h"
#include "weft/core/private/overflow.h"
#include "weft/core/private/runtime_core.h"
#include "weft/core/private/worker.h"
#include "weft/core/runtime.h"

namespace weft::internal {
namespace {

constexpr std::size_t kCoControlBytes = (sizeof(CoroutineControl) + 63) / 64 * 64;

// Coroutine stacks in use. Relaxed: a statistic for tests, read when quiet.
std::atomic<std::size_t> g_live{0};

char* align_down(void* p, std::size_t a) {
  return reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) & ~(uintptr_t{a} - 1));
}

// Builds a CoroutineControl over a fresh slot's header, keeping what the pool set.
void init_slot(SlotHeader* h) {
  bool canary = h->has_canary;
  auto* c = new (h) CoroutineControl;
  c->has_canary = canary;
}

StackPool& pool() {
  // Never destroyed: coroutines may be released during static destruction.
  static StackPool* p = [] {
    auto* sp = new StackPool(default_stack_size(), kCoControlBytes, &init_slot);
    register_overflow_pool(sp);
    return sp;
  }();
  return *p;
}

StackCache& cache() {
  thread_local StackCache c(&pool());
  return c;
}

// The overflow reporter runs on an alternate signal stack (the faulting stack
// is exhausted). Workers have one; a plain thread gets one here, if it has
// none of its own, the first time it creates a coroutine.
struct AltStack {
  bool checked = false;
  void* mem = nullptr;
  ~AltStack() { release_signal_stack(mem); }
};

void ensure_signal_stack() {
  thread_local AltStack alt;
  if (alt.checked) return;
  alt.checked = true;
  stack_t current;
  if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) != 0) {
    alt.mem = install_signal_stack();
  }
}

FiberControl* running_fiber() {
  Worker* w = Worker::current();
  return w != nullptr ? w->current_fiber() : nullptr;
}

// Set by coroutine_arm, read by coroutine_entry on the same thread right
// after the switch (no other switch in between).
thread_local CoroutineControl* t_starting = nullptr;

[[noreturn]] WEFT_TSAN_UNTRACKED void coroutine_entry(Handover*) {
  CoroutineControl* self = t_starting;
  t_starting = nullptr;
  self->body(self);  // returns having set exit_to
  Handover h;
  coroutine_switch(&self->ctx, &self->suspended_on, self->exit_to, self->exit_to_on, &h,
                   /*from_dies=*/true);
  __builtin_trap();  // a finished coroutine is never resumed
}

#if defined(WEFT_ASAN)
constexpr std::size_t kPage = 4096;

StackRange thread_stack() {
  thread_local StackRange range = [] {
    StackRange r;
    void* lo = nullptr;
    std::size_t size = 0;
    if (Context::thread_stack_bounds(&lo, &size)) {
      r.lo = static_cast<char*>(lo);
      r.hi = r.lo + size;
    }
    return r;
  }();
  return range;
}

// The stack the caller runs on (see the essay above).
StackRange running_stack() {
  char* sp = static_cast<char*>(__builtin_frame_address(0));
  StackPool& p = pool();
  char* page = align_down(sp, kPage);
  for (std::size_t i = 0; i <= p.stack_size() / kPage + 1; ++i, page -= kPage) {
    if (SlotHeader* h = p.guard_owner(page)) {
      auto* co = static_cast<CoroutineControl*>(h);
      if (sp >= co->stack.lo && sp < co->stack.hi) return co->stack;
      break;
    }
  }
  if (FiberControl* f = running_fiber()) {
    StackPool& fp = f->runtime->stack_pool();
    return {fp.lo_of(f), align_down(f->task, 64)};
  }
  return thread_stack();
}
#endif

}  // namespace

#if defined(WEFT_ASAN)
void asan_before_switch(Context* from, StackRange* from_on, const StackRange& to_on) {
  *from_on = running_stack();
  from->set_stack(from_on->lo, from_on->hi);
  // The worker resumes a parked fiber with the bounds of its own Context.
  if (FiberControl* f = running_fiber()) f->ctx.set_stack(to_on.lo, to_on.hi);
}
#endif

CoroutineControl* coroutine_create(std::size_t state_bytes, std::size_t state_align,
                                   void (*body)(CoroutineControl*)) {
  StackPool& p = pool();
  if (state_bytes + state_align + kCoControlBytes > p.stack_size() / 4) {
    throw UsageError(absl::StrCat("weft: a generator's or greenlet's closure (", state_bytes,
                                  " bytes) is too large for its stack (", p.stack_size(),
                                  " bytes); capture large data by pointer"));
  }
  ensure_signal_stack();
  auto* co = static_cast<CoroutineControl*>(cache().take());  // built by init_slot
  FiberControl* f = running_fiber();
  co->id = f != nullptr ? f->id : 0;
  co->body = body;
  co->owner = align_down(reinterpret_cast<char*>(co) - state_bytes, state_align);
  co->stack = {p.lo_of(co), align_down(co->owner, 64)};
  co->suspended_on = co->stack;
#if defined(WEFT_TSAN)
  co->ctx.adopt_current_thread();  // so make() creates no TSan fiber (see the essay)
#endif
#if defined(WEFT_ASAN)
  // make() clears stale redzones from [lo, hi) only; an earlier occupant with
  // a smaller state had frames (its last ones never return) where this
  // owner's state goes. Clear up to the control block first.
  co->ctx.make(co->stack.lo, reinterpret_cast<char*>(co), &coroutine_entry);
#endif
  co->ctx.make(co->stack.lo, co->stack.hi, &coroutine_entry);
  co->state.store(SlotState::kLive, std::memory_order_relaxed);
  g_live.fetch_add(1, std::memory_order_relaxed);
  return co;
}

void coroutine_arm(CoroutineControl* co) { t_starting = co; }

void coroutine_release(CoroutineControl* co) {
  StackPool& p = pool();
  if (!p.canary_intact(co)) {
    std::fprintf(stderr,
                 "weft: a generator or greenlet of fiber %llu overflowed its stack (size %zu "
                 "bytes)\n",
                 static_cast<unsigned long long>(co->id), p.stack_size());
    std::abort();
  }
  co->body = nullptr;
  co->owner = nullptr;
  co->state.store(SlotState::kFree, std::memory_order_relaxed);
  g_live.fetch_sub(1, std::memory_order_relaxed);
  cache().give(co);
}

std::size_t coroutine_stacks_live() { return g_live.load(std::memory_order_relaxed); }

std::size_t coroutine_stacks_carved() { return pool().slots_carved(); }

}  // namespace weft::internal
