// weft::net::Server against io/net/server.h, with real clients over
// loopback: echo and counters, the graceful stop under load (every request
// the server began to read is answered, no client sees a reset, new connects
// are refused, fds return to the baseline), the connection cap (pausing and
// rejecting), the idle timeout, the connection deadline, killing a stuck
// handler at the end of the grace, and bad options.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/io/net/server.h"
#include "weft/tests/io/line_echo.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using net::Server;
using net::TcpStream;
using test::EchoCounts;
using test::LineEcho;
using test::ReadLine;
using test::Scaled;
using ::testing::HasSubstr;

constexpr absl::Duration kLong = absl::Seconds(30);

class ServerTest : public test::RuntimeTest {};

TEST_P(ServerTest, EchoesAndCounts) {
  Run([] {
    EchoCounts counts;
    auto server = Server::listen("127.0.0.1:0", LineEcho(&counts));
    ASSERT_TRUE(server.ok()) << server.status();
    std::string addr = server->address().to_string();
    std::vector<Fiber<void>> clients;
    for (int i = 0; i < 10; ++i) {
      clients.push_back(spawn([&addr, i] {
        auto c = net::dial(addr);
        ASSERT_TRUE(c.ok()) << c.status();
        std::string buf, line;
        for (int r = 0; r < 20; ++r) {
          std::string req = "hello " + std::to_string(i) + " " + std::to_string(r) + "\n";
          ASSERT_TRUE(c->write_all(req).ok());
          ASSERT_TRUE(ReadLine(*c, &buf, &line, absl::Now() + kLong).ok());
          EXPECT_EQ(line, req);
        }
      }));
    }
    join_all(clients);
    EXPECT_EQ(server->stop(absl::Seconds(5)), 0);
    Server::Stats s = server->stats();
    EXPECT_EQ(s.accepted, 10u);
    EXPECT_EQ(s.active, 0u);
    EXPECT_EQ(s.cut, 0u);
    EXPECT_EQ(counts.answered.load(), 200);
    EXPECT_TRUE(server->serve().ok());  // returns at once once stopped
  });
}

// The graceful stop under load: 100 connections in request/response round
// trips, each request sent in two parts so that the stop also finds
// handlers in the middle of a request. stop(5s) mid-load must answer every
// request the server began to read; clients see answers or a clean EOF,
// never a reset or half an answer; then connects are refused; fds return
// to the baseline.
TEST_P(ServerTest, GracefulStopUnderLoad) {
  Run([] {
    const int baseline = test::CountOpenFds();
    const int kConns = static_cast<int>(Scaled(100, 4));
    EchoCounts counts;
    {
      auto server = Server::listen("127.0.0.1:0", LineEcho(&counts));
      ASSERT_TRUE(server.ok()) << server.status();
      Server::Stats s;
      const int64_t answered_before = test::StopMidLoad(
          *server, kConns, [](const std::string& addr) { return net::dial(addr); }, counts, &s);
      std::printf(
          "graceful stop: %d connections, %lld requests answered before stop, %lld "
          "in total, %lld started, %llu cut\n",
          kConns, static_cast<long long>(answered_before),
          static_cast<long long>(counts.answered.load()),
          static_cast<long long>(counts.started.load()), static_cast<unsigned long long>(s.cut));
    }
    EXPECT_EQ(test::CountOpenFds(), baseline);
  });
}

// N + 50 clients against a cap of N: never more than N handlers at once,
// and every client is served once slots free up (the backlog held them).
TEST_P(ServerTest, ConnectionCapPausesAccepting) {
  Run([] {
    constexpr int kCap = 5;
    constexpr int kClients = kCap + 50;
    std::atomic<int> running{0}, peak{0};
    auto server = Server::listen("127.0.0.1:0",
                                 [&](TcpStream& conn) {
                                   int now = running.fetch_add(1) + 1;
                                   int p = peak.load();
                                   while (now > p && !peak.compare_exchange_weak(p, now)) {
                                   }
                                   sleep_for(absl::Milliseconds(5));
                                   char buf[64];
                                   absl::StatusOr<std::size_t> n = conn.read_some(buf);
                                   if (n.ok() && *n > 0) conn.write_all({buf, *n}).IgnoreError();
                                   running.fetch_sub(1);
                                 },
                                 {.max_connections = kCap});
    ASSERT_TRUE(server.ok()) << server.status();
    std::string addr = server->address().to_string();
    std::atomic<int> served{0};
    std::vector<Fiber<void>> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(spawn([&] {
        auto c = net::dial(addr);
        ASSERT_TRUE(c.ok()) << c.status();
        ASSERT_TRUE(c->write_all("x").ok());
        char b;
        absl::StatusOr<std::size_t> n = c->read_some_for({&b, 1}, kLong);
        if (n.ok() && *n == 1 && b == 'x') served.fetch_add(1);
      }));
    }
    join_all(clients);
    EXPECT_EQ(served.load(), kClients);
    EXPECT_LE(peak.load(), kCap);
    EXPECT_EQ(server->stats().accepted, static_cast<uint64_t>(kClients));
    EXPECT_EQ(server->stats().rejected, 0u);
    server->stop(absl::Seconds(1));
  });
}

TEST_P(ServerTest, ConnectionCapRejectsWhenFull) {
  Run([] {
    Event release;
    auto server = Server::listen("127.0.0.1:0",
                                 [&](TcpStream& conn) {
                                   release.wait();
                                   conn.write_all("bye\n").IgnoreError();
                                 },
                                 {.max_connections = 2, .reject_when_full = true});
    ASSERT_TRUE(server.ok()) << server.status();
    std::string addr = server->address().to_string();
    auto a = net::dial(addr);
    auto b = net::dial(addr);
    ASSERT_TRUE(a.ok() && b.ok());
    while (server->stats().active < 2) sleep_for(absl::Milliseconds(1));
    auto c = net::dial(addr);
    ASSERT_TRUE(c.ok()) << c.status();
    char buf[8];
    absl::StatusOr<std::size_t> n = c->read_some_for(buf, kLong);
    EXPECT_TRUE(!n.ok() || *n == 0) << "the third connection must be closed at once";
    EXPECT_EQ(server->stats().rejected, 1u);
    release.set();
    std::string got, line;
    EXPECT_TRUE(ReadLine(*a, &got, &line, absl::Now() + kLong).ok());
    EXPECT_EQ(line, "bye\n");
    EXPECT_EQ(server->stop(absl::Seconds(1)), 0);
  });
}

TEST_P(ServerTest, IdleTimeoutClosesASilentClient) {
  Run([] {
    std::atomic<bool> handler_saw_deadline{false};
    auto server = Server::listen("127.0.0.1:0",
                                 [&](TcpStream& conn) {
                                   char buf[64];
                                   absl::StatusOr<std::size_t> n = conn.read_some(buf);
                                   handler_saw_deadline =
                                       absl::IsDeadlineExceeded(n.status()) && conn.timed_out();
                                 },
                                 {.idle_timeout = absl::Milliseconds(200)});
    ASSERT_TRUE(server.ok()) << server.status();
    auto c = net::dial(server->address());
    ASSERT_TRUE(c.ok());
    absl::Time start = absl::Now();
    char buf[8];
    absl::StatusOr<std::size_t> n = c->read_some_for(buf, kLong);
    absl::Duration took = absl::Now() - start;
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 0u) << "the server closes the connection";
    EXPECT_GE(took, absl::Milliseconds(150));
    EXPECT_LT(took, absl::Seconds(10));
    while (server->stats().active != 0) sleep_for(absl::Milliseconds(1));
    EXPECT_TRUE(handler_saw_deadline.load());
    EXPECT_EQ(server->stats().timed_out, 1u);
    server->stop(absl::Seconds(1));
  });
}

// A client that sends half a line and then a byte now and then (so the idle
// timeout never fires) is cut at the connection deadline.
TEST_P(ServerTest, HalfLineStallIsCutAtTheDeadline) {
  Run([] {
    absl::Status handler_status;
    EchoCounts counts;
    auto server = Server::listen(
        "127.0.0.1:0", LineEcho(&counts),
        {.idle_timeout = absl::Seconds(5), .connection_timeout = absl::Milliseconds(300)});
    ASSERT_TRUE(server.ok()) << server.status();
    auto c = net::dial(server->address());
    ASSERT_TRUE(c.ok());
    absl::Time start = absl::Now();
    ASSERT_TRUE(c->write_all("half a li").ok());
    bool closed = false;
    while (absl::Now() - start < absl::Seconds(10)) {
      sleep_for(absl::Milliseconds(50));
      if (!c->write_all("n").ok()) {
        closed = true;
        break;
      }
      char buf[8];
      absl::StatusOr<std::size_t> n = c->read_some_for(buf, absl::Milliseconds(1));
      if (!n.ok() && !absl::IsDeadlineExceeded(n.status())) {
        closed = true;
        break;
      }
      if (n.ok() && *n == 0) {
        closed = true;
        break;
      }
    }
    absl::Duration took = absl::Now() - start;
    EXPECT_TRUE(closed);
    EXPECT_GE(took, absl::Milliseconds(250));
    EXPECT_LT(took, absl::Seconds(5));
    while (server->stats().active != 0) sleep_for(absl::Milliseconds(1));
    EXPECT_EQ(server->stats().timed_out, 1u);
    EXPECT_EQ(counts.answered.load(), 0);
    server->stop(absl::Seconds(1));
  });
}

// A handler that ignores everything is killed at the end of the grace, and
// its RAII runs.
TEST_P(ServerTest, StopCutsAStuckHandler) {
  Run([] {
    std::atomic<int> unwound{0};
    struct Guard {
      std::atomic<int>* n;
      ~Guard() { n->fetch_add(1); }
    };
    auto server = Server::listen("127.0.0.1:0", [&](TcpStream&) {
      Guard g{&unwound};
      sleep_for(absl::Hours(1));
    });
    ASSERT_TRUE(server.ok());
    auto c = net::dial(server->address());
    ASSERT_TRUE(c.ok());
    while (server->stats().active < 1) sleep_for(absl::Milliseconds(1));
    absl::Time start = absl::Now();
    EXPECT_EQ(server->stop(absl::Milliseconds(100)), 1);
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
    EXPECT_EQ(unwound.load(), 1);
    EXPECT_EQ(server->stats().cut, 1u);
    EXPECT_EQ(server->stats().active, 0u);
    char buf[8];
    absl::StatusOr<std::size_t> n = c->read_some_for(buf, kLong);
    EXPECT_TRUE(!n.ok() || *n == 0);
  });
}

TEST_P(ServerTest, ServeReturnsWhenStopped) {
  Run([] {
    auto server = Server::listen("127.0.0.1:0", [](TcpStream&) {});
    ASSERT_TRUE(server.ok());
    auto stopper = spawn([&] {
      sleep_for(absl::Milliseconds(50));
      server->stop(absl::Seconds(1));
    });
    EXPECT_TRUE(server->serve().ok());
    stopper.join();
    EXPECT_FALSE(net::dial_for(server->address(), absl::Seconds(5)).ok());
  });
}

TEST_P(ServerTest, ReusePortListenersShareTheLoad) {
  Run([this] {
    std::atomic<int> served{0};
    auto server = Server::listen("127.0.0.1:0",
                                 [&](TcpStream& conn) {
                                   conn.write_all("x").IgnoreError();
                                   served.fetch_add(1);
                                 },
                                 {.reuse_port = true});
    ASSERT_TRUE(server.ok()) << server.status();
    for (int i = 0; i < 4 * workers(); ++i) {
      auto c = net::dial(server->address());
      ASSERT_TRUE(c.ok());
      char b;
      EXPECT_TRUE(c->read_exact_for({&b, 1}, kLong).ok());
    }
    server->stop(absl::Seconds(1));
    EXPECT_EQ(served.load(), 4 * workers());
  });
}

TEST(ServerOptionsTest, BadOptionsAndAddresses) {
  weft::run({.workers = 1}, [] {
    auto h = [](TcpStream&) {};
    EXPECT_THAT(Server::listen("127.0.0.1:0", h, {.max_connections = -1}).status().message(),
                HasSubstr("max_connections"));
    EXPECT_THAT(
        Server::listen("127.0.0.1:0", h, {.idle_timeout = absl::ZeroDuration()}).status().message(),
        HasSubstr("idle_timeout"));
    EXPECT_FALSE(Server::listen("not an address", h).ok());
  });
  auto outside = Server::listen("127.0.0.1:0", [](TcpStream&) {});
  EXPECT_THAT(outside.status().message(), HasSubstr("from a fiber"));
}

INSTANTIATE_TEST_SUITE_P(Workers, ServerTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
