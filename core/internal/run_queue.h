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
//   push(), pop(): owner thread only; may run in parallel with steal().
//   steal():       any thread; may run in parallel with everything.
//   size_hint():   any thread; a racy estimate for parking decisions.
#pragma once

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

  // Owner only. Null when empty.
  T* pop() {
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

  // Any thread; may be stale by the time it returns.
  std::size_t size_hint() const {
    int64_t b = bottom_.load(std::memory_order_relaxed);
    int64_t t = top_.load(std::memory_order_relaxed);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }

 private:
  // top_ and bottom_ on separate cache lines: thieves hammer top_, the owner
  // bottom_.
  alignas(64) std::atomic<int64_t> top_{0};
  alignas(64) std::atomic<int64_t> bottom_{0};
  alignas(64) const std::size_t mask_;
  std::unique_ptr<std::atomic<T*>[]> buf_;
};

}  // namespace weft::internal
