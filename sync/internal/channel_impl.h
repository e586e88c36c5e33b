// Channel<T>'s out-of-line members: the send/recv paths behind the API
// declared in weft/sync/channel.h, which includes this file at its end.
// Not a header to include on its own.
#pragma once

#include "weft/sync/channel.h"

namespace weft {

template <typename T>
absl::Status Channel<T>::send_until_ns(T value, int64_t deadline_ns) {
  for (;;) {
    lock_.lock();
    if (closed_) {
      lock_.unlock();
      return absl::FailedPreconditionError("weft::Channel::send on a closed channel");
    }
    internal::FiberControl* wake = nullptr;
    // (No analysis: the lambda runs under lock_, inside locked_call.)
    if (internal::locked_call(
            lock_, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return send_now(value, &wake); })) {
      lock_.unlock();
      internal::wake_claimed(wake);
      return absl::OkStatus();
    }
    internal::FiberControl* self =
        internal::fiber_or_unlock(lock_, "weft::Channel::send on a full (or unbuffered) channel");
    if (internal::wait_interrupted(self)) {
      lock_.unlock();
      internal::throw_if_killed(self);
      return absl::CancelledError("weft::Channel::send: the fiber is being killed");
    }
    if (deadline_ns != INT64_MAX && internal::monotonic_now_ns() >= deadline_ns) {
      lock_.unlock();
      return absl::DeadlineExceededError(
          capacity_ == 0 ? "weft::Channel::send: no receiver took the value in time"
                         : "weft::Channel::send: timed out while the channel was full");
    }
    internal::ChanWaiter w;
    w.slot = &value;
    switch (wait_in(senders_, &w, self, deadline_ns)) {
      case internal::ChanOutcome::kDone:
        return absl::OkStatus();
      case internal::ChanOutcome::kClosed:
        return absl::FailedPreconditionError(
            "weft::Channel::send: the channel was closed before the value was taken");
      case internal::ChanOutcome::kPending:
        if (internal::wait_interrupted(self)) {
          internal::throw_if_killed(self);
          return absl::CancelledError("weft::Channel::send: the fiber is being killed");
        }
        break;  // deadline or spurious: check again from the top
    }
  }
}

template <typename T>
bool Channel<T>::try_send(T& value) {
  lock_.lock();
  internal::FiberControl* wake = nullptr;
  // (No analysis: the lambda runs under lock_, inside locked_call.)
  bool ok = !closed_ && internal::locked_call(lock_, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return send_now(value, &wake);
  });
  lock_.unlock();
  internal::wake_claimed(wake);
  return ok;
}

template <typename T>
typename Channel<T>::Got Channel<T>::recv_until_ns(std::optional<T>& out, int64_t deadline_ns) {
  for (;;) {
    lock_.lock();
    internal::FiberControl* wake = nullptr;
    // (No analysis: the lambda runs under lock_, inside locked_call.)
    if (internal::locked_call(
            lock_, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return recv_now(out, &wake); })) {
      lock_.unlock();
      internal::wake_claimed(wake);
      return Got::kValue;
    }
    if (closed_) {
      lock_.unlock();
      return Got::kClosed;
    }
    internal::FiberControl* self =
        internal::fiber_or_unlock(lock_, "weft::Channel::recv on an empty channel");
    if (internal::wait_interrupted(self)) {
      lock_.unlock();
      internal::throw_if_killed(self);
      return Got::kCancelled;
    }
    if (deadline_ns != INT64_MAX && internal::monotonic_now_ns() >= deadline_ns) {
      lock_.unlock();
      return Got::kTimeout;
    }
    internal::ChanWaiter w;
    w.slot = &out;
    switch (wait_in(receivers_, &w, self, deadline_ns)) {
      case internal::ChanOutcome::kDone:
        return Got::kValue;
      case internal::ChanOutcome::kClosed:
        return Got::kClosed;
      case internal::ChanOutcome::kPending:
        if (internal::wait_interrupted(self)) {
          internal::throw_if_killed(self);
          return Got::kCancelled;
        }
        break;  // deadline or spurious: check again from the top
    }
  }
}

template <typename T>
std::optional<T> Channel<T>::recv() {
  std::optional<T> out;
  recv_until_ns(out, INT64_MAX);
  return out;  // empty unless a value came
}

template <typename T>
absl::StatusOr<T> Channel<T>::recv_for(absl::Duration timeout) {
  return recv_status(internal::deadline_after(timeout));
}

template <typename T>
absl::StatusOr<T> Channel<T>::recv_until(absl::Time deadline) {
  return recv_status(internal::deadline_at(deadline));
}

template <typename T>
absl::StatusOr<T> Channel<T>::recv_status(int64_t deadline_ns) {
  std::optional<T> out;
  switch (recv_until_ns(out, deadline_ns)) {
    case Got::kValue:
      return std::move(*out);
    case Got::kClosed:
      return absl::OutOfRangeError("weft::Channel::recv: the channel is closed and drained");
    case Got::kTimeout:
      return absl::DeadlineExceededError("weft::Channel::recv: timed out");
    case Got::kCancelled:
      break;
  }
  return absl::CancelledError("weft::Channel::recv: the fiber is being killed");
}

template <typename T>
std::optional<T> Channel<T>::try_recv() {
  std::optional<T> out;
  lock_.lock();
  internal::FiberControl* wake = nullptr;
  // (No analysis: the lambda runs under lock_, inside locked_call.)
  internal::locked_call(lock_,
                        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return recv_now(out, &wake); });
  lock_.unlock();
  internal::wake_claimed(wake);
  return out;
}

template <typename T>
absl::Status Channel<T>::close() {
  lock_.lock();
  if (closed_) {
    lock_.unlock();
    return absl::FailedPreconditionError("weft::Channel::close: the channel is already closed");
  }
  closed_ = true;
  // Every waiter's wait ends: receivers see the end (they wait only on an
  // empty buffer), senders the closed channel. Their fibers are collected in
  // queue order (through next_ready: a claimed fiber is in no run queue) and
  // woken once the lock is released.
  internal::FiberControl* head = nullptr;
  internal::FiberControl** tail = &head;
  for (internal::ChanQueue* q : {&receivers_, &senders_}) {
    while (internal::ChanWaiter* w = q->claim_front()) {
      internal::FiberControl* f = internal::finish_claimed(w, internal::ChanOutcome::kClosed);
      f->next_ready = nullptr;
      *tail = f;
      tail = &f->next_ready;
    }
  }
  lock_.unlock();
  while (internal::FiberControl* f = head) {
    head = f->next_ready;
    f->next_ready = nullptr;
    internal::wake_claimed(f);
  }
  return absl::OkStatus();
}

template <typename T>
bool Channel<T>::closed() const {
  internal::SpinLockGuard g(lock_);
  return closed_;
}

template <typename T>
std::size_t Channel<T>::size() const {
  internal::SpinLockGuard g(lock_);
  return buf_.size();
}

}  // namespace weft
