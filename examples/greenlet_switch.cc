// greenlet_switch: explicit switching between greenlets.
//
// The C++ port of examples/seeds/greenlet_switch.py (Python's greenlet):
//   part 1, greenlet's classic: test1 prints 123 and switches to test2,
//   which prints 789 and switches back; test1 prints 456 and ends, which
//   returns control to its parent, the main greenlet; main switches to test2
//   again, which prints 666;
//   part 2, the A/B ping-pong: two greenlets switching to each other, endless
//   in the seed, here --rounds rounds.
// With --fiber both parts run inside a weft fiber instead of on the main
// thread: greenlets work in both, with the same output.
//
//   greenlet_switch               # 123 789 456 666, then A1 B1 ... A5 B5
//   greenlet_switch --rounds=2 --fiber
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "weft/core/greenlet.h"
#include "weft/weft.h"

ABSL_FLAG(int, rounds, 5, "A/B ping-pong rounds (0 or more)");
ABSL_FLAG(bool, fiber, false, "run inside a weft fiber instead of on the main thread");

namespace {

void Classic() {
  weft::Greenlet gr1, gr2;
  gr1 = weft::Greenlet([&] {  // def test1():
    std::printf("123\n");
    gr2.switch_to();
    std::printf("456\n");
  });
  gr2 = weft::Greenlet([&] {  // def test2():
    std::printf("789\n");
    gr1.switch_to();
    std::printf("666\n");
  });
  gr1.switch_to();
  gr2.switch_to();
}

void PingPong(int rounds) {
  weft::Greenlet ga, gb;
  ga = weft::Greenlet([&] {
    for (int i = 1; i <= rounds; ++i) {
      std::printf("A%d\n", i);
      gb.switch_to();
    }
  });
  gb = weft::Greenlet([&] {
    for (int i = 1;; ++i) {
      std::printf("B%d\n", i);
      ga.switch_to();
    }
  });
  ga.switch_to();  // returns when A has finished; B, suspended, is killed with its handle
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Greenlets switching explicitly: test1/test2 and A/B ping-pong.");
  absl::ParseCommandLine(argc, argv);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  if (rounds < 0) {
    std::fprintf(stderr, "greenlet_switch: --rounds must be 0 or more, got %d\n", rounds);
    return 2;
  }
  auto both = [rounds] {
    Classic();
    PingPong(rounds);
  };
  if (absl::GetFlag(FLAGS_fiber)) return weft::run({.workers = 2}, both);
  both();
  return 0;
}
