// The waiting half of weft::Channel and weft::select, independent of the
// value type: Go's sudog and its queues, on weft's park/claim protocol.
//
// A fiber that must wait in a channel operation links a ChanWaiter (on its
// own stack) into the channel's queue of waiting senders or receivers and
// parks. Whoever completes the operation for it — the counterpart arriving,
// or close() — holds the channel's lock, takes the waiter off the queue,
// *claims* its fiber (try_claim: after that no timer, kill or
// other select case can end the wait, and the fiber is not yet runnable),
// moves the value through `slot`, records the outcome and only then makes
// the fiber runnable. So a woken waiter finds its value and outcome in its
// own record and returns without re-taking the lock: one lock per operation,
// not two. A waiter resumed any other way (its deadline, a kill) was never
// claimed by a channel, takes the lock and unlinks itself.
//
// Invariants, under the channel's lock: a receiver waits only while the
// buffer is empty, a sender only while it is full (always, unbuffered); so a
// sender first serves a waiting receiver, then the buffer, and a receiver
// first the buffer (refilling it from a waiting sender), then a waiting
// sender. Waiters leaving on their own may still be queued: claim_front
// skips them, so no hand-off is ever given to a fiber that cannot take it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"

#include "weft/core/internal/fiber_api.h"
#include "weft/sync/internal/spin_lock.h"

namespace weft::internal {

// How a channel wait ended; written by the claimer, before the wake.
enum class ChanOutcome : uint8_t {
  kPending,  // not claimed: the wait ended by deadline, kill or spuriously
  kDone,     // the value went through `slot`
  kClosed,   // the channel was closed
};

// The cases of one select share this: the claimer notes which one fired.
struct SelectWait {
  int fired = -1;
};

struct ChanWaiter {
  FiberControl* fiber = nullptr;
  uint64_t token = 0;  // the wait's token, stored by the park's publish
  ChanWaiter* next = nullptr;
  ChanWaiter* prev = nullptr;
  // A sender's: the T to move from. A receiver's: the std::optional<T> to
  // fill. The channel that queued the waiter knows T.
  void* slot = nullptr;
  SelectWait* select = nullptr;  // set when this is one case of a select
  int case_index = 0;
  bool linked = false;
  // No timer can end this wait and it is not a select's: only the channel
  // (under its lock) or a kill can, and the claim needs no CAS
  // (try_claim_exclusive).
  bool exclusive = false;
  ChanOutcome outcome = ChanOutcome::kPending;
};

// A FIFO of waiters; guarded by the owning channel's lock.
// Prints "weft: <what> destroyed while N fiber(s) wait on it" and aborts
// (sync/chan_wait.cc): the channel's destructor found waiters.
[[noreturn]] void abort_destroyed_with_waiters(const char* what, std::size_t n);

class ChanQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  std::size_t size() const {
    std::size_t n = 0;
    for (const ChanWaiter* w = head_; w != nullptr; w = w->next) ++n;
    return n;
  }

  void push_back(ChanWaiter* w) {
    w->prev = tail_;
    w->next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = w;
    tail_ = w;
    w->linked = true;
  }

  void unlink(ChanWaiter* w) {
    (w->prev != nullptr ? w->prev->next : head_) = w->next;
    (w->next != nullptr ? w->next->prev : tail_) = w->prev;
    w->next = w->prev = nullptr;
    w->linked = false;
  }

  // Takes waiters off the front until one is claimed, and returns it; null
  // once the queue is empty. Those skipped were already leaving (deadline,
  // kill, another case of their select fired): their fibers re-take the
  // lock and find themselves unlinked.
  ChanWaiter* claim_front() {
    while (ChanWaiter* w = head_) {
      unlink(w);
      if (w->exclusive ? try_claim_exclusive(w->fiber, w->token) : try_claim(w->fiber, w->token)) {
        return w;
      }
    }
    return nullptr;
  }

 private:
  ChanWaiter* head_ = nullptr;
  ChanWaiter* tail_ = nullptr;
};

// Records how a claimed waiter's wait ended and returns its fiber, for
// wake_claimed() once the lock is released. The last touch of *w, which
// lives on a stack that may be reused once the fiber runs.
inline FiberControl* finish_claimed(ChanWaiter* w, ChanOutcome outcome) {
  if (w->select != nullptr) w->select->fired = w->case_index;
  w->outcome = outcome;
  return w->fiber;
}

// Runs `f` with `lock` held; if it throws, releases the lock and rethrows.
template <typename F>
// (No analysis: `lock` is released only if `f` throws, which it cannot express.)
inline decltype(auto) locked_call(SpinLock& lock, F&& f) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  try {
    return f();
  } catch (...) {
    lock.unlock();
    throw;
  }
}

// Makes a fiber returned by finish_claimed runnable (null: nothing to do).
// Any thread.
inline void wake_claimed(FiberControl* f) {
  if (f != nullptr) wake(f);
}

// The most cases a select may have (and so locks a park may release).
inline constexpr int kMaxSelectLocks = 16;

// Parks the running fiber, whose `n` waiters are linked (all with `fiber`
// set), and releases `locks` (the distinct locks of their channels) once it
// has switched out. Returns with no lock held. If a waiter's outcome is then
// still kPending, the wait ended without a claim: the caller re-takes the
// locks and unlinks what is still linked. Fibers only (fiber_or_unlock
// first).
void park_waiters(ChanWaiter* ws, int n, SpinLock* const* locks, int n_locks, int64_t deadline_ns);
// park_waiters for one waiter under one lock: a send or a recv. Inline: it
// is on every channel wait.
struct PublishOne {
  ChanWaiter* w;
  SpinLock* lock;
  // The park's PublishFn: runs in the Handover, after the switch (no analysis:
  // it releases the lock the parking fiber took, on the other side of the switch).
  static bool publish(FiberControl*, uint64_t token, void* arg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto* a = static_cast<PublishOne*>(arg);
    a->w->token = token;
    a->lock->unlock();  // the last touch of *a and *w: a claimer may now wake us
    return false;
  }
};
inline void park_waiter(ChanWaiter* w, SpinLock* lock, int64_t deadline_ns, WaitSite site) {
  PublishOne a{w, lock};
  set_wait_site(w->fiber, site.kind, site.object);
  park_current(deadline_ns, &PublishOne::publish, &a);
}

[[noreturn, gnu::cold]] void unlock_and_throw_outside_fiber(SpinLock& lock, const char* who)
    ABSL_NO_THREAD_SAFETY_ANALYSIS;  // releases a lock its caller took

// The calling fiber, or, on a plain thread, releases `lock` and throws
// UsageError naming `who`.
inline FiberControl* fiber_or_unlock(SpinLock& lock, const char* who) {
  FiberControl* f = current_fiber_or_null();
  if (f == nullptr) [[unlikely]]
    unlock_and_throw_outside_fiber(lock, who);
  return f;
}

}  // namespace weft::internal
