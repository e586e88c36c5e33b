// TimerHeap: one worker's timers, an indexed 4-ary min-heap on the deadline.
//
// O(log n) add, pop and remove, no per-timer heap allocation. Each timer has
// an id, a slot in a side table that holds its fiber, its token and its
// position in the heap (kept up to date as entries move), so a timer can be
// removed from the middle of the heap when the wait it guards ends early.
// 40 bytes per pending timer: a 16-byte heap node (deadline, id; the sift
// loops touch only these) and a 24-byte slot.
//
// Why removal matters: a server's read with an idle timeout is nearly
// always answered long before its deadline. Left in the heap, its entry
// would live until the deadline passed, so timer memory (and the heap's
// depth) grew with request rate x timeout: 100k reads/s with a 60 s timeout
// is 6M entries. Removed when the wait ends, it is bounded by the fibers
// actually waiting.
//
// Who removes a timer whose wait ended early (see park.cc):
//   * the fiber itself, when it resumes on the worker that owns the heap:
//     remove(id, fiber, token), exact and O(log n);
//   * the owner, when the fiber resumes on another worker. The heap is
//     owner-only, so that fiber only counts the entry as stale
//     (note_stale, the one member any thread may call), and the owner
//     sweeps every stale entry out (remove_stale) once the count exceeds
//     half the heap. An entry is stale when its fiber's epoch has moved past
//     its token (the same test that makes a fired stale timer's CAS fail);
//     the sweep costs O(n) and comes after n/2 stale entries, O(1) each.
// So a heap holds its waiting fibers' timers plus at most as many stale
// ones (checked before every add): at most 2x the waiting fibers, plus
// kSweepFloor. A worker about to sleep also sweeps what was counted, if its
// heap is small or an eighth of it was counted (wants_idle_sweep), so an
// idle worker mostly holds live timers only.
//
// Rejected: a hierarchical timer wheel (O(1) cancel through an intrusive
// list node in the fiber). Cancel is O(1) only on the owner; a
// fiber resumed elsewhere would need a lock on the wheel or the same
// deferral, and a stale entry cannot use the fiber's one intrusive node
// while the fiber waits again elsewhere. The heap keeps one code path for
// both.
//
// Owner thread only, except note_stale: a worker's timers are added by
// fibers running on it (in their park's Handover), fired and swept by it,
// and removed by fibers running on it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "weft/core/internal/fiber_control.h"

namespace weft::internal {

class TimerHeap {
 public:
  using Id = uint32_t;

  // What pop_due, drain and remove_stale pass on.
  struct Entry {
    int64_t deadline_ns;  // CLOCK_MONOTONIC
    FiberControl* fiber;
    uint64_t token;  // the fiber's odd epoch when it parked
  };

  TimerHeap() = default;
  TimerHeap(const TimerHeap&) = delete;
  TimerHeap& operator=(const TimerHeap&) = delete;

  // Adds a timer; the id lets remove() find it while it is pending.
  Id add(int64_t deadline_ns, FiberControl* f, uint64_t token) {
    Id id = take_slot(f, token);
    heap_.push_back({deadline_ns, id});
    sift_up(heap_.size() - 1);
    return id;
  }

  // Removes the pending timer `id` if it still is (f, token)'s: the timer
  // may have fired meanwhile, or been swept, and its id been reused. Returns
  // whether it was removed. O(log n).
  bool remove(Id id, const FiberControl* f, uint64_t token) {
    if (id >= slots_.size() || slots_[id].fiber != f || slots_[id].token != token) return false;
    remove_at(slots_[id].pos);
    return true;
  }

  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  // Earliest deadline; only when !empty().
  int64_t next_deadline() const { return heap_.front().deadline_ns; }

  // Removes and passes to fn every entry due at `now_ns`, earliest first;
  // returns how many.
  template <typename Fn>
  std::size_t pop_due(int64_t now_ns, Fn fn) {
    std::size_t n = 0;
    while (!heap_.empty() && heap_.front().deadline_ns <= now_ns) {
      Entry e = entry_at(0);
      remove_at(0);
      fn(e);
      ++n;
    }
    return n;
  }

  // Removes and passes every entry to fn, due or not.
  template <typename Fn>
  void drain(Fn fn) {
    std::vector<Node> all;
    all.swap(heap_);
    std::vector<Slot> slots;
    slots.swap(slots_);
    free_ = kNoSlot;
    for (const Node& n : all) fn(Entry{n.deadline_ns, slots[n.id].fiber, slots[n.id].token});
  }

  // --- Stale entries (waits that ended on another worker). ---

  // Counts one entry of this heap as stale. Any thread; a fiber resumed on
  // another worker than the one its timer is on calls it. An over-count (the
  // timer fired at the same time) only brings the next sweep forward.
  void note_stale() {
    // Release: pairs with the acquire exchange in remove_stale, so a sweep
    // that takes this count also sees the epoch move that made the entry
    // stale (it happened before the fiber resumed, and so before this).
    stale_hint_.fetch_add(1, std::memory_order_release);
  }

  // True once the entries counted stale exceed half the heap (and the heap
  // holds at least kSweepFloor): time for remove_stale.
  bool wants_sweep() const {
    // Relaxed: a hint; remove_stale's exchange is what orders the sweep.
    uint64_t stale = stale_hint_.load(std::memory_order_relaxed);
    return stale != 0 && 2 * stale > heap_.size() && heap_.size() >= kSweepFloor;
  }

  // The same for a worker about to sleep, which has time to spare: any
  // entry counted stale, in a heap of at most kIdleSweepAll entries, or
  // one eighth of a bigger one (a worker that sleeps between requests must
  // not rescan a heap of 100k idle connections' timers each time).
  bool wants_idle_sweep() const {
    // Relaxed: a hint, as in wants_sweep.
    uint64_t stale = stale_hint_.load(std::memory_order_relaxed);
    return stale != 0 && (heap_.size() <= kIdleSweepAll || 8 * stale > heap_.size());
  }

  // Removes every entry for which is_stale(entry) holds, then restores the
  // heap in O(n). Returns how many went.
  template <typename IsStale>
  std::size_t remove_stale(IsStale is_stale) {
    // Acquire: pairs with note_stale's release (see there). Taken before the
    // scan: a count added after it stays for the next sweep.
    stale_hint_.exchange(0, std::memory_order_acquire);
    std::size_t kept = 0;
    const std::size_t n = heap_.size();
    for (std::size_t i = 0; i < n; ++i) {
      const Node node = heap_[i];
      if (is_stale(entry_at(i))) {
        free_slot(node.id);
      } else {
        heap_[kept++] = node;
      }
    }
    heap_.resize(kept);
    // Floyd's bottom-up heap construction, from the last parent up.
    if (kept > 1) {
      for (std::size_t i = parent(kept - 1) + 1; i-- > 0;) sift_down(i);
    }
    for (std::size_t i = 0; i < kept; ++i) slots_[heap_[i].id].pos = static_cast<uint32_t>(i);
    if (heap_.empty()) reset_when_empty();
    return n - kept;
  }

 private:
  static constexpr std::size_t kShrinkAbove = 4096;
  // Children per node. Four halves the depth of a binary heap, and with it
  // the moves of a pop, each of which also writes the moved timer's slot
  // (a cache miss in a big heap); the four children's deadlines share a
  // cache line or two. A million timers added in deadline order and popped,
  // twice (BM_SleepMillion's pattern), under cachegrind: D1 misses 7.8M
  // with the old unindexed binary heap, 12.3M indexed binary, 8.1M indexed
  // 4-ary (for 30% more instructions).
  static constexpr std::size_t kArity = 4;
  static constexpr std::size_t kSweepFloor = 64;
  static constexpr std::size_t kIdleSweepAll = 1024;
  static constexpr Id kNoSlot = UINT32_MAX;

  struct Node {
    int64_t deadline_ns;
    Id id;
  };
  // A timer's fiber and token, and its index in heap_; a free slot has a
  // null fiber and `pos` links the free list.
  struct Slot {
    FiberControl* fiber;
    uint64_t token;
    uint32_t pos;
  };

  Entry entry_at(std::size_t i) const {
    const Slot& s = slots_[heap_[i].id];
    return {heap_[i].deadline_ns, s.fiber, s.token};
  }

  Id take_slot(FiberControl* f, uint64_t token) {
    Id id = free_;
    if (id != kNoSlot) {
      free_ = slots_[id].pos;
      slots_[id] = {f, token, 0};
    } else {
      id = static_cast<Id>(slots_.size());
      slots_.push_back({f, token, 0});
    }
    return id;
  }

  void free_slot(Id id) {
    slots_[id] = {nullptr, 0, free_};
    free_ = id;
  }

  void remove_at(std::size_t i) {
    free_slot(heap_[i].id);
    Node last = heap_.back();
    heap_.pop_back();
    if (i < heap_.size()) {
      heap_[i] = last;
      slots_[last.id].pos = static_cast<uint32_t>(i);
      // The moved entry may belong above its new place or below it.
      if (i > 0 && last.deadline_ns < heap_[parent(i)].deadline_ns) {
        sift_up(i);
      } else {
        sift_down(i);
      }
    }
    if (heap_.empty()) reset_when_empty();
  }

  // Every slot is free once the heap is: start the table over (ids stay
  // small), and give a big burst's memory back.
  void reset_when_empty() {
    if (heap_.capacity() > kShrinkAbove) {
      std::vector<Node>().swap(heap_);
      std::vector<Slot>().swap(slots_);
    } else {
      slots_.clear();
    }
    free_ = kNoSlot;
  }

  static std::size_t parent(std::size_t i) { return (i - 1) / kArity; }

  void sift_up(std::size_t i) {
    Node e = heap_[i];
    while (i > 0) {
      std::size_t p = parent(i);
      if (heap_[p].deadline_ns <= e.deadline_ns) break;
      place(i, heap_[p]);
      i = p;
    }
    place(i, e);
  }

  void sift_down(std::size_t i) {
    Node e = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t first = kArity * i + 1;
      if (first >= n) break;
      std::size_t last = std::min(first + kArity, n);
      std::size_t child = first;
      for (std::size_t c = first + 1; c < last; ++c) {
        if (heap_[c].deadline_ns < heap_[child].deadline_ns) child = c;
      }
      if (e.deadline_ns <= heap_[child].deadline_ns) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, e);
  }

  void place(std::size_t i, Node n) {
    heap_[i] = n;
    slots_[n.id].pos = static_cast<uint32_t>(i);
  }

  std::vector<Node> heap_;
  std::vector<Slot> slots_;
  Id free_ = kNoSlot;  // head of the free slots' list
  // Entries counted stale by other workers since the last sweep (see
  // note_stale). Its own cache line: other workers write it, and the
  // owner's hot fields above should not bounce with it.
  alignas(64) std::atomic<uint64_t> stale_hint_{0};
};

}  // namespace weft::internal
