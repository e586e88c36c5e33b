// Peer benchmark: skynet on Boost.Fiber with work_stealing. Every inner node
// spawns `div` child fibers, sums what they push into a channel it owns, and
// joins them; leaves push their ordinal.
#include <sys/resource.h>

#include "peer_common.h"

namespace {

using Channel = boost::fibers::buffered_channel<int64_t>;

// Leaves run almost nothing, so 16 KiB (above Boost's 13.5 KiB minimum) is
// plenty and keeps the ~1.1M stacks on the malloc heap rather than mmap.
boost::fibers::fixedsize_stack g_stacks(16 * 1024);

void skynet(Channel& out, int64_t num, int64_t size, int64_t div) {
  if (size == 1) {
    out.push(num);
    return;
  }
  // Capacity must be a power of two and one slot stays empty, so 16 holds
  // all 10 results: children never block, only the parent waits.
  Channel results(16);
  std::vector<boost::fibers::fiber> children;
  children.reserve(div);
  const int64_t child_size = size / div;
  for (int64_t i = 0; i < div; ++i) {
    children.emplace_back(std::allocator_arg, g_stacks, skynet, std::ref(results),
                          num + i * child_size, child_size, div);
  }
  int64_t sum = 0;
  for (int64_t i = 0; i < div; ++i) sum += results.value_pop();
  // Joining keeps `results` alive until no child can still be touching it.
  for (auto& c : children) c.join();
  out.push(sum);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t size = peer::flag_int(argc, argv, "n", 1'000'000);
  const int64_t div = peer::flag_int(argc, argv, "div", 10);
  const int64_t threads =
      peer::flag_int(argc, argv, "threads", std::thread::hardware_concurrency());
  // Any other size never reaches size 1 and would spawn until OOM.
  int64_t power = 1;
  while (power < size && div > 1) power *= div;
  if (power != size) {
    std::fprintf(stderr, "skynet: -n %lld is not a power of -div %lld\n",
                 static_cast<long long>(size), static_cast<long long>(div));
    return 2;
  }
  peer::keep_heap_warm();
  int64_t sum = 0;
  double ms = 0;
  {
    peer::WorkStealingPool pool(static_cast<uint32_t>(threads));
    const int64_t start = peer::now_ns();
    Channel out(2);
    boost::fibers::fiber root(std::allocator_arg, g_stacks, skynet, std::ref(out), 0, size, div);
    sum = out.value_pop();
    root.join();
    ms = static_cast<double>(peer::now_ns() - start) / 1e6;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  peer::print_result("skynet", ms, "ms",
                     "n:" + std::to_string(size) + ",sum:" + std::to_string(sum) +
                         ",threads:" + std::to_string(threads) +
                         ",maxrss_mb:" + std::to_string(usage.ru_maxrss / 1024));
  const int64_t want = size * (size - 1) / 2;
  if (sum != want) {
    std::fprintf(stderr, "skynet: wrong sum %lld, want %lld\n", static_cast<long long>(sum),
                 static_cast<long long>(want));
    return 1;
  }
  return 0;
}
