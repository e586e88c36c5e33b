// weft_op_counts: fixed-size workloads for callgrind, each with callgrind's
// counters zeroed after a warm-up and dumped after the measured part, so
// tools/op-counts can divide exact instruction counts by the operations
// done (instructions are immune to the machine's load; times are not).
//
//   weft_op_counts WORKLOAD N WORKERS [HANDOFF]
//
// WORKLOAD (one op each):
//   spawnjoin  spawn N fibers in groups of 1000, join each group (dump "measured")
//   skynet     the skynet tree of N leaves, every fiber an op (dump "measured")
//   respawn    N fibers that wait on an Event, spawned once cold, then again
//              from the warm pool: dump "spawn" after the warm spawn loop
//              (BM_SleepMillion's spawn_warm_ns_per_fiber), dump "rest"
//              after their wake-up and join
//   yield1     one fiber yields N times (nothing else to run)
//   yield2     two fibers yield N/2 times each, taking turns
//   pingpong   N round trips of a token through two unbuffered channels
// HANDOFF 0 turns the monitor's hand-off off (RuntimeOptions).
// Outside callgrind the client requests do nothing.
#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "weft/weft.h"

namespace {

int64_t skynet(int64_t num, int64_t size) {
  if (size == 1) return num;
  int64_t child = size / 10;
  weft::Fiber<int64_t> kids[10];
  for (int i = 0; i < 10; ++i) kids[i] = weft::spawn(skynet, num + i * child, child);
  int64_t sum = 0;
  for (auto& k : kids) sum += k.get();
  return sum;
}

void spawnjoin(int64_t n) {
  std::vector<weft::Fiber<void>> fs(1000);
  for (auto& f : fs) f = weft::spawn([] {});
  for (auto& f : fs) f.join();
  CALLGRIND_ZERO_STATS;
  for (int64_t s = 0; s < n; s += 1000) {
    for (auto& f : fs) f = weft::spawn([] {});
    for (auto& f : fs) f.join();
  }
  CALLGRIND_DUMP_STATS_AT("measured");
}

void respawn(int64_t n) {
  std::vector<weft::Fiber<void>> fs(n);
  for (int round = 0; round < 2; ++round) {
    const bool warm = round == 1;
    weft::Event go;
    if (warm) CALLGRIND_ZERO_STATS;
    for (auto& f : fs) f = weft::spawn([&go] { go.wait(); });
    if (warm) CALLGRIND_DUMP_STATS_AT("spawn");
    go.set();
    for (auto& f : fs) f.join();
    if (warm) CALLGRIND_DUMP_STATS_AT("rest");
    for (auto& f : fs) f = weft::Fiber<void>();  // the stacks back to the pool
  }
}

void yield(int64_t n, int fibers) {
  weft::Event go;
  std::vector<weft::Fiber<void>> fs;
  for (int i = 0; i < fibers; ++i) {
    fs.push_back(weft::spawn([&go, n, fibers] {
      go.wait();
      for (int64_t j = 0; j < n / fibers; ++j) weft::yield();
    }));
  }
  weft::yield();  // every fiber waits on go
  CALLGRIND_ZERO_STATS;
  go.set();
  for (auto& f : fs) f.join();
  CALLGRIND_DUMP_STATS_AT("measured");
}

void pingpong(int64_t n) {
  weft::Channel<int64_t> ping, pong;
  auto echo = weft::spawn([&] {
    while (auto v = ping.recv()) (void)pong.send(*v + 1);
  });
  int64_t token = 0;
  for (int i = 0; i < 1000; ++i) {
    (void)ping.send(token);
    token = *pong.recv();
  }
  CALLGRIND_ZERO_STATS;
  for (int64_t i = 0; i < n; ++i) {
    (void)ping.send(token);
    token = *pong.recv();
  }
  CALLGRIND_DUMP_STATS_AT("measured");
  (void)ping.close();
  echo.join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: weft_op_counts spawnjoin|skynet|respawn|yield1|yield2|pingpong "
                 "N WORKERS [HANDOFF]\n");
    return 2;
  }
  const std::string w = argv[1];
  const int64_t n = std::atoll(argv[2]);
  weft::RuntimeOptions options{.workers = std::atoi(argv[3])};
  if (argc > 4 && std::atoi(argv[4]) == 0) options.handoff_threshold = absl::ZeroDuration();
  bool ok = true;
  weft::run(options, [&] {
    if (w == "spawnjoin") {
      spawnjoin(n);
    } else if (w == "skynet") {
      skynet(0, 1000);  // warms the pool
      CALLGRIND_ZERO_STATS;
      const int64_t sum = skynet(0, n);
      CALLGRIND_DUMP_STATS_AT("measured");
      ok = sum == n * (n - 1) / 2;
    } else if (w == "respawn") {
      respawn(n);
    } else if (w == "yield1" || w == "yield2") {
      yield(n, w == "yield1" ? 1 : 2);
    } else if (w == "pingpong") {
      pingpong(n);
    } else {
      std::fprintf(stderr, "weft_op_counts: unknown workload %s\n", w.c_str());
      ok = false;
    }
  });
  return ok ? 0 : 1;
}
