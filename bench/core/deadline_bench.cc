// BM_EarlyWakeDeadline: waits with a long deadline that are always woken
// long before it, the shape of a server's read with an idle timeout.
//
// Two fibers ping-pong through two semaphores; every acquire carries a
// 60-second deadline and is released at once by the other fiber, so each
// iteration is two timed waits that end early. Arg 0: workers (with 2, the
// partners may run on different workers, and a wait parked on one worker is
// often woken, and resumed, on the other). Reports the resident memory the
// run grew by (rss_growth_bytes): a timer entry that outlives its wait
// shows up there, since 60 s is longer than any run.
#include <cstdint>

#include "benchmark/benchmark.h"
#include "weft/bench/bench_util.h"
#include "weft/weft.h"

namespace {

constexpr absl::Duration kLongDeadline = absl::Seconds(60);

void BM_EarlyWakeDeadline(benchmark::State& state) {
  weft::Runtime rt({.workers = static_cast<int>(state.range(0))});
  constexpr int64_t kBatch = 1 << 16;
  const int64_t rss_before = weft::bench::rss_bytes();
  while (state.KeepRunningBatch(kBatch)) {
    rt.spawn([] {
        weft::Semaphore ping(0), pong(0);
        weft::Fiber<void> partner = weft::spawn([&] {
          for (int64_t i = 0; i < kBatch; ++i) {
            if (!ping.acquire_for(kLongDeadline)) return;
            pong.release();
          }
        });
        for (int64_t i = 0; i < kBatch; ++i) {
          ping.release();
          if (!pong.acquire_for(kLongDeadline)) break;
        }
        partner.join();
      }).join();
  }
  state.counters["rss_growth_bytes"] = static_cast<double>(weft::bench::rss_bytes() - rss_before);
}
BENCHMARK(BM_EarlyWakeDeadline)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
