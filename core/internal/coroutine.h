// Coroutine stacks: what weft::Generator and weft::Greenlet run on.
//
// A coroutine is a pooled, guarded stack (the process-wide coroutine
// StackPool, see coroutine.cc) with a Context on it and its owner's state
// (closure, value slots) at its top, so creating one allocates nothing on the
// heap. Unlike a fiber it is never scheduled: it runs only when some code
// switches to it with coroutine_switch(), on the thread of that code, as part
// of that code's fiber (or plain thread). coroutine.cc explains how the
// sanitizers are kept consistent with that.
//
//   CoroutineControl* co = coroutine_create(sizeof(State), alignof(State), &body);
//   new (co->owner) State(...);
//   coroutine_arm(co);                            // the next switch to co starts body
//   coroutine_switch(&me.ctx, &me.suspended_on, &co->ctx, &co->suspended_on, &h);
//   ...                                           // body switched back
//   coroutine_release(co);                        // once body has returned (its exit_to
//                                                 // set) and the final switch was made
#pragma once

#include <cstddef>
#include <cstdint>

#include "weft/core/internal/context.h"
#include "weft/core/internal/fiber_control.h"

namespace weft::internal {

// [lo, hi) of a stack.
struct StackRange {
  char* lo = nullptr;
  char* hi = nullptr;
};

// The control block at the top of every coroutine stack. It begins with a
// FiberControl because the stack-overflow reporter (overflow.cc) reads
// FiberControl::id of whatever slot a guard-page hit belongs to: for a
// coroutine, id is the id of the fiber that created it (0 on a plain thread),
// so the report names the fiber whose generator or greenlet overflowed. Of the
// FiberControl part only `ctx` and `id` are used.
struct CoroutineControl : FiberControl {
  // Runs on the stack. Returns once it has set exit_to and exit_to_on:
  // coroutine_entry then makes the final switch there, from a frame TSan
  // does not track (see "Sanitizers" in coroutine.cc).
  void (*body)(CoroutineControl*) = nullptr;
  Context* exit_to = nullptr;
  StackRange* exit_to_on = nullptr;
  void* owner = nullptr;  // the owner's state, between the stack and this block
  StackRange stack;       // the usable stack, as given to ctx.make()
  // ASan only: the stack this coroutine's execution was on when it last
  // switched away (its own, or a nested coroutine's).
  StackRange suspended_on;
};

// A suspended execution that is not a coroutine's own: a generator's resumer,
// the main greenlet of a thread or fiber.
struct SavedContext {
  Context ctx;
  StackRange suspended_on;  // ASan only, as above
};

// Takes a stack from the coroutine pool, reserves `state_bytes` aligned to
// `state_align` at its top for the owner (CoroutineControl::owner) and
// prepares it to run `body`. Throws UsageError if the state does not fit
// (over a quarter of the stack). Any thread; locks only when the calling
// thread's cache of free stacks is empty.
CoroutineControl* coroutine_create(std::size_t state_bytes, std::size_t state_align,
                                   void (*body)(CoroutineControl*));

// Tells the next switch to `co` to start its body (call it just before).
void coroutine_arm(CoroutineControl* co);

// Returns the stack to the pool. `co` must not be running: it never started,
// or made its final switch, or is abandoned (its frames are never unwound).
// Aborts with a report if a canary-guarded stack was overrun.
void coroutine_release(CoroutineControl* co);

// True if the caller runs on `r` (compares its frame address).
inline bool running_on(const StackRange& r) {
  char* fp = static_cast<char*>(__builtin_frame_address(0));
  return fp >= r.lo && fp < r.hi;
}

// Coroutine stacks in use, and ever carved from the pool (for tests).
std::size_t coroutine_stacks_live();
std::size_t coroutine_stacks_carved();

#if defined(WEFT_ASAN)
// Records the running stack in (from, from_on) and makes the running fiber's
// own Context describe `to_on` (see coroutine.cc).
void asan_before_switch(Context* from, StackRange* from_on, const StackRange& to_on);
#endif

// Saves the running execution in `from` and resumes `to` (on this thread).
// `from_dies`: `from` is a finished coroutine, never resumed again. Blocks
// nothing; returns when some code switches back to `from`. Compiled into the
// caller, switch included (Context::jump_inline; see coroutine.cc, "Switch
// cost"), except a dying coroutine's last switch.
[[gnu::always_inline]] inline void coroutine_switch(Context* from, StackRange* from_on, Context* to,
                                                    StackRange* to_on, Handover* h,
                                                    bool from_dies = false) {
#if defined(WEFT_ASAN)
  asan_before_switch(from, from_on, *to_on);
#else
  (void)from_on;
  (void)to_on;
#endif
#if defined(WEFT_TSAN)
  to->adopt_current_thread();  // coroutines share the TSan state of whoever runs them
#endif
  if (from_dies) {
    Context::jump(from, to, h, /*from_dies=*/true, /*balanced=*/true);
  } else {
    Context::jump_inline(from, to, h);
  }
}

}  // namespace weft::internal
