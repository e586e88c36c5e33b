// BM_MutexContended: N fibers on a 2-worker runtime incrementing one counter
// under a weft::Mutex, next to BM_StdMutexContended: N OS threads doing the
// same under a std::mutex (the baseline of the same run). Reports
// acquisitions per second (items_per_second).
#include <mutex>

#include "benchmark/benchmark.h"
#include "weft/bench/bench_util.h"
#include "weft/weft.h"

namespace {

constexpr int64_t kBatch = 1 << 18;  // acquisitions per benchmark batch

void BM_MutexContended(benchmark::State& state) {
  const int fibers = static_cast<int>(state.range(0));
  weft::Runtime rt({.workers = 2});
  weft::Mutex mu;
  int64_t counter = 0;
  auto op = [&] {
    std::lock_guard<weft::Mutex> g(mu);
    ++counter;
  };
  while (state.KeepRunningBatch(kBatch)) weft::bench::run_on_fibers(rt, fibers, kBatch, op);
  if (counter != state.iterations() / fibers * fibers) state.SkipWithError("lost increments");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MutexContended)->Arg(2)->Arg(4)->Arg(8)->UseRealTime();

void BM_StdMutexContended(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  std::mutex mu;
  int64_t counter = 0;
  auto op = [&] {
    std::lock_guard<std::mutex> g(mu);
    ++counter;
  };
  while (state.KeepRunningBatch(kBatch)) weft::bench::run_on_threads(threads, kBatch, op);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdMutexContended)->Arg(2)->Arg(4)->Arg(8)->UseRealTime();

}  // namespace
