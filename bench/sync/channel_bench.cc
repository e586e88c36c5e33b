// Channel benchmarks.
//   BM_PingPongChannel/W: two fibers bouncing a token through two unbuffered
//     channels on a W-worker runtime; one iteration = one round trip.
//   BM_ChannelThroughput: a channel of capacity 1024, 4 producers and 4
//     consumers on a 2-worker runtime; items_per_second.
// Go's equivalents are bench/peers/go/{pingpong,chanthroughput}.
#include <atomic>
#include <vector>

#include "benchmark/benchmark.h"
#include "weft/weft.h"

namespace {

void BM_PingPongChannel(benchmark::State& state) {
  weft::Runtime rt({.workers = static_cast<int>(state.range(0))});
  constexpr int64_t kBatch = 1 << 16;
  while (state.KeepRunningBatch(kBatch)) {
    rt.spawn([] {
        weft::Channel<int> ping, pong;
        auto echo = weft::spawn([&] {
          for (int64_t i = 0; i < kBatch; ++i) (void)pong.send(*ping.recv());
        });
        for (int64_t i = 0; i < kBatch; ++i) {
          (void)ping.send(static_cast<int>(i));
          (void)pong.recv();
        }
        echo.join();
      }).join();
  }
}
BENCHMARK(BM_PingPongChannel)->Arg(1)->Arg(2)->UseRealTime();

void BM_ChannelThroughput(benchmark::State& state) {
  weft::Runtime rt({.workers = 2});
  constexpr int kProducers = 4, kConsumers = 4;
  constexpr int64_t kBatch = 1 << 20;
  std::atomic<int64_t> received{0};
  while (state.KeepRunningBatch(kBatch)) {
    rt.spawn([&] {
        weft::Channel<int64_t> ch(1024);
        std::vector<weft::Fiber<void>> producers, consumers;
        for (int c = 0; c < kConsumers; ++c) {
          consumers.push_back(weft::spawn([&] {
            int64_t n = 0;
            while (ch.recv()) ++n;
            received.fetch_add(n, std::memory_order_relaxed);
          }));
        }
        for (int p = 0; p < kProducers; ++p) {
          producers.push_back(weft::spawn([&] {
            for (int64_t i = 0; i < kBatch / kProducers; ++i) (void)ch.send(i);
          }));
        }
        for (auto& f : producers) f.join();
        (void)ch.close();
        for (auto& f : consumers) f.join();
      }).join();
  }
  if (received.load() != state.iterations()) state.SkipWithError("items lost");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChannelThroughput)->UseRealTime();

}  // namespace
