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
//   auto log = weft::Channel<std::string>::unbounded();  // send never waits
//   (void)log.try_send("started");                       // temporaries too
//   absl::StatusOr<std::string> line = log.recv_for(absl::Seconds(1));
//
// What each call returns, by one rule: a call that may wait and can fail
// for more than one reason returns absl::Status / absl::StatusOr (send:
// the channel closed; the timed calls send_for / send_until / recv_for /
// recv_until: DeadlineExceeded too, and OutOfRange once closed and
// drained); recv(), which can only end without a value because the channel
// is closed and drained, returns std::optional (nullopt: the end, so
// range-for and `while (auto v = ch.recv())` read naturally); the try_
// calls never wait and return bool / std::optional (false / nullopt:
// nothing could be done now). Timed calls follow weft's one convention:
// `_for(absl::Duration)` and `_until(absl::Time)`.
//
// A Channel is neither copyable nor movable: fibers share it by reference,
// and its waiters' records point into it, so moving one while any fiber
// holds a reference (or waits on it) would leave them on a dead object.
// Factories return it by value all the same (C++17 guaranteed elision:
// `auto ch = Channel<int>::unbounded();`); to hand a channel around, own it
// with std::unique_ptr or std::shared_ptr. Destroying a Channel while
// fibers wait on it aborts the process with a message naming it and how
// many wait (their wake-up would touch freed memory).
//
// Capacity 0 (the default) is a rendezvous: send() returns once a receiver
// has taken the value. Values are received in the order they were sent
// (per sender; interleaved across senders). A sender or receiver that must
// wait parks its fiber, never its thread; operations that need not wait
// (a send with room or a receiver waiting, a receive with a value or a
// sender waiting) also work on plain threads.
//
// A value goes straight from sender to a waiting receiver (or from a waiting
// sender to the receiver), as in Go: the fiber that waited is handed its
// result and resumes without touching the channel again
// (sync/internal/chan_wait.h).
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
#include "weft/core/internal/fiber_api.h"
#include "weft/sync/internal/chan_wait.h"
#include "weft/sync/internal/spin_lock.h"

namespace weft {

template <typename T>
class Channel {
 public:
  static constexpr std::size_t kUnbounded = SIZE_MAX;

  // 0: unbuffered; kUnbounded: never full; otherwise at most `capacity`
  // values wait in the channel.
  explicit Channel(std::size_t capacity = 0) : capacity_(capacity) {}
  // A channel that is never full: send() never waits (Channel(kUnbounded)).
  static Channel unbounded() { return Channel(kUnbounded); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  // Not movable: see the banner.
  Channel(Channel&&) = delete;
  Channel& operator=(Channel&&) = delete;
  // Aborts the process, naming the channel and how many fibers wait, if any
  // fiber still waits in send, recv or a select on it.
  ~Channel() {
    std::size_t n;
    {
      internal::SpinLockGuard g(lock_);
      n = receivers_.size() + senders_.size();
    }
    if (n != 0) internal::abort_destroyed_with_waiters("weft::Channel", n);
  }

  // Sends `value`, parking the fiber while the channel is full (or, when
  // unbuffered, until a receiver has taken it). FailedPrecondition if the
  // channel is or gets closed before the value is taken (the value is then
  // dropped). Throws FiberExit if killed while waiting (TimeoutError if a
  // weft::Timeout expires; the value is then not sent); UsageError if it must
  // wait on a plain thread (the value is then not sent).
  absl::Status send(T value) { return send_until_ns(std::move(value), INT64_MAX); }
  // As send(), giving up with DeadlineExceeded after `timeout` / at
  // `deadline`.
  absl::Status send_for(T value, absl::Duration timeout) {
    return send_until_ns(std::move(value), internal::deadline_after(timeout));
  }
  absl::Status send_until(T value, absl::Time deadline) {
    return send_until_ns(std::move(value), internal::deadline_at(deadline));
  }
  // Sends only if that needs no wait (a receiver waiting, or room in the
  // buffer), and the channel is open; true if sent. Moves from `value` only
  // on success, so a value that was not sent is still the caller's. Takes
  // lvalues and temporaries alike. Any thread; blocks nothing.
  bool try_send(T& value);
  bool try_send(T&& value) { return try_send(value); }

  // Receives the next value, parking the fiber while there is none; nullopt
  // once the channel is closed and drained.
  std::optional<T> recv();
  // As recv(), giving up after `timeout` / at `deadline`: DeadlineExceeded,
  // or OutOfRange once the channel is closed and drained.
  absl::StatusOr<T> recv_for(absl::Duration timeout);
  absl::StatusOr<T> recv_until(absl::Time deadline);
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

  enum class Got { kValue, kClosed, kTimeout, kCancelled };

  absl::Status send_until_ns(T value, int64_t deadline_ns);
  Got recv_until_ns(std::optional<T>& out, int64_t deadline_ns);
  absl::StatusOr<T> recv_status(int64_t deadline_ns);

  bool full() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    return capacity_ == 0 || (capacity_ != kUnbounded && buf_.size() >= capacity_);
  }
  // The parts of send and recv that never wait, lock held. A fiber whose
  // wait they end is returned in *wake, for wake_claimed after the unlock.
  // If moving a value throws (T's move, the buffer's allocation), a waiter
  // already claimed is woken as if spuriously (it tries again) and the
  // exception goes to the caller, which releases the lock.
  bool send_now(T& value, internal::FiberControl** wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    if (internal::ChanWaiter* r = receivers_.claim_front()) {
      // A receiver waits only on an empty buffer: hand the value over.
      hand_over(r, wake,
                [&] { static_cast<std::optional<T>*>(r->slot)->emplace(std::move(value)); });
      return true;
    }
    if (full()) return false;
    buf_.push_back(std::move(value));
    return true;
  }
  bool recv_now(std::optional<T>& out, internal::FiberControl** wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    if (!buf_.empty()) {
      out.emplace(std::move(buf_.front()));
      buf_.pop_front();
      // A sender waits only on a full buffer: its value takes the free place.
      if (internal::ChanWaiter* s = senders_.claim_front()) {
        // (No analysis: the lambda runs under lock_, inside hand_over.)
        hand_over(s, wake, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          buf_.push_back(std::move(*static_cast<T*>(s->slot)));
        });
      }
      return true;
    }
    if (internal::ChanWaiter* s = senders_.claim_front()) {  // unbuffered
      hand_over(s, wake, [&] { out.emplace(std::move(*static_cast<T*>(s->slot))); });
      return true;
    }
    return false;
  }
  // Moves a value to or from the claimed waiter `w` and ends its wait.
  template <typename Move>
  static void hand_over(internal::ChanWaiter* w, internal::FiberControl** wake, Move&& move) {
    try {
      move();
    } catch (...) {
      internal::wake_claimed(w->fiber);  // outcome still kPending: it retries
      throw;
    }
    *wake = internal::finish_claimed(w, internal::ChanOutcome::kDone);
  }
  // Parks the calling fiber in `q` (lock held on entry, released on return;
  // no analysis: the park releases it on the other side of the switch).
  // kPending: not claimed (deadline, kill, spurious); the waiter is unlinked.
  internal::ChanOutcome wait_in(internal::ChanQueue& q, internal::ChanWaiter* w,
                                internal::FiberControl* self, int64_t deadline_ns)
      ABSL_UNLOCK_FUNCTION(lock_) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    w->fiber = self;
    // No deadline and no weft::Timeout: no timer will race the claim.
    w->exclusive = deadline_ns == INT64_MAX && self->timeout_deadline_ns == INT64_MAX;
    q.push_back(w);
    const auto kind =
        &q == &senders_ ? internal::WaitKind::kChannelSend : internal::WaitKind::kChannelRecv;
    internal::park_waiter(w, &lock_, deadline_ns, {kind, reinterpret_cast<uintptr_t>(this)});
    if (w->outcome != internal::ChanOutcome::kPending) return w->outcome;
    lock_.lock();
    if (w->linked) q.unlink(w);
    lock_.unlock();
    return internal::ChanOutcome::kPending;
  }

  const std::size_t capacity_;
  mutable internal::SpinLock lock_;
  internal::ChanQueue receivers_ ABSL_GUARDED_BY(lock_);  // waiting in recv
  internal::ChanQueue senders_ ABSL_GUARDED_BY(lock_);    // waiting in send
  std::deque<T> buf_ ABSL_GUARDED_BY(lock_);
  bool closed_ ABSL_GUARDED_BY(lock_) = false;
};

}  // namespace weft

// The members defined out of line (the send and recv paths).
#include "weft/sync/internal/channel_impl.h"
