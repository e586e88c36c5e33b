// The machinery behind weft::blocking (io/blocking.h): the record an
// offloaded call lives in, how its result travels back to the fiber, and the
// offload pool's hooks for tests. Implementation detail; see io/blocking.cc
// for the protocol.
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
  int threads = 0;      // offload threads alive
  int idle = 0;         // of those, waiting for work
  int max_threads = 0;  // the bound on `threads`
  uint64_t calls = 0;   // calls run since the process started
};
OffloadPoolStats offload_pool_stats();

// How long an idle offload thread waits for work before it exits (10 s by
// default). Tests shorten it; applies to waits that start afterwards.
void set_offload_idle_timeout(absl::Duration d);

}  // namespace internal

}  // namespace weft
