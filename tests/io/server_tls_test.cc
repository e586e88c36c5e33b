// weft::net::Server::listen_tls against io/net/server.h, with weft's own TLS
// clients over loopback: echo across workers, a plain-text client counted
// as a failed handshake (the server unharmed), a client stalled mid-handshake
// cut at the handshake timeout, the idle timeout, and the graceful stop
// under load (every request the server began to read is answered, every
// client then reads close_notify, never a reset or a truncation; fds return
// to the baseline).
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "weft/io/net/server.h"
#include "weft/tests/io/line_echo.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/tests/testing/tls_certs.h"
#include "weft/weft.h"

namespace weft {
namespace {

using net::Server;
using net::TlsContext;
using net::TlsStream;
using test::EchoCounts;
using test::LineEcho;
using test::ReadLine;
using test::Scaled;

constexpr absl::Duration kLong = absl::Seconds(30);

struct Certs {
  test::Pki pki;
  test::KeyCert server = pki.Issue({.cn = "localhost", .dns = {"localhost"}});
};
const Certs& certs() {
  static const Certs* const c = new Certs();
  return *c;
}

TlsContext ServerCtx() {
  absl::StatusOr<TlsContext> ctx = TlsContext::server(
      {.certificate = {.cert_pem = certs().server.cert_pem, .key_pem = certs().server.key_pem}});
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return *std::move(ctx);
}
TlsContext ClientCtx() {
  absl::StatusOr<TlsContext> ctx = TlsContext::client({.ca_pem = certs().pki.ca().cert_pem});
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return *std::move(ctx);
}

absl::StatusOr<TlsStream> DialTls(const std::string& addr, const TlsContext& ctx) {
  absl::StatusOr<net::TcpStream> tcp = net::dial(addr);
  if (!tcp.ok()) return tcp.status();
  return TlsStream::client_for(std::move(*tcp), ctx, "localhost", kLong);
}

// Waits (polling) until `pred` holds or kLong passes.
template <typename P>
bool Eventually(P pred) {
  const absl::Time end = absl::Now() + kLong;
  while (!pred()) {
    if (absl::Now() > end) return false;
    sleep_for(absl::Milliseconds(5));
  }
  return true;
}

class ServerTlsTest : public test::RuntimeTest {};

TEST_P(ServerTlsTest, EchoesAcrossWorkers) {
  Run([] {
    const int baseline = test::CountOpenFds();
    EchoCounts counts;
    {
      auto server = Server::listen_tls("127.0.0.1:0", ServerCtx(), LineEcho(&counts));
      ASSERT_TRUE(server.ok()) << server.status();
      const std::string addr = server->address().to_string();
      const TlsContext client_ctx = ClientCtx();
      std::vector<Fiber<void>> clients;
      for (int i = 0; i < 8; ++i) {
        clients.push_back(spawn([&, i] {
          auto c = DialTls(addr, client_ctx);
          ASSERT_TRUE(c.ok()) << c.status();
          std::string buf, line;
          for (int r = 0; r < 10; ++r) {
            std::string req = "hello " + std::to_string(i) + " " + std::to_string(r) + "\n";
            ASSERT_TRUE(c->write_all(req).ok());
            ASSERT_TRUE(ReadLine(*c, &buf, &line, absl::Now() + kLong).ok());
            EXPECT_EQ(line, req);
          }
          // Our close_notify ends the handler; the server answers with its
          // own, so this side reads a clean end, not DataLoss.
          ASSERT_TRUE(c->shutdown().ok());
          ASSERT_TRUE(ReadLine(*c, &buf, &line, absl::Now() + kLong).ok());
          EXPECT_EQ(line, "");
        }));
      }
      join_all(clients);
      EXPECT_EQ(server->stop(absl::Seconds(5)), 0);
      Server::Stats s = server->stats();
      EXPECT_EQ(s.accepted, 8u);
      EXPECT_EQ(s.active, 0u);
      EXPECT_EQ(s.tls_failed, 0u);
      EXPECT_EQ(counts.answered.load(), 80);
    }
    EXPECT_EQ(test::CountOpenFds(), baseline);
  });
}

TEST_P(ServerTlsTest, PlainTextClientIsAFailedHandshake) {
  Run([] {
    EchoCounts counts;
    auto server = Server::listen_tls("127.0.0.1:0", ServerCtx(), LineEcho(&counts));
    ASSERT_TRUE(server.ok()) << server.status();
    const std::string addr = server->address().to_string();
    {
      auto plain = net::dial(addr);
      ASSERT_TRUE(plain.ok()) << plain.status();
      ASSERT_TRUE(plain->write_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
      // The server answers with an alert (or nothing) and closes.
      char buf[512];
      for (;;) {
        absl::StatusOr<std::size_t> n = plain->read_some_for(buf, kLong);
        ASSERT_FALSE(absl::IsDeadlineExceeded(n.status())) << "the server kept the connection";
        if (!n.ok() || *n == 0) break;
      }
    }
    EXPECT_TRUE(Eventually([&] { return server->stats().tls_failed == 1; }));
    // Unharmed: a TLS client is served.
    auto c = DialTls(addr, ClientCtx());
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(c->write_all("after\n").ok());
    std::string buf, line;
    ASSERT_TRUE(ReadLine(*c, &buf, &line, absl::Now() + kLong).ok());
    EXPECT_EQ(line, "after\n");
    EXPECT_EQ(counts.started.load(), 1);
    server->stop(absl::Seconds(5));
    EXPECT_EQ(server->stats().tls_failed, 1u);
    EXPECT_EQ(server->stats().accepted, 2u);
  });
}

// A client that sends the first bytes of a ClientHello and then nothing:
// the server closes it at the handshake timeout, without the handler.
TEST_P(ServerTlsTest, StalledHandshakeIsCutAtTheDeadline) {
  Run([] {
    std::atomic<int> handlers{0};
    auto server =
        Server::listen_tls("127.0.0.1:0", ServerCtx(), [&](TlsStream&) { handlers.fetch_add(1); },
                           {.handshake_timeout = absl::Milliseconds(300)});
    ASSERT_TRUE(server.ok()) << server.status();
    auto c = net::dial(server->address().to_string());
    ASSERT_TRUE(c.ok()) << c.status();
    const absl::Time start = absl::Now();
    // A handshake record's header announcing 512 bytes, then silence.
    ASSERT_TRUE(c->write_all(std::string("\x16\x03\x01\x02\x00", 5)).ok());
    char buf[64];
    absl::StatusOr<std::size_t> n = c->read_some_for(buf, kLong);
    const absl::Duration took = absl::Now() - start;
    ASSERT_FALSE(absl::IsDeadlineExceeded(n.status())) << "never cut";
    EXPECT_GE(took, absl::Milliseconds(250));
    EXPECT_TRUE(Eventually([&] { return server->stats().tls_failed == 1; }));
    EXPECT_EQ(handlers.load(), 0);
    EXPECT_EQ(server->stop(absl::Seconds(1)), 0);
  });
}

// The idle timeout applies to TLS reads: a client silent after its
// handshake is closed (with close_notify) and counted as timed out.
TEST_P(ServerTlsTest, IdleTimeoutClosesASilentClient) {
  Run([] {
    EchoCounts counts;
    auto server = Server::listen_tls("127.0.0.1:0", ServerCtx(), LineEcho(&counts),
                                     {.idle_timeout = absl::Milliseconds(200)});
    ASSERT_TRUE(server.ok()) << server.status();
    auto c = DialTls(server->address().to_string(), ClientCtx());
    ASSERT_TRUE(c.ok()) << c.status();
    std::string buf, line;
    ASSERT_TRUE(ReadLine(*c, &buf, &line, absl::Now() + kLong).ok());
    EXPECT_EQ(line, "");  // close_notify
    EXPECT_TRUE(Eventually([&] { return server->stats().timed_out == 1; }));
    EXPECT_EQ(server->stats().tls_failed, 0u);
    server->stop(absl::Seconds(1));
  });
}

// The graceful stop under load, over TLS: each request goes in two parts
// (so the stop also finds handlers mid-request); stop(5s) mid-load answers
// every request the server began to read, each client then reads a clean
// end (close_notify), new connects are refused, fds return to the baseline.
TEST_P(ServerTlsTest, GracefulStopUnderLoad) {
  Run([] {
    const int baseline = test::CountOpenFds();
    const int kConns = static_cast<int>(Scaled(50, 5));
    EchoCounts counts;
    {
      auto server = Server::listen_tls("127.0.0.1:0", ServerCtx(), LineEcho(&counts));
      ASSERT_TRUE(server.ok()) << server.status();
      const TlsContext client_ctx = ClientCtx();
      Server::Stats s;
      test::StopMidLoad(
          *server, kConns,
          [&client_ctx](const std::string& addr) { return DialTls(addr, client_ctx); }, counts, &s);
      EXPECT_EQ(s.tls_failed, 0u);
    }
    EXPECT_EQ(test::CountOpenFds(), baseline);
  });
}

TEST(ServerTlsOptions, RejectsAClientContext) {
  weft::run({.workers = 1}, [] {
    auto server = Server::listen_tls("127.0.0.1:0", ClientCtx(), [](TlsStream&) {});
    EXPECT_TRUE(absl::IsInvalidArgument(server.status())) << server.status();
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, ServerTlsTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
