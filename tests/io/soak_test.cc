// The io soak: an echo server at full load with connections constantly
// opening and closing (orderly closes, half-closes, resets, clients that
// hang up mid-exchange) for ~10 s (~3 s under the sanitizers). Every byte is
// checked; at the end every fd the test opened is closed (counted in
// /proc/self/fd) and every fiber has finished.
#include <dirent.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using net::TcpListener;
using net::TcpStream;
using test::MillisSince;
using test::Scaled;

#if defined(WEFT_TSAN) || defined(WEFT_ASAN)
constexpr absl::Duration kSoak = absl::Seconds(3);
#else
constexpr absl::Duration kSoak = absl::Seconds(10);
#endif
constexpr absl::Duration kLong = absl::Seconds(30);

// Entries in /proc/self/fd, not counting the one reading it.
int CountOpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;
}

char PatternByte(uint64_t seed, uint64_t offset) {
  return static_cast<char>((offset * 131 + seed * 7 + (offset >> 12)) % 251);
}

// How a client ends its connection.
enum class Ending {
  kHalfClose,  // shutdown_write, read the server's EOF, close
  kClose,      // close after the last echo
  kReset,      // SO_LINGER 0: the server sees a reset
  kHangUp,     // close with a request in flight, its echo never read
  kCount,
};

struct Totals {
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> round_trips{0};
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> failures{0};
  std::atomic<int> handlers_live{0};
  std::atomic<int64_t> handlers_ended_by_error{0};
};

void Fail(Totals& t, const std::string& what) {
  // Only the first few are reported; the count is asserted.
  if (t.failures.fetch_add(1) < 5) ADD_FAILURE() << what;
}

// One connection's worth of client work; counts a failure if the server
// misbehaved.
void ClientConnection(const std::string& address, std::mt19937& rng, uint64_t seed, Totals& t) {
  absl::StatusOr<TcpStream> c = net::dial_for(address, kLong);
  if (!c.ok()) return Fail(t, "dial: " + c.status().ToString());
  t.connections.fetch_add(1, std::memory_order_relaxed);
  const int rounds = 1 + static_cast<int>(rng() % 8);
  const Ending ending = static_cast<Ending>(rng() % static_cast<int>(Ending::kCount));
  uint64_t offset = 0;
  std::string out;
  std::string in;
  for (int r = 0; r < rounds; ++r) {
    std::size_t size = 1 + rng() % (16 * 1024);
    out.resize(size);
    for (std::size_t i = 0; i < size; ++i) out[i] = PatternByte(seed, offset + i);
    offset += size;
    absl::Status s = c->write_all_for(out, kLong);
    if (!s.ok()) return Fail(t, "write: " + s.ToString());
    if (ending == Ending::kHangUp && r == rounds - 1) {
      c->close();  // the server's echo of this request meets a closed socket
      return;
    }
    in.assign(size, '\0');
    s = c->read_exact_for(in, kLong);
    if (!s.ok()) return Fail(t, "read: " + s.ToString());
    if (in != out) return Fail(t, "echo differs");
    t.round_trips.fetch_add(1, std::memory_order_relaxed);
    t.bytes.fetch_add(static_cast<int64_t>(size), std::memory_order_relaxed);
  }
  switch (ending) {
    case Ending::kHalfClose: {
      if (absl::Status s = c->shutdown_write(); !s.ok()) return Fail(t, s.ToString());
      char b;
      absl::StatusOr<std::size_t> n = c->read_some_for({&b, 1}, kLong);
      if (!n.ok() || *n != 0) return Fail(t, "no EOF after the half-close");
      break;
    }
    case Ending::kReset: {
      linger l{1, 0};
      setsockopt(c->fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
      break;
    }
    default:
      break;
  }
  c->close();
}

TEST(IoSoakTest, EchoUnderChurnReleasesEveryFdAndFiber) {
  const int kClients = static_cast<int>(Scaled(200, 4));
  const int fds_before_runtime = CountOpenFds();
  ASSERT_GT(fds_before_runtime, 0);
  Totals t;
  {
    Runtime rt({.workers = 4});
    // The runtime's own fds (epoll, its doorbell) exist from here on.
    const int fds_before = rt.spawn([] { return CountOpenFds(); }).get();
    auto main = rt.spawn([&] {
      absl::StatusOr<TcpListener> listener = TcpListener::bind("127.0.0.1:0");
      ASSERT_TRUE(listener.ok()) << listener.status();
      const std::string address = listener->local_address()->to_string();
      std::atomic<bool> stop{false};            // clients: no new connections
      std::atomic<bool> stop_accepting{false};  // set once every client is done
      auto acceptor = spawn([&] {
        while (!stop_accepting.load(std::memory_order_relaxed)) {
          absl::StatusOr<TcpStream> c = listener->accept_for(absl::Milliseconds(50));
          if (absl::IsDeadlineExceeded(c.status())) continue;
          if (!c.ok()) return Fail(t, "accept: " + c.status().ToString());
          t.handlers_live.fetch_add(1);
          spawn([&t, c = std::move(*c)]() mutable {
            char buf[16 * 1024];
            for (;;) {
              absl::StatusOr<std::size_t> n = c.read_some_for(buf, kLong);
              if (!n.ok()) {
                t.handlers_ended_by_error.fetch_add(1, std::memory_order_relaxed);
                break;
              }
              if (*n == 0) break;
              if (!c.write_all_for({buf, *n}, kLong).ok()) {
                t.handlers_ended_by_error.fetch_add(1, std::memory_order_relaxed);
                break;
              }
            }
            c.close();
            t.handlers_live.fetch_sub(1);
          }).detach();
        }
      });
      std::vector<Fiber<void>> clients;
      for (int i = 0; i < kClients; ++i) {
        clients.push_back(spawn([&, i] {
          std::mt19937 rng(static_cast<uint32_t>(i) * 2654435761u + 1);
          for (uint64_t k = 0; !stop.load(std::memory_order_relaxed); ++k) {
            ClientConnection(address, rng, static_cast<uint64_t>(i) << 32 | k, t);
          }
        }));
      }
      sleep_for(kSoak);
      stop = true;
      EXPECT_TRUE(join_all(clients, kLong)) << "clients still running after the soak";
      stop_accepting = true;
      acceptor.join();
      absl::Time end = absl::Now() + kLong;
      while (t.handlers_live.load() > 0 && absl::Now() < end) sleep_for(absl::Milliseconds(1));
      EXPECT_EQ(t.handlers_live.load(), 0) << "connection handlers still running";
      listener->close();
    });
    main.join();
    // Every fiber has finished: the clients and acceptor were joined, and
    // the detached handlers leave live_fibers at zero once they return.
    auto start = std::chrono::steady_clock::now();
    while (rt.stats().live_fibers != 0 && MillisSince(start) < 30000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(rt.stats().live_fibers, 0u);
    EXPECT_EQ(rt.spawn([] { return CountOpenFds(); }).get(), fds_before)
        << "fds leaked while the runtime ran";
  }
  EXPECT_EQ(CountOpenFds(), fds_before_runtime) << "fds leaked by the runtime";
  EXPECT_EQ(t.failures.load(), 0);
  EXPECT_GE(t.connections.load(), kClients);
  EXPECT_GT(t.round_trips.load(), 0);
  std::printf(
      "soak: %lld connections, %lld round trips, %lld MB echoed, %lld handlers ended by "
      "an error (resets, hang-ups)\n",
      static_cast<long long>(t.connections.load()), static_cast<long long>(t.round_trips.load()),
      static_cast<long long>(t.bytes.load() >> 20),
      static_cast<long long>(t.handlers_ended_by_error.load()));
}

}  // namespace
}  // namespace weft
