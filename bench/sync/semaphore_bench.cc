// BM_SemaphoreContended: N fibers on a 2-worker runtime taking turns on a
// weft::Semaphore of one unit (acquire, increment, release), next to
// BM_StdCountingSemaphoreContended: N OS threads doing the same on a
// std::counting_semaphore (the baseline of the same run). Reports
// acquisitions per second (items_per_second).
#include <semaphore>

#include "benchmark/benchmark.h"
#include "weft/bench/bench_util.h"
#include "weft/weft.h"

namespace {

constexpr int64_t kBatch = 1 << 18;  // acquisitions per benchmark batch

void BM_SemaphoreContended(benchmark::State& state) {
  const int fibers = static_cast<int>(state.range(0));
  weft::Runtime rt({.workers = 2});
  weft::Semaphore sem(1);
  int64_t counter = 0;
  auto op = [&] {
    sem.acquire();
    ++counter;
    sem.release();
  };
  while (state.KeepRunningBatch(kBatch)) weft::bench::run_on_fibers(rt, fibers, kBatch, op);
  if (counter != state.iterations() / fibers * fibers) state.SkipWithError("lost increments");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SemaphoreContended)->Arg(2)->Arg(8)->UseRealTime();

void BM_StdCountingSemaphoreContended(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  std::counting_semaphore<> sem(1);
  int64_t counter = 0;
  auto op = [&] {
    sem.acquire();
    ++counter;
    sem.release();
  };
  while (state.KeepRunningBatch(kBatch)) weft::bench::run_on_threads(threads, kBatch, op);
  if (counter != state.iterations() / threads * threads) state.SkipWithError("lost increments");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdCountingSemaphoreContended)->Arg(2)->Arg(8)->UseRealTime();

}  // namespace
