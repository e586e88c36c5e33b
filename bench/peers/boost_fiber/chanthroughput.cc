// Peer benchmark: MPMC throughput of a boost::fibers::buffered_channel with
// 4 producer and 4 consumer fibers spread over all cores by work_stealing.
#include "peer_common.h"

int main(int argc, char** argv) {
  const int64_t n = peer::flag_int(argc, argv, "n", 10'000'000);
  const int64_t producers = peer::flag_int(argc, argv, "producers", 4);
  const int64_t consumers = peer::flag_int(argc, argv, "consumers", 4);
  const int64_t capacity = peer::flag_int(argc, argv, "cap", 1024);
  const int64_t threads =
      peer::flag_int(argc, argv, "threads", std::thread::hardware_concurrency());
  const int64_t per = n / producers;
  std::vector<int64_t> sums(consumers,
                            0);  // one per consumer: no shared counter
  double seconds = 0;
  {
    peer::WorkStealingPool pool(static_cast<uint32_t>(threads));
    // Note: Boost keeps one slot empty, so 1024 stores 1023 items.
    boost::fibers::buffered_channel<int64_t> ch(capacity);
    std::vector<boost::fibers::fiber> prod, cons;
    const int64_t start = peer::now_ns();
    for (int64_t c = 0; c < consumers; ++c) {
      cons.emplace_back([&ch, &sums, c] {
        int64_t v = 0, s = 0;
        while (ch.pop(v) == boost::fibers::channel_op_status::success) s += v;
        sums[c] = s;
      });
    }
    for (int64_t p = 0; p < producers; ++p) {
      prod.emplace_back([&ch, per] {
        for (int64_t i = 0; i < per; ++i) ch.push(1);
      });
    }
    for (auto& f : prod) f.join();
    ch.close();
    for (auto& f : cons) f.join();
    seconds = static_cast<double>(peer::now_ns() - start) / 1e9;
  }
  int64_t total = 0;
  for (int64_t s : sums) total += s;
  if (total != per * producers) {
    std::fprintf(stderr, "chanthroughput: received %lld items, want %lld\n",
                 static_cast<long long>(total), static_cast<long long>(per * producers));
    return 1;
  }
  peer::print_result("chanthroughput", total / seconds, "items_per_s",
                     "n:" + std::to_string(total) + ",producers:" + std::to_string(producers) +
                         ",consumers:" + std::to_string(consumers) + ",cap:" +
                         std::to_string(capacity) + ",threads:" + std::to_string(threads));
  return 0;
}
