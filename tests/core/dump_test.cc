// Runtime::dump: the summary, each fiber's wait site and stack, SIGQUIT.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using ::testing::HasSubstr;

// The waits the dump must name, each in a function of its own (noinline:
// each must appear in its fiber's stack where frame pointers allow).
__attribute__((noinline)) void WaitOnChannel(Channel<int>* ch) {
  ch->recv();
  asm volatile("");  // no tail call
}
__attribute__((noinline)) void WaitOnMutex(Mutex* mu) {
  mu->lock();
  mu->unlock();
  asm volatile("");
}
__attribute__((noinline)) void WaitOnSocket(int fd) {
  (void)io::wait_readable(fd);
  asm volatile("");
}
__attribute__((noinline)) void WaitOnSleep() {
  sleep_for(absl::Seconds(60));
  asm volatile("");
}

std::string Dump(Runtime& rt, DumpOptions options = {}) {
  std::ostringstream out;
  rt.dump(out, options);
  return out.str();
}

// The lines of the listing that describe fiber `id`, up to the next fiber.
std::string FiberSection(const std::string& dump, uint64_t id) {
  const std::string head = absl::StrCat("\nfiber ", id, " ");
  std::size_t at = dump.find(head);
  if (at == std::string::npos) at = dump.find(absl::StrCat("\nfiber ", id, ":"));
  if (at == std::string::npos) return "";
  std::size_t end = dump.find("\nfiber ", at + 1);
  return dump.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// Waits until the dump shows `n` fibers waiting (the fibers park on their
// own time).
std::string DumpWhenWaiting(Runtime& rt, int n) {
  for (int i = 0; i < 2000; ++i) {
    std::string d = Dump(rt);
    int waiting = 0;
    for (std::size_t at = 0; (at = d.find(": waiting on ", at)) != std::string::npos; ++at) {
      ++waiting;
    }
    if (waiting >= n) return d;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Dump(rt);
}

TEST(DumpTest, ListsEachWaitWithItsSiteAndStack) {
  Runtime rt({.workers = 2});
  Channel<int> ch;
  Mutex mu;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  Event mutex_held;
  // Holds the mutex (parked on an Event, itself listed as waiting on it).
  auto holder = rt.spawn([&] {
    mu.lock();
    mutex_held.set();
    ch.recv();  // released with the channel's close below
    mu.unlock();
  });
  auto on_channel = rt.spawn([&] { WaitOnChannel(&ch); });
  auto on_mutex = rt.spawn([&] {
    mutex_held.wait();
    WaitOnMutex(&mu);
  });
  auto on_socket = rt.spawn([&] { WaitOnSocket(sv[0]); });
  auto on_sleep = rt.spawn([] {
    set_name("sleeper");
    WaitOnSleep();
  });

  const std::string d = DumpWhenWaiting(rt, 5);
  SCOPED_TRACE(d);
  EXPECT_THAT(d, HasSubstr("live fibers on 2 workers"));
  EXPECT_THAT(d, HasSubstr("waiting on Channel recv"));  // the summary

  const std::string chan = FiberSection(d, on_channel.id());
  EXPECT_THAT(chan, HasSubstr(": waiting on Channel recv 0x"));
  const std::string mutex = FiberSection(d, on_mutex.id());
  EXPECT_THAT(mutex, HasSubstr(": waiting on Mutex 0x"));
  const std::string sock = FiberSection(d, on_socket.id());
  EXPECT_THAT(sock, HasSubstr(absl::StrCat(": waiting on fd ", sv[0], " readable")));
  const std::string sleep = FiberSection(d, on_sleep.id());
  EXPECT_THAT(sleep, HasSubstr("\"sleeper\": waiting on sleep until +"));
  for (const std::string* s : {&chan, &mutex, &sock, &sleep}) {
    EXPECT_THAT(*s, HasSubstr(", for "));
    // Every suspended fiber's stack starts where it switched out: in
    // park_current (the switch is inlined there), or in Context::jump
    // under a sanitizer (out of line, for the annotations).
    EXPECT_THAT(*s, HasSubstr("#0 "));
    EXPECT_THAT(*s, ::testing::AnyOf(HasSubstr("park_current"), HasSubstr("Context::jump")));
  }
#if defined(WEFT_FRAME_POINTERS)
  // With frame pointers the walk reaches the test's own functions.
  EXPECT_THAT(chan, HasSubstr("WaitOnChannel"));
  EXPECT_THAT(mutex, HasSubstr("WaitOnMutex"));
  EXPECT_THAT(sock, HasSubstr("WaitOnSocket"));
  EXPECT_THAT(sleep, HasSubstr("WaitOnSleep"));
#endif
  EXPECT_TRUE(ch.close().ok());
  on_sleep.kill();
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  for (auto* f : {&holder, &on_channel, &on_mutex, &on_socket, &on_sleep}) f->join();
  io::forget(sv[0]);
  close(sv[0]);
  close(sv[1]);
}

TEST(DumpTest, RunningFiberListsItself) {
  Runtime rt({.workers = 1});
  // A fiber may dump its own runtime; it is the one running.
  auto g = rt.spawn([&rt] {
    std::ostringstream out;
    rt.dump(out);
    return out.str();
  });
  const std::string d = g.get();
  EXPECT_THAT(d, HasSubstr(absl::StrCat("fiber ", g.id(), ": running on worker 0")));
}

TEST(DumpTest, SummaryAtAHundredThousandFibers) {
  // TSan counts each fiber as a thread (at most 8128): 1000 there.
  const int n = static_cast<int>(test::Scaled(100'000, 100));
  // Declared before the runtime: the fibers released at the end are still
  // leaving release.wait() when the test body ends, and the runtime's
  // destructor waits for them.
  Event release;
  std::atomic<int> parked{0};
  Runtime rt({.workers = 2});
  rt.spawn([&] {
      for (int i = 0; i < n; ++i) {
        weft::spawn([&] {
          parked.fetch_add(1, std::memory_order_relaxed);
          release.wait();
        }).detach();
      }
    }).join();
  while (parked.load() != n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The last one counted itself before parking: let it park.
  std::string d;
  for (int i = 0; i < 1000; ++i) {
    d = Dump(rt, {.max_fibers = 3});
    if (d.find(absl::StrCat(n, "  waiting on Event 0x")) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  SCOPED_TRACE(d.substr(0, 4000));
  EXPECT_THAT(d, HasSubstr(absl::StrCat("weft dump: ", n, " live fibers")));
  // One summary line for them all, then three listed and the rest counted.
  EXPECT_THAT(d, HasSubstr(absl::StrCat(n, "  waiting on Event 0x")));
  EXPECT_THAT(d, HasSubstr(absl::StrCat("(", n - 3, " more fibers not listed)")));
  EXPECT_LT(d.size(), 20'000u);
  release.set();
}

TEST(DumpTest, SigquitDumpsToStderrAndTheProcessGoesOn) {
  // stderr into a pipe we can read with a deadline.
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  const int saved = dup(2);
  ASSERT_EQ(dup2(p[1], 2), 2);
  std::string got;
  {
    Runtime rt({.workers = 1, .dump_on_sigquit = true});
    auto f = rt.spawn([] { WaitOnSleep(); });
    while (Dump(rt).find(": waiting on sleep") == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(kill(getpid(), SIGQUIT), 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (got.find(": waiting on sleep") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{p[0], POLLIN, 0};
      poll(&pfd, 1, 100);
      char buf[4096];
      ssize_t n;
      while ((n = read(p[0], buf, sizeof(buf))) > 0) got.append(buf, static_cast<std::size_t>(n));
    }
    f.kill();
    f.join();
  }
  dup2(saved, 2);
  close(saved);
  close(p[0]);
  close(p[1]);
  EXPECT_THAT(got, HasSubstr("weft dump: "));
  EXPECT_THAT(got, HasSubstr(": waiting on sleep until"));
  // The runtime is gone: SIGQUIT is the default again (not raised here).
  struct sigaction now {};
  sigaction(SIGQUIT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

}  // namespace
}  // namespace weft
