// skynet: the million-fiber benchmark tree, weft's headline demo.
//
// Each fiber spawns 10 children until the leaves (1,000,000 by default); a
// leaf returns its ordinal, every inner fiber returns the sum of its
// children. The total must be leaves * (leaves - 1) / 2.
//
//   skynet                      # result=499999500000 time_ms=...
//   skynet --leaves=10000 --workers=1 --runs=3
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "weft/weft.h"

ABSL_FLAG(int64_t, leaves, 1000000, "number of leaf fibers; a power of 10");
ABSL_FLAG(int, workers, 0, "worker threads (0: one per core)");
ABSL_FLAG(int, runs, 1, "how many times to run the tree");

namespace {

int64_t skynet(int64_t num, int64_t size) {
  if (size == 1) return num;
  int64_t child = size / 10;
  std::array<weft::Fiber<int64_t>, 10> kids;
  for (int i = 0; i < 10; ++i) kids[i] = weft::spawn(skynet, num + i * child, child);
  int64_t sum = 0;
  for (auto& k : kids) sum += k.get();
  return sum;
}

bool power_of_ten(int64_t n) {
  if (n < 1) return false;
  while (n % 10 == 0) n /= 10;
  return n == 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Runs the skynet fiber tree and prints its sum and time.");
  absl::ParseCommandLine(argc, argv);
  const int64_t leaves = absl::GetFlag(FLAGS_leaves);
  if (!power_of_ten(leaves)) {
    std::fprintf(stderr, "skynet: --leaves must be a power of 10 (1, 10, 100, ...), got %lld\n",
                 static_cast<long long>(leaves));
    return 2;
  }
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  if (absl::Status s = options.validate(); !s.ok()) {
    std::fprintf(stderr, "skynet: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  const int64_t expected = leaves * (leaves - 1) / 2;
  return weft::run(options, [&] {
    int status = 0;
    for (int run = 0; run < absl::GetFlag(FLAGS_runs); ++run) {
      auto start = std::chrono::steady_clock::now();
      int64_t result = weft::spawn(skynet, int64_t{0}, leaves).get();
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
      std::printf("result=%lld time_ms=%.1f\n", static_cast<long long>(result), ms.count());
      if (result != expected) {
        std::fprintf(stderr, "skynet: wrong sum, expected %lld\n",
                     static_cast<long long>(expected));
        status = 1;
      }
    }
    return status;
  });
}
