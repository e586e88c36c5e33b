// Putting idle workers to sleep and waking them (IdleWorkers).
//
// The bug every M:N runtime has once: worker A finds no work and goes to sleep
// at the same moment as thread B publishes work and looks for a sleeper to
// wake. If B looks before A registers and A checks the queues before B's push
// is visible, both conclude "nothing to do" and the work waits forever.
//
// The protocol is Dekker's: each side writes its own flag, issues a seq_cst
// fence, then reads the other's.
//   sleeper:  sleeping_++ (seq_cst RMW) ; fence ; read every queue ; futex_wait
//   notifier: push work                 ; fence ; read sleeping_ ; wake one
// At least one side sees the other: either the sleeper sees the work and
// cancels, or the notifier sees the sleeper and wakes it. The futex word
// (Slot::word) closes the remaining window between the re-check and the
// futex_wait: a wake that arrives first flips the word and futex_wait returns.
//
// Why local pushes skip the fence (notify_local): a worker pushing to its own
// RunQueue or next slot will run that fiber itself before it ever sleeps, so a
// missed wake-up there only delays parallelism until the next push, which
// sees the sleeper. Paying an mfence on every spawn would cost ~10 ns for
// nothing. Work that nobody else would run (the Injector) always fences.
//
// Searching: a worker out of local work first "searches" (steals) before it
// sleeps. While one is searching, pushes need not wake anyone: the searcher
// will find the work, and when it does, if it was the last searcher, it wakes
// one more sleeper (Go's resetspinning/wakep). A worker may also take
// Injector work outside a search (woken for it, or seeing it in the re-check
// before it sleeps); then no end_search passes the wake on, so whoever pops
// from the Injector and leaves more behind calls notify_global itself
// (Worker::pop_injector). Rejected alternative: waking a sleeper on every
// push; under fork-join load it turns every spawn into a futex syscall.
//
// The poller: of the sleeping workers, one (whoever takes the Poller first)
// blocks in epoll_wait instead of its futex, so readiness ends its sleep; the
// others sleep on their futexes. A waker prefers a futex sleeper and rings
// the poller's eventfd only when the poller sleeper is the last one left.
// Whether a sleeper polls is decided and read under mu_, together with its
// word, so a ring is never aimed at a worker that is not polling yet.
#include "weft/core/private/idle_workers.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <utility>
#include <vector>

#include "weft/core/internal/clock.h"
#include "weft/core/private/poller.h"

namespace weft::internal {
namespace {

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t deadline_ns) {
  timespec ts;
  timespec* tsp = nullptr;
  if (deadline_ns >= 0) {
    ts.tv_sec = deadline_ns / 1000000000;
    ts.tv_nsec = deadline_ns % 1000000000;
    tsp = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_BITSET_PRIVATE, expected, tsp,
          nullptr, FUTEX_BITSET_MATCH_ANY);
}

void futex_wake(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

// Every IdleWorkers alive, for wake_all_everywhere (the manual clock, a
// test hook). Its lock is taken before an IdleWorkers' mu_, never after.
struct IdleWorkersRegistry {
  std::mutex mu;
  std::vector<IdleWorkers*> all;

  static IdleWorkersRegistry& get() {
    static auto* registry = new IdleWorkersRegistry;  // leaked: no exit-time order
    return *registry;
  }
};

IdleWorkers::IdleWorkers(int workers, Poller* poller)
    : workers_(workers), poller_(poller), slots_(new Slot[workers]) {
  sleepers_.reserve(workers);
  IdleWorkersRegistry& r = IdleWorkersRegistry::get();
  std::lock_guard<std::mutex> lock(r.mu);
  r.all.push_back(this);
}

IdleWorkers::~IdleWorkers() {
  IdleWorkersRegistry& r = IdleWorkersRegistry::get();
  std::lock_guard<std::mutex> lock(r.mu);
  r.all.erase(std::find(r.all.begin(), r.all.end(), this));
}

void IdleWorkers::wake_all_everywhere() {
  IdleWorkersRegistry& r = IdleWorkersRegistry::get();
  std::lock_guard<std::mutex> lock(r.mu);
  for (IdleWorkers* idle : r.all) idle->wake_all();
}

bool IdleWorkers::begin_search() {
  uint32_t awake = static_cast<uint32_t>(workers_) - sleeping_.load(std::memory_order_relaxed);
  // Relaxed: a heuristic cap; correctness never depends on how many search.
  if (2 * searching_.load(std::memory_order_relaxed) >= awake) return false;
  // Seq-cst: notify_global reads searching_ after its fence (Dekker pair).
  searching_.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

void IdleWorkers::end_search(bool found) {
  // Seq-cst: pairs with the fence in notify_global (see the header essay).
  uint32_t before = searching_.fetch_sub(1, std::memory_order_seq_cst);
  if (found && before == 1 && sleeping_.load(std::memory_order_relaxed) != 0) wake_one();
}

void IdleWorkers::notify_global() {
  // Seq-cst fence: orders the caller's push before the reads below; pairs
  // with the fence in the sleeper's re-check (after prepare_sleep).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_relaxed) != 0 &&
      searching_.load(std::memory_order_relaxed) == 0) {
    wake_one();
  }
}

void IdleWorkers::wake_one() {
  int w;
  bool polling;
  {
    LockGuard lock(mu_);
    if (sleepers_.empty()) return;
    // The warmest sleeper that is not polling: the poller sleeper keeps
    // watching I/O unless it is the only one left.
    auto it = sleepers_.end() - 1;
    while (it != sleepers_.begin() && slots_[*it].polling) --it;
    if (slots_[*it].polling) it = sleepers_.end() - 1;
    w = *it;
    sleepers_.erase(it);
    sleeping_.fetch_sub(1, std::memory_order_relaxed);  // under mu_, read as a hint
    polling = slots_[w].polling;
    // Release: the woken worker's acquire load in sleep() sees our caller's
    // push. Under mu_, so sleep() decides to poll or not under the same lock
    // and a ring is never sent to a worker that has not started polling.
    slots_[w].word.store(0, std::memory_order_release);
  }
  wake_slot(w, polling);
}

void IdleWorkers::wake_all() {
  std::vector<std::pair<int, bool>> all;
  {
    LockGuard lock(mu_);
    for (int w : sleepers_) {
      all.emplace_back(w, slots_[w].polling);
      slots_[w].word.store(0, std::memory_order_release);
    }
    sleepers_.clear();
    sleeping_.store(0, std::memory_order_relaxed);
  }
  for (auto [w, polling] : all) wake_slot(w, polling);
}

void IdleWorkers::wake_slot(int w, bool polling) {
  if (polling) {
    poller_->ring();
  } else {
    futex_wake(&slots_[w].word);
  }
}

void IdleWorkers::prepare_sleep(int w) {
  {
    LockGuard lock(mu_);
    slots_[w].word.store(1, std::memory_order_relaxed);  // read by us, under mu_ by wakers
    sleepers_.push_back(w);
    // Seq-cst: our half of the Dekker pair with notify_global.
    sleeping_.fetch_add(1, std::memory_order_seq_cst);
  }
  // The caller re-checks the queues after this fence.
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void IdleWorkers::cancel_sleep(int w) {
  LockGuard lock(mu_);
  auto it = std::find(sleepers_.begin(), sleepers_.end(), w);
  if (it != sleepers_.end()) {
    sleepers_.erase(it);
    sleeping_.fetch_sub(1, std::memory_order_relaxed);
  }
  // If a waker already removed us it also cleared the word; either way we are
  // awake now and will look for work, which covers whatever it wanted done.
  slots_[w].word.store(0, std::memory_order_relaxed);
}

void IdleWorkers::sleep(int w, int64_t deadline_ns) {
  // Under a manual clock (a test) the deadline is in its time, not the
  // kernel's: sleep until woken; ManualClock::advance wakes us (after
  // storing the new time, through mu_, which our re-check came after or our
  // registration comes before).
  if (__builtin_expect(manual_clock_installed(), 0)) deadline_ns = -1;
  if (poller_ != nullptr && poller_->in_use() && poller_->try_acquire()) {
    bool sleep;
    {
      LockGuard lock(mu_);
      sleep = slots_[w].word.load(std::memory_order_acquire) == 1;
      slots_[w].polling = sleep;
    }
    if (sleep) {
      poller_->poll(deadline_ns);
      LockGuard lock(mu_);
      slots_[w].polling = false;
    }
    poller_->release();
    cancel_sleep(w);
    return;
  }
  // Acquire: pairs with the release store in wake_one().
  while (slots_[w].word.load(std::memory_order_acquire) == 1) {
    if (deadline_ns >= 0 && monotonic_ns() >= deadline_ns) break;
    futex_wait(&slots_[w].word, 1, deadline_ns);
  }
  cancel_sleep(w);
}

}  // namespace weft::internal
