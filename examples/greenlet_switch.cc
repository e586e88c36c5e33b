// greenlet_switch: seed programs #2 ("greenlet") and #6 ("利用greenlet"), one
// after the other, ported one to one from examples/seeds/greenlet_switch.py.
//
// #2: test1 prints 123 and switches to test2, which prints 789 and switches
// back; test1 prints 456 and switches to test2 again, which goes on where it
// was, prints 666 and ends, returning to its parent: main. (test1, left in
// its second switch, is killed when its handle goes, as Python's collector
// does.)
// #6: the A/B ping-pong: test1 prints ----A---- and switches to test2, which
// prints ----B---- and switches back; each, when switched back to, sleeps
// 0.5 s (the seed's time.sleep, a blocking sleep) and goes round again: a
// line every 0.5 s.
// Endless in the document; here test1 goes round --rounds times and then
// returns to main, as in the trimmed seed.
// With --fiber both run inside a weft fiber instead of on the main thread,
// with the same output: greenlets work in both. (There the 0.5 s sleeps park
// the fiber instead of blocking its worker.)
// tests/examples/check_greenlet_switch.sh diffs the output with the seed's.
//
//   greenlet_switch               # 123 789 456 666, then 5 x ----A---- ----B---- (~4.5 s)
//   greenlet_switch --rounds=2 --fiber
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "weft/core/greenlet.h"
#include "weft/weft.h"

ABSL_FLAG(int, rounds, 5, "A/B ping-pong rounds, endless in the seed (0 or more)");
ABSL_FLAG(bool, fiber, false, "run inside a weft fiber instead of on the main thread");

namespace {

// time.sleep(d): blocks the thread, as in the seed. Inside a fiber it parks
// the fiber instead, so that its worker is free for others meanwhile.
void time_sleep(absl::Duration d) {
  if (weft::in_fiber()) {
    weft::sleep_for(d);
  } else {
    absl::SleepFor(d);
  }
}

// Seed #2. gr1 and gr2 are locals, not globals, so that with --fiber they
// go before their fiber ends (greenlets must not outlive it); test1 and
// test2 see them as the seed's functions see the module's gr1 and gr2.
void seed2() {
  weft::Greenlet gr1, gr2;
  auto test1 = [&] {
    std::printf("123\n");
    gr2.switch_to();  // 切换去执行test2
    std::printf("456\n");
    gr2.switch_to();  // 切换回test2之前执行到的位置，接着执行
  };
  auto test2 = [&] {
    std::printf("789\n");
    gr1.switch_to();  // 切换回test1之前执行到的位置，接着执行
    std::printf("666\n");
  };
  gr1 = weft::Greenlet(test1);  // 启动一个协程 注意test1不要加()
  gr2 = weft::Greenlet(test2);
  gr1.switch_to();
}

// Seed #6, test1 trimmed to `rounds` rounds.
void seed6(int rounds) {
  weft::Greenlet gr1, gr2;
  auto test1 = [&] {
    for (int i = 0; i < rounds; ++i) {  // the document: while True
      std::printf("----A----\n");
      gr2.switch_to();  // 切换到gre2
      time_sleep(absl::Milliseconds(500));
    }
  };
  auto test2 = [&] {
    for (;;) {  // while True:
      std::printf("----B----\n");
      gr1.switch_to();
      time_sleep(absl::Milliseconds(500));
    }
  };
  gr1 = weft::Greenlet(test1);
  gr2 = weft::Greenlet(test2);
  gr1.switch_to();  // 切换线程,执行gr1
}  // gr2, suspended in its switch to gr1, is killed here (GreenletExit)

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Seeds #2 and #6: greenlets switching by hand: test1/test2, then the A/B ping-pong.");
  absl::ParseCommandLine(argc, argv);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  if (rounds < 0) {
    std::fprintf(stderr, "greenlet_switch: --rounds must be 0 or more, got %d\n", rounds);
    return 2;
  }
  auto both = [rounds] {
    seed2();
    seed6(rounds);
  };
  if (absl::GetFlag(FLAGS_fiber)) return weft::run({.workers = 2}, both);
  both();
  return 0;
}
