// RuntimeCore: the shared state of one weft runtime (workers, injector,
// idle workers, stack pool) and the fiber operations the public API is built on.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "weft/core/internal/fiber_control.h"
#include "weft/core/internal/stack_pool.h"
#include "weft/core/private/idle_workers.h"
#include "weft/core/private/injector.h"
#include "weft/core/private/monitor.h"
#include "weft/core/private/poller.h"

namespace weft::internal {

class Worker;

struct CoreOptions {
  int workers;
  std::size_t stack_size;
  std::size_t run_queue_capacity;
  std::size_t stack_reserve;  // RuntimeOptions::stack_reserve
  MonitorOptions monitor;
};

class RuntimeCore {
 public:
  explicit RuntimeCore(const CoreOptions& options);
  ~RuntimeCore();  // shuts down if shutdown() was not called

  // Allocates a stack slot for a new fiber whose closure needs `task_bytes`
  // aligned to `task_align`; returns the control block with `task` pointing at
  // the closure's storage. Throws UsageError if the runtime is stopping (from
  // outside it) or the closure does not fit the stack.
  FiberControl* allocate(std::size_t task_bytes, std::size_t task_align);
  // Undoes allocate() when constructing the closure threw.
  void abandon(FiberControl* f);
  // Makes a fully built fiber runnable.
  void start(FiberControl* f);

  // Drops a Fiber<T> handle's reference; frees the slot if the fiber is done.
  static void release_handle(FiberControl* f);
  // Frees a finished fiber's slot (refs reached zero). Any thread.
  void release_slot(FiberControl* f);

  // Makes a parked fiber runnable again, from any thread.
  void wake(FiberControl* f);
  // wake's body, defined (always inline) in runtime_core.cc and callable
  // there only: fiber_api.h's wake uses it.
  void wake_inline(FiberControl* f);
  // Wakes f if it is still parked with `token` (see FiberControl::epoch):
  // try_claim, then wake.
  bool try_wake(FiberControl* f, uint64_t token);
  // The first half of try_wake: ends f's wait if it is still parked with
  // `token`, so no other waker (timer, kill, notify) can; f is not runnable
  // until the caller passes it to wake(). In between the caller may write to
  // records on f's stack (a channel hands over a value) that f reads, without
  // a lock, once it runs.
  bool try_claim(FiberControl* f, uint64_t token);
  // try_claim for an "exclusive" wait: one that no timer can end (no
  // deadline) and whose only waker is whoever holds the lock the waiter is
  // queued under (a channel send or recv, not a select). Then the only other
  // party that can end the wait is a kill, and the claim needs no CAS while
  // the fiber has not been killed: see the essay in runtime_core.cc.
  bool try_claim_exclusive(FiberControl* f, uint64_t token);
  // Sets f's kill flag and interrupts its wait if the wait is interruptible.
  void request_kill(FiberControl* f);
  // Ends f's wait `token` for a kill, unless a claimer took it without a CAS
  // (see try_claim_exclusive). Call after setting the kill flag and a heavy
  // fence (asymmetric_fence.h).
  void interrupt_wait(FiberControl* f, uint64_t token);

  // Stops the runtime: kills every fiber still alive, waits for them to unwind,
  // stops the workers. Idempotent. Must not be called from one of its fibers.
  void shutdown();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  bool exiting() const { return exit_.load(std::memory_order_acquire); }

  // Fibers spawned and not yet finished (exact once the runtime is quiet).
  uint64_t live_fibers() const;

  int worker_count() const { return static_cast<int>(workers_.size()); }
  Worker* worker(int i) const { return workers_[i].get(); }
  Injector& injector() { return injector_; }
  IdleWorkers& idle_workers() { return idle_workers_; }
  Poller& poller() { return poller_; }
  StackPool& stack_pool() { return pool_; }
  std::size_t stack_size() const { return pool_.stack_size(); }

  // Called by an idle worker before it sleeps: trims its stack cache and,
  // once the pool has been quiet for kReleaseGraceNs, gives the memory of
  // one batch of surplus pooled stacks back, or when there is no surplus,
  // trims one batch of the reserve to its top pages (see "Giving memory
  // back" in stack_pool.cc). Returns how many it released or trimmed;
  // non-zero means "look for work, then come back for the next batch".
  // Otherwise sets `*due_ns` to when a release will be due (or -1): the
  // worker wakes then.
  std::size_t release_idle_stacks(StackCache& cache, int64_t* due_ns);
  // Fibers woken from outside the runtime's workers (plain threads, the
  // offload pool, another runtime's fibers): Runtime::stats.
  uint64_t external_wakeups() const { return external_wakeups_.load(std::memory_order_relaxed); }
  // Fibers spawned from outside the workers (counted per worker otherwise).
  uint64_t external_spawns() const { return external_spawned_.load(std::memory_order_acquire); }

  // Reserves fiber ids in blocks so workers do not share a counter line.
  uint64_t reserve_ids(uint64_t n) { return next_id_.fetch_add(n, std::memory_order_relaxed); }

  // A worker left its sleep (Monitor::note_worker_awake).
  void note_worker_awake() {
    if (monitor_ != nullptr) monitor_->note_worker_awake();
  }

  // The runtime whose worker runs the calling thread, or null.
  static RuntimeCore* current();

 private:
  void kill_all_live();
  // request_kill's second half, after the flag and the heavy fence.
  void interrupt_if_parked(FiberControl* f);
  // wake() from a thread that is not one of our workers.
  __attribute__((noinline, cold)) void wake_external(FiberControl* f);

  StackPool pool_;
  Injector injector_;
  Poller poller_;  // before idle_workers_, which points at it
  IdleWorkers idle_workers_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<Monitor> monitor_;   // null when no option needs it
  std::atomic<bool> stopping_{false};  // no more spawns from outside
  std::atomic<bool> exit_{false};      // workers leave their loops
  std::atomic<bool> shut_down_{false};
  std::atomic<bool> joined_{false};  // the shutting-down thread joined the workers
  std::atomic<uint64_t> next_id_{1};
  // Spawns made from outside any worker; finishes are counted per worker.
  std::atomic<uint64_t> external_spawned_{0};
  // Outside threads still inside this runtime's code: spawns between
  // allocate() and the end of start(), and wake() from outside.
  std::atomic<uint64_t> external_busy_{0};
  const std::size_t stack_reserve_;
  // The pool's activity count last seen by an idle worker, and when the
  // surplus may go if it stays unchanged. Relaxed: a heuristic shared by
  // the idle workers; a lost update only moves a release by one grace.
  std::atomic<uint64_t> release_seen_activity_{0};
  std::atomic<int64_t> release_due_ns_{0};
  std::atomic<uint64_t> external_wakeups_{0};
};

// The entry point of every fiber (see Context::make); in core/fiber.cc.
[[noreturn]] void fiber_main(Handover*);

// The control block needs this much room at the top of each stack.
inline constexpr std::size_t kControlBytes = (sizeof(FiberControl) + 63) / 64 * 64;

}  // namespace weft::internal
