// The program tools_perf_record and tools_perf_stat profile: fibers on two
// workers that spin in a function of this file, perf_fiber_spin_work, long
// enough (~0.6 s of CPU in all) for perf to take a few hundred samples. The
// flame graph must show that function under weft_fiber_entry, the root of
// every fiber stack. It needs only weft::core, so that the profile twin
// the tools' tests build (build/profile) compiles core and nothing else.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "weft/core/fiber.h"
#include "weft/core/runtime.h"
#include "weft/core/spawn.h"
#include "weft/core/this_fiber.h"

// Not inlined and not static, so it keeps a frame and a name of its own.
__attribute__((noinline)) uint64_t perf_fiber_spin_work(uint64_t seed, int64_t rounds) {
  uint64_t x = seed;
  for (int64_t i = 0; i < rounds; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;  // an LCG step
    if ((i & 0xffff) == 0) weft::yield();                     // let the other fibers in
  }
  return x;
}

int main() {
  using Clock = std::chrono::steady_clock;
  return weft::run({.workers = 2}, [] {
    uint64_t sum = 0;
    const auto end = Clock::now() + std::chrono::milliseconds(300);
    // Spin for wall time, not a fixed count: the machine may be slow.
    while (Clock::now() < end) {
      std::vector<weft::Fiber<uint64_t>> fs;
      for (uint64_t i = 0; i < 4; ++i) fs.push_back(weft::spawn(perf_fiber_spin_work, i, 1 << 20));
      for (auto& f : fs) sum += f.get();
    }
    std::printf("perf_fiber_spin: %llu\n", static_cast<unsigned long long>(sum));
    return 0;
  });
}
