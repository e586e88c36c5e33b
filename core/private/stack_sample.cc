// The blocking detector's stack sample: a signal makes the worker's thread
// record the stack it is running.
//
// Why a signal. The fiber that keeps its worker runs there right now, its
// stack changing under any reader; only the thread itself can walk it
// safely, and a signal makes it do so between two instructions, wherever
// it is (a busy loop, a blocking system call, a library's own spin).
//
// Which signal: SIGURG. Its default action is "ignore", so a sample request
// that arrives late (after the last runtime restored the old disposition)
// is harmless, where a real-time signal's default would end the process;
// and programs rarely use it (out-of-band TCP data with F_SETOWN), which is
// why Go's preemption picked it too. A SIGURG that is not ours (not sent by
// this process to this thread, or with no request pending on this worker)
// goes to the handler that was installed before ours, if any. The previous
// disposition is restored when the last runtime with the detector stops
// (acquire/release_sample_signal count them).
//
// What the interrupted code sees: SA_RESTART, so a read or write the signal
// lands in is restarted by the kernel; calls the kernel never restarts
// (nanosleep, poll, epoll_wait, select) return EINTR, once per reported
// episode, as they would for any signal. That, and the signal itself, is
// why the detector is opt-in (RuntimeOptions::detect_blocking).
//
// The handler is async-signal-safe: it claims the worker's preallocated
// StackSample with a CAS (a lock-free atomic), copies the fiber's id and
// name, follows the frame-pointer chain within the fiber's stack (or, where
// there is none, absl::GetStackTraceWithContext, documented for signal
// handlers: no allocation, no lock), and keeps errno. Symbolizing
// (absl::Symbolize reads ELF files) happens later, on the monitor thread.
//
// The slot's hand-over: kIdle -> kRequested (monitor, release: the stamp
// it wrote) -> kFilling (handler, CAS acquire) -> kDone (handler, release:
// its answer) -> kIdle (monitor, after reading with acquire). A monitor
// that gives up waiting takes kRequested back with a CAS; if the handler
// won that race (kFilling), the monitor waits for kDone, so the slot is
// never written while it is reused.
#include "weft/core/private/stack_sample.h"

#include <signal.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/debugging/stacktrace.h"
#include "weft/core/internal/clock.h"
#include "weft/core/private/runtime_core.h"
#include "weft/core/private/worker.h"

namespace weft::internal {
namespace {

constexpr int kSampleSignal = SIGURG;

std::mutex g_install_mu;
int g_users = 0;              // guarded by g_install_mu
struct sigaction g_previous;  // written under g_install_mu before our handler is in place

void pass_on(int sig, siginfo_t* info, void* uc) {
  if ((g_previous.sa_flags & SA_SIGINFO) != 0) {
    if (g_previous.sa_sigaction != nullptr) g_previous.sa_sigaction(sig, info, uc);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
             g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
  }
  // SIG_DFL and SIG_IGN both ignore SIGURG.
}

// Follows the interrupted code's frame-pointer chain, inside the fiber's
// own stack only (so every read is of mapped memory whatever rbp holds):
// exact where frames keep their pointer (the profile and sanitizer
// builds), a few words at most elsewhere, which the monitor drops when
// they name no symbol. Not instrumented: it reads other frames' slots.
__attribute__((no_sanitize("address", "thread"))) int walk_frame_pointers(const ucontext_t* ctx,
                                                                          uintptr_t lo,
                                                                          uintptr_t hi, void** out,
                                                                          int max) {
  uintptr_t fp = static_cast<uintptr_t>(ctx->uc_mcontext.gregs[REG_RBP]);
  const uintptr_t sp = static_cast<uintptr_t>(ctx->uc_mcontext.gregs[REG_RSP]);
  int n = 0;
  while (n < max && fp >= sp && fp >= lo && fp + 2 * sizeof(void*) <= hi && fp % 8 == 0) {
    const auto* frame = reinterpret_cast<const uintptr_t*>(fp);
    if (frame[1] == 0) break;
    out[n++] = reinterpret_cast<void*>(frame[1]);
    if (frame[0] <= fp) break;  // the chain must climb towards the stack's top
    fp = frame[0];
  }
  return n;
}

void on_sample_signal(int sig, siginfo_t* info, void* uc) {
  const int saved_errno = errno;
  // Ours only if this process sent it to this thread (pthread_kill: tgkill).
  Worker* w = info->si_code == SI_TKILL && info->si_pid == getpid() ? Worker::current() : nullptr;
  uint32_t expected = StackSample::kRequested;
  // Acquire: pairs with the monitor's release store of kRequested (stamp).
  if (w == nullptr ||
      !w->sample().state.compare_exchange_strong(
          expected, StackSample::kFilling, std::memory_order_acquire, std::memory_order_relaxed)) {
    pass_on(sig, info, uc);
    errno = saved_errno;
    return;
  }
  StackSample& s = w->sample();
  FiberControl* f = w->fiber_still_running(s.stamp);
  s.found = f != nullptr;
  s.depth = 0;
  if (f != nullptr) {
    s.fiber_id = f->id;
    std::memcpy(s.fiber_name, f->name, sizeof(s.fiber_name));
    s.fiber_name[sizeof(s.fiber_name) - 1] = '\0';
    // The interrupted instruction first: the unwinder reports return
    // addresses, and without frame pointers it may not get past it.
    const auto* ctx = static_cast<const ucontext_t*>(uc);
    s.frames[0] = reinterpret_cast<void*>(ctx->uc_mcontext.gregs[REG_RIP]);
    // The fiber's stack lies below its control block (runtime_core.h).
    const auto hi = reinterpret_cast<uintptr_t>(f);
    const uintptr_t lo = hi - w->runtime()->stack_size();
    s.depth = 1 + walk_frame_pointers(ctx, lo, hi, s.frames + 1, StackSample::kMaxFrames - 1);
    // No chain (a frame without its pointer): absl's unwinder, which knows
    // the signal frame, may still get further.
    if (s.depth == 1) {
      s.depth += absl::GetStackTraceWithContext(s.frames + 1, StackSample::kMaxFrames - 1,
                                                /*skip_count=*/0, uc, nullptr);
    }
  }
  // Release: pairs with the monitor's acquire load; the answer is its.
  s.state.store(StackSample::kDone, std::memory_order_release);
  errno = saved_errno;
}

void pause_briefly() {
  timespec ts{0, 100 * 1000};  // 100 us
  nanosleep(&ts, nullptr);
}

}  // namespace

void acquire_sample_signal() {
  std::lock_guard<std::mutex> lock(g_install_mu);
  if (g_users++ != 0) return;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = &on_sample_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(kSampleSignal, &sa, &g_previous);
}

void release_sample_signal() {
  std::lock_guard<std::mutex> lock(g_install_mu);
  if (--g_users != 0) return;
  sigaction(kSampleSignal, &g_previous, nullptr);
}

bool request_stack_sample(Worker* w, pthread_t thread, uint64_t stamp, int64_t timeout_ns) {
  StackSample& s = w->sample();
  s.stamp = stamp;
  // Release: the stamp above is the handler's once it sees kRequested.
  s.state.store(StackSample::kRequested, std::memory_order_release);
  if (pthread_kill(thread, kSampleSignal) != 0) {
    s.state.store(StackSample::kIdle, std::memory_order_relaxed);
    return false;
  }
  const int64_t deadline = real_monotonic_now_ns() + timeout_ns;
  for (;;) {
    // Acquire: pairs with the handler's release store of kDone.
    uint32_t st = s.state.load(std::memory_order_acquire);
    if (st == StackSample::kDone) break;
    if (st == StackSample::kRequested && real_monotonic_now_ns() >= deadline) {
      // Withdraw; if the handler claimed it meanwhile, wait for its answer.
      if (s.state.compare_exchange_strong(st, StackSample::kIdle, std::memory_order_relaxed)) {
        return false;
      }
      continue;
    }
    pause_briefly();
  }
  s.state.store(StackSample::kIdle, std::memory_order_relaxed);  // the monitor's own again
  return true;
}

}  // namespace weft::internal
