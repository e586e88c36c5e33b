// RunQueue: a bounded Chase–Lev work-stealing deque of pointers.
//
// The owning worker pushes and pops at the bottom (LIFO: the fiber spawned
// last runs first, its data still in cache); thieves take from the top (FIFO:
// the oldest fiber, usually the root of the most remaining work).
//
// Algorithm and memory orderings follow N. M. Lê, A. Pop, A. Cohen and
// F. Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak Memory
// Models", PPoPP 2013 (Fig. 1), with a fixed-size ring instead of a growable
// array: when the ring is full the owner moves half of it to the runtime's
// injection queue (Go and Tokio do the same), so no array is ever freed under
// a thief's feet. The publishing store of `bottom_` is a release store rather
// than a release fence plus relaxed store: the same code on x86 and ARM, and
// ThreadSanitizer understands it.
//
// Concurrency contract:
//   push(), pop(), take_oldest(): owner thread only; may run in parallel
//                  with steal().
//   steal():       any thread; may run in parallel with everything.
//   size_hint():   any thread; a racy estimate for parking decisions.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace weft::internal {

template <typename T>
class RunQueue {
 public:
  explicit RunQueue(std::size_t capacity_pow2 = 256)
      : mask_(capacity_pow2 - 1), buf_(new std::atomic<T*>[capacity_pow2]) {}

  std::size_t capacity() const { return mask_ + 1; }

  // Owner only. Returns false when full (the caller then spills).
  bool push(T* x) {
    int64_t b = bottom_.load(std::memory_order_relaxed);
    // Acquire: pairs with the CAS on top_ in steal(), so the slot a thief has
    // just vacated is not overwritten before the thief has read it.
    int64_t t = top_.load(std::memory_order_acquire);
    if (b - t > static_cast<int64_t>(mask_)) return false;
    buf_[b & mask_].store(x, std::memory_order_relaxed);
    // Release: publishes the slot (and the fiber it points to) to thieves;
    // pairs with the acquire load of bottom_ in steal().
    bottom_.store(b + 1, std::memory_order_release);
    return true;
  }

  // Owner only. Null when empty. `no_thieves`: nobody else can steal (a
  // runtime of one worker), so neither the fence nor the CAS is needed.
  T* pop(bool no_thieves = false) {
    if (no_thieves) {
      int64_t b = bottom_.load(std::memory_order_relaxed);
      if (b == top_.load(std::memory_order_relaxed)) return nullptr;
      // Relaxed: the owner is the only thread that touches the deque.
      bottom_.store(b - 1, std::memory_order_relaxed);
      return buf_[(b - 1) & mask_].load(std::memory_order_relaxed);
    }
    int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    bottom_.store(b, std::memory_order_relaxed);
    // Seq-cst fence: the store to bottom_ must be visible to thieves before we
    // read top_ (store-load ordering), or a thief and we both take the last
    // element. Pairs with the fence in steal().
    std::atomic_thread_fence(std::memory_order_seq_cst);
    int64_t t = top_.load(std::memory_order_relaxed);
    if (t > b) {  // empty
      bottom_.store(b + 1, std::memory_order_relaxed);
      return nullptr;
    }
    T* x = buf_[b & mask_].load(std::memory_order_relaxed);
    if (t == b) {
      // Last element: race the thieves for it through top_.
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
        x = nullptr;
      }
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return x;
  }

  // Any thread. Null when empty or when another thread won the race for the
  // top element (callers treat both as "try elsewhere").
  T* steal() {
    // Acquire: pairs with the CAS of another thief so we see its progress.
    int64_t t = top_.load(std::memory_order_acquire);
    // Seq-cst fence: pairs with the fence in pop() (see there).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Acquire: pairs with the release store in push(); makes the slot and the
    // fiber it points to visible.
    int64_t b = bottom_.load(std::memory_order_acquire);
    if (t >= b) return nullptr;
    T* x = buf_[t & mask_].load(std::memory_order_relaxed);
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
      return nullptr;
    }
    return x;
  }

  // Owner only. Takes up to `n` of the oldest elements (from the top, where
  // thieves take) with one CAS on top_, and calls fn(x) on each, oldest
  // first; returns how many. For spilling a full queue: one locked
  // instruction per spill, where a steal() per element paid a fence and a
  // CAS each (warm re-spawn of 100k fibers: 1.9 locked instructions a spawn).
  // The slots need not be read before the CAS: only the owner writes slots
  // (push), and it is busy here, so [t, t + k) keeps its contents after the
  // CAS has made it ours. A thief that moved top_ first makes the CAS fail
  // (and hands us its top_, to try again from). pop() is owner-only too, so
  // nothing races the bottom end.
  template <typename Fn>
  std::size_t take_oldest(std::size_t n, Fn&& fn) {
    // Acquire: pairs with the CAS of a thief, as in steal().
    int64_t t = top_.load(std::memory_order_acquire);
    const int64_t b = bottom_.load(std::memory_order_relaxed);
    int64_t k;
    do {
      k = std::min(static_cast<int64_t>(n), b - t);
      if (k <= 0) return 0;
      // Seq-cst like the thieves' CAS it races (one locked instruction on
      // x86 whatever the order); on failure t is their newer top_.
    } while (!top_.compare_exchange_weak(t, t + k, std::memory_order_seq_cst,
                                         std::memory_order_acquire));
    for (int64_t i = t; i < t + k; ++i) fn(buf_[i & mask_].load(std::memory_order_relaxed));
    return static_cast<std::size_t>(k);
  }

  // Owner only: where the next push goes. Pass it to reverse_since() later.
  int64_t bottom_index() const { return bottom_.load(std::memory_order_relaxed); }

  // Owner only: how many elements pushed since bottom_index() returned
  // `base` are still here. A stale top_ can only overstate it; zero is
  // exact, and so is any answer given right after a pop() found the queue
  // empty (its fence made top_ fresh).
  std::size_t size_since(int64_t base) const {
    int64_t b = bottom_.load(std::memory_order_relaxed);
    int64_t lo = std::max(base, top_.load(std::memory_order_relaxed));
    return b > lo ? static_cast<std::size_t>(b - lo) : 0;
  }

  // Owner only: how many of the elements at deque indices [lo, hi) are
  // still here. A stale top_ can only overstate it.
  std::size_t size_between(int64_t lo, int64_t hi) const {
    int64_t from = std::max(lo, top_.load(std::memory_order_relaxed));
    int64_t to = std::min(hi, bottom_.load(std::memory_order_relaxed));
    return to > from ? static_cast<std::size_t>(to - from) : 0;
  }

  // Owner only. Reverses the elements pushed since bottom_index() returned
  // `base`, so that pop() hands them out oldest first (a spawn batch runs in
  // spawn order; see worker.cc). Thieves may run meanwhile and take some of
  // them first; what they leave is reordered.
  //
  // Reserving: store bottom_ = base, seq-cst fence, read top_ (the same
  // store-load pairing as pop() and steal()). A thief whose load of bottom_
  // missed our store has its fence before ours, so its load of top_ came
  // before ours: it can only take index t, the value we read, and no thief
  // gets past t. So [max(base, t + 1), b) is ours alone while bottom_ says
  // base. If t itself belongs to the batch, it is its oldest element, the
  // one to run first: we race the thieves for it with a CAS on top_, as
  // pop() does for the last element, and if we win it goes back in at the
  // bottom (the slot it frees keeps the ring from overflowing). The rest is
  // reversed with plain loads and stores and published again by a release
  // store of bottom_ (pairs with steal()'s acquire). One fence per batch,
  // plus one CAS when the batch starts at the top (the deque held nothing
  // older). `no_thieves`: nobody else can steal (a runtime of one worker);
  // then neither is needed.
  void reverse_since(int64_t base, bool no_thieves = false) {
    int64_t b = bottom_.load(std::memory_order_relaxed);
    if (b - base < 2) return;
    if (no_thieves) {
      reverse(std::max(base, top_.load(std::memory_order_relaxed)), b);
      return;
    }
    bottom_.store(base, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    int64_t t = top_.load(std::memory_order_relaxed);
    int64_t lo = std::max(base, t);
    if (b - lo < 2) {  // thieves left at most one: nothing to reorder
      bottom_.store(b, std::memory_order_relaxed);
      return;
    }
    if (lo == t) {
      T* oldest = buf_[t & mask_].load(std::memory_order_relaxed);
      ++lo;
      if (top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
        reverse(lo, b);
        buf_[b & mask_].store(oldest, std::memory_order_relaxed);
        bottom_.store(b + 1, std::memory_order_release);
        return;
      }
    }
    reverse(lo, b);
    bottom_.store(b, std::memory_order_release);
  }

  // Any thread; may be stale by the time it returns.
  std::size_t size_hint() const {
    int64_t b = bottom_.load(std::memory_order_relaxed);
    int64_t t = top_.load(std::memory_order_relaxed);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }

 private:
  // Reverses slots [lo, hi); the caller has reserved them.
  void reverse(int64_t lo, int64_t hi) {
    // Locals: the compiler would reload both members after every atomic store.
    std::atomic<T*>* const buf = buf_.get();
    const int64_t mask = static_cast<int64_t>(mask_);
    for (--hi; lo < hi; ++lo, --hi) {
      T* x = buf[lo & mask].load(std::memory_order_relaxed);
      buf[lo & mask].store(buf[hi & mask].load(std::memory_order_relaxed),
                           std::memory_order_relaxed);
      buf[hi & mask].store(x, std::memory_order_relaxed);
    }
  }

  // top_ and bottom_ on separate cache lines: thieves hammer top_, the owner
  // bottom_.
  alignas(64) std::atomic<int64_t> top_{0};
  alignas(64) std::atomic<int64_t> bottom_{0};
  alignas(64) const std::size_t mask_;
  std::unique_ptr<std::atomic<T*>[]> buf_;
};

}  // namespace weft::internal
