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

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "weft/core/this_fiber.h"
#include "weft/io/internal/blocking_impl.h"  // OffloadCall, run_offloaded

namespace weft {

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
