// weft::net::UdpSocket: bind, send_to / recv_from round trips, deadlines, a
// datagram longer than the buffer, and many datagrams between fibers.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using net::Address;
using net::UdpSocket;
using test::MillisSince;
using test::Scaled;
using ::testing::HasSubstr;

constexpr absl::Duration kLong = absl::Seconds(30);

class UdpTest : public test::RuntimeTest {};

// A socket on a free loopback port, and its address.
struct Bound {
  UdpSocket sock;
  Address addr;
};
Bound bind_loopback(const char* where = "127.0.0.1:0") {
  absl::StatusOr<UdpSocket> s = UdpSocket::bind(where);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return {};
  absl::StatusOr<Address> a = s->local_address();
  EXPECT_TRUE(a.ok()) << a.status();
  return {std::move(*s), a.ok() ? *a : Address()};
}

TEST_P(UdpTest, SendToRecvFromRoundTrip) {
  Run([] {
    Bound a = bind_loopback();
    Bound b = bind_loopback();
    ASSERT_TRUE(a.sock.is_open() && b.sock.is_open());
    EXPECT_NE(a.addr.port(), 0);
    EXPECT_NE(a.addr.port(), b.addr.port());

    auto echo = spawn([&] {
      char buf[64];
      absl::StatusOr<UdpSocket::Datagram> d = b.sock.recv_from_for(buf, kLong);
      if (!d.ok()) return d.status();
      EXPECT_EQ(std::string(buf, d->size), "ping");
      EXPECT_EQ(d->from, a.addr);
      return b.sock.send_to(d->from, "pong");
    });
    ASSERT_TRUE(a.sock.send_to(b.addr, "ping").ok());
    char buf[64];
    absl::StatusOr<UdpSocket::Datagram> d = a.sock.recv_from_for(buf, kLong);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(std::string(buf, d->size), "pong");
    EXPECT_EQ(d->from, b.addr);
    EXPECT_TRUE(echo.get().ok());
  });
}

TEST_P(UdpTest, EmptyDatagram) {
  Run([] {
    Bound a = bind_loopback();
    Bound b = bind_loopback();
    ASSERT_TRUE(a.sock.send_to(b.addr, "").ok());
    char buf[8];
    absl::StatusOr<UdpSocket::Datagram> d = b.sock.recv_from_for(buf, kLong);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->size, 0u);
    EXPECT_EQ(d->from, a.addr);
  });
}

TEST_P(UdpTest, RecvDeadline) {
  Run([] {
    Bound a = bind_loopback();
    const absl::Duration d = absl::Milliseconds(80);
    char buf[16];
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<UdpSocket::Datagram> got = a.sock.recv_from_for(buf, d);
    int64_t ms = MillisSince(start);
    EXPECT_TRUE(absl::IsDeadlineExceeded(got.status())) << got.status();
    EXPECT_GE(ms, absl::ToInt64Milliseconds(d) - 5);
    EXPECT_LT(ms, absl::ToInt64Milliseconds(d) + 5000);
    // The socket still works after a deadline.
    Bound b = bind_loopback();
    ASSERT_TRUE(b.sock.send_to(a.addr, "late").ok());
    got = a.sock.recv_from_for(buf, kLong);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(std::string(buf, got->size), "late");
  });
}

// A datagram longer than the buffer is cut to the buffer; the rest of it is
// gone, and the next datagram arrives whole.
TEST_P(UdpTest, LongDatagramIsTruncated) {
  Run([] {
    Bound a = bind_loopback();
    Bound b = bind_loopback();
    std::string big(1000, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    ASSERT_TRUE(a.sock.send_to(b.addr, big).ok());
    ASSERT_TRUE(a.sock.send_to(b.addr, "next").ok());
    char small[100];
    absl::StatusOr<UdpSocket::Datagram> d = b.sock.recv_from_for(small, kLong);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->size, sizeof small);
    EXPECT_EQ(std::string(small, d->size), big.substr(0, sizeof small));
    char buf[2000];
    d = b.sock.recv_from_for(buf, kLong);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(std::string(buf, d->size), "next");
  });
}

// Clients on their own sockets ping a one-fiber echo server, one datagram in
// flight each (so loopback never drops for want of buffer); every reply
// comes back to the right client with the right content.
TEST_P(UdpTest, ManyDatagramsBetweenFibers) {
  Run([] {
    const int kClients = static_cast<int>(Scaled(32, 4));
    const int kPings = static_cast<int>(Scaled(200));
    Bound server = bind_loopback();
    ASSERT_TRUE(server.sock.is_open());
    std::atomic<int> served{0};
    auto echo = spawn([&] {
      char buf[256];
      for (int i = 0; i < kClients * kPings; ++i) {
        absl::StatusOr<UdpSocket::Datagram> d = server.sock.recv_from_for(buf, kLong);
        if (!d.ok()) return d.status();
        if (absl::Status s = server.sock.send_to_for(d->from, {buf, d->size}, kLong); !s.ok()) {
          return s;
        }
        served.fetch_add(1);
      }
      return absl::OkStatus();
    });
    std::vector<Fiber<int>> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.push_back(spawn([&, c] {
        Bound me = bind_loopback();
        char buf[256];
        for (int i = 0; i < kPings; ++i) {
          std::string msg = std::to_string(c) + ":" + std::to_string(i);
          if (!me.sock.send_to(server.addr, msg).ok()) return i;
          absl::StatusOr<UdpSocket::Datagram> d = me.sock.recv_from_for(buf, kLong);
          if (!d.ok() || std::string(buf, d->size) != msg || !(d->from == server.addr)) return i;
        }
        return kPings;
      }));
    }
    for (int c = 0; c < kClients; ++c) EXPECT_EQ(clients[c].get(), kPings) << "client " << c;
    absl::Status s = echo.get();
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(served.load(), kClients * kPings);
  });
}

TEST_P(UdpTest, KillInterruptsRecv) {
  Run([] {
    Bound a = bind_loopback();
    std::atomic<bool> entered{false};
    std::atomic<bool> passed{false};
    auto f = spawn([&] {
      char buf[16];
      entered = true;
      a.sock.recv_from(buf).IgnoreError();
      passed = true;
    });
    while (!entered.load()) sleep_for(absl::Milliseconds(1));
    sleep_for(absl::Milliseconds(20));
    f.kill();
    ASSERT_TRUE(f.join_for(kLong));
    EXPECT_TRUE(f.killed());
    EXPECT_FALSE(passed.load());
  });
}

// A wait that starts while another fiber closes the socket can register
// the fd with the poller after close() forgot it and before it closed it;
// the kernel then drops its registration with the file, but the poller's
// table still says "registered". The next socket that gets the same fd
// number must not inherit that: it is woken by its data, and the stale
// waiter is cancelled. The window is two syscalls wide in close(); this
// test opens it wide with a raw fd: forget, a fiber waits, close.
TEST_P(UdpTest, StaleRegistrationOfAClosedFdIsNotInherited) {
  Run([] {
    Bound peer = bind_loopback();
    for (int round = 0; round < 3; ++round) {
      const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ASSERT_GE(fd, 0);
      io::forget(fd);  // close() has begun
      std::atomic<bool> entered{false};
      auto stale = spawn([&entered, fd] {
        entered = true;
        return io::wait_readable_for(fd, absl::Seconds(5));
      });
      while (!entered.load()) sleep_for(absl::Milliseconds(1));
      sleep_for(absl::Milliseconds(20));  // it registered the fd and parked
      ::close(fd);                        // close() ends
      Bound next = bind_loopback();       // the lowest free fd: `fd` again
      ASSERT_EQ(next.sock.fd(), fd) << "the test needs the fd number reused";
      // The receiver finds no datagram and must wait for it.
      auto receiver = spawn([&next] {
        char buf[8];
        absl::StatusOr<UdpSocket::Datagram> d = next.sock.recv_from_for(buf, absl::Seconds(5));
        return d.ok() ? std::string(buf, d->size) : d.status().ToString();
      });
      sleep_for(absl::Milliseconds(20));
      ASSERT_TRUE(peer.sock.send_to(next.addr, "wake").ok());
      EXPECT_EQ(receiver.get(), "wake") << "round " << round << ", fd " << fd;
      absl::Status s = stale.get();
      EXPECT_TRUE(absl::IsCancelled(s)) << s;
    }
  });
}

TEST_P(UdpTest, Ipv6RoundTrip) {
  Run([] {
    absl::StatusOr<UdpSocket> probe = UdpSocket::bind("[::1]:0");
    if (!probe.ok()) GTEST_SKIP() << "no IPv6 loopback: " << probe.status();
    Bound a = bind_loopback("[::1]:0");
    Bound b = bind_loopback("[::1]:0");
    EXPECT_EQ(a.addr.family(), AF_INET6);
    EXPECT_THAT(a.addr.to_string(), HasSubstr("[::1]:"));
    ASSERT_TRUE(a.sock.send_to(b.addr, "six").ok());
    char buf[16];
    absl::StatusOr<UdpSocket::Datagram> d = b.sock.recv_from_for(buf, kLong);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(std::string(buf, d->size), "six");
    EXPECT_EQ(d->from, a.addr);
  });
}

TEST(UdpErrorsTest, BadInputAndClosedSockets) {
  absl::StatusOr<UdpSocket> s = UdpSocket::bind("not an address");
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("not an address"));
  s = UdpSocket::bind("127.0.0.1:99999");
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();

  // Two sockets on one port: the second bind fails, naming the address.
  Bound a = bind_loopback();
  s = UdpSocket::bind(a.addr.to_string());
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr(a.addr.to_string()));

  UdpSocket closed;
  char buf[4];
  EXPECT_TRUE(absl::IsFailedPrecondition(closed.send_to(a.addr, "x")));
  EXPECT_TRUE(absl::IsFailedPrecondition(closed.recv_from(buf).status()));
  a.sock.close();
  EXPECT_FALSE(a.sock.is_open());
  EXPECT_TRUE(absl::IsFailedPrecondition(a.sock.recv_from(buf).status()));
}

// On a plain thread the same calls block the thread.
TEST(UdpThreadTest, PlainThreadRoundTrip) {
  Bound a = bind_loopback();
  Bound b = bind_loopback();
  ASSERT_TRUE(a.sock.send_to(b.addr, "thread").ok());
  char buf[16];
  absl::StatusOr<UdpSocket::Datagram> d = b.sock.recv_from_for(buf, kLong);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(std::string(buf, d->size), "thread");
  d = b.sock.recv_from_for(buf, absl::Milliseconds(20));
  EXPECT_TRUE(absl::IsDeadlineExceeded(d.status())) << d.status();
}

INSTANTIATE_TEST_SUITE_P(Workers, UdpTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
