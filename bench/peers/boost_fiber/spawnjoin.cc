// Peer benchmark: spawn + join trivial fibers in batches. Runs first on one
// thread with round_robin, then with work_stealing across all cores (the
// algorithm switch is one-way, hence this order).
#include "peer_common.h"

namespace {

// Returns ns per fiber; n is rounded up to whole batches.
double run(int64_t n, int64_t batch) {
  // Small malloc-backed stacks: the default 128 KiB would take glibc's mmap
  // path for every fiber, which measures the kernel rather than the runtime.
  boost::fibers::fixedsize_stack stacks(16 * 1024);
  std::vector<boost::fibers::fiber> fibers;
  fibers.reserve(batch);
  int64_t spawned = 0;
  const int64_t start = peer::now_ns();
  for (; spawned < n; spawned += batch) {
    for (int64_t i = 0; i < batch; ++i) {
      fibers.emplace_back(std::allocator_arg, stacks, [] {});
    }
    for (auto& f : fibers) f.join();
    fibers.clear();
  }
  return static_cast<double>(peer::now_ns() - start) / static_cast<double>(spawned);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = peer::flag_int(argc, argv, "n", 1'000'000);
  const int64_t batch = peer::flag_int(argc, argv, "batch", 1000);
  const int64_t threads =
      peer::flag_int(argc, argv, "threads", std::thread::hardware_concurrency());
  peer::keep_heap_warm();
  const std::string extra = "n:" + std::to_string(n) + ",batch:" + std::to_string(batch);
  peer::print_result("spawnjoin/round_robin", run(n, batch), "ns_per_op",
                     extra + ",threads:1,stack:16384,malloc:notrim");
  peer::WorkStealingPool pool(static_cast<uint32_t>(threads));
  peer::print_result("spawnjoin/work_stealing", run(n, batch), "ns_per_op",
                     extra + ",threads:" + std::to_string(threads) + ",stack:16384,malloc:notrim");
  return 0;
}
