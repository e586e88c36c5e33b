// Scheduler benchmarks: yield, spawn+join, and the skynet tree.
//
// Each runs its loop inside fibers of a fresh Runtime and is timed in real
// time (the benchmark thread only waits). Args are the worker count, so one
// run shows 1 and 2 workers side by side; compare with BM_ContextSwitchRaw
// from the same run.
#include <array>
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "weft/bench/bench_util.h"
#include "weft/weft.h"

namespace {

// One iteration = one yield. Arg 0: fibers yielding on a single worker
// (1: nobody else to run; 2: every yield switches to the other fiber).
void BM_Yield(benchmark::State& state) {
  const int fibers = static_cast<int>(state.range(0));
  weft::Runtime rt({.workers = 1});
  constexpr int64_t kBatch = 1 << 20;
  while (state.KeepRunningBatch(kBatch)) {
    rt.spawn([fibers] {
        std::vector<weft::Fiber<void>> fs;
        for (int i = 0; i < fibers; ++i) {
          fs.push_back(weft::spawn([n = kBatch / fibers] {
            for (int64_t k = 0; k < n; ++k) weft::yield();
          }));
        }
        for (auto& f : fs) f.join();
      }).join();
  }
}
BENCHMARK(BM_Yield)->Arg(1)->Arg(2)->UseRealTime();

// One iteration = one trivial fiber spawned and joined, in batches of 1000.
// Arg 0: workers.
void BM_SpawnJoin(benchmark::State& state) {
  weft::Runtime rt({.workers = static_cast<int>(state.range(0))});
  constexpr int64_t kGroup = 1000;
  constexpr int64_t kBatch = 100 * kGroup;
  while (state.KeepRunningBatch(kBatch)) {
    rt.spawn([] {
        std::vector<weft::Fiber<void>> fs(kGroup);
        for (int64_t b = 0; b < kBatch / kGroup; ++b) {
          for (auto& f : fs) f = weft::spawn([] {});
          for (auto& f : fs) f.join();
        }
      }).join();
  }
}
BENCHMARK(BM_SpawnJoin)->Arg(1)->Arg(2)->UseRealTime();

int64_t skynet(int64_t num, int64_t size) {
  if (size == 1) return num;
  int64_t child = size / 10;
  std::array<weft::Fiber<int64_t>, 10> kids;
  for (int i = 0; i < 10; ++i) kids[i] = weft::spawn(skynet, num + i * child, child);
  int64_t sum = 0;
  for (auto& k : kids) sum += k.get();
  return sum;
}

// One iteration = one skynet tree of 1,000,000 leaves (1,111,111 fibers).
// Arg 0: workers.
void BM_Skynet(benchmark::State& state) {
  weft::Runtime rt({.workers = static_cast<int>(state.range(0))});
  for (auto _ : state) {
    int64_t sum = rt.spawn(skynet, int64_t{0}, int64_t{1000000}).get();
    if (sum != 499999500000) state.SkipWithError("skynet: wrong sum");
  }
  state.counters["fibers_per_s"] = benchmark::Counter(
      1111111.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["peak_rss_mb"] = static_cast<double>(weft::bench::peak_rss_bytes()) / 1e6;
}
BENCHMARK(BM_Skynet)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
