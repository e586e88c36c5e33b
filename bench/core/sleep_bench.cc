// BM_SleepMillion: a million fibers asleep at once, in the shape of the Go
// and Tokio sleepers (bench/peers/): each fiber sleeps once, for longer than
// the whole spawn takes, so the spawn loop is measured alone with nothing
// waking beside it. Reports
//   spawn_ms                 spawning 1M on fresh stacks (page-fault bound),
//   spawn_warm_ns_per_fiber  spawning 1M again, from the warm stack pool,
//   rss_bytes_per_fiber      resident memory per fiber, once all are asleep,
//   cpu_ms                   user+sys CPU of the cold round, spawn to last join,
//   woke_early               fibers whose sleep ended before their round's
//                            spawn did (0, or kSleep is too short to measure).
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <vector>

#include "benchmark/benchmark.h"
#include "weft/bench/bench_util.h"
#include "weft/weft.h"

namespace {

constexpr int kFibers = 1000000;
// Long enough to outlast a cold spawn of 1M on a busy 2-core VM (~3 s before
// issue #14), short enough for two rounds to stay a benchmark.
constexpr absl::Duration kSleep = absl::Seconds(4);

double cpu_ms_now() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

struct Round {
  double spawn_ms = 0;
  double rss_per_fiber = 0;
  double cpu_ms = 0;
  int64_t woke_early = 0;
};

// Spawns kFibers fibers that each sleep once for kSleep, samples memory once
// every one has started its sleep, then joins them all.
Round spawn_sleepers(std::vector<weft::Fiber<void>>& fs) {
  std::atomic<int64_t> started{0};
  std::atomic<int64_t> woken{0};
  Round r;
  const int64_t before = weft::bench::rss_bytes();
  const double cpu_before = cpu_ms_now();
  auto start = std::chrono::steady_clock::now();
  for (auto& f : fs) {
    f = weft::spawn([&started, &woken] {
      started.fetch_add(1, std::memory_order_relaxed);
      weft::sleep_for(kSleep);
      woken.fetch_add(1, std::memory_order_relaxed);
    });
  }
  r.spawn_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  r.woke_early = woken.load(std::memory_order_relaxed);
  while (started.load(std::memory_order_relaxed) < kFibers) weft::yield();
  r.rss_per_fiber = static_cast<double>(weft::bench::rss_bytes() - before) / kFibers;
  for (auto& f : fs) f.join();
  r.cpu_ms = cpu_ms_now() - cpu_before;
  return r;
}

void BM_SleepMillion(benchmark::State& state) {
  weft::Runtime rt({.workers = static_cast<int>(state.range(0))});
  Round cold, warm;
  for (auto _ : state) {
    rt.spawn([&] {
        std::vector<weft::Fiber<void>> fs(kFibers);  // touched before the first RSS reading
        cold = spawn_sleepers(fs);
        for (auto& f : fs) f = weft::Fiber<void>();
        warm = spawn_sleepers(fs);
      }).join();
  }
  state.counters["spawn_ms"] = cold.spawn_ms;
  state.counters["spawn_warm_ns_per_fiber"] = warm.spawn_ms * 1e6 / kFibers;
  state.counters["rss_bytes_per_fiber"] = cold.rss_per_fiber;
  state.counters["cpu_ms"] = cold.cpu_ms;
  state.counters["woke_early"] = static_cast<double>(cold.woke_early + warm.woke_early);
}
BENCHMARK(BM_SleepMillion)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
