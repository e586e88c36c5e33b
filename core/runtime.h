// weft::Runtime — a pool of worker threads running fibers — and weft::run.
//
// Most programs need only weft::run, which starts a runtime with one worker
// per core, runs a function as the first fiber, and shuts down:
//
//   int main() {
//     return weft::run([] {
//       auto f = weft::spawn([] { weft::sleep_for(absl::Milliseconds(10)); return 1; });
//       std::printf("%d\n", f.get());
//     });
//   }
//
// A Runtime object gives control over the options and lifetime:
//
//   weft::Runtime rt({.workers = 4, .stack_size = 128 * 1024});
//   auto f = rt.spawn(serve, port);   // from any thread
//   f.join();                         // blocks this (non-fiber) thread
//   // ~Runtime: kills the fibers still alive (they unwind, RAII runs), joins workers
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/core/blocking_report.h"
#include "weft/core/fiber.h"
#include "weft/core/spawn.h"

namespace weft {

struct RuntimeOptions {
  // Worker threads; 0 means one per core (std::thread::hardware_concurrency).
  int workers = 0;
  // Usable bytes of each fiber's stack, rounded up to 4 KiB; a guard page
  // below it catches overflows. The default, 64 KiB (256 KiB under
  // AddressSanitizer, whose frames are larger), is virtual memory: an idle
  // fiber costs one touched 4 KiB page of it. Must be 16 KiB .. 1 GiB.
  std::size_t stack_size = 0;
  // Capacity of each worker's run queue (a power of two, 2 .. 1 << 20). When
  // it is full, half of it moves to the shared injection queue (one lock per
  // 128 fibers on the way back), so it should hold a typical burst of spawns: at
  // 256, batches of 1000 spawns cost 89 ns per spawn+join instead of 48.
  // 32 KiB per worker. Tests shrink it to exercise the overflow path.
  std::size_t run_queue_capacity = 4096;
  // Blocked-worker hand-off (Go's sysmon). A fiber that stays inside one
  // call this long without a suspension point (a regular-file read, a
  // blocking call weft::hook cannot park, a library's own busy loop) no
  // longer holds the fibers queued behind it on its worker: a monitor
  // thread gives them to the other workers, and the worker rejoins when the
  // call returns (WorkerStats::handoffs counts it). 1 ms by default, which
  // no well-behaved fiber's turn comes near, and short enough that one
  // slow call does not show in its neighbours' latency. Zero turns it off
  // (the fibers then wait for the call). With one worker there is nobody
  // to hand over to, and no monitor thread for it. The monitor sleeps while
  // every worker does: an idle runtime costs no CPU.
  absl::Duration handoff_threshold = absl::Milliseconds(1);
  // Blocking detector (gevent's monitor thread), off by default: it sends
  // the blocked worker's thread a signal (SIGURG, see on_blocking) to take
  // its stack. When on, a fiber that keeps its worker longer than
  // blocking_threshold without a suspension point is reported once per
  // episode: its id and name, the worker, how long so far, and the stack it
  // is running right now.
  bool detect_blocking = false;
  absl::Duration blocking_threshold = absl::Milliseconds(100);
  // Receives each report, on the monitor thread (so it must not wait on
  // fibers of this runtime); null prints BlockingReport::to_string to
  // stderr. The stack is taken by a SIGURG handler that weft installs while
  // a runtime with the detector runs and restores afterwards; a SIGURG not
  // sent by weft goes to the handler installed before. A system call the
  // signal interrupts is restarted (SA_RESTART) unless the kernel never
  // restarts it (nanosleep, poll, select, epoll_wait return EINTR): once
  // per reported episode.
  std::function<void(const BlockingReport&)> on_blocking = nullptr;
  // Free stacks kept resident for the next burst of spawns. When a burst
  // ends (a million sleepers woke and finished, ten thousand connections
  // closed) and no stack has been taken from or given to the pool for
  // 200 ms, a worker with nothing to do gives the memory of the pooled
  // stacks beyond these back to the kernel (MADV_DONTNEED), a batch at a time
  // between looks for work, so the process's RSS returns to about where it
  // was. A released stack's next spawn takes one page fault, as a fresh one
  // does. The reserve's own stacks then keep only their top page (control
  // block and first frames; the deeper pages their last fibers touched go
  // back too), so the reserve costs 4 KiB a stack: ~4 MiB for the default
  // 1024. On top of it each worker keeps the 64 stacks it used last in its
  // own cache, whole while it spawns, cut to their top page too once it has
  // spawned and ended no fiber for 200 ms (0.25 MiB a worker). Example:
  //   weft::Runtime rt({.stack_reserve = 10000});  // keep more for bursts
  // Runtime::stats().stacks_released and stacks_trimmed count what is
  // given back.
  std::size_t stack_reserve = 1024;
  // SIGQUIT (Ctrl-\) writes Runtime::dump() to stderr and the process goes
  // on (instead of dying with a core). The handler only wakes a dumper
  // thread; the previous disposition comes back when the last runtime that
  // asked for it is destroyed. Off by default: SIGQUIT is the process's.
  bool dump_on_sigquit = false;

  // OK, or InvalidArgument saying which field is wrong and why.
  absl::Status validate() const;
};

// The default stack size (see RuntimeOptions::stack_size).
std::size_t default_stack_size();

// Scheduling delay: how long fibers waited between becoming runnable (woken
// or spawned) and running. Sampled: one wake or spawn in 256 per worker is
// time-stamped (a clock read costs ~40 ns here, more than a wake), so
// counts are samples, not events, and max_ns is the largest sample.
// Yields are not sampled (a yielding fiber was running). Log2 buckets, so
// a percentile is exact to within a factor of two.
struct DelayHistogram {
  static constexpr int kBuckets = 40;
  // counts[b]: samples in [2^b, 2^(b+1)) ns; counts[0] also holds 0 and 1.
  std::array<uint64_t, kBuckets> counts{};
  uint64_t max_ns = 0;

  uint64_t samples() const;
  // The upper edge of the bucket that holds the q-quantile (0 < q <= 1),
  // at most max_ns; 0 without samples.
  uint64_t percentile_ns(double q) const;
  uint64_t p50_ns() const { return percentile_ns(0.5); }
  uint64_t p99_ns() const { return percentile_ns(0.99); }
  void merge(const DelayHistogram& other);
};

// Counters of one worker since the runtime started.
struct WorkerStats {
  uint64_t fibers_spawned = 0;   // created by fibers on this worker
  uint64_t fibers_finished = 0;  // ended on this worker
  uint64_t switches = 0;         // context switches into a fiber
  uint64_t steals = 0;           // fibers stolen from other workers
  uint64_t parks = 0;            // times the worker thread went to sleep
  uint64_t timers_fired = 0;
  uint64_t injector_pops = 0;  // fibers taken from the shared injection queue
  // Timer entries held now (not a count since start): one per fiber parked
  // here with a deadline (sleep_for, a timed wait, a read with a deadline,
  // a wait under weft::Timeout). A wait that ends early removes its entry
  // when its fiber resumes here; one that resumes on another worker leaves
  // it to be swept, and the worker sweeps before an add that finds such
  // entries outnumbering the live ones (with 64 entries or more). So this
  // stays at the number of timed waiters (at most twice it, plus 64, with
  // several workers), whatever the request rate and timeout.
  uint64_t timers = 0;
  // Times fibers queued behind a blocked fiber on this worker
  // (RuntimeOptions::handoff_threshold) were given to others; one long
  // call may count several, when it woke more before blocking.
  uint64_t handoffs = 0;
  // Why fibers became runnable here: the poller reported their fd ready
  // (a poll by this worker), their timer fired (sleep, a deadline), or a
  // fiber running here woke them (a notify, an unlock, a channel hand-off,
  // a join's end, a kill). Wakes from outside the workers are
  // RuntimeStats::external_wakeups.
  uint64_t io_wakeups = 0;
  uint64_t timer_wakeups = 0;
  uint64_t fiber_wakeups = 0;
  uint64_t poller_wakeups = 0;  // polls by this worker that woke at least one fiber
  // Wall time since the worker started, split: idle_ns asleep (no work
  // anywhere, in IdleWorkers' futex or epoll_wait), busy_ns the rest
  // (running fibers, scheduling, looking for work to steal). They add up to
  // the wall time exactly.
  int64_t busy_ns = 0;
  int64_t idle_ns = 0;
  DelayHistogram scheduling_delay;
};

struct RuntimeStats {
  std::vector<WorkerStats> workers;
  uint64_t live_fibers = 0;       // spawned and not finished
  uint64_t timers = 0;            // timer entries held now, all workers (WorkerStats::timers)
  std::size_t stacks_carved = 0;  // stack slots ever created (pooled for reuse)
  // Of those, carved ahead by an idle worker for a burst of spawns on
  // another (so the spawner did not pay their first page touch).
  std::size_t stacks_precarved = 0;
  std::size_t stacks_released = 0;  // pooled stacks whose memory was given back (not reused since)
  std::size_t stacks_trimmed = 0;   // reserve stacks cut to their top page (not reused since)
  std::size_t stack_size = 0;
  uint64_t external_wakeups = 0;  // fibers woken from plain threads (the offload pool...)
  // Fibers spawned from plain threads (Runtime::spawn, weft::run), which no
  // worker counts: the sum of fibers_spawned plus this is finished plus live.
  uint64_t external_spawns = 0;
  DelayHistogram scheduling_delay;  // every worker's, merged
};

// What Runtime::dump lists after its summary.
struct DumpOptions {
  std::size_t max_fibers = 100;  // fibers listed one by one (0: the summary alone)
  bool stacks = true;            // each listed fiber's stack, symbolized
  int max_frames = 32;
};

namespace internal {
class RuntimeCore;
struct RuntimeAccess;
}  // namespace internal

class Runtime {
 public:
  // Starts the worker threads. Throws UsageError (with validate()'s message)
  // for invalid options; see create() for a Status instead.
  explicit Runtime(RuntimeOptions options = {});
  // Shuts down (see shutdown()). Throws UsageError if called from one of this
  // runtime's own fibers, which would deadlock.
  ~Runtime() noexcept(false);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Like the constructor, reporting invalid options as InvalidArgument.
  static absl::StatusOr<std::unique_ptr<Runtime>> create(RuntimeOptions options = {});

  // Starts `f(args...)` as a fiber on this runtime; callable from any thread,
  // inside or outside the runtime. Blocks nothing. Once shutdown() has
  // begun:
  //   * from outside the runtime (a plain thread, another runtime's fiber)
  //     it throws UsageError and starts nothing;
  //   * from one of this runtime's own fibers (they are all being unwound,
  //     and a destructor may hand work to a new fiber) it succeeds, but the
  //     new fiber starts already killed: it runs its body until its first
  //     suspension point, where it throws FiberExit, so work that need not
  //     wait gets done and nothing holds shutdown up.
  template <typename F, typename... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
        Fiber<internal::SpawnResult<F, Args...>> spawn(F&& f, Args&&... args) {
      return internal::spawn_on(core_.get(), std::forward<F>(f), std::forward<Args>(args)...);
    }

  // Stops the runtime: every fiber still alive is killed (it unwinds from its
  // suspension point with weft::FiberExit, running its destructors), then the
  // workers exit. Blocks the calling thread until then. Idempotent. A fiber
  // that never reaches a suspension point delays shutdown until it does.
  void shutdown();

  int workers() const;
  std::size_t stack_size() const;
  // A snapshot of every worker's counters; any thread, blocks nothing.
  RuntimeStats stats() const;

  // Writes every live fiber to `out`, like Go's SIGQUIT goroutine dump:
  // first a summary (fibers counted by state and wait site, largest groups
  // first), then up to options.max_fibers fibers, each with its id, name,
  // state (running on worker N, runnable, waiting), what it waits on (sleep
  // until T, join of fiber N, Mutex/CondVar/Semaphore/WaitGroup/Event or a
  // Channel send/recv at an address, fd F readable/writable, an offloaded
  // call), for how long, and its stack, symbolized:
  //
  //   weft dump: 5 live fibers on 2 workers
  //             2  waiting on Channel recv 0x7ffd841f0870
  //             1  waiting on sleep
  //   ...
  //   fiber 2: waiting on Channel recv 0x7ffd841f0870, for 10.905 ms
  //       #0  0x563bb565c427 weft::internal::park_current()
  //       #1  0x563bb5616f9d weft::Channel<>::recv_until_ns()
  //       #2  0x563bb56174d3 weft::(anonymous namespace)::WaitOnChannel()
  //   ...
  //
  //   (tests/core/dump_test.cc, profile build; README's "Profiling" shows more.)
  //
  // Any thread, and a fiber (which lists itself as running); stops nothing
  // and blocks nothing but the caller, which pays a scan of every stack
  // slot ever carved (twice: the summary, then the listing). The fibers move on
  // meanwhile, so it is a sketch, not an atomic snapshot: one that changes
  // state during the dump shows either state. Full stacks need frame
  // pointers: build with the `profile` preset (or -fno-omit-frame-pointer);
  // in a release build a stack shows where the fiber parked and stops
  // there. "For how long" comes from its worker's coarse clock: exact to
  // within the parking fiber's last turn plus a few hundred switches.
  void dump(std::ostream& out, DumpOptions options = {}) const;

 private:
  friend struct internal::RuntimeAccess;
  std::unique_ptr<internal::RuntimeCore> core_;
};

namespace internal {
// The core behind a Runtime, for weft's own libraries (sync/Pool).
struct RuntimeAccess {
  static RuntimeCore* core(Runtime& rt) { return rt.core_.get(); }
};
}  // namespace internal

// Runs `f` as the first fiber of a new default Runtime, blocks the calling
// thread until it finishes, shuts the runtime down and returns f's result
// (0 if f returns void, so `return weft::run(...)` works in main). Rethrows
// what f threw, after shutdown.
template <typename F>
auto run(RuntimeOptions options, F&& f) {
  Runtime rt(options);
  auto fiber = rt.spawn(std::forward<F>(f));
  if constexpr (std::is_void_v<internal::SpawnResult<F>>) {
    fiber.get();
    return 0;
  } else {
    return fiber.get();
  }
}
template <typename F>
auto run(F&& f) {
  return run(RuntimeOptions{}, std::forward<F>(f));
}

}  // namespace weft
