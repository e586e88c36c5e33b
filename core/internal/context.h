// weft::internal::Context — the one class that touches Boost.Context.
//
// A Context is a suspended execution: a stack pointer saved by
// boost::context::detail::jump_fcontext, plus what the sanitizers and the C++
// runtime need to know about the stack it runs on. Everything else in weft
// switches through `Context::jump()` (or, for workers, generators and
// greenlets, its header-inline twin `Context::jump_inline()`) and never sees
// fcontext directly.
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

// WEFT_TSAN_UNTRACKED: under ThreadSanitizer, a function TSan leaves out of
// its shadow call stack (and does not instrument). For weft's frames that
// a context enters and never leaves (its entry, a dying coroutine's last
// switch): instrumented, each would stay on the shadow stack of whatever
// TSan state ran it, and TSan aborts once 65,536 entries pile up (see
// "Sanitizers" in coroutine.cc). g++'s no_sanitize("thread") drops the
// function's entry/exit hooks; clang's keeps them, its
// disable_sanitizer_instrumentation does not. Empty without TSan.
#if defined(WEFT_TSAN) && defined(__clang__)
#define WEFT_TSAN_UNTRACKED __attribute__((disable_sanitizer_instrumentation))
#elif defined(WEFT_TSAN)
#define WEFT_TSAN_UNTRACKED __attribute__((no_sanitize("thread")))
#else
#define WEFT_TSAN_UNTRACKED
#endif

// WEFT_INLINE_SWITCH: Context::jump_inline is compiled into its caller (x86-64
// SysV, no sanitizer). Elsewhere it calls Context::jump, whose out-of-line
// body carries the sanitizer annotations.
#if defined(__x86_64__) && defined(__linux__) && !defined(WEFT_ASAN) && !defined(WEFT_TSAN) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if !__has_feature(address_sanitizer) && !__has_feature(thread_sanitizer)
#define WEFT_INLINE_SWITCH 1
#endif
#else
#define WEFT_INLINE_SWITCH 1
#endif
#endif

namespace weft::internal {

class Context;

// The C++ runtime's per-thread exception state (libsupc++'s __cxa_eh_globals,
// laid out by the Itanium C++ ABI): the chain of caught exceptions and
// std::uncaught_exceptions(). A switch saves the running context's and
// installs the resumed one's.
struct EhGlobals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

// This thread's EhGlobals, cached: __cxa_get_globals lives in libstdc++.so and
// costs a call plus __tls_get_addr, a third of a switch. Null until the
// thread's first switch. Read only right before a jump, on the thread that
// jumps (a fiber may resume on another thread, so no copy survives a switch).
extern constinit thread_local EhGlobals* t_eh_globals;
EhGlobals* eh_globals_slow();  // fills t_eh_globals

inline EhGlobals* eh_globals() {
  EhGlobals* eh = t_eh_globals;
  if (__builtin_expect(eh == nullptr, 0)) eh = eh_globals_slow();
  return eh;
}

// This thread's errno (glibc's __errno_location()), cached for the same
// reason as t_eh_globals: the switch saves the running context's errno and
// installs the resumed one's, so errno belongs to the fiber (a fiber that set
// errno and then parked finds its own value, not a neighbour's, on whatever
// worker it resumes). Filled together with t_eh_globals by eh_globals_slow,
// so it is non-null whenever eh_globals() has returned on this thread (which
// saves the switch a second test). Read only right before a jump, on the
// thread that jumps.
extern constinit thread_local int* t_errno;

// Context::jump_inline's exception-state and errno swap, out of line. Used by code built
// for a shared object (-fPIC without -fPIE): there the thread_local is reached
// through __tls_get_addr, whose result the compiler may keep for a whole
// function, across a switch after which that function may run on another
// thread (its fiber parked and moved). An executable's TLS is read through
// %fs on every access, so inline code is safe there.
void swap_eh_state(Context* from, Context* to);

// What the resumed side must do for the suspended side. Lives on the stack of
// the suspending context; valid until that context is resumed again (or, for a
// dying fiber, until `action` has run).
struct Handover {
  Context* from = nullptr;              // the context that just suspended
  Context* to = nullptr;                // the context being resumed (set by jump)
  void (*action)(Handover*) = nullptr;  // runs on the resumed side, may be null
  void* arg = nullptr;                  // for `action`
  uint64_t arg2 = 0;                    // for `action`
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

  // The calling thread's own stack, [*lo, *lo + *size); false (and nothing
  // written) if the system cannot say.
  static bool thread_stack_bounds(void** lo, std::size_t* size);

  // Suspends `from` (the running context) and resumes `to`, handing over `h`.
  // Returns when some context jumps back to `from`; by then that context's
  // Handover has been processed. `from_dies` tells ASan to drop `from`'s fake
  // stack: pass true only when `from` will never be resumed. `balanced`
  // selects the ret-based switch (see context.cc): a win when `to` was
  // suspended from the same call path, a loss otherwise.
  static void jump(Context* from, Context* to, Handover* h, bool from_dies = false,
                   bool balanced = false);

  // jump(from, to, h) with from_dies = false, compiled into the caller: no
  // call, no return, so the CPU's return-stack buffer is untouched and every
  // inlined copy has its own indirect-jump prediction. For switches whose two
  // sides sit at different call sites (a generator's send and its yield) and
  // for the workers' (Worker::switch_to). Where WEFT_INLINE_SWITCH is not
  // defined it is jump(..., balanced = true).
  [[gnu::always_inline]] static inline void jump_inline(Context* from, Context* to, Handover* h);

  // Saves the thread's exception state and errno in `from` and installs
  // `to`'s. Installed before the jump, so the resumed side's Handover action
  // runs with the resumed context's errno: actions make only syscalls that
  // succeed or whose failure they handle without leaving errno for anyone
  // (glibc writes errno only on failure), so the value survives them.
  [[gnu::always_inline]] static inline void swap_eh(Context* from, Context* to) {
    EhGlobals* eh = eh_globals();
    from->eh_caught_ = eh->caught_exceptions;
    from->eh_uncaught_ = eh->uncaught_exceptions;
    eh->caught_exceptions = to->eh_caught_;
    eh->uncaught_exceptions = to->eh_uncaught_;
    int* err = t_errno;  // set: eh_globals() above filled it
    from->errno_ = *err;
    *err = to->errno_;
  }

  // Tells the sanitizers the stack bounds of this context have changed (a fiber
  // context being reused for a new stack).
  void set_stack(void* stack_lo, void* stack_hi);

  // The saved stack pointer of a suspended context (the frame laid out in
  // jump_inline: rbp at +0x30, the resume address at +0x38); for the fiber
  // dump's stack walk, which reads it racily (core/private/dump.cc): its
  // address, so that the read itself happens in the dump's uninstrumented
  // code even where this accessor is not inlined (-O1 under TSan).
  void* const* saved_stack_pointer_slot() const { return &fctx_; }
  // Drops the sanitizer state of a dead context (never the running one).
  // Idempotent; make() creates it again.
  void release();

 private:
  friend struct ContextAccess;
  void* fctx_ = nullptr;  // saved stack pointer (boost fcontext_t)
  void (*entry_)(Handover*) = nullptr;
  void* stack_lo_ = nullptr;  // for ASan's __sanitizer_start_switch_fiber
  std::size_t stack_size_ = 0;
  void* asan_fake_stack_ = nullptr;
  void* tsan_fiber_ = nullptr;  // TSan's per-context shadow state
  bool owns_tsan_fiber_ = false;
  uint32_t tsan_fiber_uses_ = 0;  // weft fibers tsan_fiber_ has served (context.cc)
  // The C++ runtime's per-thread exception state (__cxa_eh_globals: the chain of
  // caught exceptions and std::uncaught_exceptions()) travels with the context,
  // so a fiber that switches inside a catch block, or migrates to another
  // thread, sees its own and never another's.
  void* eh_caught_ = nullptr;
  unsigned int eh_uncaught_ = 0;
  // errno likewise (swap_eh): a new context starts with 0, as a thread does.
  int errno_ = 0;
};

#if defined(WEFT_INLINE_SWITCH)
// Vector and mask registers the SysV ABI lets a callee clobber, beyond xmm0-15.
// The resumed side runs arbitrary code before it switches back, so the inline
// switch clobbers everything a call would.
#if defined(__AVX512F__)
#define WEFT_SWITCH_AVX512_CLOBBERS                                                             \
  , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",   \
      "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", \
      "k6", "k7"
#else
#define WEFT_SWITCH_AVX512_CLOBBERS
#endif
// With -fcf-protection=branch, indirect jumps must land on endbr64.
#if defined(__CET__) && (__CET__ & 1)
#define WEFT_SWITCH_LANDING "endbr64\n\t"
#else
#define WEFT_SWITCH_LANDING ""
#endif
#endif

inline void Context::jump_inline(Context* from, Context* to, Handover* h) {
#if defined(WEFT_INLINE_SWITCH)
  h->from = from;
  h->to = to;
#if defined(__PIC__) && !defined(__PIE__)
  swap_eh_state(from, to);
#else
  swap_eh(from, to);
#endif
  // The switch. It suspends into, and resumes from, the frame that
  // boost::context's x86-64 SysV make_fcontext/jump_fcontext and
  // weft_jump_fcontext (context.cc) use, so any of them can resume a context
  // it suspended and it can resume theirs (a fresh make_fcontext context
  // included). The suspended stack pointer points at:
  //   0x00 MXCSR (4 bytes), x87 control word (2)   0x08 r12   0x10 r13
  //   0x18 r14   0x20 r15   0x28 rbx   0x30 rbp   0x38 resume address
  // and the resumed side finds, as a jump_fcontext return (a transfer_t) and
  // as a context function's first argument: rax = rdi = the stack pointer
  // just saved, rdx = rsi = the Handover pointer.
  // Where a call would push its return address, this pushes the address of
  // the local label 1, and it ends in `jmp` to the target's resume address,
  // not `ret`. First it steps over the 128-byte red zone: the enclosing
  // function may keep data below %rsp (the compiler sees no call here), and
  // the pushes would overwrite it. The red-zone step is undone at label 1,
  // after the resuming side popped the whole 0x40-byte frame, so %rsp leaves
  // the statement as it came in. Callee-saved registers travel in the frame;
  // everything a call may clobber is declared clobbered (the x87 stack too,
  // which must be empty here as at a call), with memory: the other side reads
  // and writes anything before it switches back. Operands are registers
  // only: %rsp moves under the statement, so an %rsp-based memory operand
  // would address the wrong place. The statement has no unwind info of its
  // own: a synchronous unwind never stops inside it (it makes no call); only
  // a sampling profiler's stack walk taken in its few instructions may come
  // out short.
  void* target = to->fctx_;
  void* data = h;
  void* suspended;  // rax at label 1: where the side that resumed us stopped
  void* received;   // rdx at label 1: its Handover
  asm volatile(
      "leaq -128(%%rsp), %%rsp\n\t"
      "leaq 1f(%%rip), %%rcx\n\t"
      "pushq %%rcx\n\t"
      "leaq -0x38(%%rsp), %%rsp\n\t"
      "stmxcsr (%%rsp)\n\t"
      "fnstcw 0x4(%%rsp)\n\t"
      "movq %%r12, 0x8(%%rsp)\n\t"
      "movq %%r13, 0x10(%%rsp)\n\t"
      "movq %%r14, 0x18(%%rsp)\n\t"
      "movq %%r15, 0x20(%%rsp)\n\t"
      "movq %%rbx, 0x28(%%rsp)\n\t"
      "movq %%rbp, 0x30(%%rsp)\n\t"
      "movq %%rsp, %%rax\n\t"
      "movq %%rdi, %%rsp\n\t"
      "movq 0x38(%%rsp), %%rcx\n\t"
      "ldmxcsr (%%rsp)\n\t"
      "fldcw 0x4(%%rsp)\n\t"
      "movq 0x8(%%rsp), %%r12\n\t"
      "movq 0x10(%%rsp), %%r13\n\t"
      "movq 0x18(%%rsp), %%r14\n\t"
      "movq 0x20(%%rsp), %%r15\n\t"
      "movq 0x28(%%rsp), %%rbx\n\t"
      "movq 0x30(%%rsp), %%rbp\n\t"
      "leaq 0x40(%%rsp), %%rsp\n\t"
      "movq %%rsi, %%rdx\n\t"
      "movq %%rax, %%rdi\n\t"
      "jmp *%%rcx\n"
      "1:\n\t" WEFT_SWITCH_LANDING "leaq 128(%%rsp), %%rsp"
      : "+D"(target), "+S"(data), "=a"(suspended), "=d"(received)
      :
      : "rcx", "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
        "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)",
        "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "memory",
        "cc" WEFT_SWITCH_AVX512_CLOBBERS);
  // Resumed: the hand-over, as ContextAccess::finish does it (no sanitizer
  // here to tell).
  auto* back = static_cast<Handover*>(received);
  back->from->fctx_ = suspended;
  if (back->action != nullptr) back->action(back);
#else
  jump(from, to, h, /*from_dies=*/false, /*balanced=*/true);
#endif
}

#undef WEFT_SWITCH_AVX512_CLOBBERS
#undef WEFT_SWITCH_LANDING

}  // namespace weft::internal
