// echo_load — a fiber-based TCP echo load generator.
//
//   echo_load --port=7788 --connections=100 --seconds=10 --size=64
//   rps=123456 p50_us=41 p99_us=97 errors=0
//
// Each connection is one fiber doing ping-pong: write `size` bytes, read them
// back, repeat, timing every round trip. All connections are dialled first;
// timing starts when the last one is up. rps counts completed round trips
// over the measured interval.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/clock.h"
#include "weft/weft.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "server address");
ABSL_FLAG(int, port, 7788, "server port");
ABSL_FLAG(int, connections, 100, "concurrent connections (one fiber each)");
ABSL_FLAG(double, seconds, 10, "how long to measure");
ABSL_FLAG(int, size, 64, "message size in bytes");
ABSL_FLAG(int, workers, 1, "worker threads of the load generator");

namespace {

struct ConnResult {
  std::vector<uint32_t> latencies_ns;  // one per round trip (saturating at ~4 s)
  bool failed = false;
};

void run_connection(const std::string& where, int size, weft::Latch* ready, weft::Event* go,
                    const absl::Time* start, const absl::Time* stop, ConnResult* out) {
  absl::StatusOr<weft::net::TcpStream> conn = weft::net::dial_for(where, absl::Seconds(10));
  ready->count_down();
  if (!conn.ok()) {
    std::fprintf(stderr, "echo_load: %s\n", std::string(conn.status().message()).c_str());
    out->failed = true;
    return;
  }
  go->wait();  // start and stop are set before go
  std::string msg(static_cast<std::size_t>(size), 'x');
  std::string back(static_cast<std::size_t>(size), '\0');
  out->latencies_ns.reserve(1 << 16);
  weft::sleep_until(*start);
  for (;;) {
    absl::Time t0 = absl::Now();
    if (t0 >= *stop) break;
    if (!conn->write_all(msg).ok() || !conn->read_exact(back).ok()) {
      out->failed = true;
      return;
    }
    int64_t ns = absl::ToInt64Nanoseconds(absl::Now() - t0);
    out->latencies_ns.push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("TCP echo load generator (one fiber per connection)");
  absl::ParseCommandLine(argc, argv);
  const int connections = absl::GetFlag(FLAGS_connections);
  const int size = absl::GetFlag(FLAGS_size);
  if (connections <= 0 || size <= 0 || absl::GetFlag(FLAGS_seconds) <= 0) {
    std::fprintf(stderr, "echo_load: --connections, --size and --seconds must be positive\n");
    return 2;
  }
  std::string host = absl::GetFlag(FLAGS_host);
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  const std::string where = host + ":" + std::to_string(absl::GetFlag(FLAGS_port));
  const absl::Duration measure = absl::Seconds(absl::GetFlag(FLAGS_seconds));

  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  std::vector<ConnResult> results(static_cast<std::size_t>(connections));
  absl::Time start, stop;
  weft::run(options, [&] {
    weft::Latch ready(connections);
    weft::Event go;
    std::vector<weft::Fiber<void>> fibers;
    fibers.reserve(results.size());
    for (auto& r : results) {
      fibers.push_back(weft::spawn(run_connection, where, size, &ready, &go, &start, &stop, &r));
    }
    ready.wait();  // every connection is dialled (or failed)
    start = absl::Now() + absl::Milliseconds(20);
    stop = start + measure;
    go.set();
    weft::join_all(fibers);
  });

  std::vector<uint32_t> all;
  int errors = 0;
  for (auto& r : results) {
    errors += r.failed;
    all.insert(all.end(), r.latencies_ns.begin(), r.latencies_ns.end());
  }
  if (all.empty()) {
    std::printf("rps=0 p50_us=0 p99_us=0 errors=%d\n", errors);
    return 1;
  }
  auto pct = [&](double p) {
    auto k = static_cast<std::size_t>(p * static_cast<double>(all.size() - 1));
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
    return all[k] / 1000.0;
  };
  double rps = static_cast<double>(all.size()) / absl::ToDoubleSeconds(measure);
  std::printf("rps=%.0f p50_us=%.1f p99_us=%.1f errors=%d\n", rps, pct(0.50), pct(0.99), errors);
  return errors == 0 ? 0 : 1;
}
