// generator_ab: seed program #5 ("利用yield"), ported one to one from
// examples/seeds/generator_ab.py.
//
// A() is an endless generator: it prints ----A----, yields (a bare `yield`:
// None), and when resumed sleeps 0.5 s and goes round again. main starts it
// and prints what it yielded (None); B(c) prints ----B----, resumes it with
// next() (c.__next__()), which runs A from its yield to the next one, and
// sleeps 0.5 s. The generators here switch by hand: nothing runs in between.
// tests/examples/check_generator_ab.sh diffs the output with the seed's.
//
//   generator_ab         # ~1 s
//
//   ----A----
//   None
//   ----B----
//   ----A----
//
// At the end, as Python's garbage collector closes `a`, its destructor closes
// it: GeneratorExit at the yield, nothing printed.
#include <cstdio>
#include <variant>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "weft/core/generator.h"

namespace {

using Gen = weft::Generator<std::monostate>;  // yields None, is sent nothing

// Python's print() of a bare yield's value.
const char* str(std::monostate) { return "None"; }

Gen A() {
  return Gen([](Gen::Co& co) {
    for (;;) {  // while True:
      std::printf("----A----\n");
      co.yield({});  // yield: 将A变为一个生成器,此时A已经不算一个函数了
      absl::SleepFor(absl::Milliseconds(500));  // time.sleep(0.5)
    }
  });
}

void B(Gen& c) {
  std::printf("----B----\n");
  c.next();  // c.__next__(): 利用next() 切换协程,将执行A中的代码块
  absl::SleepFor(absl::Milliseconds(500));  // time.sleep(0.5)
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Seed #5: generator A resumed by B with next() (利用yield).");
  absl::ParseCommandLine(argc, argv);
  Gen a = A();  // a代表生成器 此语句并不执行A()中的输出语句
  // print(a.__next__()): A never finishes, so there is always a value (else
  // value() would throw, as Python raises StopIteration).
  std::printf("%s\n", str(a.next().value()));
  B(a);
  return 0;
}
