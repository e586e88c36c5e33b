// gevent_sleep: three fibers sleep 2, 1 and 0 seconds at once — gevent's
// sleep demo (examples/seeds/gevent_sleep.py), line for line.
//
//   gevent_sleep                 # ~2 s in all, not 3
//   gevent_sleep --scale=0.1     # every sleep ten times shorter
//   gevent_sleep --workers=4
//
// Prints, as gevent does:
//   func1 running / func2 running / func3 running / func3 done.. /
//   switch func2 / switch func1
// All three start before any sleep ends, so the run takes as long as the
// longest sleep. sleep_for(0) is yield(), gevent's sleep(0): func3 lets the
// others run and then finishes at once.
//
// The fibers are spawned from the main thread, like gevent's module-level
// spawns: from a thread they start in spawn order (the injection queue is
// FIFO), as greenlets do. (Spawned from a fiber, the newest starts first:
// each worker runs its freshest spawn first, for fork-join locality.) With
// one worker, the default, the output is exactly gevent's; with more, the
// three "running" lines may come in any order.
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "weft/weft.h"

ABSL_FLAG(double, scale, 1.0, "multiplies every sleep (0.1: 200 ms, 100 ms and 0)");
ABSL_FLAG(int, workers, 1, "worker threads (1: one thread, like gevent; 0: one per core)");

namespace {

absl::Duration scaled(double seconds) { return absl::Seconds(seconds * absl::GetFlag(FLAGS_scale)); }

void func1() {
  std::puts("func1 running");
  weft::sleep_for(scaled(2));
  std::puts("switch func1");
}

void func2() {
  std::puts("func2 running");
  weft::sleep_for(scaled(1));
  std::puts("switch func2");
}

void func3() {
  std::puts("func3 running");
  weft::sleep_for(absl::ZeroDuration());
  std::puts("func3 done..");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("gevent's sleep demo: three fibers sleep 2, 1 and 0 s at once.");
  absl::ParseCommandLine(argc, argv);
  if (!(absl::GetFlag(FLAGS_scale) >= 0)) {
    std::fprintf(stderr, "gevent_sleep: --scale must be >= 0, got %g\n",
                 absl::GetFlag(FLAGS_scale));
    return 2;
  }
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  if (absl::Status s = options.validate(); !s.ok()) {
    std::fprintf(stderr, "gevent_sleep: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  weft::Runtime rt(options);
  // gevent.joinall([gevent.spawn(func1), gevent.spawn(func2), gevent.spawn(func3)])
  weft::join_all({rt.spawn(func1), rt.spawn(func2), rt.spawn(func3)});
  return 0;
}
