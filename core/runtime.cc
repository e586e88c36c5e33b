#include "weft/core/runtime.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "weft/core/errors.h"
#include "weft/core/internal/clock.h"
#include "weft/core/private/dump.h"
#include "weft/core/private/runtime_core.h"
#include "weft/core/private/worker.h"

namespace weft {

std::size_t default_stack_size() {
#if defined(WEFT_ASAN)
  return 256 * 1024;
#else
  return 64 * 1024;
#endif
}

absl::Status RuntimeOptions::validate() const {
  if (workers < 0 || workers > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("RuntimeOptions::workers must be 0 (one per core) .. 1024, got ", workers));
  }
  if (stack_size != 0 && (stack_size < 16 * 1024 || stack_size > (std::size_t{1} << 30))) {
    return absl::InvalidArgumentError(
        absl::StrCat("RuntimeOptions::stack_size must be 16 KiB .. 1 GiB (0 for the default), got ",
                     stack_size));
  }
  if (run_queue_capacity < 2 || run_queue_capacity > (std::size_t{1} << 20) ||
      (run_queue_capacity & (run_queue_capacity - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("RuntimeOptions::run_queue_capacity must be a power of two in 2 .. 2^20, got ",
                     run_queue_capacity));
  }
  if (handoff_threshold < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("RuntimeOptions::handoff_threshold must be >= 0 (0: off), got ",
                     absl::FormatDuration(handoff_threshold)));
  }
  if (detect_blocking && blocking_threshold <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("RuntimeOptions::blocking_threshold must be > 0 with detect_blocking, got ",
                     absl::FormatDuration(blocking_threshold)));
  }
  return absl::OkStatus();
}

namespace {
internal::CoreOptions resolve(const RuntimeOptions& o) {
  int workers = o.workers;
  if (workers == 0) workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  internal::MonitorOptions m;
  m.handoff_ns = absl::ToInt64Nanoseconds(o.handoff_threshold);
  m.blocking_ns = o.detect_blocking ? absl::ToInt64Nanoseconds(o.blocking_threshold) : 0;
  m.on_blocking = o.on_blocking;
  return {workers, o.stack_size != 0 ? o.stack_size : default_stack_size(), o.run_queue_capacity,
          o.stack_reserve, std::move(m)};
}
}  // namespace

Runtime::Runtime(RuntimeOptions options) {
  if (absl::Status s = options.validate(); !s.ok()) throw UsageError(std::string(s.message()));
  core_ = std::make_unique<internal::RuntimeCore>(resolve(options));
  if (options.dump_on_sigquit) internal::register_quit_dump(core_.get());
}

Runtime::~Runtime() noexcept(false) {
  // No SIGQUIT dump of a runtime being torn down (a no-op if not registered).
  if (core_ != nullptr) internal::unregister_quit_dump(core_.get());
  if (core_ != nullptr) core_->shutdown();  // throws before anything is torn down
}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::create(RuntimeOptions options) {
  if (absl::Status s = options.validate(); !s.ok()) return s;
  return std::make_unique<Runtime>(options);
}

void Runtime::shutdown() { core_->shutdown(); }
int Runtime::workers() const { return core_->worker_count(); }
std::size_t Runtime::stack_size() const { return core_->stack_size(); }

void Runtime::dump(std::ostream& out, DumpOptions options) const {
  internal::write_dump(*core_, out, options);
}

uint64_t DelayHistogram::samples() const {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  return n;
}

uint64_t DelayHistogram::percentile_ns(double q) const {
  const uint64_t n = samples();
  if (n == 0) return 0;
  // The rank of the q-quantile, 1-based: the smallest sample count that
  // reaches q of them.
  const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts[b];
    if (seen >= rank) return std::min(max_ns, (uint64_t{2} << b) - 1);
  }
  return max_ns;
}

void DelayHistogram::merge(const DelayHistogram& other) {
  for (int b = 0; b < kBuckets; ++b) counts[b] += other.counts[b];
  max_ns = std::max(max_ns, other.max_ns);
}

RuntimeStats Runtime::stats() const {
  RuntimeStats s;
  for (int i = 0; i < core_->worker_count(); ++i) {
    const internal::WorkerCounters& c = core_->worker(i)->counters();
    auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_acquire); };
    WorkerStats& ws = s.workers.emplace_back();
    ws.fibers_spawned = get(c.spawned);
    ws.fibers_finished = get(c.finished);
    ws.switches = get(c.switches);
    ws.steals = get(c.steals);
    ws.parks = get(c.parks);
    ws.timers_fired = get(c.timers_fired);
    ws.injector_pops = get(c.injector_pops);
    ws.timers = get(c.timers);
    ws.io_wakeups = get(c.io_wakeups);
    ws.timer_wakeups = get(c.timer_wakeups);
    // What remains of the runnable events once spawns, I/O and timers are
    // taken out (WorkerCounters::runnable_events). The parts are bumped
    // apart from the events, so while the worker runs the difference may
    // be off by the few events in flight (clamped at zero); exact once quiet.
    const uint64_t events = get(c.runnable_events);
    const uint64_t others = ws.fibers_spawned + ws.io_wakeups + ws.timer_wakeups;
    ws.fiber_wakeups = events > others ? events - others : 0;
    ws.poller_wakeups = get(c.poller_wakeups);
    // One word (see WorkerCounters::idle_word): negative while asleep.
    const int64_t now = internal::real_monotonic_now_ns();
    const int64_t wall = now - core_->worker(i)->started_ns();
    const int64_t idle_word = c.idle_word.load(std::memory_order_acquire);
    ws.idle_ns = std::clamp<int64_t>(idle_word >= 0 ? idle_word : idle_word + now, 0, wall);
    ws.busy_ns = wall - ws.idle_ns;
    for (int b = 0; b < DelayHistogram::kBuckets; ++b) {
      ws.scheduling_delay.counts[b] = get(c.delay_buckets[b]);
    }
    ws.scheduling_delay.max_ns = get(c.delay_max_ns);
    s.scheduling_delay.merge(ws.scheduling_delay);
    ws.handoffs = get(c.handoffs);
    s.timers += ws.timers;
  }
  s.external_wakeups = core_->external_wakeups();
  s.external_spawns = core_->external_spawns();
  s.live_fibers = core_->live_fibers();
  s.stacks_carved = core_->stack_pool().slots_carved();
  s.stacks_precarved = core_->stack_pool().slots_precarved();
  s.stacks_released = core_->stack_pool().slots_released();
  s.stacks_trimmed = core_->stack_pool().slots_trimmed();
  s.stack_size = core_->stack_size();
  return s;
}

namespace internal {

FiberControl* allocate_fiber(RuntimeCore* rt, std::size_t bytes, std::size_t align) {
  return rt->allocate(bytes, align);
}
void abandon_fiber(RuntimeCore* rt, FiberControl* f) { rt->abandon(f); }
void start_fiber(RuntimeCore* rt, FiberControl* f) { rt->start(f); }
void release_fiber_handle(FiberControl* f) { RuntimeCore::release_handle(f); }

namespace {
// Out of line: built here, the message's std::string made every spawn's
// lookup save and restore four registers.
[[noreturn, gnu::noinline, gnu::cold]] void throw_outside_runtime(const char* who) {
  throw UsageError(std::string(who) +
                   " called outside a weft runtime; use Runtime::spawn or weft::run");
}
}  // namespace

RuntimeCore* current_runtime_or_throw(const char* who) {
  // Worker::current() directly: RuntimeCore::current() would be a second call.
  Worker* w = Worker::current();
  if (w == nullptr) [[unlikely]]
    throw_outside_runtime(who);
  return w->runtime();
}

// Declared in fiber_api.h.
int current_worker_count() {
  RuntimeCore* rt = RuntimeCore::current();
  return rt != nullptr ? rt->worker_count() : 0;
}

}  // namespace internal

}  // namespace weft
