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
//   int i = weft::select_for(absl::Milliseconds(10), weft::on_send(jobs, 7));  // -1: timed out
//   int j = weft::try_select(weft::on_recv(jobs, job));                        // -1: nothing ready
//
// Exactly one ready case runs; when several are ready one is picked at random,
// so none starves. A receive from a closed channel is ready (and yields
// nullopt); so is a send to a closed channel (its status says so).
// select parks the fiber (never the thread); fiber-only when it must wait.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "weft/core/internal/clock.h"
#include "weft/core/internal/park.h"
#include "weft/sync/channel.h"
#include "weft/sync/wait_queue.h"

namespace weft {

// One operation of a select; built by on_recv / on_send.
class SelectCase {
 public:
  virtual ~SelectCase() = default;
  virtual WaitQueue& lock_queue() = 0;  // the channel's lock
  virtual WaitQueue& wait_queue() = 0;  // where to wait for readiness
  virtual bool ready() = 0;             // lock held
  virtual void complete() = 0;          // lock held; only when ready()
};

template <typename T>
class RecvCase : public SelectCase {
 public:
  RecvCase(Channel<T>& ch, std::optional<T>& out) : ch_(ch), out_(out) {}
  WaitQueue& lock_queue() override { return ch_.receivers_; }
  WaitQueue& wait_queue() override { return ch_.receivers_; }
  bool ready() override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return !ch_.buf_.empty() || ch_.closed_;
  }
  void complete() override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    out_.reset();
    if (ch_.buf_.empty()) return;  // closed and drained
    out_.emplace(ch_.take_front());
  }

 private:
  Channel<T>& ch_;
  std::optional<T>& out_;
};

template <typename T>
class SendCase : public SelectCase {
 public:
  SendCase(Channel<T>& ch, T value, absl::Status* status)
      : ch_(ch), value_(std::move(value)), status_(status) {}
  WaitQueue& lock_queue() override { return ch_.receivers_; }
  WaitQueue& wait_queue() override { return ch_.senders_; }
  bool ready() override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (ch_.closed_) return true;
    return ch_.capacity_ == 0 ? ch_.receivers_.has_waiters() : !ch_.full();
  }
  void complete() override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (ch_.closed_) {
      if (status_ != nullptr) {
        *status_ = absl::FailedPreconditionError("weft::select: send on a closed channel");
      }
      return;
    }
    ch_.buf_.emplace_back(ch_.next_seq_++, std::move(value_));
    ch_.receivers_.notify_one();
    if (status_ != nullptr) *status_ = absl::OkStatus();
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
// A send case; `status`, if given, says whether the channel was closed.
template <typename T, typename V>
SendCase<T> on_send(Channel<T>& ch, V&& value, absl::Status* status = nullptr) {
  return SendCase<T>(ch, T(std::forward<V>(value)), status);
}

namespace internal {
// Runs the select; returns the index of the case completed, or -1 when
// `deadline_ns` passed (or, with `poll`, when no case was ready).
int select_cases(SelectCase* const* cases, int n, int64_t deadline_ns, bool poll);
}  // namespace internal

// Blocks the fiber until one case can proceed, performs it and returns its
// index. Throws FiberExit if the fiber is killed while waiting, TimeoutError
// if a weft::Timeout expires (no case has run then).
template <typename... Cases>
int select(Cases&&... cases) {
  std::array<SelectCase*, sizeof...(Cases)> cs{&cases...};
  return internal::select_cases(cs.data(), static_cast<int>(cs.size()), INT64_MAX, false);
}
// As select(), but returns -1 if no case could proceed within `timeout`.
template <typename... Cases>
int select_for(absl::Duration timeout, Cases&&... cases) {
  std::array<SelectCase*, sizeof...(Cases)> cs{&cases...};
  return internal::select_cases(cs.data(), static_cast<int>(cs.size()),
                                internal::deadline_after(timeout), false);
}
// Go's select with a default: performs a ready case or returns -1 at once.
// Never waits; works on plain threads.
template <typename... Cases>
int try_select(Cases&&... cases) {
  std::array<SelectCase*, sizeof...(Cases)> cs{&cases...};
  return internal::select_cases(cs.data(), static_cast<int>(cs.size()), INT64_MAX, true);
}

}  // namespace weft
