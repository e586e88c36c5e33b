// getcurrent: seed program #7 ("gevent"), ported one to one from
// examples/seeds/getcurrent.py: three fibers run f(5), which prints
// weft::current() (gevent.getcurrent()) and i for i in 0..4; the main fiber
// spawns g1, g2 and g3, then joins each in turn.
//
//   getcurrent                # as the seed: each fiber prints its 5 lines in turn
//   getcurrent --sleep        # the document's second run, gevent.sleep(1) uncommented:
//                             # they take turns, a line each, a round a second (~5 s)
//   getcurrent --sleep --scale=0.1 --workers=4
//
// Nothing in f gives up the worker, so on one worker (the default, like
// gevent's one thread) each fiber runs to its end before the next starts:
//   <Fiber 2 on worker 0> 0          gevent: <Greenlet at 0x2e47f80: f(5)> 0
//   <Fiber 2 on worker 0> 1
//   ...                              5 lines of g1, then g2's, then g3's
// With --sleep each line is followed by sleep_for(1 s) (gevent.sleep(1)),
// which parks the fiber, so the three take turns: g1 0, g2 0, g3 0, g1 1, ...
// weft's fiber ids stand where gevent prints greenlet addresses;
// tests/examples/check_getcurrent.sh diffs the two once each repr is
// replaced by its greenlet's or fiber's place in spawn order.
// With more workers the fibers run at the same time and their lines
// interleave; each fiber's own lines stay in order.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "weft/weft.h"

ABSL_FLAG(bool, sleep, false,
          "sleep 1 s after each line: the document's second run, with the seed's "
          "#gevent.sleep(1) uncommented");
ABSL_FLAG(double, scale, 1.0, "multiplies --sleep's 1 s (0.1: 100 ms)");
ABSL_FLAG(int, workers, 1, "worker threads (1: one thread, like gevent; 0: one per core)");

namespace {

void f(int n) {
  for (int i = 0; i < n; ++i) {
    // print(gevent.getcurrent(), i), in one printf: lines from fibers on
    // different workers never mix.
    std::printf("%s %d\n", weft::current().to_string().c_str(), i);
    if (absl::GetFlag(FLAGS_sleep)) {  // #gevent.sleep(1)
      weft::sleep_for(absl::Seconds(1 * absl::GetFlag(FLAGS_scale)));
    }
    // 该语句是耗时操作,gevent会检测到并且切换线程的执行
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Seed #7: three fibers print weft::current() and a counter (gevent.getcurrent()).");
  absl::ParseCommandLine(argc, argv);
  if (!(absl::GetFlag(FLAGS_scale) >= 0)) {
    std::fprintf(stderr, "getcurrent: --scale must be >= 0, got %g\n", absl::GetFlag(FLAGS_scale));
    return 2;
  }
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  if (absl::Status s = options.validate(); !s.ok()) {
    std::fprintf(stderr, "getcurrent: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return weft::run(options, [] {
    auto g1 = weft::spawn(f, 5);
    auto g2 = weft::spawn(f, 5);
    auto g3 = weft::spawn(f, 5);
    g1.join();
    g2.join();
    g3.join();
  });
}
