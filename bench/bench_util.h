// Helpers shared by weft_bench's files: memory readings, the runtime sweep,
// and splitting a contended loop over fibers or threads.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "weft/weft.h"

namespace weft::bench {

// Resident set size of this process now, in bytes (/proc/self/statm).
inline int64_t rss_bytes() {
  long pages_total = 0, pages_resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = -1;
  std::fclose(f);
  return static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE);
}

// Peak resident set size of this process so far, in bytes.
inline int64_t peak_rss_bytes() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

// Runs op() `total` times, split evenly over `fibers` fibers started on
// `rt`, and waits for them (total is a multiple of fibers in every caller).
// Each fiber (thread, below) runs its own copy of op: a shared one sits in
// the caller's frame, next to what op writes, and reading it there cost
// the std::mutex baseline a quarter of its speed (false sharing).
template <typename Op>
void run_on_fibers(weft::Runtime& rt, int fibers, int64_t total, const Op& op) {
  rt.spawn([&] {
      std::vector<weft::Fiber<void>> fs;
      for (int i = 0; i < fibers; ++i) {
        fs.push_back(weft::spawn([op, n = total / fibers] {
          for (int64_t k = 0; k < n; ++k) op();
        }));
      }
      for (auto& f : fs) f.join();
    }).join();
}

// The same over `threads` OS threads: the baselines of the fiber figures.
template <typename Op>
void run_on_threads(int threads, int64_t total, const Op& op) {
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) {
    ts.emplace_back([op, n = total / threads] {
      for (int64_t k = 0; k < n; ++k) op();
    });
  }
  for (auto& t : ts) t.join();
}

}  // namespace weft::bench
