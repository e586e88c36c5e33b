// producer_consumer: seed program #1 ("yield实现协程"), ported one to one from
// examples/seeds/producer_consumer.py.
//
// consumer(name) is a generator that is sent bones: a
// weft::Generator<std::monostate, int>, yielding nothing (the seed's bare
// `yield`, which hands back None) and resumed by send(n) with n.
// producer(obj1, obj2) starts both (the seed's send(None), which its comment
// says is obj.__next__(): weft's next()), then throws bones 1 to 5 to each in
// turn. It prints the seed's bytes: the Chinese text, the ANSI colours, the
// space after the consumer line; tests/examples/check_producer_consumer.sh
// diffs the two outputs.
//
//   producer_consumer
//
//   要开始啃骨头了...
//   [consumer] 消费者A              (red; the line ends in a space)
//   要开始啃骨头了...
//   [consumer] 消费者B
//   [producer] 正在生产骨头 1       ("[producer]" green)
//   [消费者A] 正在啃骨头 1
//   [consumer] 消费者A
//   [消费者B] 正在啃骨头 1
//   [consumer] 消费者B              ... up to bone 5
//
// At the end, as Python's garbage collector closes con1 and con2, their
// destructors close them: GeneratorExit at the yield, nothing printed.
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "weft/core/generator.h"

namespace {

// Yields None, receives the bones.
using Consumer = weft::Generator<std::monostate, int>;

// Python's "%s" % bone: a bone resumed by next() instead of send() is None.
std::string str(const std::optional<int>& bone) { return bone ? std::to_string(*bone) : "None"; }

Consumer consumer(std::string name) {
  return Consumer([name = std::move(name)](Consumer::Co& co) {
    std::printf("要开始啃骨头了...\n");
    for (;;) {  // while True:
      std::printf("\033[31;1m[consumer] %s\033[0m \n", name.c_str());
      std::optional<int> bone = co.yield({});  // bone = yield
      std::printf("[%s] 正在啃骨头 %s\n", name.c_str(), str(bone).c_str());
    }
  });
}

void producer(Consumer& obj1, Consumer& obj2) {
  obj1.next();  // 启动obj1这个生成器,第一次必须用None  <==> obj1.__next__()
  obj2.next();  // 启动obj2这个生成器,第一次必须用None  <==> obj2.__next__()
  int n = 0;
  while (n < 5) {
    n += 1;
    std::printf("\033[32;1m[producer]\033[0m 正在生产骨头 %d\n", n);
    obj1.send(n);
    obj2.send(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Seed #1: a producer sends five bones to two consumer generators (yield实现协程).");
  absl::ParseCommandLine(argc, argv);
  Consumer con1 = consumer("消费者A");
  Consumer con2 = consumer("消费者B");
  producer(con1, con2);
  return 0;
}
