// weft::internal::Context — the one class that touches Boost.Context.
//
// A Context is a suspended execution: a stack pointer saved by
// boost::context::detail::jump_fcontext, plus what the sanitizers and the C++
// runtime need to know about the stack it runs on. Everything else in weft
// switches through `Context::jump()` and never sees fcontext directly.
//
// Switch protocol ("hand-over"): the side that suspends passes a pointer to a
// Handover record. The side that resumes, as its very first act, stores the
// suspended side's stack pointer into `handover->from->fctx_` and runs
// `handover->action`. Because that action runs only after the suspending
// fiber's registers are saved, it is the one safe place to publish the
// suspended fiber to other threads (wait queues, run queues, join words) or
// to free a dead fiber's stack. See DESIGN.md §3, "waking a fiber before it has
// finished switching out".
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::internal {

class Context;

// What the resumed side must do for the suspended side. Lives on the stack of
// the suspending context; valid until that context is resumed again (or, for a
// dying fiber, until `action` has run).
struct Handover {
  Context* from = nullptr;               // the context that just suspended
  Context* to = nullptr;                 // the context being resumed (set by jump)
  void (*action)(Handover*) = nullptr;   // runs on the resumed side, may be null
  void* arg = nullptr;                   // for `action`
  uint64_t arg2 = 0;                     // for `action`
};

class Context {
 public:
  Context() = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();

  // Prepares a context that will start running `entry` on the stack
  // [stack_lo, stack_hi) when first jumped to. `entry` receives the Handover of
  // whoever started it, must call `finish_switch()` first and never returns.
  void make(void* stack_lo, void* stack_hi, void (*entry)(Handover*));

  // Marks this Context as the one describing the calling thread's own stack
  // (a worker's scheduler loop). Needed only for the sanitizers.
  void adopt_current_thread();

  // Suspends `from` (the running context) and resumes `to`, handing over `h`.
  // Returns when some context jumps back to `from`; by then that context's
  // Handover has been processed. `from_dies` tells ASan to drop `from`'s fake
  // stack: pass true only when `from` will never be resumed. `balanced`
  // selects the ret-based switch (see context.cc): a win when `to` was
  // suspended from the same call path, a loss otherwise.
  static void jump(Context* from, Context* to, Handover* h, bool from_dies = false,
                   bool balanced = false);

  // Tells the sanitizers the stack bounds of this context have changed (a fiber
  // context being reused for a new stack).
  void set_stack(void* stack_lo, void* stack_hi);

  // Drops the sanitizer state of a dead context (never the running one).
  // Idempotent; make() creates it again.
  void release();

 private:
  friend struct ContextAccess;
  void* fctx_ = nullptr;         // saved stack pointer (boost fcontext_t)
  void (*entry_)(Handover*) = nullptr;
  void* stack_lo_ = nullptr;     // for ASan's __sanitizer_start_switch_fiber
  std::size_t stack_size_ = 0;
  void* asan_fake_stack_ = nullptr;
  void* tsan_fiber_ = nullptr;   // TSan's per-context shadow state
  bool owns_tsan_fiber_ = false;
  // The C++ runtime's per-thread exception state (__cxa_eh_globals: the chain of
  // caught exceptions and std::uncaught_exceptions()) travels with the context,
  // so a fiber that switches inside a catch block, or migrates to another
  // thread, sees its own and never another's.
  void* eh_caught_ = nullptr;
  unsigned int eh_uncaught_ = 0;
};

}  // namespace weft::internal
