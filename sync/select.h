// weft::select — wait for the first of several channel operations (Go's select).
//
//   weft::Channel<int> jobs(8);
//   weft::Channel<std::string> quit;
//   std::optional<int> job;
//   std::optional<std::string> why;
//   switch (weft::select(weft::on_recv(jobs, job), weft::on_recv(quit, why))) {
//     case 0: handle(*job); break;      // job is nullopt if `jobs` was closed
//     case 1: return;
//   }
//   int i = weft::select_for(weft::on_send(jobs, 7), absl::Milliseconds(10));  // -1: timed out
//   int j = weft::try_select(weft::on_recv(jobs, job));                        // -1: nothing ready
//
//   auto next = weft::on_recv(jobs);   // a receive case that holds its own result
//   if (weft::select_for(next, absl::Seconds(1)) == 0) handle(next.value());
//
// The timed forms follow weft's one convention, the timeout last as in
// every other timed call: select_for(cases..., absl::Duration) and
// select_until(cases..., absl::Time). select_for, select_until and
// try_select return kSelectNone (-1) when no case ran (timed out, or
// nothing ready); otherwise every select returns the index of the case that
// ran.
//
// Exactly one ready case runs; when several are ready one is picked at random,
// so none starves. A receive from a closed channel is ready (and yields
// nullopt); so is a send to a closed channel (its status says so).
// select parks the fiber (never the thread); fiber-only when it must wait.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/sync/channel.h"
#include "weft/sync/internal/chan_wait.h"
#include "weft/sync/internal/spin_lock.h"

namespace weft {

// What select_for / select_until / try_select return when no case ran.
inline constexpr int kSelectNone = -1;

// One operation of a select; built by on_recv / on_send. The methods other
// than finish() are called with the channel's lock held.
class SelectCase {
 public:
  virtual ~SelectCase() = default;
  virtual internal::SpinLock* lock() = 0;  // the channel's lock
  // Performs the operation if it can proceed without waiting; a fiber whose
  // wait that ends goes to *wake.
  virtual bool try_complete(internal::FiberControl** wake) = 0;
  // Links `w` (fiber set) into the channel's queue, pointing at this case.
  virtual void enqueue(internal::ChanWaiter* w) = 0;
  // Unlinks `w` if it is still queued.
  virtual void dequeue(internal::ChanWaiter* w) = 0;
  // After this case's waiter was claimed with `outcome`; no lock needed.
  virtual void finish(internal::ChanOutcome outcome) = 0;
};

template <typename T>
class RecvCase : public SelectCase {
 public:
  // Receives into `out`, declared by the caller.
  RecvCase(Channel<T>& ch, std::optional<T>& out) : ch_(ch), out_(out) {}
  // Receives into the case itself: read it with value().
  explicit RecvCase(Channel<T>& ch) : ch_(ch), out_(own_) {}
  // Not movable: out_ may refer to own_ (on_recv returns it by guaranteed
  // elision all the same).
  RecvCase(const RecvCase&) = delete;
  RecvCase& operator=(const RecvCase&) = delete;

  // The received value once this case ran (nullopt: the channel was closed
  // and drained, or the case did not run).
  std::optional<T>& value() { return out_; }

  internal::SpinLock* lock() override { return &ch_.lock_; }
  // (No analysis in these three: select_cases holds ch_.lock_, taken through lock().)
  bool try_complete(internal::FiberControl** wake) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    out_.reset();
    return ch_.recv_now(out_, wake) || ch_.closed_;  // closed and drained: nullopt
  }
  void enqueue(internal::ChanWaiter* w) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    w->slot = &out_;  // a sender fills it
    ch_.receivers_.push_back(w);
  }
  void dequeue(internal::ChanWaiter* w) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (w->linked) ch_.receivers_.unlink(w);
  }
  void finish(internal::ChanOutcome outcome) override {
    if (outcome != internal::ChanOutcome::kDone) out_.reset();
  }

 private:
  Channel<T>& ch_;
  std::optional<T> own_;  // before out_, which may refer to it
  std::optional<T>& out_;
};

template <typename T>
class SendCase : public SelectCase {
 public:
  SendCase(Channel<T>& ch, T value, absl::Status* status)
      : ch_(ch), value_(std::move(value)), status_(status) {}
  internal::SpinLock* lock() override { return &ch_.lock_; }
  // (No analysis in these three: select_cases holds ch_.lock_, taken through lock().)
  bool try_complete(internal::FiberControl** wake) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (ch_.closed_) {
      finish(internal::ChanOutcome::kClosed);
      return true;
    }
    if (!ch_.send_now(value_, wake)) return false;
    finish(internal::ChanOutcome::kDone);
    return true;
  }
  void enqueue(internal::ChanWaiter* w) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    w->slot = &value_;  // a receiver moves from it
    ch_.senders_.push_back(w);
  }
  void dequeue(internal::ChanWaiter* w) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (w->linked) ch_.senders_.unlink(w);
  }
  void finish(internal::ChanOutcome outcome) override {
    if (status_ == nullptr) return;
    *status_ = outcome == internal::ChanOutcome::kDone
                   ? absl::OkStatus()
                   : absl::FailedPreconditionError("weft::select: send on a closed channel");
  }

 private:
  Channel<T>& ch_;
  T value_;
  absl::Status* status_;
};

// A receive case: on success `out` holds the value (nullopt: channel closed).
template <typename T>
RecvCase<T> on_recv(Channel<T>& ch, std::optional<T>& out) {
  return RecvCase<T>(ch, out);
}
// A receive case that holds its result: `auto c = on_recv(ch);` then
// `select(c, ...)` and `c.value()`.
template <typename T>
RecvCase<T> on_recv(Channel<T>& ch) {
  return RecvCase<T>(ch);
}
// A send case; `status`, if given, says whether the channel was closed.
template <typename T, typename V>
SendCase<T> on_send(Channel<T>& ch, V&& value, absl::Status* status = nullptr) {
  return SendCase<T>(ch, T(std::forward<V>(value)), status);
}

namespace internal {
// Runs the select; returns the index of the case completed, or -1 when
// `deadline_ns` passed (or, with `poll`, when no case was ready).
int select_cases(SelectCase* const* cases, int n, int64_t deadline_ns, bool poll);

// select_for / select_until: every argument but the last is a case.
template <typename Tuple, std::size_t... I>
int select_leading(Tuple& args, int64_t deadline_ns, std::index_sequence<I...>) {
  std::array<SelectCase*, sizeof...(I)> cs{&std::get<I>(args)...};
  return select_cases(cs.data(), static_cast<int>(cs.size()), deadline_ns, false);
}
template <typename... Args>
using LastArg = std::decay_t<std::tuple_element_t<sizeof...(Args) - 1, std::tuple<Args...>>>;
}  // namespace internal

// Blocks the fiber until one case can proceed, performs it and returns its
// index. Throws FiberExit if the fiber is killed while waiting, TimeoutError
// if a weft::Timeout expires (no case has run then).
template <typename... Cases>
int select(Cases&&... cases) {
  std::array<SelectCase*, sizeof...(Cases)> cs{&cases...};
  return internal::select_cases(cs.data(), static_cast<int>(cs.size()), INT64_MAX, false);
}
// As select(), but returns kSelectNone (-1) if no case could proceed within
// `timeout`: select_for(case0, case1, ..., timeout). The timeout comes last,
// as in every other _for call (before, it came first; that order no longer
// compiles, with a message saying so).
template <typename... Args>
  requires(sizeof...(Args) >= 2)
int select_for(Args&&... args) {
  static_assert(std::is_same_v<internal::LastArg<Args...>, absl::Duration>,
                "weft::select_for(cases..., absl::Duration timeout): the timeout comes last");
  auto t = std::forward_as_tuple(std::forward<Args>(args)...);
  return internal::select_leading(t, internal::deadline_after(std::get<sizeof...(Args) - 1>(t)),
                                  std::make_index_sequence<sizeof...(Args) - 1>());
}
// As select_for, until `deadline`: select_until(case0, ..., deadline).
template <typename... Args>
  requires(sizeof...(Args) >= 2)
int select_until(Args&&... args) {
  static_assert(std::is_same_v<internal::LastArg<Args...>, absl::Time>,
                "weft::select_until(cases..., absl::Time deadline): the deadline comes last");
  auto t = std::forward_as_tuple(std::forward<Args>(args)...);
  return internal::select_leading(t, internal::deadline_at(std::get<sizeof...(Args) - 1>(t)),
                                  std::make_index_sequence<sizeof...(Args) - 1>());
}
// Go's select with a default: performs a ready case or returns -1 at once.
// Never waits; works on plain threads.
template <typename... Cases>
int try_select(Cases&&... cases) {
  std::array<SelectCase*, sizeof...(Cases)> cs{&cases...};
  return internal::select_cases(cs.data(), static_cast<int>(cs.size()), INT64_MAX, true);
}

}  // namespace weft
