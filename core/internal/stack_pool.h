// Fiber stacks: carved from large mmap slabs, guarded, pooled LIFO per worker.
//
// Layout of one slot (addresses grow upwards):
//
//   [ guard page | usable stack ............................ | SlotHeader+control ]
//   ^ slot base  ^ lo                                          ^ top - control_bytes ^ top
//
// The fiber's control block (FiberControl, which begins with a SlotHeader) and
// its closure sit at the top of the usable stack, so a spawn allocates nothing
// on the heap. A free slot is linked into a pool through its own header, so
// pooling costs no memory beyond the page the header already occupies.
//
// Memory: slabs are mapped MAP_NORESERVE and MADV_NOHUGEPAGE, so a slot costs
// only the pages its fiber touched (one 4 KiB page for an idle fiber). Slabs
// are never unmapped while the runtime lives; a reused stack never faults,
// unless its pages were given back while it sat idle (release_idle, beyond
// the runtime's bounded warm reserve; trim_idle, the reserve's pages below
// its top one: see "Giving memory back" in the .cc).
// Slots are handed out a chunk at a time, and a fresh chunk is readied in
// bulk: every guard installed and every top page (control block, closure,
// first frames) populated in one process_madvise each (see prepare_chunk).
//
// Guard pages: madvise(MADV_GUARD_INSTALL) (Linux >= 6.13) marks the guard
// without creating a new mapping, so a million guarded stacks stay within
// vm.max_map_count. On older kernels weft falls back to mprotect() for the
// first kMaxMprotectGuards stacks and to a canary word after that.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "weft/core/internal/lock.h"

namespace weft::internal {

// Lifecycle of a slot, read by the shutdown scan and the overflow reporter.
enum class SlotState : uint32_t {
  kFree = 0,    // in a pool (or never used)
  kLive = 1,    // a fiber owns it and has not finished
  kZombie = 2,  // the fiber finished; a Fiber<T> handle still holds its result
};

// The first bytes of every slot's control block. Persist across reuse.
struct SlotHeader {
  SlotHeader* next_free = nullptr;  // pool link; owned by whoever holds the slot
  // Written by the owning thread at spawn/finish/release, read by the
  // shutdown scan on another thread: relaxed stores and loads plus the
  // acquire in the scan are enough, as the scan only decides whom to kill and
  // killing re-validates through the fiber's own atomics.
  std::atomic<SlotState> state{SlotState::kFree};
  bool has_canary = false;  // no guard page: a canary word guards the bottom
  // Where the slot sits: slot `index` of the pool's chunk `chunk`. Set when
  // it is carved (or rebuilt after a release); read by release_idle.
  uint8_t index = 0;
  uint32_t chunk = 0;
};

enum class GuardMode { kMadvise, kMprotect, kCanary };

// Runtime-wide owner of the slabs and the shared free list. Thread-safe.
class StackPool {
 public:
  // `stack_size`: usable bytes per stack (rounded up to pages);
  // `control_bytes`: bytes reserved at the top for the control block.
  // `init_slot` builds the control block of a fresh slot (given its header,
  // already constructed) before the slot is visible to for_each_slot.
  StackPool(std::size_t stack_size, std::size_t control_bytes,
            void (*init_slot)(SlotHeader*) = nullptr);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  std::size_t stack_size() const { return stack_size_; }
  std::size_t control_bytes() const { return control_bytes_; }

  // The slot a header belongs to: its usable range [lo, top).
  char* top_of(SlotHeader* h) const { return reinterpret_cast<char*>(h) + control_bytes_; }
  char* lo_of(SlotHeader* h) const { return top_of(h) - stack_size_; }

  // A contiguous run of never-used slots, handed to one cache at a time.
  struct Chunk {
    char* first_top;  // top of the first slot
    uint32_t count;   // slots in the chunk
    uint32_t index;   // in the pool's chunks_
    // Slots handed out so far; written by the cache that owns the chunk,
    // read by the shutdown scan (relaxed: see SlotHeader::state).
    std::atomic<uint32_t> used{0};
    // Every slot's guard went in with the chunk (prepare_chunk). Written
    // before the chunk is handed to its one owner.
    bool guarded = false;
    // Bit i: slot i's pages were given back (release_idle) and its header
    // is gone or being rebuilt; it is in no free list. Written under mu_;
    // read by for_each_slot without it (acquire, pairs with the release
    // stores), which skips these slots: their headers are not there to
    // read (and each read of a released page would fault).
    std::atomic<uint64_t> released{0};
    // The released slots a take may rebuild: `released` less those being
    // rebuilt now. Guarded by the pool's mu_.
    uint64_t takeable = 0;
  };

  // The shared list is two LIFO lists: warm slots (as their last fiber
  // left them) and trimmed ones (trim_idle gave back their pages below the
  // top one). Takes prefer warm slots, then trimmed, then released (rebuilt),
  // then fresh ones.
  //
  // Takes a free slot from the shared list, or a fresh one. Thread-safe, locks.
  SlotHeader* take_shared();
  // Returns `n` slots linked through next_free (head..tail) to the shared list.
  void give_shared(SlotHeader* head, SlotHeader* tail, std::size_t n);
  // Moves up to `max` slots from the shared list into a chain (warm ones, or
  // if there are none, trimmed ones); returns count.
  std::size_t take_shared_batch(std::size_t max, SlotHeader** head);
  // Takes up to `max` released slots, rebuilt and linked through next_free
  // (head returned); 0 if none.
  std::size_t take_released(std::size_t max, SlotHeader** head);
  // A fresh chunk for one cache's exclusive use.
  Chunk* new_chunk();
  // Turns the next unused slot of `c` (owned by the caller) into a slot with
  // its guard installed; null when the chunk is used up.
  SlotHeader* take_fresh(Chunk* c);

  // Pre-carving (stack_pool.cc): while a cache carves fresh chunks for a
  // burst of spawns the free lists cannot serve, an idle worker readies the
  // next chunk (guards, populated top pages, built headers) and puts its
  // slots on the shared list, where the spawner's cache takes them: the
  // first touch of each slot's page is then paid on the idle worker's core.
  // note_fresh_carve records when a cache last had to carve; precarve
  // readies one chunk if one carved within kPrecarveWindowNs of `now_ns`
  // and the shared list (with the chunks being readied) holds fewer than
  // kPrecarveLowWater slots, and returns whether it did. Thread-safe; takes
  // mu_ twice, never across the system calls.
  void note_fresh_carve(int64_t now_ns) {
    last_fresh_carve_ns_.store(now_ns, std::memory_order_relaxed);
  }
  bool precarve(int64_t now_ns);
  static constexpr std::size_t kPrecarveLowWater = 512;
  static constexpr int64_t kPrecarveWindowNs = 10'000'000;
  // Slots carved by precarve so far.
  std::size_t slots_precarved() const { return slots_precarved_.load(std::memory_order_relaxed); }

  // Lets release_idle give slots' pages back. A slot's control block holds a
  // wake-up epoch that must never go backwards across reuse (a stale timer
  // or poller word may still name an old wait): `epoch_of` reads it before
  // the pages go, `set_epoch` starts a rebuilt slot's at a floor above every
  // released one's. Call before the first take.
  void enable_release(uint64_t (*epoch_of)(SlotHeader*), void (*set_epoch)(SlotHeader*, uint64_t));

  // Gives back the pages of up to one batch (kReleaseBatch) of the shared
  // list's slots beyond its first `keep` (warm ones first), with
  // MADV_DONTNEED, and moves them off the list: a later take rebuilds one
  // (one page fault) before carving fresh slots. Returns how many it
  // released; 0 when there is nothing to do. Thread-safe; takes mu_ twice,
  // never across the system call.
  std::size_t release_idle(std::size_t keep);
  // Gives back the pages below the top one (which holds the header and
  // control block) of up to one batch of warm slots, with MADV_DONTNEED,
  // and moves them to the trimmed list, so a pooled slot costs what a fresh
  // one does: one page. Returns how many it moved; 0 when no slot is warm.
  // Thread-safe; takes mu_ twice, never across the system call.
  std::size_t trim_idle();
  // The same for `n` slots the caller owns (a cache's), left where they are.
  void trim_slots(SlotHeader* const* slots, std::size_t n);
  static constexpr std::size_t kReleaseBatch = 1024;
  // Slots released and not taken again since.
  std::size_t slots_released() const { return released_count_.load(std::memory_order_relaxed); }
  // Counts the shared list's takes and gives (not releases): a release
  // waits until it has stopped moving. Relaxed.
  uint64_t activity() const { return activity_.load(std::memory_order_relaxed); }
  // Free slots on the shared list (resident), warm and trimmed.
  std::size_t shared_free() const { return shared_count_hint_.load(std::memory_order_relaxed); }
  // Of those, the warm ones (trim_idle's work). Relaxed, a hint.
  std::size_t warm_free() const { return warm_count_hint_.load(std::memory_order_relaxed); }
  // Slots on the trimmed list: trimmed and not taken again since (and
  // canary slots, which are never trimmed or released). Relaxed.
  std::size_t slots_trimmed() const { return trimmed_count_hint_.load(std::memory_order_relaxed); }

  // Calls fn(SlotHeader*) for every slot ever handed out. For shutdown and
  // diagnostics; safe concurrently with spawns (sees a consistent subset).
  template <typename Fn>
  void for_each_slot(Fn fn);

  // Which slot, if any, has its guard page at `addr`; for the overflow reporter.
  // Async-signal-safe (reads only immutable slab bounds).
  SlotHeader* guard_owner(const void* addr) const;

  // Checks a guard-less slot's canary; false if the fiber overran its stack.
  bool canary_intact(SlotHeader* h) const;

  // Keeps every slab mapped past the pool's destruction (handles that outlive
  // their runtime still point into them).
  void leak_slabs();

  GuardMode guard_mode() const { return guard_mode_.load(std::memory_order_relaxed); }
  std::size_t slots_carved() const { return slots_carved_.load(std::memory_order_relaxed); }

 private:
  struct Slab {
    char* base;
    std::size_t bytes;
  };
  bool install_guard(char* guard);  // true if it fell back to a canary
  Chunk* carve_chunk();
  void prepare_chunk(Chunk* c);
  void publish_shared_count() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    shared_count_hint_.store(warm_count_ + trimmed_count_, std::memory_order_relaxed);
    warm_count_hint_.store(warm_count_, std::memory_order_relaxed);
    trimmed_count_hint_.store(trimmed_count_, std::memory_order_relaxed);
  }
  // Takes one slot off the shared list: a warm one, else a trimmed one;
  // null if both are empty.
  SlotHeader* pop_shared() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A take or give of the shared list, for activity(). Under mu_, so a
  // plain load and store do.
  void note_activity() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    activity_.store(activity_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  const std::size_t stack_size_;
  const std::size_t control_bytes_;
  const std::size_t stride_;  // guard + stack
  void (*const init_slot_)(SlotHeader*);
  Lock mu_;
  std::vector<Slab> slabs_ ABSL_GUARDED_BY(mu_);
  std::vector<Chunk*> chunks_ ABSL_GUARDED_BY(mu_);
  char* slab_cursor_ ABSL_GUARDED_BY(mu_) = nullptr;  // next unchunked slot base
  char* slab_end_ ABSL_GUARDED_BY(mu_) = nullptr;
  SlotHeader* shared_free_ ABSL_GUARDED_BY(mu_) = nullptr;  // warm slots
  std::size_t warm_count_ ABSL_GUARDED_BY(mu_) = 0;
  SlotHeader* trimmed_free_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::size_t trimmed_count_ ABSL_GUARDED_BY(mu_) = 0;
  Chunk* shared_chunk_ ABSL_GUARDED_BY(mu_) = nullptr;  // for take_shared
  // Indexes of chunks with released slots (each listed once, while its
  // mask is non-zero), and the epoch every rebuilt slot starts at.
  std::vector<uint32_t> released_chunks_ ABSL_GUARDED_BY(mu_);
  uint64_t epoch_floor_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t (*epoch_of_)(SlotHeader*) = nullptr;
  void (*set_epoch_)(SlotHeader*, uint64_t) = nullptr;
  // Relaxed gauges for stats and for a cheap "anything to release?" check.
  std::atomic<std::size_t> released_count_{0};
  std::atomic<std::size_t> shared_count_hint_{0};
  std::atomic<std::size_t> warm_count_hint_{0};
  std::atomic<std::size_t> trimmed_count_hint_{0};
  std::atomic<uint64_t> activity_{0};
  // A copy of the slab table readable without the lock by the signal handler:
  // fixed capacity, entries published with release and never changed after.
  static constexpr std::size_t kMaxSlabs = 1 << 16;
  std::atomic<std::size_t> slab_table_size_{0};
  Slab* slab_table_;
  std::atomic<GuardMode> guard_mode_{GuardMode::kMadvise};
  std::atomic<std::size_t> mprotect_guards_{0};
  std::atomic<std::size_t> slots_carved_{0};
  // Pre-carving's gauges, all relaxed hints: when a cache last carved a
  // fresh chunk (-1: never), chunks being readied now, slots readied.
  std::atomic<int64_t> last_fresh_carve_ns_{-1};
  std::atomic<std::size_t> precarving_{0};
  std::atomic<std::size_t> slots_precarved_{0};
};

// Per-worker LIFO cache in front of the StackPool. Owner thread only.
class StackCache {
 public:
  explicit StackCache(StackPool* pool) : pool_(pool) {}
  ~StackCache();  // hands everything back to the pool

  SlotHeader* take();
  void give(SlotHeader* h);
  // Gives all but the `keep` warmest slots to the shared list.
  void trim(std::size_t keep);
  // Called by the idle owner: once no take or give has happened for
  // `grace_ns` (from the first call that saw none), gives back the pages
  // below each cached slot's top one (StackPool::trim_slots). Returns when
  // that will be due, -1 if nothing is pending.
  int64_t trim_pages_when_quiet(int64_t now_ns, int64_t grace_ns);
  // Whether trim_pages_when_quiet has anything to do (saves a clock read).
  bool trim_pending() const { return used_ || trim_due_ns_ >= 0; }

 private:
  static constexpr std::size_t kMax = 1024;   // spill above this...
  static constexpr std::size_t kSpill = 512;  // ...this many to the shared list
  static constexpr std::size_t kRefill = 64;  // taken from the shared list at once
  StackPool* pool_;
  SlotHeader* head_ = nullptr;
  std::size_t count_ = 0;
  StackPool::Chunk* chunk_ = nullptr;
  // A take or give since the last trim_pages_when_quiet (a plain store on
  // the path that already writes head_), and when the pages may go.
  bool used_ = false;
  int64_t trim_due_ns_ = -1;
};

template <typename Fn>
void StackPool::for_each_slot(Fn fn) {
  std::vector<Chunk*> chunks;
  {
    LockGuard lock(mu_);
    chunks = chunks_;
  }
  for (Chunk* c : chunks) {
    uint32_t used = c->used.load(std::memory_order_acquire);
    uint64_t released = c->released.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < used; ++i) {
      if ((released >> i) & 1) continue;  // no header to read, only a zero page
      char* top = c->first_top + static_cast<std::size_t>(i) * stride_;
      fn(reinterpret_cast<SlotHeader*>(top - control_bytes_));
    }
  }
}

}  // namespace weft::internal
