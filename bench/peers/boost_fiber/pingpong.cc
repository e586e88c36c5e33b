// Peer benchmark: a token bounced between two fibers on one thread over two
// boost::fibers::unbuffered_channel, i.e. the blocking hand-off round trip.
#include "peer_common.h"

int main(int argc, char** argv) {
  const int64_t n = peer::flag_int(argc, argv, "n", 1'000'000);
  boost::fibers::unbuffered_channel<int64_t> ping;
  boost::fibers::unbuffered_channel<int64_t> pong;
  boost::fibers::fiber echo([&] {
    int64_t v = 0;
    while (ping.pop(v) == boost::fibers::channel_op_status::success) pong.push(v + 1);
  });
  // The main fiber is the other player, as the main goroutine is in Go.
  int64_t token = 0;
  const int64_t start = peer::now_ns();
  for (int64_t i = 0; i < n; ++i) {
    ping.push(token);
    token = pong.value_pop();
  }
  const int64_t elapsed = peer::now_ns() - start;
  ping.close();
  echo.join();
  if (token != n) {
    std::fprintf(stderr, "pingpong: token lost\n");
    return 1;
  }
  peer::print_result("pingpong", static_cast<double>(elapsed) / n, "ns_per_op",
                     "n:" + std::to_string(n) + ",threads:1");
  return 0;
}
