// An idle runtime must not burn CPU: workers with nothing to do sleep in the
// kernel (futex) instead of spinning. Asserts behaviour (no busy loop), with a
// bound loose enough for a noisy machine: a spinning worker would use ~100%.
#include <sys/resource.h>

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "weft/weft.h"

namespace {

double process_cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

TEST(IdleTest, IdleWorkersSleep) {
  weft::Runtime rt({.workers = 2});
  rt.spawn([] {}).join();  // workers started and went idle
  double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  double used = process_cpu_seconds() - before;
  EXPECT_LT(used, 0.05) << "idle workers used " << used << " s of CPU in 0.5 s";
}

TEST(IdleTest, SleepingFibersDoNotSpin) {
  weft::Runtime rt({.workers = 2});
  auto f = rt.spawn([] { weft::sleep_for(absl::Milliseconds(500)); });
  double before = process_cpu_seconds();
  f.join();
  double used = process_cpu_seconds() - before;
  EXPECT_LT(used, 0.05) << "a runtime with one sleeping fiber used " << used << " s of CPU";
}

}  // namespace
