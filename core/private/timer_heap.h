// TimerHeap: one worker's timers, a binary min-heap on the deadline.
//
// O(log n) add and pop, 24 bytes per pending timer and no per-timer heap
// allocation, so a million sleeping fibers cost 24 MB and no CPU while they
// sleep. Entries are never removed early: a wake that beats its timer (a kill,
// a notify) bumps the fiber's epoch, and the stale entry's token then fails its
// CAS when it fires (lazy cancellation).
//
// Owner thread only: a worker's timers are added by fibers running on it and
// fired by it, so nothing here is shared.
#pragma once

#include <cstdint>
#include <vector>

#include "weft/core/internal/fiber_control.h"

namespace weft::internal {

class TimerHeap {
 public:
  struct Entry {
    int64_t deadline_ns;  // CLOCK_MONOTONIC
    FiberControl* fiber;
    uint64_t token;       // the fiber's odd epoch when it parked
  };

  void add(int64_t deadline_ns, FiberControl* f, uint64_t token) {
    heap_.push_back({deadline_ns, f, token});
    sift_up(heap_.size() - 1);
  }

  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  // Earliest deadline; only when !empty().
  int64_t next_deadline() const { return heap_.front().deadline_ns; }

  // Removes and passes to fn every entry due at `now_ns`; returns how many.
  template <typename Fn>
  std::size_t pop_due(int64_t now_ns, Fn fn) {
    std::size_t n = 0;
    while (!heap_.empty() && heap_.front().deadline_ns <= now_ns) {
      Entry e = heap_.front();
      heap_.front() = heap_.back();
      heap_.pop_back();
      if (!heap_.empty()) sift_down(0);
      fn(e);
      ++n;
    }
    if (heap_.empty() && heap_.capacity() > kShrinkAbove) {
      std::vector<Entry>().swap(heap_);  // give a million-timer burst's memory back
    }
    return n;
  }

  // Removes and passes every entry to fn, due or not (shutdown).
  template <typename Fn>
  void drain(Fn fn) {
    std::vector<Entry> all;
    all.swap(heap_);
    for (const Entry& e : all) fn(e);
  }

 private:
  static constexpr std::size_t kShrinkAbove = 4096;

  void sift_up(std::size_t i) {
    Entry e = heap_[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (heap_[parent].deadline_ns <= e.deadline_ns) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = e;
  }

  void sift_down(std::size_t i) {
    Entry e = heap_[i];
    std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap_[child + 1].deadline_ns < heap_[child].deadline_ns) ++child;
      if (e.deadline_ns <= heap_[child].deadline_ns) break;
      heap_[i] = heap_[child];
      i = child;
    }
    heap_[i] = e;
  }

  std::vector<Entry> heap_;
};

}  // namespace weft::internal
