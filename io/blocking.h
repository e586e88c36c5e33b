// weft::blocking — run a call that blocks its thread without blocking a worker.
//
// Some calls cannot be made non-blocking: getaddrinfo, file I/O, fsync, a C
// library that does its own I/O. Called from a fiber, they would stall the
// worker thread and every fiber queued on it. weft::blocking(fn, args...)
// runs fn on a small offload thread pool instead; the calling fiber parks
// (its worker runs other fibers meanwhile) and gets fn's result, or fn's
// exception, back when fn returns.
//
//   absl::StatusOr<std::string> read_config(const std::string& path) {
//     return weft::blocking([&]() -> absl::StatusOr<std::string> {
//       std::ifstream in(path);                      // runs on an offload thread
//       if (!in) return absl::NotFoundError(path);
//       return std::string(std::istreambuf_iterator<char>(in), {});
//     });
//   }
//
// The pool is per process, shared by every runtime: it starts its first
// thread on the first offloaded call, grows to at most
// max(4, std::thread::hardware_concurrency()) threads while calls wait for
// one, and a thread that has had nothing to run for 10 s exits. Calls queue
// in FIFO order when every thread is busy. Threads are detached: process
// exit never waits for them, whether they wait for work or still run a call
// (std::exit called while a fiber waits in blocking()).
//
// A call in flight cannot be interrupted (a thread cannot be cancelled
// safely). If the calling fiber is killed (Fiber::kill, runtime shutdown)
// meanwhile, the kill takes effect when fn returns: blocking() then destroys
// fn's result and throws weft::FiberExit (an expired weft::Timeout likewise
// throws weft::TimeoutError then). Until then the fiber stays parked,
// so fn may safely refer to the fiber's stack (capture by reference), and a
// shutdown waits for fn like for any fiber that has not reached a
// suspension point. Keep offloaded calls bounded in time.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/time/time.h"
#include "weft/core/this_fiber.h"

namespace weft {
namespace internal {

// OffloadJob::state besides the address of the parked FiberControl.
inline constexpr uintptr_t kOffloadPending = 0;  // queued or running; fiber not parked yet
inline constexpr uintptr_t kOffloadDone = 1;     // fn returned; result readable

// One offloaded call. Lives on the calling fiber's stack, which stays parked
// until the pool's last touch of the record (see blocking.cc).
struct OffloadJob {
  // Runs the call and stores its result or exception; on an offload thread.
  void (*run)(OffloadJob*) = nullptr;
  // The pool's FIFO link; read and written under the pool's lock only.
  OffloadJob* next = nullptr;
  // kOffloadPending, kOffloadDone or the parked fiber's FiberControl*.
  // Written by the fiber (CAS pending -> fiber, in the Handover after it
  // switched out) and by the offload thread (exchange -> done, after run).
  std::atomic<uintptr_t> state{kOffloadPending};
};

// Queues `job`, parks the calling fiber until the job has run, then throws
// as every suspension point does (throw_if_killed: FiberExit if the fiber
// was killed meanwhile, TimeoutError if a weft::Timeout expired; neither
// while it is unwinding). Throws the same without queueing if that was so
// before, and std::system_error if the pool has no thread and cannot start
// one.
void run_offloaded(OffloadJob* job);

// Where fn's outcome waits for the fiber: a value, a reference, or nothing.
template <typename R>
struct OffloadResult {
  static_assert(std::is_move_constructible_v<R>,
                "weft::blocking: the result must be move-constructible (it is handed "
                "from the offload thread to the fiber)");
  std::optional<R> value;
  template <typename Call>
  void fill(Call&& call) {
    value.emplace(std::forward<Call>(call)());
  }
  R take() { return std::move(*value); }
};

template <typename R>
  requires std::is_reference_v<R>
struct OffloadResult<R> {
  std::remove_reference_t<R>* ptr = nullptr;
  template <typename Call>
  void fill(Call&& call) {
    ptr = std::addressof(std::forward<Call>(call)());
  }
  R take() { return static_cast<R>(*ptr); }
};

template <>
struct OffloadResult<void> {
  template <typename Call>
  void fill(Call&& call) {
    std::forward<Call>(call)();
  }
  void take() {}
};

// The call as the offload thread sees it: references to the caller's
// callable and arguments, which outlive the call because the fiber waits.
template <typename R, typename F, typename... Args>
struct OffloadCall : OffloadJob {
  explicit OffloadCall(F&& f, Args&&... a) : refs(std::forward<F>(f), std::forward<Args>(a)...) {
    run = &OffloadCall::execute;
  }

  static void execute(OffloadJob* job) {
    auto* self = static_cast<OffloadCall*>(job);
    try {
      self->result.fill([self]() -> R {
        return std::apply(
            [](auto&&... xs) -> R { return std::invoke(std::forward<decltype(xs)>(xs)...); },
            std::move(self->refs));
      });
    } catch (...) {
      self->error = std::current_exception();
    }
  }

  std::tuple<F&&, Args&&...> refs;
  OffloadResult<R> result;
  std::exception_ptr error;
};

// What the offload pool is doing; for tests and diagnostics.
struct OffloadPoolStats {
  int threads = 0;        // offload threads alive
  int idle = 0;           // of those, waiting for work
  int max_threads = 0;    // the bound on `threads`
  uint64_t calls = 0;     // calls run since the process started
};
OffloadPoolStats offload_pool_stats();

// How long an idle offload thread waits for work before it exits (10 s by
// default). Tests shorten it; applies to waits that start afterwards.
void set_offload_idle_timeout(absl::Duration d);

}  // namespace internal

// Runs fn(args...) on the offload thread pool and returns its result to the
// calling fiber, or rethrows there what fn threw. fn and args are passed by
// reference (perfectly forwarded), not copied: the caller waits for the
// call, so references to its locals stay valid. fn runs on another thread:
// its thread_locals (and errno) are the offload thread's.
//
// Blocks the calling fiber (parked; its worker runs other fibers), not the
// worker thread. On a plain thread (not a fiber) it simply calls fn inline
// and blocks that thread, like a direct call.
//
// A suspension point that cannot be interrupted: a fiber killed before the
// call throws weft::FiberExit without running fn; one killed while fn runs
// waits for fn to return, then throws weft::FiberExit (fn's result is
// destroyed). A weft::Timeout of the fiber behaves the same way: expired
// before the call, it throws weft::TimeoutError instead of running fn;
// expiring while fn runs, it throws once fn has returned. A fiber that is
// already unwinding (a destructor offloading a flush) gets fn's result
// regardless. Throws std::system_error if no offload thread can be started.
template <typename F, typename... Args>
std::invoke_result_t<F, Args...> blocking(F&& fn, Args&&... args) {
  using R = std::invoke_result_t<F, Args...>;
  if (!in_fiber()) return std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
  internal::OffloadCall<R, F, Args...> call(std::forward<F>(fn), std::forward<Args>(args)...);
  internal::run_offloaded(&call);
  if (call.error) std::rethrow_exception(call.error);
  return call.result.take();
}

}  // namespace weft
