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
//
// Leaks fail the test. Run() checks, once its main fiber has returned, that
// no other fiber of its runtime is still alive (a detached or forgotten
// fiber would otherwise be killed quietly by the shutdown), and every
// RuntimeTest checks at TearDown that the process has no fd open that it
// did not have at SetUp. Each failure names what leaked: the fibers' ids
// and names, the fds and what they point to. A test that builds its own
// Runtime calls ExpectNoLiveFibers(rt) where it wants the same check.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "weft/core/private/runtime_core.h"
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

// The process's open fds, each with what it names (its /proc/self/fd link).
inline std::map<int, std::string> OpenFds() {
  std::map<int, std::string> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  const int own = dirfd(dir);  // the listing's own fd is not the test's
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd == own) continue;
    char target[256];
    ssize_t n = readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), target, sizeof target - 1);
    fds[fd] = n > 0 ? std::string(target, n) : "?";
  }
  closedir(dir);
  return fds;
}

// How many fds the process has open.
inline int CountOpenFds() { return static_cast<int>(OpenFds().size()); }

// Resident memory of the whole process, from /proc/self/statm; -1 if unread.
inline int64_t RssBytes() {
  long total = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  if (std::fscanf(f, "%ld %ld", &total, &resident) != 2) resident = -1;
  std::fclose(f);
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

// Fails the test if fibers of `rt` other than those that are finishing
// stay alive for `grace`; names them. Call from a plain thread, after the
// fibers the test waited for have ended.
inline void ExpectNoLiveFibers(Runtime& rt, absl::Duration grace = absl::Seconds(2)) {
  // A fiber that has returned to its caller's join may still be finishing
  // on its worker (its final switch): give it a moment.
  auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(grace);
  while (rt.stats().live_fibers != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  uint64_t live = rt.stats().live_fibers;
  if (live == 0) return;
  std::string names;
  internal::RuntimeCore* core = internal::RuntimeAccess::core(rt);
  core->stack_pool().for_each_slot([&](internal::SlotHeader* h) {
    if (h->state.load(std::memory_order_acquire) != internal::SlotState::kLive) return;
    auto* f = static_cast<internal::FiberControl*>(h);
    // The name is read racily: only on this failure path, from a fiber the
    // test lost track of.
    absl::StrAppend(&names, "\n  fiber ", f->id, f->name[0] != 0 ? " \"" : "",
                    std::string(f->name, strnlen(f->name, sizeof f->name)),
                    f->name[0] != 0 ? "\"" : "");
  });
  ADD_FAILURE() << "leak: " << live << " fiber(s) still alive when the test's main fiber "
                << "had returned (detached, or never joined); the shutdown would kill them:"
                << names;
}

class RuntimeTest : public ::testing::TestWithParam<int> {
 protected:
  int workers() const { return GetParam(); }
  RuntimeOptions options() const { return {.workers = GetParam()}; }

  void SetUp() override { fds_at_start_ = OpenFds(); }
  // Every runtime and socket of the test body is gone by now: an fd that was
  // not open at SetUp (or now names another file) leaked.
  void TearDown() override {
    std::string leaked;
    for (const auto& [fd, target] : OpenFds()) {
      auto it = fds_at_start_.find(fd);
      if (it == fds_at_start_.end() || it->second != target) {
        absl::StrAppend(&leaked, "\n  fd ", fd, " -> ", target);
      }
    }
    if (!leaked.empty())
      ADD_FAILURE() << "leak: fds opened by the test and never closed:" << leaked;
  }

  // Runs `f` as the main fiber of a fresh runtime with workers() workers and
  // returns its result (rethrowing what it threw, after the shutdown), like
  // weft::run; then checks that no other fiber was left alive.
  template <typename F>
  auto Run(F&& f) {
    return RunChecked(std::forward<F>(f), /*check_fibers=*/true);
  }
  // Run without the live-fiber check: only for a test whose point is to
  // leave fibers for the shutdown to kill (say why at the call).
  template <typename F>
  auto RunLeavingFibers(F&& f) {
    return RunChecked(std::forward<F>(f), /*check_fibers=*/false);
  }

 private:
  template <typename F>
  auto RunChecked(F&& f, bool check_fibers) {
    Runtime rt(options());
    auto main = rt.spawn(std::forward<F>(f));
    main.join();
    if (check_fibers) ExpectNoLiveFibers(rt);
    if constexpr (std::is_void_v<internal::SpawnResult<F>>) {
      main.get();
      return 0;
    } else {
      return main.get();
    }
  }

  std::map<int, std::string> fds_at_start_;
};

// Milliseconds elapsed on the monotonic clock since `start`.
inline int64_t MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

}  // namespace weft::test
