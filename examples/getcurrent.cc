// getcurrent: three fibers print weft::current() and a counter — gevent's
// getcurrent demo (examples/seeds/getcurrent.py), line for line.
//
//   getcurrent                # one worker: the same order as gevent
//   getcurrent --workers=4    # the fibers run in parallel; lines interleave
//
// Without a sleep, nothing makes a fiber give up its worker, so on one
// worker each runs to the end in turn, as greenlets do:
//   without sleep:
//   <Fiber 3 "f(5)" on worker 0> 0
//   <Fiber 3 "f(5)" on worker 0> 1     ... 5 lines each, one fiber after another
// With sleep_for(0) (yield, gevent's sleep(0)) after each line they take
// turns, one line each:
//   with sleep(0):
//   <Fiber 7 "f_sleep(5)" on worker 0> 0
//   <Fiber 6 "f_sleep(5)" on worker 0> 0
//   <Fiber 5 "f_sleep(5)" on worker 0> 0
//   <Fiber 7 "f_sleep(5)" on worker 0> 1   ...
// The ids differ from gevent's reprs, and so may which fiber goes first (a
// worker starts its newest spawn first), but the shape is the same. With
// more workers the fibers run at the same time and their lines interleave;
// each fiber's own lines stay in order.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "weft/weft.h"

ABSL_FLAG(int, workers, 1, "worker threads (1: one thread, like gevent; 0: one per core)");
ABSL_FLAG(int, count, 5, "lines each fiber prints (gevent's f(5))");

namespace {

// One printf a line: lines from fibers on different workers never mix.
void print_line(int i) { std::printf("%s %d\n", weft::current().to_string().c_str(), i); }

void f(int n) {
  weft::set_name(absl::StrCat("f(", n, ")"));
  for (int i = 0; i < n; ++i) print_line(i);
}

void f_sleep(int n) {
  weft::set_name(absl::StrCat("f_sleep(", n, ")"));
  for (int i = 0; i < n; ++i) {
    print_line(i);
    weft::sleep_for(absl::ZeroDuration());  // gevent.sleep(0)
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "gevent's getcurrent demo: three fibers print current() and a counter.");
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_count);
  if (n < 0) {
    std::fprintf(stderr, "getcurrent: --count must be >= 0, got %d\n", n);
    return 2;
  }
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  if (absl::Status s = options.validate(); !s.ok()) {
    std::fprintf(stderr, "getcurrent: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return weft::run(options, [n] {
    std::puts("without sleep:");
    auto g1 = weft::spawn(f, n);
    auto g2 = weft::spawn(f, n);
    auto g3 = weft::spawn(f, n);
    g1.join();
    g2.join();
    g3.join();

    std::puts("with sleep(0):");
    g1 = weft::spawn(f_sleep, n);
    g2 = weft::spawn(f_sleep, n);
    g3 = weft::spawn(f_sleep, n);
    g1.join();
    g2.join();
    g3.join();
  });
}
