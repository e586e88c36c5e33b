// Shared test fixture: every runtime test runs once per worker count.
//
//   class FiberTest : public weft::test::RuntimeTest {};
//   TEST_P(FiberTest, GetReturnsValue) {
//     EXPECT_EQ(Run([] { return weft::spawn([] { return 7; }).get(); }), 7);
//   }
//   INSTANTIATE_TEST_SUITE_P(Workers, FiberTest, weft::test::WorkerCounts(),
//                            weft::test::WorkerCountName);
//
// The machine has 2 cores: 4 and 8 workers oversubscribe on purpose, so a
// worker may be descheduled at any point of the protocol.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "weft/weft.h"

namespace weft::test {

// Iteration counts shrink under the sanitizers: by `tsan_divisor` under
// ThreadSanitizer (~10x slower, and it counts every fiber stack ever carved
// as a thread, of which a process may have 8128), by 4 under
// AddressSanitizer (~2-3x slower).
constexpr int64_t Scaled(int64_t n, int64_t tsan_divisor = 10) {
#if defined(WEFT_TSAN)
  return std::max<int64_t>(1, n / tsan_divisor);
#elif defined(WEFT_ASAN)
  return std::max<int64_t>(1, n / 4);
#else
  (void)tsan_divisor;
  return n;
#endif
}

inline auto WorkerCounts() { return ::testing::Values(1, 2, 4, 8); }

inline std::string WorkerCountName(const ::testing::TestParamInfo<int>& info) {
  return std::to_string(info.param) + "Workers";
}

class RuntimeTest : public ::testing::TestWithParam<int> {
 protected:
  int workers() const { return GetParam(); }
  RuntimeOptions options() const { return {.workers = GetParam()}; }

  // Runs `f` as the main fiber of a fresh runtime with workers() workers and
  // returns its result (rethrowing what it threw).
  template <typename F>
  auto Run(F&& f) {
    return weft::run(options(), std::forward<F>(f));
  }
};

// Milliseconds elapsed on the monotonic clock since `start`.
inline int64_t MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

}  // namespace weft::test
