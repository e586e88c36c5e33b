// libweft_hook.so under real, unmodified blocking libraries against real
// servers: hiredis against a redis-server the test starts, and OpenSSL's
// blocking SSL_read/SSL_write against a TLS server of the test's own. Each
// would stall its worker without the hook; with it, the fibers' waits
// overlap.
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "weft/io/hook/hook.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

extern char** environ;

namespace weft {
namespace {

using std::chrono::steady_clock;

// A loopback port nobody listens on now (the kernel's pick for port 0).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// redis-server on a free loopback port, no persistence; stopped (SIGTERM,
// then waited for) by the destructor.
class RedisServer {
 public:
  RedisServer() : port_(FreePort()) {
    std::string port = std::to_string(port_);
    const char* argv[] = {"redis-server", "--port",     port.c_str(),   "--bind", "127.0.0.1",
                          "--save",       "",           "--appendonly", "no",     "--daemonize",
                          "no",           "--loglevel", "warning",      nullptr};
    posix_spawn_file_actions_t quiet;  // its start-up warnings are not ours
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
    int rc =
        posix_spawnp(&pid_, "redis-server", &quiet, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (rc != 0) {
      pid_ = -1;
      return;
    }
    for (int i = 0; i < 200; ++i) {  // up to 10 s for it to accept
      redisContext* c = redisConnect("127.0.0.1", port_);
      bool up = c != nullptr && c->err == 0;
      if (c != nullptr) redisFree(c);
      if (up) return;
      usleep(50000);
    }
    ADD_FAILURE() << "redis-server did not start on port " << port_;
  }
  ~RedisServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return pid_ > 0; }
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_ = -1;
};

struct RedisFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Redis = std::unique_ptr<redisContext, RedisFree>;

// `n` fibers each BLPOP a list of their own with a 1 s timeout; another
// fiber RPUSHes to every list after 100 ms. Returns how many got their
// value, and the elapsed milliseconds in *ms. One worker: a call that
// blocked the thread would hold every other fiber.
int BlpopRound(int port, int n, bool hooked, int64_t* ms) {
  auto start = steady_clock::now();
  int got = weft::run({.workers = 1}, [&] {
    std::atomic<int> got{0};
    std::vector<Fiber<void>> poppers;
    for (int i = 0; i < n; ++i) {
      poppers.push_back(spawn([&, i] {
        std::unique_ptr<hook::Disable> off;
        if (!hooked) off = std::make_unique<hook::Disable>();
        Redis c(redisConnect("127.0.0.1", port));
        if (c == nullptr || c->err != 0) return;
        auto* r = static_cast<redisReply*>(redisCommand(c.get(), "BLPOP weft:list:%d 1", i));
        if (r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->str == absl::StrCat("v", i)) {
          got++;
        }
        if (r != nullptr) freeReplyObject(r);
      }));
    }
    auto pusher = spawn([&] {
      Redis c(redisConnect("127.0.0.1", port));
      if (c == nullptr || c->err != 0) return;
      usleep(100000);  // hooked: parks this fiber
      for (int i = 0; i < n; ++i) {
        auto* r = static_cast<redisReply*>(redisCommand(c.get(), "RPUSH weft:list:%d v%d", i, i));
        if (r != nullptr) freeReplyObject(r);
      }
    });
    join_all(poppers);
    pusher.join();
    return got.load();
  });
  *ms = test::MillisSince(start);
  return got;
}

// 200 blocked BLPOPs on one worker all return their value in about the
// 100 ms the pusher waits, not 200 x 1 s.
TEST(HookLibrariesTest, HiredisBlpopAcross200Fibers) {
  RedisServer server;
  ASSERT_TRUE(server.ok()) << "could not start redis-server";
  int64_t ms = 0;
  const int n = static_cast<int>(test::Scaled(200, 4));
  EXPECT_EQ(BlpopRound(server.port(), n, /*hooked=*/true, &ms), n);
  EXPECT_GE(ms, 100);
  // Every popper getting its value is the proof: with its worker blocked, a
  // BLPOP would time out (1 s) before the pusher could run, and return nil.
  // The time bound holds too where the sanitizers do not slow each of the
  // connects ~20x.
#if !defined(WEFT_TSAN) && !defined(WEFT_ASAN)
  EXPECT_LT(ms, 1000) << "the BLPOPs did not wait together";
#endif
  std::printf("hiredis: %d BLPOPs answered in %lld ms\n", n, static_cast<long long>(ms));
}

// The same with the hook disabled in the poppers: each BLPOP blocks the one
// worker for its whole 1 s timeout (the pusher cannot run meanwhile), so
// they come back empty, one after another.
TEST(HookLibrariesTest, HiredisBlpopBlocksTheWorkerWithTheHookDisabled) {
  RedisServer server;
  ASSERT_TRUE(server.ok()) << "could not start redis-server";
  int64_t ms = 0;
  EXPECT_EQ(BlpopRound(server.port(), 2, /*hooked=*/false, &ms), 0);
  EXPECT_GE(ms, 1900);
  std::printf("hiredis, hook disabled: 2 BLPOPs timed out in %lld ms\n",
              static_cast<long long>(ms));
}

// ---- TLS: OpenSSL's blocking calls over hooked sockets.

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtx = std::unique_ptr<SSL_CTX, SslCtxFree>;

// A server context with a fresh self-signed certificate (EC P-256: quick to
// make).
SslCtx ServerContext() {
  SslCtx ctx(SSL_CTX_new(TLS_server_method()));
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  SSL_CTX_use_certificate(ctx.get(), cert);
  SSL_CTX_use_PrivateKey(ctx.get(), key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return ctx;
}

// 100 client fibers and 100 server fibers on one worker, all in OpenSSL's
// blocking calls on blocking sockets: the handshakes and echoes interleave.
TEST(HookLibrariesTest, OpenSslEchoAcross100Fibers) {
  constexpr int n = static_cast<int>(test::Scaled(100, 4));
  int echoed = weft::run({.workers = 1}, [] {
    SslCtx server_ctx = ServerContext();
    SslCtx client_ctx(SSL_CTX_new(TLS_client_method()));
    int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(lfd, 256), 0);
    socklen_t len = sizeof addr;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);

    std::vector<Fiber<void>> servers;
    auto acceptor = spawn([&] {
      for (int i = 0; i < n; ++i) {
        int fd = accept(lfd, nullptr, nullptr);  // blocking, hooked
        if (fd < 0) return;
        servers.push_back(spawn([&, fd] {
          SSL* ssl = SSL_new(server_ctx.get());
          SSL_set_fd(ssl, fd);
          if (SSL_accept(ssl) == 1) {
            char buf[64];
            int r;
            while ((r = SSL_read(ssl, buf, sizeof buf)) > 0) {
              if (SSL_write(ssl, buf, r) != r) break;
            }
            SSL_shutdown(ssl);
          }
          SSL_free(ssl);
          ::close(fd);
        }));
      }
    });
    std::atomic<int> echoed{0};
    std::vector<Fiber<void>> clients;
    for (int i = 0; i < n; ++i) {
      clients.push_back(spawn([&, i] {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
        SSL* ssl = SSL_new(client_ctx.get());
        SSL_set_fd(ssl, fd);
        if (SSL_connect(ssl) == 1) {
          std::string msg = "hello " + std::to_string(i);
          char buf[64] = {};
          if (SSL_write(ssl, msg.data(), msg.size()) == static_cast<int>(msg.size())) {
            yield();  // let the others' handshakes in between
            int got = 0;
            while (got < static_cast<int>(msg.size())) {
              int r = SSL_read(ssl, buf + got, sizeof buf - got);
              if (r <= 0) break;
              got += r;
            }
            if (std::string(buf, got) == msg) echoed++;
          }
          SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        ::close(fd);
      }));
    }
    join_all(clients);
    acceptor.join();
    join_all(servers);
    ::close(lfd);
    return echoed.load();
  });
  EXPECT_EQ(echoed, n);
}

}  // namespace
}  // namespace weft
