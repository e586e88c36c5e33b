// gevent_sleep: seed program #3 ("gevent 实现协程"), ported one to one from
// examples/seeds/gevent_sleep.py: func1, func2 and func3 sleep 2, 1 and 0
// seconds in three fibers at once, joined with join_all.
//
//   gevent_sleep                 # ~2 s in all, not 3
//   gevent_sleep --scale=0.1     # every sleep ten times shorter
//   gevent_sleep --workers=4
//
// Prints, as gevent does (func3's line has the seed's two spaces):
//   func1 running
//   func2 running
//   func3  running
//   func3 done..
//   switch func2
//   switch func1
// All three start before any sleep ends, so the run takes as long as the
// longest sleep. sleep_for(0) is yield(), gevent's sleep(0): func3 lets the
// others run and then finishes at once.
//
// The main fiber spawns the three and joins them, as the seed's module-level
// code does from gevent's main greenlet; on one worker they start in spawn
// order, as greenlets do. With one worker, the default, the output is
// gevent's, line for line (tests/examples/check_gevent_sleep.sh diffs it
// with the seed's); with more, the three "running" lines may come in any
// order.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "weft/weft.h"

ABSL_FLAG(double, scale, 1.0, "multiplies every sleep (0.1: 200 ms, 100 ms and 0)");
ABSL_FLAG(int, workers, 1, "worker threads (1: one thread, like gevent; 0: one per core)");

namespace {

absl::Duration scaled(double seconds) {
  return absl::Seconds(seconds * absl::GetFlag(FLAGS_scale));
}

void func1() {
  std::puts("func1 running");
  weft::sleep_for(scaled(2));  // 内部函数实现io操作
  std::puts("switch func1");
}

void func2() {
  std::puts("func2 running");
  weft::sleep_for(scaled(1));
  std::puts("switch func2");
}

void func3() {
  std::puts("func3  running");
  weft::sleep_for(absl::ZeroDuration());
  std::puts("func3 done..");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Seed #3: func1, func2 and func3 sleep 2, 1 and 0 s at once (gevent 实现协程).");
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
  return weft::run(options, [] {
    weft::join_all({
        weft::spawn(func1),
        weft::spawn(func2),
        weft::spawn(func3),
    });
  });
}
