// Boost.Context glue, sanitizer fiber annotations and exception-state swapping.
//
// Why the annotations live here: ASan keeps per-stack "fake stacks" and TSan a
// per-thread shadow stack; both go wrong (false reports, crashes) the moment
// the stack pointer jumps to memory they were not told about. Every switch in
// weft goes through Context::jump, so telling them here covers all of weft.
#include "weft/core/internal/context.h"

#include <pthread.h>

#include <cerrno>

#include <boost/context/detail/fcontext.hpp>

#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(WEFT_TSAN)
#include <sanitizer/tsan_interface.h>

#include "weft/core/internal/lock.h"
#endif

// libsupc++'s per-thread exception globals (cxxabi.h declares it with an
// incomplete type; its layout is fixed by the Itanium C++ ABI).
namespace __cxxabiv1 {
struct __cxa_eh_globals;
extern "C" __cxa_eh_globals* __cxa_get_globals() noexcept;
}  // namespace __cxxabiv1

#if defined(__x86_64__) && defined(__linux__)
// weft_jump_fcontext: Boost.Context's x86-64 SysV jump_fcontext, register for
// register and frame for frame (the same 0x38-byte layout, so contexts made
// by make_fcontext work unchanged), except that it returns with `ret` where
// Boost's ends with `jmp *%r8`. The jmp leaves the return address pushed by
// the `call` on the CPU's return-stack buffer, so every `ret` that follows a
// switch is predicted against the wrong entry: on this machine that turned a
// 5 ns switch into a 38 ns yield. With `ret`, the buffer stays balanced and a
// fiber resumed at the same call site as the one suspending has all its
// returns predicted. Measured both ways (weft_bench, medians of 3): `ret`
// everywhere gave yield 13 ns but spawn+join 91 ns and skynet 83 ms, against
// 38 ns / 56 ns / 68 ms with Boost's jmp (where the call sites differ, the
// indirect-branch predictor does better). So Context::jump takes `balanced`:
// the yield path, whose switches pair up call sites, uses the `ret` form;
// everything else Boost's (12 ns / 62 ns / 67 ms). Without a sanitizer,
// generators, greenlets and the workers now switch with neither:
// Context::jump_inline (context.h) is the same frame switched by inline asm
// at the caller's site, with no call and no return (for the workers see
// Worker::switch_to). Measured together with a trimmed park/wake path
// (weft_bench medians, one worker): channel ping-pong 136-169 -> 89-98 ns,
// skynet 64-71 -> 53-67 ms, yield and spawn+join within noise. Only a dying
// coroutine's last switch comes here without a sanitizer, with `ret`; with
// one, every switch does (the annotations live here).
extern "C" boost::context::detail::transfer_t weft_jump_fcontext(void* to, void* data);
asm(R"(
  .text
  .globl weft_jump_fcontext
  .hidden weft_jump_fcontext
  .type weft_jump_fcontext,@function
  .align 16
weft_jump_fcontext:
  leaq -0x38(%rsp), %rsp
  stmxcsr (%rsp)
  fnstcw 0x4(%rsp)
  movq %r12, 0x8(%rsp)
  movq %r13, 0x10(%rsp)
  movq %r14, 0x18(%rsp)
  movq %r15, 0x20(%rsp)
  movq %rbx, 0x28(%rsp)
  movq %rbp, 0x30(%rsp)
  movq %rsp, %rax
  movq %rdi, %rsp
  ldmxcsr (%rsp)
  fldcw 0x4(%rsp)
  movq 0x8(%rsp), %r12
  movq 0x10(%rsp), %r13
  movq 0x18(%rsp), %r14
  movq 0x20(%rsp), %r15
  movq 0x28(%rsp), %rbx
  movq 0x30(%rsp), %rbp
  leaq 0x38(%rsp), %rsp
  movq %rsi, %rdx
  movq %rax, %rdi
  ret
  .size weft_jump_fcontext,.-weft_jump_fcontext
  .section .note.GNU-stack,"",%progbits
  .text
)");
#define WEFT_JUMP weft_jump_fcontext

// weft_fiber_entry: the outermost frame of every fiber (and generator and
// greenlet) stack, so that profilers and debuggers stop there. make_fcontext
// starts a context by jumping to its function with %rbp holding the address
// of Boost's exit stub, a code address: a frame-pointer walk (perf's default
// call graph, gdb) from inside a fiber took code bytes for frames and ended in
// garbage. Here %rbp is zeroed before the real start is called, so the chain
// ends with one frame whose return address lies in weft_fiber_entry, and
// `.cfi_undefined rip` tells DWARF unwinders the same. We enter with %rsp at
// 8 mod 16 (Boost pushed a return address); the push realigns it for the
// call. Cost: three instructions per context start, nothing per switch.
extern "C" void weft_fiber_entry(boost::context::detail::transfer_t t);
asm(R"(
  .text
  .globl weft_fiber_entry
  .hidden weft_fiber_entry
  .type weft_fiber_entry,@function
  .align 16
weft_fiber_entry:
  .cfi_startproc
  .cfi_undefined rip
  xorl %ebp, %ebp
  pushq %rbp
  .cfi_adjust_cfa_offset 8
  call weft_fiber_main
  ud2
  .cfi_endproc
  .size weft_fiber_entry,.-weft_fiber_entry
  .section .note.GNU-stack,"",%progbits
  .text
)");
#define WEFT_FIBER_ENTRY weft_fiber_entry
#else
#define WEFT_JUMP boost::context::detail::jump_fcontext
#define WEFT_FIBER_ENTRY weft::internal::ContextAccess::trampoline
#endif

namespace weft::internal {
namespace fc = boost::context::detail;

constinit thread_local EhGlobals* t_eh_globals = nullptr;
constinit thread_local int* t_errno = nullptr;

EhGlobals* eh_globals_slow() {
  auto* eh = reinterpret_cast<EhGlobals*>(__cxxabiv1::__cxa_get_globals());
  t_errno = &errno;  // glibc: *__errno_location(), fixed for the thread's life
  t_eh_globals = eh;
  return eh;
}

void swap_eh_state(Context* from, Context* to) { Context::swap_eh(from, to); }

struct ContextAccess {
  // First thing a resumed context does: record where the suspended side
  // stopped, then run the hand-over action. (Its exception state was
  // installed by the jumping side, see jump.)
  static void finish(Context* self, fc::transfer_t t) {
    auto* h = static_cast<Handover*>(t.data);
#if defined(WEFT_ASAN)
    __sanitizer_finish_switch_fiber(self->asan_fake_stack_, nullptr, nullptr);
#endif
    h->from->fctx_ = t.fctx;
    if (h->action != nullptr) h->action(h);
  }

  [[noreturn]] WEFT_TSAN_UNTRACKED static void trampoline(fc::transfer_t t) {
    Context* self = static_cast<Handover*>(t.data)->to;
    finish(self, t);
    self->entry_(nullptr);
    __builtin_trap();  // entry functions never return
  }
};

}  // namespace weft::internal

// Called by weft_fiber_entry (it must have C linkage to be named from asm).
extern "C" [[noreturn]] __attribute__((visibility("hidden"))) WEFT_TSAN_UNTRACKED void
weft_fiber_main(boost::context::detail::transfer_t t) {
  weft::internal::ContextAccess::trampoline(t);
}

namespace weft::internal {

#if defined(WEFT_TSAN)
namespace {

// TSan's fibers, kept for reuse. TSan models each fiber as a thread:
// __tsan_create_fiber maps and clears a ThreadState of several hundred KiB
// and __tsan_destroy_fiber unmaps it again (a TLB shoot-down on every core).
// Paid per weft fiber, that was ~2 ms a spawn on this VM, most of it in the
// kernel: SchedulerStressTest.MillionFibersSpawnedAndJoined's 21,000 fibers
// took 44 s alone and ~290 s beside the other TSan tests. A dead fiber's
// TSan fiber therefore goes to its thread's cache, and past that to one
// pool for the process, and the next make() takes it from there. The pool
// serves what the caches cannot: a burst of thousands of fibers alive at
// once (a server's connections), a thread that exits (a runtime's workers),
// and the next runtime's fresh threads.
//
// Reuse hides no race: a TSan fiber taken from the cache was given back on
// the same thread, and every switch on a thread synchronizes
// (__tsan_switch_to_fiber with flags 0), so the dead fiber's accesses
// already happen before whatever runs next there, including the spawn that
// takes its TSan fiber and the new fiber that spawn starts. One from the
// pool went through its mutex, which orders the giving thread's past before
// the taking thread's future the same way. Three bounds: kCacheSize per
// thread and kPoolSize in all, because TSan allows ~8k threads alive at
// once (the kept fibers count) and tests with thousands of live fibers sit
// near it; and kMaxUses per TSan fiber, because a fiber never returns from
// its last frames: each use leaves a few entries on TSan's fixed-size
// shadow stack (64 Ki entries, overrun unchecked), so a TSan fiber is
// destroyed, and a fresh one made, after kMaxUses weft fibers.
constexpr int kCacheSize = 32;
constexpr int kPoolSize = 1024;
constexpr uint32_t kMaxUses = 256;

struct TsanFiber {
  void* fiber;
  uint32_t uses;
};

struct TsanFiberCache {
  TsanFiber kept[kCacheSize] = {};
  int size = 0;
  bool closed = false;  // the thread is exiting: give_back hands to the pool
};
// Trivially destructible, so it outlives every other thread_local that may
// still release a Context; t_tsan_cache_closer empties it at thread exit.
constinit thread_local TsanFiberCache t_tsan_cache;

class TsanFiberPool {
 public:
  // Moves up to `n` kept fibers to `out`; returns how many.
  int take(TsanFiber* out, int n) {
    LockGuard lock(mu_);
    int k = 0;
    while (k < n && size_ > 0) out[k++] = kept_[--size_];
    return k;
  }
  // Keeps what fits of `in[0..n)` and destroys the rest.
  void give(const TsanFiber* in, int n) {
    int k = 0;
    {
      LockGuard lock(mu_);
      while (k < n && size_ < kPoolSize) kept_[size_++] = in[k++];
    }
    for (; k < n; ++k) __tsan_destroy_fiber(in[k].fiber);
  }

 private:
  Lock mu_;
  TsanFiber kept_[kPoolSize] ABSL_GUARDED_BY(mu_) = {};
  int size_ ABSL_GUARDED_BY(mu_) = 0;
};
// Never destroyed: threads may still give back during exit.
TsanFiberPool& tsan_pool() {
  static TsanFiberPool* pool = new TsanFiberPool;
  return *pool;
}

struct TsanCacheCloser {
  ~TsanCacheCloser() {
    TsanFiberCache& c = t_tsan_cache;
    c.closed = true;
    tsan_pool().give(c.kept, c.size);
    c.size = 0;
  }
};
thread_local TsanCacheCloser t_tsan_cache_closer;

void* take_tsan_fiber(uint32_t* uses) {
  TsanFiberCache& c = t_tsan_cache;
  if (c.size == 0 && !c.closed) c.size = tsan_pool().take(c.kept, kCacheSize / 2);
  if (c.size == 0) {
    *uses = 0;
    return __tsan_create_fiber(0);
  }
  --c.size;
  *uses = c.kept[c.size].uses;
  return c.kept[c.size].fiber;
}

void give_back_tsan_fiber(void* fiber, uint32_t uses) {
  TsanFiberCache& c = t_tsan_cache;
  if (uses >= kMaxUses) {
    __tsan_destroy_fiber(fiber);
    return;
  }
  if (c.closed) {
    const TsanFiber one{fiber, uses};
    tsan_pool().give(&one, 1);
    return;
  }
  (void)&t_tsan_cache_closer;  // registers the closer on this thread's first give-back
  if (c.size == kCacheSize) {  // half to the pool, in one lock
    c.size -= kCacheSize / 2;
    tsan_pool().give(c.kept + c.size, kCacheSize / 2);
  }
  c.kept[c.size++] = TsanFiber{fiber, uses};
}

}  // namespace
#endif

Context::~Context() { release(); }

void Context::set_stack(void* stack_lo, void* stack_hi) {
  stack_lo_ = stack_lo;
  stack_size_ = static_cast<char*>(stack_hi) - static_cast<char*>(stack_lo);
}

void Context::make(void* stack_lo, void* stack_hi, void (*entry)(Handover*)) {
  set_stack(stack_lo, stack_hi);
#if defined(WEFT_ASAN)
  // A reused stack still carries the redzones of the previous fiber's frames,
  // which never returned; clear them or ASan reports phantom overflows.
  __asan_unpoison_memory_region(stack_lo, stack_size_);
#endif
  entry_ = entry;
  eh_caught_ = nullptr;
  eh_uncaught_ = 0;
  errno_ = 0;
  fctx_ = fc::make_fcontext(stack_hi, stack_size_, &WEFT_FIBER_ENTRY);
#if defined(WEFT_TSAN)
  if (tsan_fiber_ == nullptr) {
    tsan_fiber_ = take_tsan_fiber(&tsan_fiber_uses_);
    ++tsan_fiber_uses_;
    owns_tsan_fiber_ = true;
  }
#endif
}

bool Context::thread_stack_bounds(void** lo, std::size_t* size) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return false;
  pthread_attr_getstack(&attr, lo, size);
  pthread_attr_destroy(&attr);
  return true;
}

void Context::adopt_current_thread() {
#if defined(WEFT_ASAN)
  // ASan must be told the bounds of the stack we return to.
  void* lo = nullptr;
  std::size_t size = 0;
  if (thread_stack_bounds(&lo, &size)) {
    stack_lo_ = lo;
    stack_size_ = size;
  }
#endif
#if defined(WEFT_TSAN)
  tsan_fiber_ = __tsan_get_current_fiber();
  owns_tsan_fiber_ = false;
#endif
}

void Context::release() {
#if defined(WEFT_TSAN)
  if (owns_tsan_fiber_ && tsan_fiber_ != nullptr) {
    give_back_tsan_fiber(tsan_fiber_, tsan_fiber_uses_);
  }
#endif
  tsan_fiber_ = nullptr;
  owns_tsan_fiber_ = false;
}

// Untracked by TSan: a dying context's last switch enters it and never
// returns (see WEFT_TSAN_UNTRACKED in context.h).
WEFT_TSAN_UNTRACKED void Context::jump(Context* from, Context* to, Handover* h, bool from_dies,
                                       bool balanced) {
  h->from = from;
  h->to = to;
  swap_eh(from, to);  // save our C++ exception state, install `to`'s
#if defined(WEFT_ASAN)
  __sanitizer_start_switch_fiber(from_dies ? nullptr : &from->asan_fake_stack_, to->stack_lo_,
                                 to->stack_size_);
#endif
#if defined(WEFT_TSAN)
  __tsan_switch_to_fiber(to->tsan_fiber_, 0);
#endif
  fc::transfer_t t = balanced ? WEFT_JUMP(to->fctx_, h) : fc::jump_fcontext(to->fctx_, h);
  ContextAccess::finish(from, t);
}

}  // namespace weft::internal
