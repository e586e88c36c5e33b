// Peer benchmark: cost of boost::this_fiber::yield() on one thread with the
// default round_robin scheduler, for 1 and 2 yielding fibers.
#include "peer_common.h"

namespace {

// The main fiber only joins, so it is blocked (not in the ready queue) and
// the yielding fibers are the only runnable ones, as in the Go peer.
double run(int64_t fibers, int64_t n) {
  const int64_t per = n / fibers;
  std::vector<boost::fibers::fiber> workers;
  const int64_t start = peer::now_ns();
  for (int64_t f = 0; f < fibers; ++f) {
    workers.emplace_back([per] {
      for (int64_t i = 0; i < per; ++i) boost::this_fiber::yield();
    });
  }
  for (auto& w : workers) w.join();
  return static_cast<double>(peer::now_ns() - start) / static_cast<double>(per * fibers);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = peer::flag_int(argc, argv, "n", 10'000'000);
  for (int64_t fibers : {1, 2}) {
    const double ns = run(fibers, n);
    peer::print_result("yield/" + std::to_string(fibers), ns, "ns_per_op",
                       "n:" + std::to_string(n) + ",threads:1,algo:round_robin");
  }
  return 0;
}
