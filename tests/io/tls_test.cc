// weft::net TLS: TlsContext and TlsStream, against the contract in
// io/net/tls.h and io/net/tls_context.h, over loopback only: weft client to
// weft server (echo, many at once, one reader and one writer per stream),
// weft server to `openssl s_client` and Python's ssl module, weft client to
// `openssl s_server`; plain text sent to a TLS port, expired, untrusted and
// wrong-host certificates, stalled handshakes, truncation, SNI, ALPN; every
// failure a Status, the server still serving after it, no fd left open.
#include <dirent.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/tests/testing/tls_certs.h"
#include "weft/weft.h"

extern char** environ;

namespace weft {
namespace {

using net::TcpListener;
using net::TcpStream;
using net::TlsContext;
using net::TlsStream;
using test::MillisSince;
using test::Scaled;
using ::testing::AnyOf;
using ::testing::HasSubstr;

// A deadline no correct test comes near; reaching it means a lost wake-up.
constexpr absl::Duration kLong = absl::Seconds(30);
absl::Time Soon() { return absl::Now() + kLong; }

// --- certificates, made once per process ---

struct Certs {
  test::Pki pki;
  test::KeyCert server = pki.Issue({.cn = "localhost", .dns = {"localhost"}, .ip = {"127.0.0.1"}});
  test::KeyCert expired = pki.Issue(
      {.cn = "localhost", .dns = {"localhost"}, .not_before_s = -7200, .not_after_s = -3600});
  test::KeyCert other_host = pki.Issue({.cn = "other.example", .dns = {"other.example"}});
  test::KeyCert sni_a = pki.Issue({.cn = "a.example", .dns = {"a.example"}});
  test::KeyCert sni_b = pki.Issue({.cn = "wild.b.example", .dns = {"*.b.example"}});
  test::KeyCert client = pki.Issue({.cn = "weft test client"});
  std::string server_files = pki.Write("server", server);
};
const Certs& certs() {
  static const Certs* const c = new Certs();
  return *c;
}

net::TlsCertificate Mem(const test::KeyCert& kc) {
  return {.cert_pem = kc.cert_pem, .key_pem = kc.key_pem};
}

TlsContext ServerCtx(net::TlsServerOptions o) {
  absl::StatusOr<TlsContext> ctx = TlsContext::server(o);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return *std::move(ctx);
}
TlsContext ServerCtx(const test::KeyCert& kc = certs().server) {
  return ServerCtx({.certificate = Mem(kc)});
}
TlsContext ClientCtx(net::TlsClientOptions o = {.ca_pem = certs().pki.ca().cert_pem}) {
  absl::StatusOr<TlsContext> ctx = TlsContext::client(o);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return *std::move(ctx);
}

// --- sockets ---

struct Server {
  std::optional<TcpListener> listener;
  std::string address;  // "127.0.0.1:port"
  int port = 0;
};
Server Listen() {
  absl::StatusOr<TcpListener> l = TcpListener::bind("127.0.0.1:0");
  EXPECT_TRUE(l.ok()) << l.status();
  if (!l.ok()) return {};
  absl::StatusOr<net::Address> a = l->local_address();
  EXPECT_TRUE(a.ok()) << a.status();
  if (!a.ok()) return {};
  return {std::move(*l), a->to_string(), a->port()};
}

absl::StatusOr<TlsStream> DialTls(const std::string& address, const TlsContext& ctx,
                                  std::string_view name, absl::Time deadline = Soon()) {
  absl::StatusOr<TcpStream> tcp = net::dial_for(address, kLong);
  if (!tcp.ok()) return tcp.status();
  return TlsStream::client_until(std::move(*tcp), ctx, name, deadline);
}

absl::StatusOr<TlsStream> AcceptTls(TcpListener& l, const TlsContext& ctx,
                                    absl::Time deadline = Soon()) {
  absl::StatusOr<TcpStream> tcp = l.accept_until(Soon());
  if (!tcp.ok()) return tcp.status();
  return TlsStream::server_until(std::move(*tcp), ctx, deadline);
}

// Echoes until a clean EOF (then answers with its own close_notify) or an
// error; returns the bytes echoed.
int64_t Echo(TlsStream& s) {
  char buf[16 * 1024];
  int64_t total = 0;
  for (;;) {
    absl::StatusOr<std::size_t> n = s.read_some_until(buf, Soon());
    if (!n.ok()) return total;
    if (*n == 0) {
      // The peer may have closed already (EPIPE, ECONNRESET): no check here;
      // the tests that need the answer read it on their side.
      s.shutdown().IgnoreError();
      return total;
    }
    if (!s.write_all_until({buf, *n}, Soon()).ok()) return total;
    total += static_cast<int64_t>(*n);
  }
}

std::string Pattern(uint64_t seed, std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + seed * 7) % 251);
  return s;
}

// The fds open in this process.
std::set<int> OpenFds() {
  std::set<int> fds;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return fds;
  int own = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != own) fds.insert(fd);
  }
  closedir(d);
  return fds;
}

// The fds open now that were not open at `before`: what a test left open.
// (Not equality: an fd of something outside the test, open at `before`,
// may close meanwhile; that is no leak.)
std::set<int> NewFds(const std::set<int>& before) {
  std::set<int> leaked;
  for (int fd : OpenFds()) {
    if (before.count(fd) == 0) leaked.insert(fd);
  }
  return leaked;
}

// --- child processes (openssl, python3) ---

struct Child {
  pid_t pid = -1;
  int in = -1;   // its stdin
  int out = -1;  // its stdout and stderr
};

// Starts argv with pipes on stdin and stdout+stderr. Blocks the thread
// (fork), so tests call it through weft::blocking.
Child Start(const std::vector<std::string>& argv) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    return {};
  }
  return {pid, in[1], out[0]};
}

// Reads the child's output until EOF, or until it contains `until`.
std::string ReadOutput(const Child& c, const std::string& until = "") {
  std::string all;
  char buf[4096];
  for (;;) {
    if (!until.empty() && all.find(until) != std::string::npos) return all;
    ssize_t n = ::read(c.out, buf, sizeof buf);
    if (n <= 0) return all;
    all.append(buf, static_cast<std::size_t>(n));
  }
}

// Stops the child (if `kill_it`) and reaps it; its exit status.
int Finish(Child& c, bool kill_it) {
  if (c.in >= 0) ::close(c.in);
  if (c.out >= 0) ::close(c.out);
  c.in = c.out = -1;
  if (c.pid < 0) return -1;
  if (kill_it) ::kill(c.pid, SIGTERM);
  int status = 0;
  waitpid(c.pid, &status, 0);
  c.pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class TlsTest : public test::RuntimeTest {};

// Many weft clients and a weft server at once: handshake (ALPN, SNI, the
// server's subject seen by the client), every byte of a 64 KiB round trip
// checked, a clean close_notify each way, and no fd left open.
TEST_P(TlsTest, EchoManyConnections) {
  Run([] {
    const std::set<int> before = OpenFds();
    {
      const int kConns = static_cast<int>(Scaled(64, 4));
      Server srv = Listen();
      ASSERT_TRUE(srv.listener);
      TlsContext server_ctx = ServerCtx({.certificate = Mem(certs().server), .alpn = {"http/1.1"}});
      TlsContext client_ctx =
          ClientCtx({.ca_pem = certs().pki.ca().cert_pem, .alpn = {"h2", "http/1.1"}});
      std::atomic<int64_t> echoed{0};
      std::atomic<int> server_named{0};
      WaitGroup handlers;
      auto acceptor = spawn([&] {
        for (int i = 0; i < kConns; ++i) {
          absl::StatusOr<TcpStream> tcp = srv.listener->accept_until(Soon());
          ASSERT_TRUE(tcp.ok()) << tcp.status();
          handlers.add(1);
          spawn([&, tcp = std::move(*tcp)]() mutable {
            // done() only once the stream is closed: the test counts fds.
            absl::Cleanup done = [&] { handlers.done(); };
            absl::StatusOr<TlsStream> s =
                TlsStream::server_until(std::move(tcp), server_ctx, Soon());
            EXPECT_TRUE(s.ok()) << s.status();
            if (s.ok()) {
              if (s->server_name() == "localhost") server_named.fetch_add(1);
              echoed.fetch_add(Echo(*s));
            }
          }).detach();
        }
      });
      std::vector<Fiber<void>> clients;
      for (int i = 0; i < kConns; ++i) {
        clients.push_back(spawn([&, i] {
          absl::StatusOr<TlsStream> c = DialTls(srv.address, client_ctx, "localhost");
          ASSERT_TRUE(c.ok()) << c.status();
          EXPECT_EQ(c->alpn_protocol(), "http/1.1");
          EXPECT_EQ(c->protocol_version(), "TLSv1.3");
          EXPECT_THAT(c->peer_certificate_subject(), HasSubstr("CN=localhost"));
          const std::string sent = Pattern(i, 64 * 1024);
          std::string got(sent.size(), '\0');
          // Write and read in turns of 8 KiB, so neither side's buffers fill.
          for (std::size_t off = 0; off < sent.size(); off += 8192) {
            ASSERT_TRUE(c->write_all_until(std::string_view(sent).substr(off, 8192), Soon()).ok());
            ASSERT_TRUE(c->read_exact_until(std::span<char>(got).subspan(off, 8192), Soon()).ok());
          }
          EXPECT_EQ(got, sent);
          ASSERT_TRUE(c->shutdown().ok());
          char b;
          absl::StatusOr<std::size_t> eof = c->read_some_until({&b, 1}, Soon());
          ASSERT_TRUE(eof.ok()) << eof.status();
          EXPECT_EQ(*eof, 0u);  // the server's close_notify
        }));
      }
      join_all(clients);
      acceptor.join();
      handlers.wait();
      EXPECT_EQ(echoed.load(), int64_t{kConns} * 64 * 1024);
      EXPECT_EQ(server_named.load(), kConns);
    }
    EXPECT_EQ(NewFds(before), std::set<int>{});
  });
}

// One fiber writes 2 MiB while another reads the echo back on the same
// stream, so OpenSSL calls from two workers interleave (serialized by the
// stream); a second reader meanwhile is refused.
TEST_P(TlsTest, OneReaderAndOneWriterAtOnce) {
  Run([] {
    Server srv = Listen();
    ASSERT_TRUE(srv.listener);
    TlsContext server_ctx = ServerCtx();
    TlsContext client_ctx = ClientCtx();
    auto server = spawn([&] {
      absl::StatusOr<TlsStream> s = AcceptTls(*srv.listener, server_ctx);
      ASSERT_TRUE(s.ok()) << s.status();
      Echo(*s);
    });
    absl::StatusOr<TlsStream> c = DialTls(srv.address, client_ctx, "localhost");
    ASSERT_TRUE(c.ok()) << c.status();
    const std::string sent = Pattern(3, Scaled(2 << 20, 4));
    std::string got(sent.size(), '\0');
    Event reading;
    auto reader = spawn([&] {
      reading.set();
      EXPECT_TRUE(c->read_exact_until(got, Soon()).ok());
    });
    reading.wait();
    sleep_for(absl::Milliseconds(20));  // the reader is parked in read_some now
    char b;
    absl::StatusOr<std::size_t> second = c->read_some_until({&b, 1}, Soon());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
    ASSERT_TRUE(c->write_all_until(sent, Soon()).ok());
    reader.join();
    EXPECT_TRUE(got == sent);
    ASSERT_TRUE(c->shutdown().ok());
    server.join();
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, TlsTest, test::WorkerCounts(), test::WorkerCountName);

// 1,000 TLS connections open at once (fewer under the sanitizers), each
// handshaken before any is used, then one round trip each; no fd left.
TEST(TlsScaleTest, ThousandConnectionsOpenAtOnce) {
  const int kConns = static_cast<int>(Scaled(1000, 10));
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < rlim_t(2 * kConns + 256)) {
    r.rlim_cur = std::min<rlim_t>(r.rlim_max, 2 * kConns + 256);
    setrlimit(RLIMIT_NOFILE, &r);
  }
  run({.workers = 2}, [&] {
    const std::set<int> before = OpenFds();
    {
      Server srv = Listen();
      ASSERT_TRUE(srv.listener);
      TlsContext server_ctx = ServerCtx();
      TlsContext client_ctx = ClientCtx();
      std::atomic<int> open_now{0};
      std::atomic<int> max_open{0};
      Latch all_open(2 * kConns);  // both ends of every connection
      WaitGroup handlers;
      auto acceptor = spawn([&] {
        for (int i = 0; i < kConns; ++i) {
          absl::StatusOr<TcpStream> tcp = srv.listener->accept_until(Soon());
          ASSERT_TRUE(tcp.ok()) << tcp.status();
          handlers.add(1);
          spawn([&, tcp = std::move(*tcp)]() mutable {
            absl::Cleanup done = [&] { handlers.done(); };  // after the stream closed
            absl::StatusOr<TlsStream> s =
                TlsStream::server_until(std::move(tcp), server_ctx, Soon());
            EXPECT_TRUE(s.ok()) << s.status();
            all_open.count_down();
            if (s.ok()) Echo(*s);
          }).detach();
        }
      });
      std::vector<Fiber<void>> clients;
      for (int i = 0; i < kConns; ++i) {
        clients.push_back(spawn([&, i] {
          absl::StatusOr<TlsStream> c = DialTls(srv.address, client_ctx, "localhost");
          all_open.count_down();
          ASSERT_TRUE(c.ok()) << c.status();
          int now = open_now.fetch_add(1) + 1;
          int seen = max_open.load();
          while (now > seen && !max_open.compare_exchange_weak(seen, now)) {
          }
          all_open.wait();
          const std::string msg = absl::StrCat("hello from ", i);
          ASSERT_TRUE(c->write_all_until(msg, Soon()).ok());
          std::string got(msg.size(), '\0');
          ASSERT_TRUE(c->read_exact_until(got, Soon()).ok());
          EXPECT_EQ(got, msg);
          EXPECT_TRUE(c->shutdown().ok());
          open_now.fetch_sub(1);
        }));
      }
      join_all(clients);
      acceptor.join();
      handlers.wait();
      EXPECT_EQ(max_open.load(), kConns);
    }
    EXPECT_EQ(NewFds(before), std::set<int>{});
  });
}

// A TLS server that hands each handshake's Status to the test, one
// connection at a time, until `n` were served: what each bad client gets
// must not stop it from serving the next one.
struct StatusServer {
  explicit StatusServer(TlsContext c, int n, absl::Duration handshake = kLong) : ctx(std::move(c)) {
    srv = Listen();
    fiber = spawn([this, n, handshake] {
      for (int i = 0; i < n; ++i) {
        absl::StatusOr<TcpStream> tcp = srv.listener->accept_until(Soon());
        if (!tcp.ok()) return;
        absl::StatusOr<TlsStream> s = TlsStream::server_for(std::move(*tcp), ctx, handshake);
        results.send(s.status()).IgnoreError();
        if (s.ok()) Echo(*s);
      }
    });
  }
  // The next handshake's Status.
  absl::Status Next() {
    absl::StatusOr<absl::Status> r = results.recv_for(kLong);
    return r.ok() ? *r : r.status();
  }

  TlsContext ctx;
  Server srv;
  Channel<absl::Status> results{16};
  Fiber<void> fiber;
};

// A good client completes a round trip through `server` (it is unharmed).
void ExpectServes(StatusServer& server, const TlsContext& ctx, std::string_view name) {
  absl::StatusOr<TlsStream> c = DialTls(server.srv.address, ctx, name);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Status hs = server.Next();
  EXPECT_TRUE(hs.ok()) << hs;
  ASSERT_TRUE(c->write_all_until("ping", Soon()).ok());
  char buf[4];
  ASSERT_TRUE(c->read_exact_until(buf, Soon()).ok());
  EXPECT_EQ(std::string_view(buf, 4), "ping");
  EXPECT_TRUE(c->shutdown().ok());
}

TEST(TlsErrorTest, PlainHttpToTlsPort) {
  run({.workers = 2}, [] {
    const std::set<int> before = OpenFds();
    {
      StatusServer server(ServerCtx(), 2);
      absl::StatusOr<TcpStream> plain = net::dial_for(server.srv.address, kLong);
      ASSERT_TRUE(plain.ok());
      ASSERT_TRUE(plain->write_all_until("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", Soon()).ok());
      absl::Status hs = server.Next();
      EXPECT_EQ(hs.code(), absl::StatusCode::kUnavailable) << hs;
      EXPECT_THAT(hs.message(), AnyOf(HasSubstr("http request"), HasSubstr("wrong version")));
      ExpectServes(server, ClientCtx(), "localhost");
      server.fiber.join();
    }
    EXPECT_EQ(NewFds(before), std::set<int>{});
  });
}

TEST(TlsErrorTest, ExpiredCertificate) {
  run({.workers = 1}, [] {
    StatusServer server(ServerCtx(certs().expired), 2);
    absl::StatusOr<TlsStream> c = DialTls(server.srv.address, ClientCtx(), "localhost");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated) << c.status();
    EXPECT_THAT(c.status().message(), HasSubstr("certificate has expired"));
    // One worker: the failing call ran on this thread, whose OpenSSL error
    // queue must have been read and emptied there.
    EXPECT_EQ(ERR_peek_error(), 0u);
    absl::Status hs = server.Next();
    EXPECT_FALSE(hs.ok());  // the client's alert
    EXPECT_THAT(hs.message(), HasSubstr("certificate expired"));
    ExpectServes(server, ClientCtx({.verify_peer = false}), "localhost");
    server.fiber.join();
  });
}

TEST(TlsErrorTest, WrongHostAndUntrustedCertificates) {
  run({.workers = 2}, [] {
    StatusServer server(ServerCtx(certs().other_host), 4);
    absl::StatusOr<TlsStream> c = DialTls(server.srv.address, ClientCtx(), "localhost");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated) << c.status();
    EXPECT_THAT(c.status().message(), HasSubstr("hostname mismatch"));
    EXPECT_FALSE(server.Next().ok());
    // The system's CAs do not include the test CA.
    absl::StatusOr<TlsStream> u = DialTls(server.srv.address, ClientCtx({}), "other.example");
    EXPECT_EQ(u.status().code(), absl::StatusCode::kUnauthenticated) << u.status();
    EXPECT_THAT(u.status().message(), HasSubstr("unable to get local issuer certificate"));
    EXPECT_FALSE(server.Next().ok());
    // An IP address is checked against the certificate's IP entries.
    absl::StatusOr<TlsStream> ip = DialTls(server.srv.address, ClientCtx(), "127.0.0.1");
    EXPECT_EQ(ip.status().code(), absl::StatusCode::kUnauthenticated) << ip.status();
    EXPECT_THAT(ip.status().message(), HasSubstr("IP address mismatch"));
    EXPECT_FALSE(server.Next().ok());
    ExpectServes(server, ClientCtx(), "other.example");
    server.fiber.join();
  });
}

TEST(TlsErrorTest, IpAddressVerified) {
  run({.workers = 1}, [] {
    StatusServer server(ServerCtx(), 1);
    ExpectServes(server, ClientCtx(), "127.0.0.1");
    server.fiber.join();
  });
}

// A client that connects and sends part of a record header, then stalls:
// the server's handshake ends at its deadline, and it serves the next one.
TEST(TlsErrorTest, ClientStallsMidHandshake) {
  run({.workers = 2}, [] {
    const std::set<int> before = OpenFds();
    {
      StatusServer server(ServerCtx(), 2, absl::Milliseconds(300));
      absl::StatusOr<TcpStream> stall = net::dial_for(server.srv.address, kLong);
      ASSERT_TRUE(stall.ok());
      auto start = std::chrono::steady_clock::now();
      ASSERT_TRUE(stall->write_all_until(std::string_view("\x16\x03\x01", 3), Soon()).ok());
      absl::Status hs = server.Next();
      EXPECT_EQ(hs.code(), absl::StatusCode::kDeadlineExceeded) << hs;
      EXPECT_THAT(hs.message(), HasSubstr("TLS handshake: timed out"));
      EXPECT_GE(MillisSince(start), 250);
      EXPECT_LT(MillisSince(start), 10000);
      ExpectServes(server, ClientCtx(), "localhost");
      server.fiber.join();
    }
    EXPECT_EQ(NewFds(before), std::set<int>{});
  });
}

// A server that accepts and never answers: the client's handshake ends at
// its deadline.
TEST(TlsErrorTest, ServerStallsHandshake) {
  run({.workers = 2}, [] {
    Server srv = Listen();
    ASSERT_TRUE(srv.listener);
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<TlsStream> c =
        DialTls(srv.address, ClientCtx(), "localhost", absl::Now() + absl::Milliseconds(200));
    EXPECT_EQ(c.status().code(), absl::StatusCode::kDeadlineExceeded) << c.status();
    EXPECT_GE(MillisSince(start), 150);
  });
}

// The server closes the TCP connection without close_notify: the client's
// read is DataLoss, not a clean EOF.
TEST(TlsErrorTest, TruncationIsDataLoss) {
  run({.workers = 2}, [] {
    Server srv = Listen();
    ASSERT_TRUE(srv.listener);
    TlsContext server_ctx = ServerCtx();
    auto server = spawn([&] {
      absl::StatusOr<TlsStream> s = AcceptTls(*srv.listener, server_ctx);
      ASSERT_TRUE(s.ok()) << s.status();
      ASSERT_TRUE(s->write_all_until("partial", Soon()).ok());
      s->close();
    });
    absl::StatusOr<TlsStream> c = DialTls(srv.address, ClientCtx(), "localhost");
    ASSERT_TRUE(c.ok()) << c.status();
    char buf[7];
    ASSERT_TRUE(c->read_exact_until(buf, Soon()).ok());
    absl::StatusOr<std::size_t> n = c->read_some_until(buf, Soon());
    EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << n.status();
    EXPECT_THAT(n.status().message(), HasSubstr("without close_notify"));
    server.join();
  });
}

// A peer that never reads: write_all ends at its deadline, and the stream
// refuses later writes (part of a record may be left inside OpenSSL).
TEST(TlsErrorTest, WriteDeadlineThenWritesRefused) {
  run({.workers = 2}, [] {
    Server srv = Listen();
    ASSERT_TRUE(srv.listener);
    TlsContext server_ctx = ServerCtx();
    Event done;
    auto server = spawn([&] {
      absl::StatusOr<TlsStream> s = AcceptTls(*srv.listener, server_ctx);
      ASSERT_TRUE(s.ok()) << s.status();
      done.wait();  // never reads
    });
    absl::StatusOr<TlsStream> c = DialTls(srv.address, ClientCtx(), "localhost");
    ASSERT_TRUE(c.ok()) << c.status();
    const std::string big(64 << 20, 'x');
    auto start = std::chrono::steady_clock::now();
    absl::Status w = c->write_all_for(big, absl::Milliseconds(200));
    EXPECT_EQ(w.code(), absl::StatusCode::kDeadlineExceeded) << w;
    EXPECT_GE(MillisSince(start), 150);
    absl::Status again = c->write_all_until("more", Soon());
    EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
    done.set();
    server.join();
  });
}

// A client that connects and closes before a word of TLS: Unavailable,
// naming the handshake.
TEST(TlsErrorTest, PeerClosesDuringHandshake) {
  run({.workers = 2}, [] {
    StatusServer server(ServerCtx(), 2);
    {
      absl::StatusOr<TcpStream> tcp = net::dial_for(server.srv.address, kLong);
      ASSERT_TRUE(tcp.ok());
    }
    absl::Status hs = server.Next();
    EXPECT_EQ(hs.code(), absl::StatusCode::kUnavailable) << hs;
    EXPECT_THAT(std::string(hs.message()), HasSubstr("during the handshake"));
    ExpectServes(server, ClientCtx(), "localhost");
    server.fiber.join();
  });
}

// The client closes the connection: the server's writes end in an error
// status (sent with MSG_NOSIGNAL: no SIGPIPE kills the process).
TEST(TlsErrorTest, WriteToResetPeerIsAnError) {
  run({.workers = 2}, [] {
    Server srv = Listen();
    ASSERT_TRUE(srv.listener);
    TlsContext server_ctx = ServerCtx();
    Event reset;
    auto server = spawn([&] {
      absl::StatusOr<TlsStream> s = AcceptTls(*srv.listener, server_ctx);
      ASSERT_TRUE(s.ok()) << s.status();
      reset.wait();
      const std::string chunk(64 * 1024, 'x');
      // Past the first error too: the first reports the reset, the next
      // ones write to a dead socket (EPIPE, where SIGPIPE would come).
      absl::Status first;
      for (int i = 0; i < 100; ++i) {
        absl::Status w = s->write_all_until(chunk, Soon());
        if (first.ok()) first = w;
      }
      EXPECT_FALSE(first.ok());
      EXPECT_THAT(std::string(first.message()), HasSubstr("TLS write"));
    });
    absl::StatusOr<TlsStream> c = DialTls(srv.address, ClientCtx(), "localhost");
    ASSERT_TRUE(c.ok()) << c.status();
    c->close();  // unread data (session tickets): the kernel answers with a RST
    reset.set();
    server.join();
  });
}

TEST(TlsFeatureTest, SniPicksTheCertificate) {
  run({.workers = 2}, [] {
    TlsContext server_ctx = ServerCtx(
        {.certificate = Mem(certs().server),
         .sni = {{"a.example", Mem(certs().sni_a)}, {"*.b.example", Mem(certs().sni_b)}}});
    StatusServer server(server_ctx, 4);
    TlsContext client_ctx = ClientCtx();
    for (auto [name, cn] :
         std::vector<std::pair<std::string, std::string>>{{"a.example", "CN=a.example"},
                                                          {"A.Example", "CN=a.example"},
                                                          {"x.b.example", "CN=wild.b.example"},
                                                          {"localhost", "CN=localhost"}}) {
      absl::StatusOr<TlsStream> c = DialTls(server.srv.address, client_ctx, name);
      ASSERT_TRUE(c.ok()) << name << ": " << c.status();
      EXPECT_EQ(c->peer_certificate_subject(), cn) << name;
      EXPECT_TRUE(server.Next().ok());
      EXPECT_TRUE(c->shutdown().ok());
    }
    server.fiber.join();
  });
}

TEST(TlsFeatureTest, AlpnServerPreferenceAndRefusal) {
  run({.workers = 2}, [] {
    StatusServer server(ServerCtx({.certificate = Mem(certs().server), .alpn = {"h2", "http/1.1"}}),
                        3);
    const std::string ca = certs().pki.ca().cert_pem;
    {
      absl::StatusOr<TlsStream> c = DialTls(
          server.srv.address, ClientCtx({.ca_pem = ca, .alpn = {"http/1.1", "h2"}}), "localhost");
      ASSERT_TRUE(c.ok()) << c.status();
      EXPECT_EQ(c->alpn_protocol(), "h2");
      EXPECT_TRUE(server.Next().ok());
      EXPECT_TRUE(c->shutdown().ok());
    }
    {
      absl::StatusOr<TlsStream> c = DialTls(server.srv.address, ClientCtx(), "localhost");
      ASSERT_TRUE(c.ok()) << c.status();
      EXPECT_EQ(c->alpn_protocol(), "");  // offered none
      EXPECT_TRUE(server.Next().ok());
      EXPECT_TRUE(c->shutdown().ok());
    }
    absl::StatusOr<TlsStream> c =
        DialTls(server.srv.address, ClientCtx({.ca_pem = ca, .alpn = {"spdy/3"}}), "localhost");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
    EXPECT_THAT(c.status().message(), HasSubstr("no application protocol"));
    absl::Status hs = server.Next();
    EXPECT_EQ(hs.code(), absl::StatusCode::kUnavailable) << hs;
    server.fiber.join();
  });
}

TEST(TlsFeatureTest, ClientCertificates) {
  run({.workers = 2}, [] {
    const std::string ca = certs().pki.ca().cert_pem;
    StatusServer server(
        ServerCtx({.certificate = Mem(certs().server), .verify_peer = true, .ca_pem = ca}), 2);
    absl::StatusOr<TlsStream> anonymous = DialTls(server.srv.address, ClientCtx(), "localhost");
    // In TLS 1.3 the client finishes before the server checks: the refusal
    // arrives as an alert on the client's first read.
    if (anonymous.ok()) {
      char b;
      EXPECT_FALSE(anonymous->read_some_until({&b, 1}, Soon()).ok());
    }
    absl::Status hs = server.Next();
    EXPECT_THAT(hs.message(), HasSubstr("peer did not return a certificate"));
    absl::StatusOr<TlsStream> c =
        DialTls(server.srv.address, ClientCtx({.ca_pem = ca, .certificate = Mem(certs().client)}),
                "localhost");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(server.Next().ok());
    EXPECT_TRUE(c->shutdown().ok());
    server.fiber.join();
  });
}

TEST(TlsContextTest, ErrorsNameTheCauseAndOpenSslsReason) {
  absl::StatusOr<TlsContext> missing = TlsContext::server(
      {.certificate = {.cert_file = "/nonexistent/cert.pem", .key_file = "/nonexistent/k.pem"}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/cert.pem"));
  EXPECT_THAT(missing.status().message(), HasSubstr("error:"));  // OpenSSL's reason
  absl::StatusOr<TlsContext> mismatch = TlsContext::server(
      {.certificate = {.cert_pem = certs().server.cert_pem, .key_pem = certs().sni_a.key_pem}});
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatch.status().message(), HasSubstr("does not match"));
  absl::StatusOr<TlsContext> garbage =
      TlsContext::client({.ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n"});
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<TlsContext> alpn = TlsContext::client({.alpn = {""}});
  EXPECT_EQ(alpn.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<TlsContext> from_files =
      TlsContext::server({.certificate = {.cert_file = certs().server_files + ".pem",
                                          .key_file = certs().server_files + ".key"}});
  EXPECT_TRUE(from_files.ok()) << from_files.status();
  EXPECT_EQ(ERR_peek_error(), 0u);
  run({.workers = 1}, [] {
    absl::StatusOr<TlsStream> c = TlsStream::client_until(TcpStream(), ClientCtx(), "", Soon());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  });
}

// --- other TLS implementations as the peer ---

TEST(TlsInteropTest, OpensslSClientAgainstWeftServer) {
  run({.workers = 2}, [] {
    StatusServer server(ServerCtx(), 1);
    Child c = blocking([&] {
      return Start({"openssl", "s_client", "-connect", server.srv.address, "-servername",
                    "localhost", "-CAfile", certs().pki.ca_file(), "-verify_return_error",
                    "-verify_hostname", "localhost", "-quiet"});
    });
    ASSERT_GT(c.pid, 0);
    ASSERT_EQ(::write(c.in, "hello weft\n", 11), 11);
    ::close(c.in);
    c.in = -1;
    absl::Status hs = server.Next();
    EXPECT_TRUE(hs.ok()) << hs;
    // The server echoes, sees no EOF (s_client keeps the session open after
    // its stdin ends), so the test ends the server side.
    std::string out = blocking([&] { return ReadOutput(c, "hello weft\n"); });
    EXPECT_THAT(out, HasSubstr("hello weft"));
    blocking([&] { return Finish(c, true); });
    server.fiber.join();
  });
}

TEST(TlsInteropTest, PythonSslClientAgainstWeftServer) {
  run({.workers = 2}, [] {
    StatusServer server(ServerCtx({.certificate = Mem(certs().server), .alpn = {"http/1.1"}}), 1);
    const std::string script = absl::StrCat(
        "import socket, ssl, sys\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
        "ctx.set_alpn_protocols(['h2', 'http/1.1'])\n"
        "with socket.create_connection(('127.0.0.1', int(sys.argv[2]))) as raw:\n"
        "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:\n"
        "        s.sendall(b'x' * 100000)\n"
        "        got = b''\n"
        "        while len(got) < 100000:\n"
        "            got += s.recv(65536)\n"
        "        print(s.version(), s.selected_alpn_protocol(), got == b'x' * 100000)\n"
        "        s.unwrap()\n"  // close_notify both ways
        "print('done')\n");
    Child c = blocking([&] {
      return Start({"/usr/bin/python3", "-c", script, certs().pki.ca_file(),
                    std::to_string(server.srv.port)});
    });
    ASSERT_GT(c.pid, 0);
    absl::Status hs = server.Next();
    EXPECT_TRUE(hs.ok()) << hs;
    std::string out = blocking([&] { return ReadOutput(c); });
    EXPECT_THAT(out, HasSubstr("TLSv1.3 http/1.1 True\ndone"));
    EXPECT_EQ(blocking([&] { return Finish(c, false); }), 0) << out;
    server.fiber.join();
  });
}

TEST(TlsInteropTest, WeftClientAgainstOpensslSServer) {
  run({.workers = 2}, [] {
    Child s = blocking([&] {
      return Start({"openssl", "s_server", "-4", "-accept", "0", "-cert",
                    certs().server_files + ".pem", "-key", certs().server_files + ".key", "-alpn",
                    "http/1.1", "-www"});
    });
    ASSERT_GT(s.pid, 0);
    // s_server prints "ACCEPT 0.0.0.0:PORT" once it listens.
    std::string banner = blocking([&] { return ReadOutput(s, "\n"); });
    for (int i = 0; i < 5 && banner.find("ACCEPT") == std::string::npos; ++i) {
      banner += blocking([&] { return ReadOutput(s, "\n"); });
    }
    std::size_t colon = banner.rfind(':');
    ASSERT_NE(colon, std::string::npos) << banner;
    const std::string port = banner.substr(colon + 1, banner.find('\n', colon) - colon - 1);
    absl::StatusOr<TlsStream> c = DialTls(
        absl::StrCat("127.0.0.1:", port),
        ClientCtx({.ca_pem = certs().pki.ca().cert_pem, .alpn = {"http/1.1"}}), "localhost");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->alpn_protocol(), "http/1.1");
    ASSERT_TRUE(c->write_all_until("GET / HTTP/1.0\r\n\r\n", Soon()).ok());
    std::string page;
    char buf[4096];
    for (;;) {
      absl::StatusOr<std::size_t> n = c->read_some_until(buf, Soon());
      ASSERT_TRUE(n.ok()) << n.status();  // s_server ends with close_notify
      if (*n == 0) break;
      page.append(buf, *n);
    }
    EXPECT_THAT(page, HasSubstr("HTTP/1.0 200 ok"));
    EXPECT_THAT(page, HasSubstr("TLSv1.3"));
    blocking([&] { return Finish(s, true); });
  });
}

}  // namespace
}  // namespace weft
