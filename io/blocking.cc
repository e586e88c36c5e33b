// The offload pool behind weft::blocking, and how a fiber waits for it.
//
// Waiting. run_offloaded() queues the OffloadJob (which lives on the fiber's
// stack) and parks the fiber with park_uninterruptible (fiber_api.h), whose
// publish callback, publish_offload, runs after the switch, on the worker's
// next context, and publishes the fiber by CAS of job->state from
// kOffloadPending to the FiberControl*. The offload thread, once fn has
// returned, exchanges the state to kOffloadDone:
//   * it finds the fiber pointer: the fiber is parked and only this thread
//     may wake it; it wakes it (internal::wake) and touches the job no
//     more;
//   * it finds kOffloadPending: the fiber has not finished switching out;
//     its Handover's CAS then fails, sees kOffloadDone and makes the fiber
//     runnable again at once (publish_offload returns true). The offload
//     thread never touches the job after its exchange.
// Either way exactly one side wakes the fiber, once, and the fiber runs again
// only after the offload thread's last touch of the job: the record may live
// on the fiber's stack, and fn may refer to the fiber's locals.
//
// The wait is uninterruptible: the fiber's epoch stays at its "running" value
// 4k for the whole wait (fiber_control.h: "parked in a wait nobody may
// interrupt"), so a kill (RuntimeCore::request_kill) only sets the kill flag, timers
// and stale tokens cannot match, and the sole wake-up is the pool's. The kill
// is honoured when the fiber resumes: run_offloaded throws FiberExit (and a
// weft::Timeout that expired meanwhile, TimeoutError), through the same
// throw_if_killed as every other suspension point.
//
// Rejected:
//   * park_current + try_wake, like join. Its waits are interruptible: a kill
//     resumes the fiber while fn still runs, and parking a killed fiber again
//     resumes it at once (on_parked re-checks the kill flag), so waiting fn
//     out would spin the worker for as long as fn runs.
//   * A heap-allocated record shared by the fiber and the pool, with a kill
//     returning at once: the fiber would unwind while fn still uses
//     references into its frame, and a shutdown could destroy the runtime
//     (channels, mutexes fn talks to) under fn's feet. It also costs an
//     allocation per call.
//   * A pool per runtime: RuntimeCore would have to own and join it. One
//     process-wide pool, shared by all runtimes, bounds the offload threads
//     of the whole process and needs nothing from core/.
//   * A thread per call: unbounded, and thread creation costs tens of µs.
//
// The pool. A FIFO of jobs under one mutex and a condition variable. A call
// starts a new thread when more jobs wait than threads are idle and the
// bound is not reached. A thread that waited kIdleTimeout for work exits.
// Threads are detached and the pool object is never destroyed, so process
// exit neither waits for a thread nor runs a destructor under one.
#include "weft/io/blocking.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <system_error>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "weft/core/internal/fiber_api.h"

namespace weft::internal {
namespace {

constexpr std::chrono::nanoseconds kDefaultIdleTimeout = std::chrono::seconds(10);

class OffloadPool {
 public:
  static OffloadPool& get() {
    // Never destroyed: detached threads may still wait on mu_/cv_ at exit.
    static OffloadPool* pool = new OffloadPool;
    return *pool;
  }

  // Queues `job`; a thread will run it. Throws std::system_error (with the
  // job not queued) if there is no thread and none can be started.
  void submit(OffloadJob* job) {
    bool start = false;
    {
      LockGuard lock(mu_);
      job->next = nullptr;
      (tail_ != nullptr ? tail_->next : head_) = job;
      tail_ = job;
      ++queued_;
      if (queued_ > idle_ && threads_ < max_threads_) {
        ++threads_;  // reserved; undone below if the thread cannot start
        start = true;
      }
      // Under the lock: an idle thread cannot time out between our check and
      // its wake-up without seeing the job.
      if (idle_ > 0) cv_.notify_one();
    }
    if (!start) return;
    try {
      std::thread([this] { thread_main(); }).detach();
    } catch (const std::system_error&) {
      LockGuard lock(mu_);
      --threads_;
      // Another thread will get to the job: leave it queued.
      if (threads_ > 0) return;
      // Nobody will: take ours back and let the caller see the failure.
      // Jobs of other calls that are still queued (their starts failed the
      // same way) wait for the next call, which tries to start a thread
      // again. If a thread took ours meanwhile and left, it has run.
      if (unlink(job)) throw;
    }
  }

  OffloadPoolStats stats() {
    LockGuard lock(mu_);
    return {threads_, idle_, max_threads_, calls_};
  }

  void set_idle_timeout(std::chrono::nanoseconds d) {
    LockGuard lock(mu_);
    idle_timeout_ = d;
  }

 private:
  OffloadPool()
      : max_threads_(std::max(4, static_cast<int>(std::thread::hardware_concurrency()))) {}

  bool unlink(OffloadJob* job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    OffloadJob* prev = nullptr;
    for (OffloadJob* j = head_; j != nullptr; prev = j, j = j->next) {
      if (j != job) continue;
      (prev != nullptr ? prev->next : head_) = j->next;
      if (tail_ == j) tail_ = prev;
      --queued_;
      return true;
    }
    return false;
  }

  void thread_main() {
    pthread_setname_np(pthread_self(), "weft-blocking");
    mu_.lock();
    for (;;) {
      if (head_ == nullptr) {
        ++idle_;
        auto deadline = std::chrono::steady_clock::now() + idle_timeout_;
        // wait_until unlocks mu_ while it sleeps and holds it again when it
        // returns, which the thread-safety analysis cannot see (nor needs to).
        while (head_ == nullptr && cv_.wait_until(mu_, deadline) != std::cv_status::timeout) {
        }
        --idle_;
        if (head_ == nullptr) {
          --threads_;
          mu_.unlock();
          return;
        }
      }
      OffloadJob* job = head_;
      head_ = job->next;
      if (head_ == nullptr) tail_ = nullptr;
      --queued_;
      ++calls_;
      mu_.unlock();
      job->run(job);
      complete(job);
      mu_.lock();
    }
  }

  static void complete(OffloadJob* job) {
    // acq_rel: release publishes fn's result (and error) to the fiber, which
    // reads them after its acquire load in run_offloaded, or after its
    // Handover's failed CAS (acquire); acquire pairs with the Handover's
    // release CAS, so the FiberControl we read is the one that parked.
    uintptr_t prev = job->state.exchange(kOffloadDone, std::memory_order_acq_rel);
    // `job` may be gone from here on (its fiber may already be running).
    if (prev == kOffloadPending) return;  // the fiber's Handover will wake it
    auto* f = reinterpret_cast<FiberControl*>(prev);
    // The fiber is parked and alive until we wake it, so is its runtime
    // (shutdown waits for every live fiber; wake() keeps it alive until done).
    wake(f);
  }

  Lock mu_;
  std::condition_variable_any cv_;                   // idle threads wait here for a job
  OffloadJob* head_ ABSL_GUARDED_BY(mu_) = nullptr;  // FIFO of jobs not yet taken
  OffloadJob* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  int queued_ ABSL_GUARDED_BY(mu_) = 0;   // jobs in the FIFO
  int threads_ ABSL_GUARDED_BY(mu_) = 0;  // alive, or reserved by a submit starting one
  int idle_ ABSL_GUARDED_BY(mu_) = 0;     // waiting for work in thread_main
  uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::nanoseconds idle_timeout_ ABSL_GUARDED_BY(mu_) = kDefaultIdleTimeout;
  const int max_threads_;
};

// The park's PublishFn: runs in the Handover, on the worker's next context,
// after the fiber has switched out. True: fn has returned already, run again
// at once (on this worker, next slot).
bool publish_offload(FiberControl* self, uint64_t /*token*/, void* arg) {
  auto* job = static_cast<OffloadJob*>(arg);
  uintptr_t expected = kOffloadPending;
  // Release: publishes the parked fiber to the offload thread (its acq_rel
  // exchange). Acquire on failure: fn's result is visible to the fiber.
  if (job->state.compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(self),
                                         std::memory_order_acq_rel, std::memory_order_acquire)) {
    return false;  // the offload thread wakes us; do not touch job from here on
  }
  return true;
}

}  // namespace

void run_offloaded(OffloadJob* job) {
  FiberControl* self = require_fiber("weft::blocking");
  throw_if_killed(self);
  OffloadPool::get().submit(job);
  park_uninterruptible(&publish_offload, job, {WaitKind::kOffload, 0});
  // Acquire: pairs with the offload thread's exchange; fn's result and
  // error are ours. Always kOffloadDone here: nothing else wakes this wait.
  if (job->state.load(std::memory_order_acquire) != kOffloadDone) __builtin_trap();
  throw_if_killed(self);
}

OffloadPoolStats offload_pool_stats() { return OffloadPool::get().stats(); }

void set_offload_idle_timeout(absl::Duration d) {
  OffloadPool::get().set_idle_timeout(absl::ToChronoNanoseconds(d));
}

}  // namespace weft::internal
