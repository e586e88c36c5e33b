// Peer benchmark: many fibers alive at once, each sleeping, on one thread
// with round_robin. Reports spawn time, resident memory per fiber and total.
#include "peer_common.h"

int main(int argc, char** argv) {
  const int64_t n = peer::flag_int(argc, argv, "n", 1'000'000);
  const int64_t sleep_ms = peer::flag_int(argc, argv, "sleep_ms", 100);
  const int64_t stack = peer::flag_int(argc, argv, "stack", 64 * 1024);
  peer::keep_heap_warm();
  // Plain malloc-backed stacks: protected_fixedsize_stack would need two
  // mappings per fiber and hit vm.max_map_count (65530) long before 1M.
  boost::fibers::fixedsize_stack stacks(stack);
  int64_t started = 0;
  int64_t exited = 0;
  boost::fibers::mutex mutex;
  boost::fibers::condition_variable all_exited;

  const int64_t rss_before = peer::rss_bytes();
  const int64_t start = peer::now_ns();
  for (int64_t i = 0; i < n; ++i) {
    boost::fibers::fiber(std::allocator_arg, stacks, [&] {
      ++started;  // one thread only, so plain counters are race-free
      boost::this_fiber::sleep_for(std::chrono::milliseconds(sleep_ms));
      std::unique_lock<boost::fibers::mutex> lock(mutex);
      if (++exited == n) all_exited.notify_one();
    }).detach();
  }
  const double spawn_ms = static_cast<double>(peer::now_ns() - start) / 1e6;
  // New fibers are only queued; yielding puts main behind all of them, so
  // they each run up to their sleep before memory is sampled.
  while (started < n) boost::this_fiber::yield();
  const int64_t rss_after = peer::rss_bytes();
  const int64_t alive = n - exited;
  {
    std::unique_lock<boost::fibers::mutex> lock(mutex);
    all_exited.wait(lock, [&] { return exited == n; });
  }
  const double total_ms = static_cast<double>(peer::now_ns() - start) / 1e6;

  // A non-default sleep changes what is measured, so it gets its own name.
  const std::string name =
      sleep_ms == 100 ? "sleepmillion" : "sleepmillion_sleep" + std::to_string(sleep_ms) + "ms";
  const std::string extra = "n:" + std::to_string(n);
  peer::print_result(name + "/spawn", spawn_ms, "ms", extra);
  peer::print_result(
      name + "/rss", static_cast<double>(rss_after - rss_before) / n, "bytes",
      extra + ",alive_at_sample:" + std::to_string(alive) + ",stack:" + std::to_string(stack));
  peer::print_result(name + "/total", total_ms, "ms",
                     extra + ",sleep_ms:" + std::to_string(sleep_ms) + ",threads:1");
  return 0;
}
