// Shared helpers for the Boost.Fiber peer benchmarks: flag parsing, timing,
// result printing in the line format tools/run_peers.sh parses, RSS
// sampling, and a work_stealing thread pool.
#ifndef WEFT_BENCH_PEERS_BOOST_FIBER_PEER_COMMON_H_
#define WEFT_BENCH_PEERS_BOOST_FIBER_PEER_COMMON_H_

#include <malloc.h>
#include <unistd.h>

#include <barrier>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace peer {

// Accepts "-name value", "-name=value" and the "--" spellings, like Go's
// flag package, so the runner script can pass the same flags to both peers.
inline int64_t flag_int(int argc, char** argv, const char* name, int64_t def) {
  const size_t len = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    if (arg[0] != '-') continue;
    arg += (arg[1] == '-') ? 2 : 1;
    if (std::strncmp(arg, name, len) != 0) continue;
    if (arg[len] == '=') return std::strtoll(arg + len + 1, nullptr, 10);
    if (arg[len] == '\0' && i + 1 < argc) return std::strtoll(argv[i + 1], nullptr, 10);
  }
  return def;
}

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline void print_result(const std::string& bench, double value, const char* unit,
                         const std::string& extra) {
  std::printf("peer=boost_fiber bench=%s value=%.2f unit=%s extra=%s\n", bench.c_str(), value, unit,
              extra.c_str());
  std::fflush(stdout);
}

// Resident set size from /proc/self/statm (second field, in pages).
inline int64_t rss_bytes() {
  long size = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr || std::fscanf(f, "%ld %ld", &size, &resident) != 2) std::abort();
  std::fclose(f);
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

// fixedsize_stack takes stacks from malloc. With glibc's default trim
// threshold, freeing a batch of stacks returns the heap top to the kernel
// and the next batch page-faults it back in, so the benchmark would mostly
// measure page faults. Keeping freed memory models a warm stack pool.
inline void keep_heap_warm() { mallopt(M_TRIM_THRESHOLD, 1 << 30); }

// Puts the calling thread plus (threads - 1) helper threads under the
// work_stealing algorithm; fibers created afterwards can run on any of them.
// work_stealing keeps its scheduler table in statics, so only one pool can
// exist per process. The barrier matters: a scheduler that tries to steal
// before every peer has registered would dereference a null entry.
class WorkStealingPool {
 public:
  explicit WorkStealingPool(uint32_t threads) : ready_(threads) {
    for (uint32_t i = 1; i < threads; ++i) {
      helpers_.emplace_back([this, threads] {
        boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(threads);
        ready_.arrive_and_wait();
        // Parks only this thread's main fiber; the scheduler keeps stealing.
        std::unique_lock<boost::fibers::mutex> lock(mutex_);
        done_cv_.wait(lock, [this] { return done_; });
      });
    }
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(threads);
    ready_.arrive_and_wait();
  }

  ~WorkStealingPool() {
    {
      std::unique_lock<boost::fibers::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    for (auto& t : helpers_) t.join();
  }

 private:
  std::barrier<> ready_;
  boost::fibers::mutex mutex_;
  boost::fibers::condition_variable done_cv_;
  bool done_ = false;
  std::vector<std::thread> helpers_;
};

}  // namespace peer

#endif  // WEFT_BENCH_PEERS_BOOST_FIBER_PEER_COMMON_H_
