// Unix domain sockets (io/net/unix.h): UnixListener / UnixStream / dial_unix
// with data both ways, the socket file's life (replaced at bind, removed on
// close), abstract names, errors, and weft::net::Server on a path.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using net::UnixListener;
using net::UnixStream;
using ::testing::HasSubstr;

constexpr absl::Duration kLong = absl::Seconds(30);

std::string TempPath(const char* name) {
  return absl::StrCat("/tmp/weft_unix_test_", getpid(), "_", name, ".sock");
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

class UnixTest : public test::RuntimeTest {};

TEST_P(UnixTest, EchoesManyConnections) {
  Run([] {
    std::string path = TempPath("echo");
    auto listener = UnixListener::bind(path);
    ASSERT_TRUE(listener.ok()) << listener.status();
    EXPECT_TRUE(Exists(path));
    auto acceptor = spawn([&] {
      for (int i = 0; i < 20; ++i) {
        auto c = listener->accept_for(kLong);
        ASSERT_TRUE(c.ok()) << c.status();
        spawn([c = std::move(*c)]() mutable {
          char buf[256];
          for (;;) {
            absl::StatusOr<std::size_t> n = c.read_some(buf);
            if (!n.ok() || *n == 0 || !c.write_all({buf, *n}).ok()) break;
          }
        });
      }
    });
    std::vector<Fiber<void>> clients;
    for (int i = 0; i < 20; ++i) {
      clients.push_back(spawn([&path, i] {
        auto c = net::dial_unix_for(path, kLong);
        ASSERT_TRUE(c.ok()) << c.status();
        std::string msg = "message " + std::to_string(i);
        ASSERT_TRUE(c->write_all(msg).ok());
        std::string got(msg.size(), '\0');
        ASSERT_TRUE(c->read_exact_for(got, kLong).ok());
        EXPECT_EQ(got, msg);
      }));
    }
    join_all(clients);
    acceptor.join();
    listener->close();
  });
}

TEST(UnixFileTest, BindReplacesAStaleFileAndCloseRemovesIt) {
  weft::run({.workers = 1}, [] {
    std::string path = TempPath("stale");
    {
      auto first = UnixListener::bind(path);
      ASSERT_TRUE(first.ok());
      // A second bind while the first lives replaces the file (the default).
      auto second = UnixListener::bind(path, {.remove_existing = false});
      EXPECT_FALSE(second.ok());
      EXPECT_THAT(second.status().message(), HasSubstr(path));
    }
    EXPECT_FALSE(Exists(path)) << "the listener removes its file";
  });
}

TEST(UnixFileTest, AbstractNames) {
  weft::run({.workers = 1}, [] {
    std::string name = absl::StrCat("@weft_unix_test_", getpid());
    auto l = UnixListener::bind(name);
    ASSERT_TRUE(l.ok()) << l.status();
    auto c = net::dial_unix_for(name, kLong);
    ASSERT_TRUE(c.ok()) << c.status();
    auto s = l->accept_for(kLong);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(c->write_all("x").ok());
    char b;
    ASSERT_TRUE(s->read_exact_for({&b, 1}, kLong).ok());
    EXPECT_EQ(b, 'x');
  });
}

TEST(UnixFileTest, Errors) {
  weft::run({.workers = 1}, [] {
    auto missing = net::dial_unix("/tmp/weft_no_such_socket_here.sock");
    EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
    EXPECT_TRUE(absl::IsInvalidArgument(UnixListener::bind("").status()));
    EXPECT_THAT(UnixListener::bind(std::string(200, 'x')).status().message(),
                HasSubstr("longer than"));
    std::string path = TempPath("refused");
    {
      auto l = UnixListener::bind(path);
      ASSERT_TRUE(l.ok());
      l->close();  // the file stays (only the destructor of an open listener removes it)
    }
    auto refused = net::dial_unix(path);
    EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
    unlink(path.c_str());
  });
}

TEST_P(UnixTest, ServerOnAPath) {
  Run([] {
    std::string path = TempPath("server");
    auto server = net::Server::listen_unix(path, [](UnixStream& conn) {
      net::BufferedReader in(conn);
      for (;;) {
        absl::StatusOr<std::string_view> line = in.read_line(1024);
        if (!line.ok() || line->empty() || !conn.write_all(*line).ok()) return;
      }
    });
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_EQ(server->path(), path);
    std::vector<Fiber<void>> clients;
    for (int i = 0; i < 10; ++i) {
      clients.push_back(spawn([&path, i] {
        auto c = net::dial_unix_for(path, kLong);
        ASSERT_TRUE(c.ok()) << c.status();
        net::BufferedReader in(*c);
        for (int r = 0; r < 10; ++r) {
          std::string req = absl::StrCat("line ", i, " ", r, "\n");
          ASSERT_TRUE(c->write_all(req).ok());
          EXPECT_EQ(*in.read_line_for(1024, kLong), req);
        }
      }));
    }
    join_all(clients);
    EXPECT_EQ(server->stop(absl::Seconds(5)), 0);
    EXPECT_EQ(server->stats().accepted, 10u);
    EXPECT_FALSE(Exists(path)) << "stop removes the socket file";
    EXPECT_FALSE(net::dial_unix(path).ok());
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, UnixTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
