#include "weft/core/internal/stack_pool.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include "weft/core/internal/clock.h"

namespace weft::internal {
namespace {

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13; Debian 12's headers predate it
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif
#ifndef PIDFD_SELF
#define PIDFD_SELF (-10001)  // Linux 6.15: "this process" for process_madvise
#endif

constexpr std::size_t kPage = 4096;
constexpr uint32_t kChunkSlots = 64;
constexpr std::size_t kSlabSlots = 1024;
// mprotect'ed guards cost two VMAs each; stay well below vm.max_map_count.
constexpr std::size_t kMaxMprotectGuards = 16384;
constexpr uint64_t kCanary = 0x5745465447554152ull;  // "WEFTGUAR"

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Whether process_madvise may give this process any advice (Linux >= 6.13).
// Cleared, for every pool, by the first call the kernel refuses.
std::atomic<bool> g_batch_advice{true};

// Gives `advice` to every page range of `iov` in one system call: true if
// the kernel applied it to all of them. process_madvise takes up to
// UIO_MAXIOV (1024) ranges; PIDFD_SELF names this process without an fd
// (Linux >= 6.15), and older kernels get a pidfd opened for the call.
bool advise_batch(iovec* iov, std::size_t n, int advice) {
  if (!g_batch_advice.load(std::memory_order_relaxed)) return false;
  std::size_t want = 0;
  for (std::size_t i = 0; i < n; ++i) want += iov[i].iov_len;
  long r = syscall(SYS_process_madvise, PIDFD_SELF, iov, n, advice, 0u);
  if (r < 0 && errno == EBADF) {
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0u));
    if (pidfd >= 0) {
      r = syscall(SYS_process_madvise, pidfd, iov, n, advice, 0u);
      close(pidfd);
    }
  }
  if (r < 0 && (errno == EINVAL || errno == ENOSYS || errno == EPERM || errno == EBADF)) {
    // Relaxed: a hint that only spares later pools a refused call.
    g_batch_advice.store(false, std::memory_order_relaxed);
  }
  return r >= 0 && static_cast<std::size_t>(r) == want;
}

}  // namespace

StackPool::StackPool(std::size_t stack_size, std::size_t control_bytes,
                     void (*init_slot)(SlotHeader*))
    : stack_size_(round_up(stack_size, kPage)),
      control_bytes_(control_bytes),
      stride_(kPage + round_up(stack_size, kPage)),
      init_slot_(init_slot),
      slab_table_(new Slab[kMaxSlabs]) {}

StackPool::~StackPool() {
  LockGuard lock(mu_);
  for (const Slab& s : slabs_) munmap(s.base, s.bytes);
  for (Chunk* c : chunks_) delete c;
  delete[] slab_table_;
}

bool StackPool::install_guard(char* guard) {
  GuardMode mode = guard_mode_.load(std::memory_order_relaxed);
  if (mode == GuardMode::kMadvise) {
    if (madvise(guard, kPage, MADV_GUARD_INSTALL) == 0) return false;
    // EINVAL: kernel without guard regions. Fall back, once for everyone.
    guard_mode_.store(mode = GuardMode::kMprotect, std::memory_order_relaxed);
  }
  if (mode == GuardMode::kMprotect) {
    if (mprotect_guards_.fetch_add(1, std::memory_order_relaxed) < kMaxMprotectGuards &&
        mprotect(guard, kPage, PROT_NONE) == 0) {
      return false;
    }
    guard_mode_.store(GuardMode::kCanary, std::memory_order_relaxed);
  }
  // No guard page: leave a canary at the bottom of the usable stack instead.
  std::memcpy(guard + kPage, &kCanary, sizeof kCanary);
  return true;
}

StackPool::Chunk* StackPool::new_chunk() {
  Chunk* c = carve_chunk();
  prepare_chunk(c);
  return c;
}

// Readies every slot of a fresh chunk before its first spawn, in two system
// calls for the whole chunk instead of a guard install and a page fault per
// slot: MADV_GUARD_INSTALL on every guard, MADV_POPULATE_WRITE on every top
// page (the page a fiber's control block, closure and first frames share;
// often all it ever touches). Measured on this project's VM, per slot: a
// first-touch fault 15-18 us, madvise(MADV_POPULATE_WRITE) of the one page
// 3.4 us, the same batched 64 at a time 0.9-1.2 us; a guard 1.8 us alone,
// 0.3 us batched. The first touch of a populated page still costs this VM
// 11-14 us (its hypervisor fills its own page tables then), but the
// guest's fault path goes: weft_peer sleepers -n 200000 -workers 1, task-clock
// 2.3-3.0 s against 3.4-4.6 s, sys 0.5-0.7 s against 1.5-2.1 s. Where the
// kernel refuses the batch (older than 6.13) take_fresh installs each guard
// itself and the first touch faults.
void StackPool::prepare_chunk(Chunk* c) {
  iovec iov[kChunkSlots];
  for (uint32_t i = 0; i < c->count; ++i) {
    iov[i] = {c->first_top + static_cast<std::size_t>(i) * stride_ - stride_, kPage};
  }
  if (guard_mode() == GuardMode::kMadvise) {
    c->guarded = advise_batch(iov, c->count, MADV_GUARD_INSTALL);
  }
  for (uint32_t i = 0; i < c->count; ++i) {
    iov[i].iov_base = c->first_top + static_cast<std::size_t>(i) * stride_ - kPage;
  }
  advise_batch(iov, c->count, MADV_POPULATE_WRITE);  // else the first touch faults
}

StackPool::Chunk* StackPool::carve_chunk() {
  LockGuard lock(mu_);
  if (slab_cursor_ == slab_end_) {
    std::size_t bytes = stride_ * kSlabSlots;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    // A fiber touches one or two 4 KiB pages of its stack; a transparent huge
    // page would make that 2 MiB.
    madvise(p, bytes, MADV_NOHUGEPAGE);
    std::size_t n = slab_table_size_.load(std::memory_order_relaxed);
    if (n == kMaxSlabs) {
      munmap(p, bytes);
      throw std::bad_alloc();
    }
    slabs_.push_back({static_cast<char*>(p), bytes});
    slab_table_[n] = slabs_.back();
    // Publishes slab_table_[n] to guard_owner() (acquire load there).
    slab_table_size_.store(n + 1, std::memory_order_release);
    slab_cursor_ = static_cast<char*>(p);
    slab_end_ = slab_cursor_ + bytes;
  }
  auto* c = new Chunk;
  c->first_top = slab_cursor_ + stride_;  // a slot's top is the next slot's base
  c->count = kChunkSlots;
  c->index = static_cast<uint32_t>(chunks_.size());
  slab_cursor_ += stride_ * kChunkSlots;
  chunks_.push_back(c);
  return c;
}

// Pre-carving. A burst of spawns beyond the free lists carves fresh slots,
// and the first touch of each one's top page (its header) is most of a
// spawn's cost there: 9-11 us on this project's VM, whose hypervisor fills
// its own page tables on a page's first touch from user space even after
// MADV_POPULATE_WRITE, against ~0.3 us for the rest of the spawn. With
// 1M sleepers on 2 workers, the spawning worker spent 36% of the process's
// samples in take_fresh and 10% zeroing pages, while the other worker had
// nothing to steal for much of the time and yielded its core in steal().
// So a worker that finds nothing to steal readies the next chunk itself,
// as take_fresh would, and gives its slots to the shared list; the
// spawner's cache takes them 64 at a time before it carves again. The
// total work is the same; it is spread over the idle cores.
//
// Only while a cache has carved within the last 10 ms (a burst is on), and
// up to kPrecarveLowWater slots on the shared list, counting the chunks
// other idle workers are readying: a burst's end leaves at most that many
// surplus slots, which release_idle gives back with the rest. One chunk
// at a time, about 0.7 ms here, and the worker looks for work between
// chunks, so a fiber it could steal waits at most that long.
bool StackPool::precarve(int64_t now_ns) {
  int64_t last = last_fresh_carve_ns_.load(std::memory_order_relaxed);
  if (last < 0 || now_ns - last > kPrecarveWindowNs) return false;
  std::size_t readying = precarving_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (shared_count_hint_.load(std::memory_order_relaxed) + readying * kChunkSlots >
      kPrecarveLowWater) {
    precarving_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  Chunk* c = new_chunk();
  SlotHeader* head = nullptr;
  SlotHeader* tail = nullptr;
  std::size_t n = 0;
  while (SlotHeader* h = take_fresh(c)) {
    h->next_free = nullptr;
    (tail == nullptr ? head : tail->next_free) = h;
    tail = h;
    ++n;
  }
  give_shared(head, tail, n);
  slots_precarved_.fetch_add(n, std::memory_order_relaxed);
  precarving_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

SlotHeader* StackPool::take_fresh(Chunk* c) {
  uint32_t i = c->used.load(std::memory_order_relaxed);
  if (i == c->count) return nullptr;
  char* top = c->first_top + static_cast<std::size_t>(i) * stride_;
  bool canary = c->guarded ? false : install_guard(top - stride_);
  auto* h = new (top - control_bytes_) SlotHeader;
  h->has_canary = canary;
  if (init_slot_ != nullptr) init_slot_(h);
  h->index = static_cast<uint8_t>(i);
  h->chunk = c->index;
  // Publishes the constructed header to for_each_slot (acquire load there).
  c->used.store(i + 1, std::memory_order_release);
  slots_carved_.fetch_add(1, std::memory_order_relaxed);
  return h;
}

void StackPool::leak_slabs() {
  LockGuard lock(mu_);
  slabs_.clear();
}

SlotHeader* StackPool::take_shared() {
  for (;;) {
    {
      LockGuard lock(mu_);
      if (SlotHeader* h = pop_shared()) {
        publish_shared_count();
        note_activity();
        return h;
      }
      if (shared_chunk_ != nullptr && released_chunks_.empty()) {
        if (SlotHeader* h = take_fresh(shared_chunk_)) return h;
      }
    }
    SlotHeader* h = nullptr;
    if (take_released(1, &h) != 0) return h;
    note_fresh_carve(real_monotonic_now_ns());
    Chunk* c = new_chunk();  // takes mu_ itself
    LockGuard lock(mu_);
    shared_chunk_ = c;  // a chunk another thread installed meanwhile is simply abandoned
  }
}

void StackPool::give_shared(SlotHeader* head, SlotHeader* tail, std::size_t n) {
  LockGuard lock(mu_);
  tail->next_free = shared_free_;
  shared_free_ = head;
  warm_count_ += n;
  publish_shared_count();
  note_activity();
}

SlotHeader* StackPool::pop_shared() {
  SlotHeader** list = shared_free_ != nullptr ? &shared_free_ : &trimmed_free_;
  SlotHeader* h = *list;
  if (h == nullptr) return nullptr;
  *list = h->next_free;
  --(list == &shared_free_ ? warm_count_ : trimmed_count_);
  return h;
}

std::size_t StackPool::take_shared_batch(std::size_t max, SlotHeader** head) {
  LockGuard lock(mu_);
  const bool warm = shared_free_ != nullptr;
  SlotHeader** list = warm ? &shared_free_ : &trimmed_free_;
  std::size_t n = 0;
  SlotHeader* first = *list;
  SlotHeader* last = nullptr;
  for (SlotHeader* h = first; h != nullptr && n < max; h = h->next_free) {
    last = h;
    ++n;
  }
  if (n == 0) return 0;
  *list = last->next_free;
  (warm ? warm_count_ : trimmed_count_) -= n;
  publish_shared_count();
  note_activity();
  last->next_free = nullptr;
  *head = first;
  return n;
}

// Giving memory back (Go's scavenger, on a smaller scale). A burst of a
// million fibers leaves a million free slots, each with its touched pages
// resident (4 GiB for a million sleepers' stacks in all), pooled for a
// burst that may never come again. release_idle, called by a worker that
// is about to sleep (so never on a spawn's path), keeps the first `keep`
// slots of the shared list and gives the pages of the rest back, one batch
// at a time, in one process_madvise(MADV_DONTNEED) per batch; the worker
// checks for work between batches. The header page goes too, so a released
// slot is in no free list: a bit in its chunk's mask says where it is, and
// take_released rebuilds the header (the one page fault a fresh slot
// would cost as well) before any fresh slot is carved. Guards are kept:
// MADV_DONTNEED leaves guard markers (and mprotect) in place; a canary
// slot (no guard) is never released, as its canary would go with the page.
//
// The slot's wake-up epoch goes with the page. Stale references to a
// finished fiber (a timer entry not yet swept, a poller word) compare a
// token with it, so a rebuilt slot must not restart at 0: its epoch starts
// at epoch_floor_, above every epoch a released slot ever reached. They
// read a released slot's zero page as epoch 0, which no token matches.
//
// The reserve itself is trimmed: once the surplus is gone, trim_idle gives
// back every page of a kept slot but its top one (header, control block,
// the first frames), so a pooled slot costs one page, as a fresh one does.
// Without it the reserve kept whatever its last fibers had touched: an echo
// handler with a 16 KiB buffer on its stack touches four pages or five, and
// after 10,000 connections to examples/echo_service the default reserve of
// 1024 stacks held 14 MiB, twice the idle server's RSS (issue #14).
// Trimmed slots move to a
// list of their own, so each is trimmed once, and takes prefer warm slots:
// a trimmed slot's next fiber faults its deeper pages in again, the price of
// a fresh slot, paid only after the pool has been quiet. A worker's own
// cache (the runtime keeps kIdleCacheKeep slots in each) is trimmed in place
// by its owner (trim_pages_when_quiet), on a quiet of its own: no take or
// give on that worker for the grace. The pool's quiet would not do for it:
// steady traffic is served from the caches and never touches the shared
// list, and trimming a cache in use makes each spawn fault again; while
// keeping every cache whole made the bound grow with the workers (64 slots
// of up to a whole stack each).
//
// Rejected: MADV_FREE (RSS falls only under memory pressure, so a burst's
// memory looks leaked), and keeping released slots on a list linked
// through their own headers (the link would keep each header page resident:
// for a sleeper, its only page). For the trim: a "trimmed" bit in each
// header (a pass would walk the whole list, under the lock, to find the
// slots still to trim), and trimming a slot as it is given back (that is
// every fiber's end: a system call on the hot path).
void StackPool::enable_release(uint64_t (*epoch_of)(SlotHeader*),
                               void (*set_epoch)(SlotHeader*, uint64_t)) {
  epoch_of_ = epoch_of;
  set_epoch_ = set_epoch;
}

std::size_t StackPool::release_idle(std::size_t keep) {
  if (epoch_of_ == nullptr || shared_count_hint_.load(std::memory_order_relaxed) <= keep) return 0;
  SlotHeader* batch[kReleaseBatch];
  std::size_t n = 0;
  {
    LockGuard lock(mu_);
    while (warm_count_ + trimmed_count_ > keep && n < kReleaseBatch) batch[n++] = pop_shared();
    publish_shared_count();
  }
  if (n == 0) return 0;
  // Read what the header knows before its page goes.
  struct Where {
    uint32_t chunk;
    uint8_t index;
  };
  Where where[kReleaseBatch];
  iovec iov[kReleaseBatch];
  std::size_t released = 0;
  uint64_t max_epoch = 0;
  // Canary slots, back to the trimmed list: there is nothing more to do
  // with them, and on the warm list trim_idle would move them there anyway
  // (each pass of the two would hand them to the other, forever).
  SlotHeader* kept = nullptr;
  SlotHeader* kept_tail = nullptr;
  std::size_t kept_n = 0;
  for (std::size_t i = 0; i < n; ++i) {
    SlotHeader* h = batch[i];
    if (h->has_canary) {
      h->next_free = kept;
      kept = h;
      if (kept_tail == nullptr) kept_tail = h;
      ++kept_n;
      continue;
    }
    max_epoch = std::max(max_epoch, epoch_of_(h));
    where[released] = {h->chunk, h->index};
    iov[released] = {lo_of(h), stack_size_};
    ++released;
  }
  if (released != 0 && !advise_batch(iov, released, MADV_DONTNEED)) {
    for (std::size_t i = 0; i < released; ++i) madvise(iov[i].iov_base, stack_size_, MADV_DONTNEED);
  }
  LockGuard lock(mu_);
  if (kept != nullptr) {
    kept_tail->next_free = trimmed_free_;
    trimmed_free_ = kept;
    trimmed_count_ += kept_n;
    publish_shared_count();
  }
  // Tokens of a wait are below epoch + 4 (kEpochStep); keep a multiple of 4.
  epoch_floor_ = std::max(epoch_floor_, (max_epoch + 4) & ~uint64_t{3});
  for (std::size_t i = 0; i < released; ++i) {
    Chunk* c = chunks_[where[i].chunk];
    const uint64_t bit = uint64_t{1} << where[i].index;
    if (c->takeable == 0) released_chunks_.push_back(where[i].chunk);
    c->takeable |= bit;
    // Relaxed: the scan may still read this slot's header, or the zero
    // page (state kFree), either is harmless; it must just not skip a live one.
    c->released.store(c->released.load(std::memory_order_relaxed) | bit, std::memory_order_relaxed);
  }
  released_count_.fetch_add(released, std::memory_order_relaxed);
  return released;
}

std::size_t StackPool::trim_idle() {
  if (warm_count_hint_.load(std::memory_order_relaxed) == 0) return 0;
  SlotHeader* batch[kReleaseBatch];
  std::size_t n = 0;
  {
    LockGuard lock(mu_);
    while (shared_free_ != nullptr && n < kReleaseBatch) batch[n++] = pop_shared();
    publish_shared_count();
  }
  if (n == 0) return 0;
  // Off the list, so no take can hand one to a fiber while its pages go.
  trim_slots(batch, n);
  for (std::size_t i = 0; i + 1 < n; ++i) batch[i]->next_free = batch[i + 1];
  // Not an activity: the pool stays quiet, and the next pass finds the
  // warm list shorter by a batch.
  LockGuard lock(mu_);
  batch[n - 1]->next_free = trimmed_free_;
  trimmed_free_ = batch[0];
  trimmed_count_ += n;
  publish_shared_count();
  return n;
}

void StackPool::trim_slots(SlotHeader* const* slots, std::size_t n) {
  // The top pages hold the header and control block (the wake-up epoch
  // must survive); below them is only the dead fiber's stack.
  const std::size_t top_bytes = round_up(std::max(control_bytes_, kPage), kPage);
  if (stack_size_ <= top_bytes) return;
  iovec iov[kReleaseBatch];
  while (n != 0) {
    std::size_t ranges = 0, i = 0;
    for (; i < n && ranges < kReleaseBatch; ++i) {
      if (slots[i]->has_canary) continue;  // its canary would go with the page
      iov[ranges++] = {lo_of(slots[i]), stack_size_ - top_bytes};
    }
    slots += i;
    n -= i;
    if (ranges != 0 && !advise_batch(iov, ranges, MADV_DONTNEED)) {
      for (std::size_t r = 0; r < ranges; ++r) {
        madvise(iov[r].iov_base, iov[r].iov_len, MADV_DONTNEED);
      }
    }
  }
}

std::size_t StackPool::take_released(std::size_t max, SlotHeader** head) {
  if (released_count_.load(std::memory_order_relaxed) == 0) return 0;
  struct Taken {
    Chunk* chunk;
    uint8_t index;
  };
  Taken taken[64];
  std::size_t n = 0;
  uint64_t floor;
  max = std::min<std::size_t>(max, 64);
  {
    LockGuard lock(mu_);
    floor = epoch_floor_;
    while (n < max && !released_chunks_.empty()) {
      Chunk* c = chunks_[released_chunks_.back()];
      while (c->takeable != 0 && n < max) {
        int i = __builtin_ctzll(c->takeable);
        c->takeable &= c->takeable - 1;
        taken[n++] = {c, static_cast<uint8_t>(i)};
      }
      if (c->takeable == 0) released_chunks_.pop_back();
    }
    if (n != 0) note_activity();
  }
  if (n == 0) return 0;
  released_count_.fetch_sub(n, std::memory_order_relaxed);
  SlotHeader* first = nullptr;
  for (std::size_t k = n; k-- > 0;) {
    char* top = taken[k].chunk->first_top + static_cast<std::size_t>(taken[k].index) * stride_;
    auto* h = new (top - control_bytes_) SlotHeader;
    if (init_slot_ != nullptr) init_slot_(h);
    h->index = taken[k].index;
    h->chunk = taken[k].chunk->index;
    set_epoch_(h, floor);
    h->next_free = first;
    first = h;
  }
  // Rebuilt: the scan may read them again. Outside the first lock, so the
  // page faults of the rebuild hold up no other take.
  LockGuard lock(mu_);
  for (std::size_t k = 0; k < n; ++k) {
    Chunk* c = taken[k].chunk;
    // Release: pairs with for_each_slot's acquire; it then sees the header.
    c->released.store(
        c->released.load(std::memory_order_relaxed) & ~(uint64_t{1} << taken[k].index),
        std::memory_order_release);
  }
  *head = first;
  return n;
}

SlotHeader* StackPool::guard_owner(const void* addr) const {
  const char* a = static_cast<const char*>(addr);
  std::size_t n = slab_table_size_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    const Slab& s = slab_table_[i];
    if (a < s.base || a >= s.base + s.bytes) continue;
    std::size_t off = static_cast<std::size_t>(a - s.base);
    if (off % stride_ >= kPage) return nullptr;  // inside a stack, not a guard
    char* top = s.base + (off / stride_ + 1) * stride_;
    return reinterpret_cast<SlotHeader*>(top - control_bytes_);
  }
  return nullptr;
}

bool StackPool::canary_intact(SlotHeader* h) const {
  if (!h->has_canary) return true;
  uint64_t v;
  std::memcpy(&v, lo_of(h), sizeof v);
  return v == kCanary;
}

StackCache::~StackCache() {
  if (head_ != nullptr) {
    SlotHeader* tail = head_;
    while (tail->next_free != nullptr) tail = tail->next_free;
    pool_->give_shared(head_, tail, count_);
  }
}

SlotHeader* StackCache::take() {
  used_ = true;
  if (head_ == nullptr) {
    count_ = pool_->take_shared_batch(kRefill, &head_);
  }
  if (head_ == nullptr) {
    count_ = pool_->take_released(kRefill, &head_);
  }
  if (head_ != nullptr) {
    SlotHeader* h = head_;
    head_ = h->next_free;
    --count_;
    return h;
  }
  for (;;) {
    if (chunk_ != nullptr) {
      if (SlotHeader* h = pool_->take_fresh(chunk_)) return h;
    }
    // An idle worker may ready the next chunks meanwhile (precarve).
    pool_->note_fresh_carve(real_monotonic_now_ns());
    chunk_ = pool_->new_chunk();
  }
}

void StackCache::trim(std::size_t keep) {
  if (count_ <= keep) return;
  SlotHeader* rest;
  if (keep == 0) {
    rest = head_;
    head_ = nullptr;
  } else {
    SlotHeader* keep_tail = head_;
    for (std::size_t i = 1; i < keep; ++i) keep_tail = keep_tail->next_free;
    rest = keep_tail->next_free;
    keep_tail->next_free = nullptr;
  }
  SlotHeader* tail = rest;
  while (tail->next_free != nullptr) tail = tail->next_free;
  pool_->give_shared(rest, tail, count_ - keep);
  count_ = keep;
}

int64_t StackCache::trim_pages_when_quiet(int64_t now_ns, int64_t grace_ns) {
  if (used_) {
    used_ = false;
    trim_due_ns_ = now_ns + grace_ns;
  }
  if (trim_due_ns_ < 0 || now_ns < trim_due_ns_) return trim_due_ns_;
  trim_due_ns_ = -1;
  SlotHeader* slots[StackPool::kReleaseBatch];
  std::size_t n = 0;
  for (SlotHeader* h = head_; h != nullptr; h = h->next_free) {
    slots[n++] = h;
    if (n == StackPool::kReleaseBatch) {
      pool_->trim_slots(slots, n);
      n = 0;
    }
  }
  pool_->trim_slots(slots, n);
  return -1;
}

void StackCache::give(SlotHeader* h) {
  used_ = true;
  h->next_free = head_;
  head_ = h;
  if (++count_ <= kMax) return;
  // Spill the oldest half: keep the warmest stacks here.
  SlotHeader* keep_tail = head_;
  for (std::size_t i = 1; i < kMax - kSpill + 1; ++i) keep_tail = keep_tail->next_free;
  SlotHeader* spill = keep_tail->next_free;
  keep_tail->next_free = nullptr;
  SlotHeader* spill_tail = spill;
  std::size_t n = 1;
  while (spill_tail->next_free != nullptr) {
    spill_tail = spill_tail->next_free;
    ++n;
  }
  count_ -= n;
  pool_->give_shared(spill, spill_tail, n);
}

}  // namespace weft::internal
