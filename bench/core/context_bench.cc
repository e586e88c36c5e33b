// BM_ContextSwitchRaw: two bare Boost.Context contexts switching on one
// thread, no scheduler around them — the floor every weft figure is compared
// with.
#include <boost/context/detail/fcontext.hpp>

#include <cstdlib>

#include "benchmark/benchmark.h"

namespace {
namespace fc = boost::context::detail;

void bounce(fc::transfer_t t) {
  // Jump straight back to whoever switched to us, forever.
  for (;;) t = fc::jump_fcontext(t.fctx, nullptr);
}

void BM_ContextSwitchRaw(benchmark::State& state) {
  constexpr std::size_t kStack = 64 * 1024;
  void* stack = std::malloc(kStack);
  fc::fcontext_t other = fc::make_fcontext(static_cast<char*>(stack) + kStack, kStack, &bounce);
  for (auto _ : state) {
    // Two one-way switches per iteration: there and back.
    other = fc::jump_fcontext(other, nullptr).fctx;
  }
  state.SetItemsProcessed(state.iterations() * 2);
  // Report one one-way switch: time per iteration / 2.
  state.counters["ns_per_switch"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 2,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  std::free(stack);  // `bounce` is abandoned mid-loop: nothing to unwind
}
BENCHMARK(BM_ContextSwitchRaw);

}  // namespace

// BM_ContextSwitchWeft: the same ping-pong through weft's internal::Context
// (hand-over record, exception-state swap): what weft adds to a raw switch.
#include "weft/core/internal/context.h"

namespace {
weft::internal::Context g_main_ctx, g_other_ctx;

void other_entry(weft::internal::Handover*) {
  weft::internal::Handover h;
  for (;;) weft::internal::Context::jump(&g_other_ctx, &g_main_ctx, &h);
}

void BM_ContextSwitchWeft(benchmark::State& state) {
  constexpr std::size_t kStack = 64 * 1024;
  char* stack = static_cast<char*>(std::malloc(kStack));
  g_main_ctx.adopt_current_thread();
  g_other_ctx.make(stack, stack + kStack, &other_entry);
  weft::internal::Handover h;
  for (auto _ : state) weft::internal::Context::jump(&g_main_ctx, &g_other_ctx, &h);
  state.counters["ns_per_switch"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 2,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  std::free(stack);
}
BENCHMARK(BM_ContextSwitchWeft);
}  // namespace
