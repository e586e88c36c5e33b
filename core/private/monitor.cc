// The monitor thread: blocked-worker hand-off (Go's sysmon) and the
// blocking detector (gevent's monitor thread).
//
// A worker cannot notice that it is stuck: the fiber it runs is inside a
// long call (a regular-file read, a raw syscall, a library's busy loop),
// and the fibers queued behind it on that worker wait. So one thread per
// runtime looks at every worker now and then, from outside.
//
// Progress stamps. A worker's stamp is its switch counter (bumped with a
// release store on every switch into a fiber, which the stats needed
// anyway: no new write on the switch path) plus a counter of yields that
// found nothing else to run (a suspension point without a switch). Beside
// it, in_sched_ says whether the thread runs scheduler code (1) or fiber
// code (0). A worker seen in fiber code with the same stamp at two looks
// has run one fiber, without a suspension point, for at least the time in
// between. The monitor keeps, per worker, the stamp and when it first saw
// it (Episode); timing by the monitor's clock, so the worker reads no
// clock on its switch path (rdtsc or the vDSO would cost more than the
// switch's other bookkeeping).
//
// Ticks. While some worker has run one fiber since the monitor's last look
// and an action on it is still due, the monitor sleeps until that action
// is due, at least a quarter of the smallest threshold (250 us for the 1 ms
// hand-off) and at most the threshold; while every worker moves on between
// looks, it doubles the interval up to the threshold itself. So it acts
// between 1x and about 2.25x the threshold after an episode starts. A
// fixed quarter-threshold tick cost too much on these VMs: skynet on 2
// workers woke the monitor ~2,500 times a second, for about 6% of the
// process's CPU (a futex sleep and wake-up cost ~16 us here). When every
// worker sleeps (IdleWorkers counts them all), no fiber runs and nothing
// can block: the monitor parks on a futex and costs an idle runtime
// nothing. A worker leaving its sleep calls note_worker_awake: Dekker
// between the monitor (parked_ = 1; fence; read sleeping()) and the worker
// (no longer counted asleep; fence; read parked_), so either the monitor
// sees it awake and does not park, or the worker sees it parked and wakes
// it.
//
// Hand-off. After handoff_threshold (1 ms by default) in one episode, the
// monitor moves what only that worker could run — its next slot, its
// yield FIFO, spawners waiting for their batch to start — to the Injector
// and wakes every sleeping worker, which also steal its RunQueue (the
// deque is stealable anyway; what it lacked is someone awake to steal:
// its owner's pushes wake sleepers only as a hint, since the owner was
// expected to run them itself). Those private fields are owner-only
// without locks, so the monitor takes them only while the owner runs fiber
// code, and the owner stays out of them meanwhile: a Dekker pair with an
// asymmetric fence (asymmetric_fence.h), the owner's half on every
// scheduler entry:
//   owner:   in_sched_ = 1; light fence; if (monitor_holds_) wait; ...queues...; in_sched_ = 0
//   monitor: monitor_holds_ = 1; heavy fence (membarrier); if (in_sched_ == 0 &&
//            stamp unchanged) take the fields; monitor_holds_ = 0
// Either the monitor sees the owner in a section and backs off, or the
// owner sees the hold and waits (a few hundred instructions). A fiber is
// removed from the worker before it reaches the Injector, so it still runs
// on at most one worker; the RunQueue keeps its owner/thief rules (the
// monitor never pushes or pops it). The worker rejoins by itself: when the
// call returns, the fiber goes on, and the next pick finds whatever is left.
// The fiber may go on filling the private slots after a hand-off (it sets
// an Event, waking a hundred fibers one at a time into its next slot, and
// only then makes the blocking call), so the monitor tries again in the
// same episode: a quarter threshold later if it found the worker in a
// section, else after as long again as the episode has lasted, up to 16
// thresholds (1, 2, 4, 8, 16, 32, 48 ms...): a membarrier each, only while
// one fiber holds its worker that long. WorkerStats::handoffs counts the
// attempts that moved work. Not handed over: the blocked worker's timer
// heap (owner-only too, and its adds and removes run outside scheduler
// sections), so a fiber that parked there with a deadline wakes only when
// the worker returns.
//
// Blocking detector. After blocking_threshold (opt-in, 100 ms by default)
// in one episode, the monitor signals the worker thread for its stack
// (stack_sample.cc), symbolizes it here, and passes a BlockingReport to
// the callback, on this thread, once per episode.
//
// Rejected: a signal for the hand-off (the handler could run inside
// scheduler code, and the blocked call would return EINTR: a raw nanosleep
// would end early); a CAS on the next slot by its owner, as Go's runnext
// (a locked instruction per wake, more than the switch costs here); a
// timestamp written per switch; Go's hand-off at syscall entry (every
// blocking call would have to be marked, and unhooked calls escape it).
#include "weft/core/private/monitor.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/debugging/symbolize.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "weft/core/internal/clock.h"
#include "weft/core/private/runtime_core.h"
#include "weft/core/private/stack_sample.h"
#include "weft/core/private/worker.h"

namespace weft::internal {
namespace {

// How long the monitor waits for a worker to answer the stack signal. A
// thread in a system call answers at once; under ThreadSanitizer, which
// delivers signals at its next interceptor, it may take longer.
constexpr int64_t kSampleTimeoutNs = 200 * 1000 * 1000;

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t rel_ns) {
  timespec ts;
  timespec* tsp = nullptr;
  if (rel_ns >= 0) {
    ts.tv_sec = rel_ns / 1000000000;
    ts.tv_nsec = rel_ns % 1000000000;
    tsp = &ts;
  }
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, tsp, nullptr,
          0);
}

void futex_wake_all(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
}

int64_t smallest_threshold(const MonitorOptions& o) {
  int64_t smallest = INT64_MAX;
  if (o.handoff_ns > 0) smallest = o.handoff_ns;
  if (o.blocking_ns > 0) smallest = std::min(smallest, o.blocking_ns);
  return std::max<int64_t>(smallest, 40 * 1000);  // at most 100k looks a second
}

std::optional<std::string> symbolize(void* pc) {
  char name[512];
  if (absl::Symbolize(pc, name, sizeof(name))) return absl::StrFormat("%p %s", pc, name);
  return std::nullopt;
}

}  // namespace

Monitor::Monitor(RuntimeCore* rt, MonitorOptions options)
    : rt_(rt),
      options_(std::move(options)),
      max_tick_ns_(smallest_threshold(options_)),
      min_tick_ns_(max_tick_ns_ / 4) {}

Monitor::~Monitor() { stop(); }

void Monitor::start() {
  if (started_) return;
  started_ = true;
  if (options_.blocking_ns > 0) acquire_sample_signal();
  thread_ = std::thread([this] { run(); });
}

void Monitor::stop() {
  if (!started_ || !thread_.joinable()) return;
  // Release: the monitor's acquire loads see it; the futex wakes end its
  // tick or its park at once.
  stop_.store(1, std::memory_order_release);
  futex_wake_all(&stop_);
  parked_.store(0, std::memory_order_release);
  futex_wake_all(&parked_);
  thread_.join();
  if (options_.blocking_ns > 0) release_sample_signal();
}

bool Monitor::all_asleep() const {
  // Relaxed: ordered by the fences in park() and note_worker_awake().
  return rt_->idle_workers().sleeping() == static_cast<uint32_t>(rt_->worker_count());
}

void Monitor::park() {
  parked_.store(1, std::memory_order_relaxed);
  // Seq-cst fence: our half of the Dekker pair with note_worker_awake.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!all_asleep()) {
    parked_.store(0, std::memory_order_relaxed);
    return;
  }
  // Acquire: pairs with unpark's and stop's release stores.
  while (parked_.load(std::memory_order_acquire) != 0 &&
         stop_.load(std::memory_order_acquire) == 0) {
    futex_wait(&parked_, 1, -1);
  }
}

void Monitor::unpark() {
  // Release: pairs with park's acquire load. Several workers may race
  // here; each exchange after the first finds 0 and skips the syscall.
  if (parked_.exchange(0, std::memory_order_release) != 0) futex_wake_all(&parked_);
}

void Monitor::run() {
  std::vector<Episode> episodes(rt_->worker_count());
  int64_t tick = max_tick_ns_;
  while (stop_.load(std::memory_order_acquire) == 0) {
    if (all_asleep()) {
      park();
      for (Episode& e : episodes) e.active = false;  // time asleep is no episode
      continue;
    }
    futex_wait(&stop_, 0, tick);  // a tick, cut short by stop()
    const int64_t now = real_monotonic_now_ns();
    int64_t soonest = -1;
    for (int i = 0; i < rt_->worker_count(); ++i) {
      const int64_t due_in = check(i, episodes[i], now);
      if (due_in >= 0 && (soonest < 0 || due_in < soonest)) soonest = due_in;
    }
    tick = soonest >= 0 ? std::clamp(soonest, min_tick_ns_, max_tick_ns_)
                        : std::min(tick * 2, max_tick_ns_);
  }
}

int64_t Monitor::next_handoff_after(bool refused, int64_t held_ns) const {
  // Refused (the worker was in a scheduler section): try again soon. Else
  // the fiber may still wake others in this episode (a set() on an Event
  // ahead of the blocking call), and they land in the private slots again:
  // look again after as long as it has been held, up to 16 thresholds.
  if (refused) return held_ns + min_tick_ns_;
  return held_ns + std::clamp(held_ns, options_.handoff_ns, 16 * options_.handoff_ns);
}

int64_t Monitor::check(int i, Episode& e, int64_t now) {
  Worker* w = rt_->worker(i);
  const uint64_t stamp = w->progress_stamp();
  if (!w->in_fiber_code()) {
    e.active = false;
    return -1;
  }
  if (!e.active || e.stamp != stamp) {
    e = Episode{.active = true, .stamp = stamp, .since_ns = now};
    if (options_.handoff_ns > 0 && rt_->worker_count() > 1) e.next_handoff_ns = options_.handoff_ns;
    return -1;
  }
  const int64_t held = now - e.since_ns;
  if (held >= e.next_handoff_ns) {
    const bool refused = w->hand_off(stamp) == Worker::HandOff::kRefused;
    e.next_handoff_ns = next_handoff_after(refused, held);
  }
  if (options_.blocking_ns > 0 && !e.reported && held >= options_.blocking_ns) {
    e.reported = true;
    report(i, stamp, held);
  }
  // Still one fiber since the last look: when is the next action on it due?
  int64_t due = e.next_handoff_ns;
  if (options_.blocking_ns > 0 && !e.reported) due = std::min(due, options_.blocking_ns);
  return due == INT64_MAX ? -1 : std::max<int64_t>(due - held, 0);
}

void Monitor::report(int i, uint64_t stamp, int64_t held_ns) {
  Worker* w = rt_->worker(i);
  BlockingReport r;
  r.worker = i;
  r.blocked_for = absl::Nanoseconds(held_ns);
  if (request_stack_sample(w, w->native_thread(), stamp, kSampleTimeoutNs)) {
    const StackSample& s = w->sample();
    if (!s.found) return;  // it switched before the signal landed: the episode is over
    r.fiber_id = s.fiber_id;
    r.fiber_name = s.fiber_name;
    // Without frame pointers (the release build) the unwinder may run off
    // into stale words past the first frames: stop at the first caller
    // that names no symbol. The interrupted instruction stays regardless.
    for (int k = 0; k < s.depth; ++k) {
      std::optional<std::string> frame = symbolize(s.frames[k]);
      if (!frame.has_value()) {
        if (k != 0) break;
        frame = absl::StrFormat("%p", s.frames[k]);
      }
      r.stack.push_back(*std::move(frame));
    }
  }
  if (options_.on_blocking) {
    options_.on_blocking(r);
  } else {
    std::string text = r.to_string();
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
}

}  // namespace weft::internal
