// Uses an installed weft: spawns 10 fibers returning 0..9 and prints their sum.
// Expected output: "sum=45"; exits 1 if the sum is wrong.
#include <weft/weft.h>

#include <array>
#include <cstdio>

int main() {
  return weft::run([] {
    std::array<weft::Fiber<int>, 10> fibers;
    for (int i = 0; i < 10; ++i) fibers[i] = weft::spawn([](int x) { return x; }, i);
    int sum = 0;
    for (auto& f : fibers) sum += f.get();
    std::printf("sum=%d\n", sum);
    return sum == 45 ? 0 : 1;
  });
}
