// Uses an installed libweft_hook.so (weft::hook): with it linked, libc's
// usleep in a fiber parks only that fiber, so the other fiber of the one
// worker runs meanwhile. Without the hook usleep would block the worker,
// and the other fiber could run only after it.
// Expected output, exactly (exit status 0):
//   hook=enabled
//   usleep parked only its fiber
#include <unistd.h>
#include <weft/weft.h>

#include <cstdio>

int main() {
  return weft::run({.workers = 1}, [] {
    std::printf("hook=%s\n", weft::hook::enabled() ? "enabled" : "disabled");
    bool other_ran = false;
    auto other = weft::spawn([&] { other_ran = true; });
    usleep(100 * 1000);  // hooked: the other fiber runs meanwhile
    const bool ran_during_sleep = other_ran;
    other.join();
    std::printf("usleep %s\n", ran_during_sleep ? "parked only its fiber" : "blocked the worker");
    return ran_during_sleep ? 0 : 1;
  });
}
