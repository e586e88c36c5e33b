// generator_ab: two generators, A and B, taking turns.
//
// The C++ port of examples/seeds/generator_ab.py: each task prints a line
// and yields; a round-robin loop resumes whichever is next until both have
// finished, so the lines interleave (A1 B1 A2 B2 A3 B3). The same idea, with
// a scheduler, is what weft's fibers do on every core.
//
//   generator_ab                 # A and B, three steps each
//   generator_ab --a_steps=2 --b_steps=4
#include <cstdio>
#include <deque>
#include <string>
#include <utility>
#include <variant>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "weft/core/generator.h"

ABSL_FLAG(int, a_steps, 3, "lines task A prints (0 or more)");
ABSL_FLAG(int, b_steps, 3, "lines task B prints (0 or more)");

namespace {

using Task = weft::Generator<std::monostate>;  // yields nothing: Python's bare `yield`

Task MakeTask(std::string name, int steps) {
  return Task([name = std::move(name), steps](Task::Co& co) {
    for (int i = 1; i <= steps; ++i) {
      std::printf("%s%d\n", name.c_str(), i);
      co.yield({});
    }
  });
}

void Run(std::deque<Task> ready) {
  while (!ready.empty()) {
    Task t = std::move(ready.front());
    ready.pop_front();
    if (t.next()) ready.push_back(std::move(t));  // nullopt: StopIteration, drop it
  }
  std::printf("all done\n");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Two generators, A and B, resumed in turn.");
  absl::ParseCommandLine(argc, argv);
  const int a = absl::GetFlag(FLAGS_a_steps), b = absl::GetFlag(FLAGS_b_steps);
  if (a < 0 || b < 0) {
    std::fprintf(stderr, "generator_ab: --a_steps and --b_steps must be 0 or more\n");
    return 2;
  }
  std::deque<Task> tasks;
  tasks.push_back(MakeTask("A", a));
  tasks.push_back(MakeTask("B", b));
  Run(std::move(tasks));
  return 0;
}
