// weft::Pool: a Semaphore of slots and a WaitGroup of running fibers, shared
// with the fibers through a reference-counted State so that a Pool may be
// destroyed while its fibers still run.
//
// A fiber waits for a slot in the Semaphore and for join in the WaitGroup,
// both parking only the fiber. A plain thread cannot park in them (their
// waits are fiber-only), so it sleeps on a condition variable instead, and
// every slot given back wakes such threads if there are any. The check is a
// Dekker pair of seq_cst fences: the thread counts itself in thread_waiters_
// and then re-reads the semaphore / group; the releaser updates them and then
// reads thread_waiters_. One of the two sees the other, and the thread holds
// thread_mu_ from its re-check to its wait, so the releaser's notify (taken
// under thread_mu_) cannot fall in between. Rejected: spinning threads with
// a sleep (latency and CPU) and taking thread_mu_ on every release (a
// std::mutex per pooled fiber on the fibers' hot path, for a rare case).
#include "weft/sync/pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "weft/core/errors.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/this_fiber.h"

namespace weft {

class Pool::State {
 public:
  explicit State(int size) : slots_(size) {}

  // Takes a slot, parking the fiber or blocking the thread while none is free.
  void acquire() {
    if (in_fiber()) {
      slots_.acquire();
    } else if (!slots_.try_acquire()) {
      std::unique_lock<std::mutex> lock(thread_mu_);
      ThreadWaiter counted(this);
      while (!slots_.try_acquire()) thread_cv_.wait(lock);
    }
    // Counted before the fiber exists, so a join() that follows spawn()
    // waits for it.
    group_.add(1);
  }

  // Gives a slot back (the pooled fiber has ended). Runs in the worker's
  // hand-over (internal::ExitHook): blocks nothing but, rarely, thread_mu_.
  void release() noexcept {
    slots_.release();  // free the slot first: after join(), free_count() == size()
    group_.done();
    // Seq-cst fence: the releaser's half of the Dekker pair (see the essay);
    // pairs with the fence in ThreadWaiter.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Relaxed: ordered by the fence above.
    if (thread_waiters_.load(std::memory_order_relaxed) != 0) {
      std::lock_guard<std::mutex> lock(thread_mu_);
      thread_cv_.notify_all();
    }
  }

  bool wait_idle(int64_t deadline_ns) {
    if (in_fiber()) {
      if (deadline_ns == INT64_MAX) {
        group_.wait();
        return true;
      }
      int64_t left = deadline_ns - internal::monotonic_now_ns();
      return group_.wait_for(absl::Nanoseconds(left > 0 ? left : 0));
    }
    std::unique_lock<std::mutex> lock(thread_mu_);
    ThreadWaiter counted(this);
    while (group_.count() != 0) {
      if (deadline_ns == INT64_MAX) {
        thread_cv_.wait(lock);
        continue;
      }
      int64_t left = deadline_ns - internal::monotonic_now_ns();
      if (left <= 0) return false;
      thread_cv_.wait_for(lock, std::chrono::nanoseconds(left));
    }
    return true;
  }

  int64_t available() const { return slots_.available(); }

 private:
  // Counts a plain thread in thread_waiters_ while it waits (thread_mu_ held).
  struct ThreadWaiter {
    explicit ThreadWaiter(State* s) : s(s) {
      // Relaxed RMW then a seq-cst fence: the thread's half of the Dekker
      // pair; pairs with the fence in release(). The re-checks that follow
      // (try_acquire, count) read after it.
      s->thread_waiters_.fetch_add(1, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    ~ThreadWaiter() {
      // Relaxed: an extra notify from a stale count is harmless.
      s->thread_waiters_.fetch_sub(1, std::memory_order_relaxed);
    }
    State* s;
  };

  Semaphore slots_;
  WaitGroup group_;
  // Plain threads waiting in acquire() or wait_idle(). Written by them
  // (under thread_mu_), read by release() on any thread without the lock.
  std::atomic<int> thread_waiters_{0};
  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
};

namespace {
int checked_size(int size) {
  if (size < 1) {
    throw UsageError("weft::Pool: the size must be >= 1, got " + std::to_string(size));
  }
  return size;
}
}  // namespace

Pool::Pool(int size)
    : size_(checked_size(size)), runtime_(nullptr), state_(std::make_shared<State>(size)) {}

Pool::Pool(Runtime& runtime, int size)
    : size_(checked_size(size)), runtime_(&runtime), state_(std::make_shared<State>(size)) {}

Pool::~Pool() = default;

void Pool::join() { state_->wait_idle(INT64_MAX); }

bool Pool::join_for(absl::Duration timeout) {
  return state_->wait_idle(internal::deadline_after(timeout));
}

bool Pool::join_until(absl::Time deadline) {
  return state_->wait_idle(internal::deadline_at(deadline));
}

int Pool::free_count() const {
  int64_t n = state_->available();
  return static_cast<int>(n < 0 ? 0 : (n > size_ ? size_ : n));
}

void* Pool::take_slot(const std::shared_ptr<State>& state) {
  auto ref = std::make_unique<std::shared_ptr<State>>(state);
  state->acquire();  // may throw (killed, timed out): then no slot is taken
  return ref.release();
}

void Pool::give_back_slot(void* slot) noexcept {
  std::unique_ptr<std::shared_ptr<State>> ref(static_cast<std::shared_ptr<State>*>(slot));
  (*ref)->release();
}

}  // namespace weft
