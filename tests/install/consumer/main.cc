// Uses an installed weft: fibers, a Generator and Greenlets. Generators and
// greenlets switch through code inlined into this program (coroutine_switch in
// core/internal/coroutine.h), so under a sanitizer build this checks that the
// installed targets gave it the macros that code needs: a TSan consumer
// without WEFT_TSAN=1 crashes in its first switch, and an ASan one without
// WEFT_ASAN=1 warns "ASan is ignoring requested __asan_handle_no_return" when
// an exception unwinds (the test wants nothing on stderr).
// Expected output, exactly (exit status 0):
//   sum=45
//   generator=0 1 3 6 10
//   greenlet=12 56 34 78
//   caught=generator greenlet
#include <weft/weft.h>

#include <array>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>

int main() {
  return weft::run([] {
    // 10 fibers returning 0..9.
    std::array<weft::Fiber<int>, 10> fibers;
    for (int i = 0; i < 10; ++i) fibers[i] = weft::spawn([](int x) { return x; }, i);
    int sum = 0;
    for (auto& f : fibers) sum += f.get();
    std::printf("sum=%d\n", sum);

    // A generator yielding the running total of what it is sent, in a fiber.
    auto running_totals = [] {
      weft::Generator<int, int> total([](auto& co) {
        int t = 0;
        std::optional<int> x = co.yield(t);
        while (x) x = co.yield(t += *x);
      });
      std::string out = std::to_string(total.next().value_or(-1));
      for (int i = 1; i <= 4; ++i) out += " " + std::to_string(total.send(i).value_or(-1));
      return out;
    };
    std::string gen = weft::spawn(running_totals).get();
    std::printf("generator=%s\n", gen.c_str());

    // Two greenlets switching to each other (greenlet.h's banner example).
    std::string trace;
    weft::Greenlet gr1, gr2;
    gr1 = weft::Greenlet([&] {
      trace += "12";
      gr2.switch_to();
      trace += " 34";
    });
    gr2 = weft::Greenlet([&] {
      trace += " 56";
      gr1.switch_to();
      trace += " 78";
    });
    gr1.switch_to();  // 12 56 34: gr1 returns here, gr2 is left suspended
    gr2.switch_to();  // 78
    std::printf("greenlet=%s\n", trace.c_str());

    // Exceptions thrown on a generator's and a greenlet's stack, caught on the
    // fiber's: unwinding must know which stack it is on.
    std::string caught;
    weft::Generator<int> failing([](auto& co) {
      co.yield(1);
      throw std::runtime_error("generator");
    });
    failing.next();
    try {
      failing.next();
    } catch (const std::runtime_error& e) {
      caught += e.what();
    }
    weft::Greenlet thrower([] { throw std::runtime_error("greenlet"); });
    try {
      thrower.switch_to();
    } catch (const std::runtime_error& e) {
      caught += std::string(" ") + e.what();
    }
    std::printf("caught=%s\n", caught.c_str());

    bool ok = sum == 45 && gen == "0 1 3 6 10" && trace == "12 56 34 78" &&
              caught == "generator greenlet";
    return ok ? 0 : 1;
  });
}
