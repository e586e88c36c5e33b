// BM_SleepMillion: a million fibers asleep at once. Reports the resident
// memory each costs (rss_bytes_per_fiber), the time to spawn them on fresh
// stacks (spawn_ms: page-fault bound on these VMs) and again from the warm
// stack pool (spawn_warm_ms).
#include <atomic>
#include <chrono>
#include <vector>

#include "weft/bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "weft/weft.h"

namespace {

constexpr int kFibers = 1000000;

// Spawns kFibers fibers that each sleep 100 ms, and keep sleeping until all
// have been spawned, so that all are alive when memory is read. Returns the
// spawn time in ms and stores the RSS growth per fiber.
double spawn_sleepers(std::vector<weft::Fiber<void>>& fs, double* rss_per_fiber) {
  std::atomic<bool> all_spawned{false};
  int64_t before = weft::bench::rss_bytes();
  auto start = std::chrono::steady_clock::now();
  for (auto& f : fs) {
    f = weft::spawn([&all_spawned] {
      do {
        weft::sleep_for(absl::Milliseconds(100));
      } while (!all_spawned.load(std::memory_order_acquire));
    });
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count();
  *rss_per_fiber = static_cast<double>(weft::bench::rss_bytes() - before) / kFibers;
  all_spawned.store(true, std::memory_order_release);
  for (auto& f : fs) f.join();
  return ms;
}

void BM_SleepMillion(benchmark::State& state) {
  weft::Runtime rt({.workers = static_cast<int>(state.range(0))});
  double spawn_ms = 0, warm_ms = 0, rss = 0, warm_rss = 0;
  for (auto _ : state) {
    rt.spawn([&] {
        std::vector<weft::Fiber<void>> fs(kFibers);  // touched before the first RSS reading
        spawn_ms = spawn_sleepers(fs, &rss);
        for (auto& f : fs) f = weft::Fiber<void>();
        warm_ms = spawn_sleepers(fs, &warm_rss);
      }).join();
  }
  state.counters["spawn_ms"] = spawn_ms;
  state.counters["spawn_warm_ms"] = warm_ms;
  state.counters["rss_bytes_per_fiber"] = rss;
  state.counters["spawn_warm_ns_per_fiber"] = warm_ms * 1e6 / kFibers;
}
BENCHMARK(BM_SleepMillion)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
