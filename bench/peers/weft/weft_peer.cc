// weft's side of tools/compare: the shapes of the Go programs under
// bench/peers/go (and of bench/peers/tokio), one binary with the workload as
// first argument, printing the same result lines
// (`peer=weft bench=... value=... unit=... extra=...`).
//
//   weft_peer skynet -n 1000000 -workers 2
//   weft_peer sleepers -n 1000000 -sleep_ms 10000   # issue #14's 1M sleepers
//
// WORKLOAD: skynet, spawnjoin, sleepers, yield, pingpong, chanthroughput.
// -workers 0 (the default) means one worker per core. Flags are spelt as Go's
// flag package spells them (-name value, -name=value, one or two dashes), so
// the comparison passes the same flags to every peer.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "weft/weft.h"

namespace {

int64_t flag_int(int argc, char** argv, const char* name, int64_t def) {
  const size_t len = std::strlen(name);
  for (int i = 2; i < argc; ++i) {
    const char* arg = argv[i];
    if (arg[0] != '-') continue;
    arg += (arg[1] == '-') ? 2 : 1;
    if (std::strncmp(arg, name, len) != 0) continue;
    if (arg[len] == '=') return std::strtoll(arg + len + 1, nullptr, 10);
    if (arg[len] == '\0' && i + 1 < argc) return std::strtoll(argv[i + 1], nullptr, 10);
  }
  return def;
}

double since_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

void report(const std::string& bench, double value, const char* unit, const std::string& extra) {
  std::printf("peer=weft bench=%s value=%.2f unit=%s extra=%s\n", bench.c_str(), value, unit,
              extra.c_str());
  std::fflush(stdout);
}

int64_t rss_bytes() {
  long size = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr || std::fscanf(f, "%ld %ld", &size, &resident) != 2) std::abort();
  std::fclose(f);
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

int64_t skynet(int64_t num, int64_t size) {
  if (size == 1) return num;
  int64_t child = size / 10;
  weft::Fiber<int64_t> kids[10];
  for (int i = 0; i < 10; ++i) kids[i] = weft::spawn(skynet, num + i * child, child);
  int64_t sum = 0;
  for (auto& k : kids) sum += k.get();
  return sum;
}

int run_skynet(int64_t n, int workers) {
  auto start = std::chrono::steady_clock::now();
  int64_t sum = weft::run({.workers = workers}, [n] { return skynet(0, n); });
  double ms = since_ms(start);
  if (sum != n * (n - 1) / 2) {
    std::fprintf(stderr, "skynet: wrong sum %lld\n", static_cast<long long>(sum));
    return 1;
  }
  report("skynet", ms, "ms", "n:" + std::to_string(n) + ",sum:" + std::to_string(sum));
  return 0;
}

int run_spawnjoin(int64_t n, int64_t batch, int workers) {
  auto start = std::chrono::steady_clock::now();
  int64_t spawned = weft::run({.workers = workers}, [n, batch] {
    std::vector<weft::Fiber<void>> fs(batch);
    int64_t spawned = 0;
    for (; spawned < n; spawned += batch) {
      for (auto& f : fs) f = weft::spawn([] {});
      for (auto& f : fs) f.join();
    }
    return spawned;
  });
  double ns = since_ms(start) * 1e6 / static_cast<double>(spawned);
  report("spawnjoin", ns, "ns_per_op",
         "n:" + std::to_string(spawned) + ",batch:" + std::to_string(batch));
  return 0;
}

// Issue #14's shape: every fiber sleeps once. Spawn time is the loop alone;
// memory is sampled once every fiber has started its sleep.
int run_sleepers(int64_t n, int64_t sleep_ms, int workers) {
  return weft::run({.workers = workers}, [n, sleep_ms] {
    std::vector<weft::Fiber<void>> fs(n);  // touched before the first reading
    std::atomic<int64_t> started{0};
    const int64_t before = rss_bytes();
    auto start = std::chrono::steady_clock::now();
    for (auto& f : fs) {
      f = weft::spawn([&started, sleep_ms] {
        started.fetch_add(1, std::memory_order_relaxed);
        weft::sleep_for(absl::Milliseconds(sleep_ms));
      });
    }
    const double spawn_ms = since_ms(start);
    while (started.load(std::memory_order_relaxed) < n) weft::yield();
    const double per_fiber = static_cast<double>(rss_bytes() - before) / static_cast<double>(n);
    for (auto& f : fs) f.join();
    report("sleepers/spawn", spawn_ms, "ms", "n:" + std::to_string(n));
    report("sleepers/rss", per_fiber, "bytes", "n:" + std::to_string(n));
    return 0;
  });
}

// Go's shape: one worker, 1 then 2 fibers yielding n times in all.
int run_yield(int64_t n) {
  return weft::run({.workers = 1}, [n] {
    for (int64_t w : {1, 2}) {
      const int64_t per = n / w;
      auto start = std::chrono::steady_clock::now();
      std::vector<weft::Fiber<void>> fs;
      for (int64_t i = 0; i < w; ++i) {
        fs.push_back(weft::spawn([per] {
          for (int64_t j = 0; j < per; ++j) weft::yield();
        }));
      }
      for (auto& f : fs) f.join();
      report("yield/" + std::to_string(w), since_ms(start) * 1e6 / static_cast<double>(per * w),
             "ns_per_op", "n:" + std::to_string(n) + ",procs:1");
    }
    return 0;
  });
}

// Go's shape: a token through two unbuffered channels, on 1 then 2 workers.
int run_pingpong(int64_t n) {
  for (int procs : {1, 2}) {
    double ns = weft::run({.workers = procs}, [n] {
      weft::Channel<int64_t> ping, pong;
      auto echo = weft::spawn([&] {
        while (auto v = ping.recv()) (void)pong.send(*v + 1);
      });
      auto start = std::chrono::steady_clock::now();
      int64_t token = 0;
      for (int64_t i = 0; i < n; ++i) {
        (void)ping.send(token);
        token = *pong.recv();
      }
      double ns = since_ms(start) * 1e6 / static_cast<double>(n);
      (void)ping.close();
      echo.join();
      if (token != n) std::abort();
      return ns;
    });
    report("pingpong/procs" + std::to_string(procs), ns, "ns_per_op", "n:" + std::to_string(n));
  }
  return 0;
}

int run_chanthroughput(int64_t n, int64_t producers, int64_t consumers, int64_t cap, int workers) {
  const int64_t per = n / producers;
  auto start = std::chrono::steady_clock::now();
  int64_t total = weft::run({.workers = workers}, [=] {
    weft::Channel<int64_t> ch(static_cast<size_t>(cap));
    std::vector<int64_t> sums(consumers);  // per consumer: no shared counter
    std::vector<weft::Fiber<void>> prods, cons;
    for (int64_t c = 0; c < consumers; ++c) {
      cons.push_back(weft::spawn([&ch, &sums, c] {
        int64_t s = 0;
        while (auto v = ch.recv()) s += *v;
        sums[c] = s;
      }));
    }
    for (int64_t p = 0; p < producers; ++p) {
      prods.push_back(weft::spawn([&ch, per] {
        for (int64_t i = 0; i < per; ++i) (void)ch.send(1);
      }));
    }
    for (auto& f : prods) f.join();
    (void)ch.close();
    for (auto& f : cons) f.join();
    int64_t total = 0;
    for (int64_t s : sums) total += s;
    return total;
  });
  const double secs = since_ms(start) / 1e3;
  if (total != per * producers) {
    std::fprintf(stderr, "chanthroughput: received %lld items\n", static_cast<long long>(total));
    return 1;
  }
  report("chanthroughput", static_cast<double>(total) / secs, "items_per_s",
         "n:" + std::to_string(total) + ",producers:" + std::to_string(producers) +
             ",consumers:" + std::to_string(consumers) + ",cap:" + std::to_string(cap));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: weft_peer skynet|spawnjoin|sleepers|yield|pingpong|chanthroughput "
                 "[-n N] [-workers W] ...\n");
    return 2;
  }
  const std::string w = argv[1];
  const int workers = static_cast<int>(flag_int(argc, argv, "workers", 0));
  if (w == "skynet") return run_skynet(flag_int(argc, argv, "n", 1000000), workers);
  if (w == "spawnjoin")
    return run_spawnjoin(flag_int(argc, argv, "n", 1000000), flag_int(argc, argv, "batch", 1000),
                         workers);
  if (w == "sleepers")
    return run_sleepers(flag_int(argc, argv, "n", 1000000), flag_int(argc, argv, "sleep_ms", 10000),
                        workers);
  if (w == "yield") return run_yield(flag_int(argc, argv, "n", 10000000));
  if (w == "pingpong") return run_pingpong(flag_int(argc, argv, "n", 1000000));
  if (w == "chanthroughput")
    return run_chanthroughput(
        flag_int(argc, argv, "n", 10000000), flag_int(argc, argv, "producers", 4),
        flag_int(argc, argv, "consumers", 4), flag_int(argc, argv, "cap", 1024), workers);
  std::fprintf(stderr, "weft_peer: unknown workload %s\n", w.c_str());
  return 2;
}
