// producer_consumer: a producer feeds bones to two dogs through
// weft::Generator::send.
//
// The C++ port of examples/seeds/producer_consumer.py, line for line: it
// prints the same bytes (Chinese text and ANSI colours included), which
// tests/examples/check_producer_consumer.sh checks. Each dog is a
// Generator<int, int>: it receives bones and yields how many it has eaten.
// next() starts a dog (Python's send(None)); close() ends it with
// weft::GeneratorExit at its yield.
//
//   producer_consumer                  # five bones, two dogs, coloured
//   producer_consumer --bones=8 --nocolor
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "weft/core/generator.h"

ABSL_FLAG(int, bones, 5, "how many bones the producer throws (1 or more)");
ABSL_FLAG(bool, color, true, "colour each speaker's lines with ANSI escapes");

namespace {

constexpr const char* kYellow = "\033[33m";  // 主人, the producer
constexpr const char* kGreen = "\033[32m";   // 旺财
constexpr const char* kCyan = "\033[36m";    // 小黑

// Python: say(colour, text) -> print(f"{colour}{text}{RESET}")
void Say(const char* colour, const std::string& text) {
  if (absl::GetFlag(FLAGS_color)) {
    std::printf("%s%s\033[0m\n", colour, text.c_str());
  } else {
    std::printf("%s\n", text.c_str());
  }
}

using Dog = weft::Generator<int, int>;  // yields bones eaten; receives bones

Dog MakeDog(std::string name, const char* colour) {
  return Dog([name = std::move(name), colour](Dog::Co& co) {
    int eaten = 0;
    Say(colour, "[" + name + "] 摇着尾巴等骨头");
    try {
      for (;;) {
        std::optional<int> bone = co.yield(eaten);  // bone = yield eaten
        if (!bone) break;
        ++eaten;
        Say(colour, "[" + name + "] 啃完第 " + std::to_string(*bone) + " 根骨头，一共吃了 " +
                        std::to_string(eaten) + " 根");
      }
    } catch (const weft::GeneratorExit&) {
      Say(colour, "[" + name + "] 吃饱了，趴下睡觉");
      throw;
    }
  });
}

void Producer(std::vector<std::pair<std::string, Dog>>& dogs, int bones) {
  for (auto& [name, dog] : dogs) dog.next();  // start the dog: it runs to its first yield
  for (int bone = 1; bone <= bones; ++bone) {
    auto& [name, dog] = dogs[(bone - 1) % dogs.size()];
    Say(kYellow, "[主人] 把第 " + std::to_string(bone) + " 根骨头扔给" + name);
    int eaten = *dog.send(bone);
    Say(kYellow, "[主人] " + name + "已经吃了 " + std::to_string(eaten) + " 根");
  }
  for (auto& [name, dog] : dogs) dog.close();
  Say(kYellow, "[主人] 骨头喂完了");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("A producer feeds bones to two dog generators with send().");
  absl::ParseCommandLine(argc, argv);
  const int bones = absl::GetFlag(FLAGS_bones);
  if (bones < 1) {
    std::fprintf(stderr, "producer_consumer: --bones must be 1 or more, got %d\n", bones);
    return 2;
  }
  std::vector<std::pair<std::string, Dog>> dogs;
  dogs.emplace_back("旺财", MakeDog("旺财", kGreen));
  dogs.emplace_back("小黑", MakeDog("小黑", kCyan));
  Producer(dogs, bones);
  return 0;
}
