// weft::Channel<T> — Go's channels for fibers: unbuffered (rendezvous),
// bounded, or unbounded; close; range-for; move-only T.
//
//   weft::Channel<std::string> ch(16);          // bounded: 16 in flight
//   weft::spawn([&] {
//     for (int i = 0; i < 3; ++i) (void)ch.send(std::to_string(i));
//     (void)ch.close();
//   });
//   for (std::string s : ch) std::puts(s.c_str());   // until closed and drained
//
// Capacity 0 (the default) is a rendezvous: send() returns once a receiver
// has taken the value. Values are received in the order they were sent
// (per sender; interleaved across senders). A sender or receiver that must
// wait parks its fiber, never its thread; operations that need not wait
// (a send with room, a receive with a value ready) also work on plain threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/core/internal/clock.h"
#include "weft/core/internal/park.h"
#include "weft/sync/wait_queue.h"

namespace weft {

template <typename T>
class Channel {
 public:
  static constexpr std::size_t kUnbounded = SIZE_MAX;

  // 0: unbuffered; kUnbounded: never full; otherwise at most `capacity`
  // values wait in the channel.
  explicit Channel(std::size_t capacity = 0) : capacity_(capacity) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sends `value`, parking the fiber while the channel is full (or, when
  // unbuffered, until a receiver has taken it). FailedPrecondition if the
  // channel is or gets closed before the value is taken (the value is then
  // dropped). Throws FiberExit if killed while waiting (TimeoutError if a
  // weft::Timeout expires; the value is then not sent); UsageError if it must
  // wait on a plain thread (always, for an unbuffered channel).
  absl::Status send(T value) { return send_until(std::move(value), INT64_MAX); }
  // As send(), giving up with DeadlineExceeded after `timeout`.
  absl::Status send_for(T value, absl::Duration timeout) {
    return send_until(std::move(value), internal::deadline_after(timeout));
  }
  // Sends only if that needs no wait (room in the buffer, or a receiver
  // waiting on an unbuffered channel); moves from `value` only on success.
  // On an unbuffered channel the waiting receiver may still time out or be
  // killed before it takes the value, which then waits for the next receiver.
  bool try_send(T& value);

  // Receives the next value, parking the fiber while there is none; nullopt
  // once the channel is closed and drained.
  std::optional<T> recv();
  // As recv(), giving up after `timeout`: DeadlineExceeded, or OutOfRange
  // once the channel is closed and drained.
  absl::StatusOr<T> recv_for(absl::Duration timeout);
  // Receives a value only if one is ready; never waits.
  std::optional<T> try_recv();

  // Closes the channel: pending and later sends fail, receivers drain what is
  // left and then see the end. FailedPrecondition if already closed. Any
  // fiber or thread; blocks nothing.
  absl::Status close();
  bool closed() const;
  std::size_t size() const;  // values waiting in the channel
  std::size_t capacity() const { return capacity_; }

  // Range-for: receives until the channel is closed and drained.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;
    iterator() = default;
    explicit iterator(Channel* ch) : ch_(ch) { ++*this; }
    T& operator*() { return *value_; }
    iterator& operator++() {
      value_ = ch_->recv();
      if (!value_) ch_ = nullptr;
      return *this;
    }
    bool operator==(const iterator& o) const { return ch_ == o.ch_; }

   private:
    Channel* ch_ = nullptr;
    std::optional<T> value_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  template <typename U>
  friend class RecvCase;
  template <typename U>
  friend class SendCase;

  absl::Status send_until(T value, int64_t deadline_ns);
  absl::StatusOr<T> recv_until(int64_t deadline_ns);
  bool full() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(receivers_) {
    return capacity_ != kUnbounded && capacity_ != 0 && buf_.size() >= capacity_;
  }
  // Removes the value sent with sequence number `seq` if still queued.
  bool withdraw(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(receivers_) {
    for (auto it = buf_.begin(); it != buf_.end(); ++it) {
      if (it->first == seq) {
        buf_.erase(it);
        return true;
      }
    }
    return false;
  }
  // Removes the oldest value and lets senders know there is room (or, when
  // unbuffered, lets each parked sender check whether it was its value).
  T take_front() ABSL_EXCLUSIVE_LOCKS_REQUIRED(receivers_) {
    T v = std::move(buf_.front().second);
    buf_.pop_front();
    senders_.assert_held_via_shared_lock();  // one lock for both queues
    if (capacity_ == 0) {
      senders_.notify_all();
    } else {
      senders_.notify_one();
    }
    return v;
  }
  bool taken(uint64_t seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(receivers_) {
    // FIFO: a value is gone once everything before it in the buffer is newer.
    return buf_.empty() || buf_.front().first > seq;
  }

  const std::size_t capacity_;
  // One lock for everything below: receivers_'s, shared by senders_.
  WaitQueue receivers_;
  WaitQueue senders_{receivers_};
  std::deque<std::pair<uint64_t, T>> buf_;  // (sequence number, value)
  uint64_t next_seq_ = 0;
  bool closed_ = false;
};

template <typename T>
absl::Status Channel<T>::send_until(T value, int64_t deadline_ns) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // An unbuffered send always waits for its receiver: refuse a plain thread
  // before the value is offered, or a receiver could take it while the
  // UsageError is on its way out and the caller would think it was not sent.
  if (capacity_ == 0) internal::require_fiber("weft::Channel::send on an unbuffered channel");
  receivers_.lock();
  for (;;) {
    if (closed_) {
      receivers_.unlock();
      return absl::FailedPreconditionError("weft::Channel::send on a closed channel");
    }
    if (!full()) break;
    WaitQueue::Result r = senders_.wait(deadline_ns);
    if (r == WaitQueue::Result::kKilled) {
      receivers_.unlock();
      internal::throw_if_killed(internal::require_fiber("weft::Channel::send"));
      return absl::CancelledError("weft::Channel::send: the fiber is being killed");
    }
    if (r == WaitQueue::Result::kTimeout && internal::monotonic_now_ns() >= deadline_ns && full()) {
      receivers_.unlock();
      return absl::DeadlineExceededError("weft::Channel::send: timed out while the channel was full");
    }
  }
  uint64_t seq = next_seq_++;
  buf_.emplace_back(seq, std::move(value));
  receivers_.notify_one();
  if (capacity_ == 0) {
    // Rendezvous: wait until a receiver has taken our value.
    while (!taken(seq)) {
      if (closed_) {
        withdraw(seq);
        receivers_.unlock();
        return absl::FailedPreconditionError(
            "weft::Channel::send: the channel was closed before a receiver took the value");
      }
      WaitQueue::Result r = senders_.wait(deadline_ns);
      if (taken(seq)) break;
      if (r == WaitQueue::Result::kKilled ||
          (r == WaitQueue::Result::kTimeout && internal::monotonic_now_ns() >= deadline_ns)) {
        withdraw(seq);
        receivers_.unlock();
        if (r == WaitQueue::Result::kKilled) {
          internal::throw_if_killed(internal::require_fiber("weft::Channel::send"));
          return absl::CancelledError("weft::Channel::send: the fiber is being killed");
        }
        return absl::DeadlineExceededError("weft::Channel::send: no receiver took the value in time");
      }
    }
  }
  receivers_.unlock();
  return absl::OkStatus();
}

template <typename T>
bool Channel<T>::try_send(T& value) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  receivers_.lock();
  bool ok = !closed_ && (capacity_ == 0 ? receivers_.has_waiters() : !full());
  if (ok) {
    buf_.emplace_back(next_seq_++, std::move(value));
    receivers_.notify_one();
  }
  receivers_.unlock();
  return ok;
}

template <typename T>
absl::StatusOr<T> Channel<T>::recv_until(int64_t deadline_ns) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  receivers_.lock();
  for (;;) {
    if (!buf_.empty()) {
      T v = take_front();
      receivers_.unlock();
      return v;
    }
    if (closed_) {
      receivers_.unlock();
      return absl::OutOfRangeError("weft::Channel::recv: the channel is closed and drained");
    }
    // A select() waiting to send on an unbuffered channel needs to hear
    // that a receiver has arrived.
    if (capacity_ == 0) senders_.notify_all();
    WaitQueue::Result r = receivers_.wait(deadline_ns);
    if (r == WaitQueue::Result::kKilled) {
      receivers_.unlock();
      internal::throw_if_killed(internal::require_fiber("weft::Channel::recv"));
      return absl::CancelledError("weft::Channel::recv: the fiber is being killed");
    }
    if (r == WaitQueue::Result::kTimeout && internal::monotonic_now_ns() >= deadline_ns &&
        buf_.empty()) {
      receivers_.unlock();
      return absl::DeadlineExceededError("weft::Channel::recv: timed out");
    }
  }
}

template <typename T>
std::optional<T> Channel<T>::recv() {
  absl::StatusOr<T> v = recv_until(INT64_MAX);
  if (!v.ok()) return std::nullopt;
  return std::optional<T>(std::move(*v));
}

template <typename T>
absl::StatusOr<T> Channel<T>::recv_for(absl::Duration timeout) {
  return recv_until(internal::deadline_after(timeout));
}

template <typename T>
std::optional<T> Channel<T>::try_recv() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  receivers_.lock();
  std::optional<T> v;
  if (!buf_.empty()) v.emplace(take_front());
  receivers_.unlock();
  return v;
}

template <typename T>
absl::Status Channel<T>::close() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  receivers_.lock();
  if (closed_) {
    receivers_.unlock();
    return absl::FailedPreconditionError("weft::Channel::close: the channel is already closed");
  }
  closed_ = true;
  receivers_.notify_all();
  senders_.notify_all();
  receivers_.unlock();
  return absl::OkStatus();
}

template <typename T>
bool Channel<T>::closed() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  auto& q = const_cast<WaitQueue&>(receivers_);
  q.lock();
  bool c = closed_;
  q.unlock();
  return c;
}

template <typename T>
std::size_t Channel<T>::size() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  auto& q = const_cast<WaitQueue&>(receivers_);
  q.lock();
  std::size_t n = buf_.size();
  q.unlock();
  return n;
}

}  // namespace weft
