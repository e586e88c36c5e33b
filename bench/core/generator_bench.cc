// Generators and greenlets, next to BM_ContextSwitchRaw (context_bench.cc),
// the floor: one raw Boost.Context switch.
//
//   BM_GeneratorSend        one send/yield round trip: two switches
//   BM_GreenletSwitch       one switch; main greenlet and a greenlet switching
//                           from different call sites (the usual case)
//   BM_GreenletSwitchSameSite  one switch; both sides run the same function
//                           (PingPong), which returns after each switch, as
//                           switch sites used to (see coroutine.cc)
//   BM_GeneratorCreate / BM_GreenletCreate  create, run to the end, destroy
#include <any>
#include <cstdint>
#include <optional>

#include "benchmark/benchmark.h"
#include "weft/core/generator.h"
#include "weft/core/greenlet.h"

namespace {

// Per one-way switch, like BM_ContextSwitchRaw's counter.
void CountSwitches(benchmark::State& state, int64_t switches) {
  state.counters["ns_per_switch"] = benchmark::Counter(
      static_cast<double>(switches), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_GeneratorSend(benchmark::State& state) {
  weft::Generator<int64_t, int64_t> echo([](auto& co) {
    std::optional<int64_t> v = co.yield(0);
    for (;;) v = co.yield(*v + 1);
  });
  echo.next();
  int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(echo.send(i++));
  CountSwitches(state, state.iterations() * 2);
}
BENCHMARK(BM_GeneratorSend);

void BM_GreenletSwitch(benchmark::State& state) {
  weft::Greenlet main = weft::Greenlet::current();
  weft::Greenlet other([main]() mutable {
    for (;;) main.switch_to();
  });
  for (auto _ : state) other.switch_to();
  CountSwitches(state, state.iterations() * 2);
}
BENCHMARK(BM_GreenletSwitch);

// Both sides switch from here: the return from switch_to lands at the same
// address whichever side resumes. `n` is laundered at the call sites so the
// compiler cannot clone this per constant (two clones are two sites).
__attribute__((noinline)) void PingPong(weft::Greenlet& to, int64_t n) {
  for (int64_t i = 0; i < n; ++i) to.switch_to();
}

int64_t Opaque(int64_t n) {
  benchmark::DoNotOptimize(n);
  return n;
}

void BM_GreenletSwitchSameSite(benchmark::State& state) {
  constexpr int64_t kBatch = 1000;
  weft::Greenlet main = weft::Greenlet::current();
  weft::Greenlet other([main]() mutable { PingPong(main, Opaque(INT64_MAX)); });
  for (auto _ : state) PingPong(other, Opaque(kBatch));
  CountSwitches(state, state.iterations() * kBatch * 2);
}
BENCHMARK(BM_GreenletSwitchSameSite);

void BM_GeneratorCreate(benchmark::State& state) {
  for (auto _ : state) {
    weft::Generator<int> g([](auto& co) { co.yield(1); });
    benchmark::DoNotOptimize(g.next());
    benchmark::DoNotOptimize(g.next());
  }
}
BENCHMARK(BM_GeneratorCreate);

void BM_GreenletCreate(benchmark::State& state) {
  for (auto _ : state) {
    weft::Greenlet g([] { return 1; });
    benchmark::DoNotOptimize(g.switch_to());
  }
}
BENCHMARK(BM_GreenletCreate);

}  // namespace
