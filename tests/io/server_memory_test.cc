// weft::net::Server's memory after a burst of connections (issue #14): once
// thousands of connections have been served and closed, the runtime keeps a
// bounded reserve of stacks, trimmed to one page each, and gives the rest
// back, so the process's RSS (from /proc/self/statm) returns to within
// 10 MiB of what it was before the burst, within two seconds.
//
// A binary of its own: RSS is the whole process's, and other tests' heap and
// stacks would move the baseline.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/io/net/server.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using net::Server;
using net::TcpStream;

using test::RssBytes;

// Both ends of every connection are in this process: 2 fds each, within
// the fd limit of 20000. Under TSan every fiber stack counts as a thread
// (8128 at most).
#if defined(WEFT_TSAN)
constexpr bool kSanitized = true;  // shadow memory is never given back
constexpr int kConns = 2000;
#elif defined(WEFT_ASAN)
constexpr bool kSanitized = true;
constexpr int kConns = 3000;
#else
constexpr bool kSanitized = false;
constexpr int kConns = 4000;
#endif
constexpr std::size_t kBytes = 4096;           // echoed on each connection
constexpr int64_t kBound = int64_t{10} << 20;  // the "within 10 MB"
constexpr std::size_t kCacheKeep = 64;         // per worker (runtime_core.cc, kIdleCacheKeep)
// The fibers alive at the end besides the handlers: the server's, its
// accepting fibers (one here) and the runtime's own.
constexpr std::size_t kOtherFibers = 16;

// An echo handler with its buffer on the stack, as a real one has
// (examples/echo_service.cc): each connection touches ~3 stack pages.
void Echo(TcpStream& conn) {
  char buf[16 * 1024];
  for (;;) {
    absl::StatusOr<std::size_t> n = conn.read_some(buf);
    if (!n.ok() || *n == 0) return;
    if (!conn.write_all({buf, *n}).ok()) return;
  }
}

class ServerMemoryTest : public test::RuntimeTest {};

TEST_P(ServerMemoryTest, RssReturnsToBaselineAfterABurstOfConnections) {
  Runtime rt(options());
  // The server runs in a fiber until `stop` is set; this thread is the
  // client (blocking calls from a plain thread), so only the server's
  // fibers run on the runtime.
  std::promise<Server*> listening;
  Event stop;
  Fiber<void> serving = rt.spawn([&] {
    absl::StatusOr<Server> server = Server::listen("127.0.0.1:0", Echo);
    if (!server.ok()) {
      ADD_FAILURE() << server.status();
      listening.set_value(nullptr);
      return;
    }
    listening.set_value(&*server);
    stop.wait();
    server->stop(absl::Seconds(5));
  });
  Server* server = listening.get_future().get();
  ASSERT_NE(server, nullptr);
  const std::string addr = server->address().to_string();
  const int64_t baseline = RssBytes();

  int64_t peak = 0;
  {
    const std::string payload(kBytes, 'x');
    std::string back(kBytes, '\0');
    std::vector<TcpStream> conns;
    conns.reserve(kConns);
    for (int i = 0; i < kConns; ++i) {
      absl::StatusOr<TcpStream> c = net::dial(addr);
      ASSERT_TRUE(c.ok()) << "connection " << i << ": " << c.status();
      ASSERT_TRUE(c->write_all(payload).ok());
      ASSERT_TRUE(c->read_exact(back).ok()) << "connection " << i;
      ASSERT_EQ(back, payload);
      conns.push_back(std::move(*c));
    }
    peak = RssBytes();  // every handler alive, waiting for more
    // Leaving the scope closes every connection.
  }
  EXPECT_GT(peak - baseline, int64_t{kConns} * 4096) << "the burst touched no stacks?";

  // Each handler reads EOF and returns; then the workers are idle.
  auto start = std::chrono::steady_clock::now();
  while (server->stats().active != 0 && test::MillisSince(start) < 10'000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(server->stats().active, 0u);
  // Within two seconds the surplus stacks are released and the reserve and
  // the workers' caches are trimmed to one page a stack.
  auto given_back = [&] {
    RuntimeStats s = rt.stats();
    return s.stacks_released + s.stacks_trimmed + kCacheKeep * workers() + kOtherFibers >=
               s.stacks_carved &&
           s.stacks_trimmed != 0;
  };
  int64_t now = RssBytes();
  start = std::chrono::steady_clock::now();
  while (test::MillisSince(start) < 2000) {
    now = RssBytes();
    if (given_back() && (kSanitized || now - baseline < kBound)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  RuntimeStats s = rt.stats();
  EXPECT_TRUE(given_back()) << "carved " << s.stacks_carved << ", released " << s.stacks_released
                            << ", trimmed " << s.stacks_trimmed;
  EXPECT_LE(s.stacks_released + s.stacks_trimmed, s.stacks_carved);
  if (!kSanitized) {
    EXPECT_LT(now - baseline, kBound) << "RSS " << now << " two seconds after the burst, against "
                                      << baseline << " before it (peak " << peak << ")";
  }
  // The reserve is what was trimmed: all of it, unless the burst left fewer.
  const std::size_t reserve = RuntimeOptions().stack_reserve;
  EXPECT_GE(s.stacks_trimmed, std::min<std::size_t>(reserve, s.stacks_carved / 2));

  stop.set();
  serving.join();
  test::ExpectNoLiveFibers(rt);
}

INSTANTIATE_TEST_SUITE_P(Workers, ServerMemoryTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
