// libweft_hook.so (io/hook/): blocking libc calls from a fiber park only the
// fiber, with libc's results and errno; outside a fiber they are libc's.
//
// Most tests run on one worker on purpose: there, a call that blocked the
// worker thread instead of the fiber would deadlock the test (the fiber
// that would unblock it could never run), so each test also checks that
// the hook, not luck, let it finish.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/io/hook/hook.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using std::chrono::steady_clock;

// errno through a call the compiler cannot see into (glibc's
// __errno_location is const: its result may be kept across a switch).
[[gnu::noinline]] int Errno() {
  asm volatile("" ::: "memory");
  return errno;
}

RuntimeOptions One() { return {.workers = 1}; }

struct Pair {
  int a = -1, b = -1;
  explicit Pair(int flags = 0) { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | flags, 0, &a), 0); }
  ~Pair() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
};

TEST(HookTest, EnabledOnlyInsideFibersAndOutsideDisable) {
  EXPECT_FALSE(hook::enabled());
  weft::run(One(), [] {
    EXPECT_TRUE(hook::enabled());
    {
      hook::Disable off;
      EXPECT_FALSE(hook::enabled());
      {
        hook::Disable nested;
        EXPECT_FALSE(hook::enabled());
      }
      EXPECT_FALSE(hook::enabled());
    }
    EXPECT_TRUE(hook::enabled());
  });
}

// A blocking read parks the fiber; the writer runs on the same worker.
TEST(HookTest, BlockingReadParksOnlyTheFiber) {
  weft::run(One(), [] {
    Pair p;
    auto reader = spawn([&] {
      char buf[8] = {};
      ssize_t n = read(p.a, buf, sizeof buf);
      return std::string(buf, n > 0 ? n : 0);
    });
    sleep_for(absl::Milliseconds(20));
    EXPECT_EQ(write(p.b, "hello", 5), 5);
    EXPECT_EQ(reader.get(), "hello");
  });
}

TEST(HookTest, EveryReadAndWriteFormWaits) {
  weft::run(One(), [] {
    Pair p;
    auto reader = spawn([&] {
      std::string got;
      char buf[16];
      iovec iov{buf, 3};
      EXPECT_EQ(readv(p.a, &iov, 1), 3);
      got.append(buf, 3);
      EXPECT_EQ(recv(p.a, buf, 3, 0), 3);
      got.append(buf, 3);
      EXPECT_EQ(recvfrom(p.a, buf, 3, 0, nullptr, nullptr), 3);
      got.append(buf, 3);
      iov = {buf, 3};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      EXPECT_EQ(recvmsg(p.a, &msg, 0), 3);
      got.append(buf, 3);
      return got;
    });
    for (const char* piece : {"abc", "def", "ghi", "jkl"}) {
      sleep_for(absl::Milliseconds(5));  // the reader is parked each time
      static int form = 0;
      switch (form++ % 4) {
        case 0: {
          iovec iov{const_cast<char*>(piece), 3};
          EXPECT_EQ(writev(p.b, &iov, 1), 3);
          break;
        }
        case 1:
          EXPECT_EQ(send(p.b, piece, 3, 0), 3);
          break;
        case 2:
          EXPECT_EQ(sendto(p.b, piece, 3, 0, nullptr, 0), 3);
          break;
        default: {
          iovec iov{const_cast<char*>(piece), 3};
          msghdr msg{};
          msg.msg_iov = &iov;
          msg.msg_iovlen = 1;
          EXPECT_EQ(sendmsg(p.b, &msg, 0), 3);
        }
      }
    }
    EXPECT_EQ(reader.get(), "abcdefghijkl");
  });
}

// A writer that fills the socket buffer parks until the reader drains it.
TEST(HookTest, BlockingWriteWaitsForRoom) {
  weft::run(One(), [] {
    Pair p;
    constexpr size_t kTotal = 4 << 20;
    auto writer = spawn([&] {
      std::vector<char> chunk(64 << 10, 'x');
      size_t sent = 0;
      while (sent < kTotal) {
        ssize_t n = write(p.b, chunk.data(), std::min(chunk.size(), kTotal - sent));
        if (n <= 0) return sent;
        sent += n;
      }
      return sent;
    });
    size_t got = 0;
    std::vector<char> buf(64 << 10);
    while (got < kTotal) {
      ssize_t n = read(p.a, buf.data(), buf.size());
      ASSERT_GT(n, 0);
      got += n;
    }
    EXPECT_EQ(writer.get(), kTotal);
  });
}

// The user's O_NONBLOCK, however set, keeps libc's EAGAIN; F_GETFL shows the
// user's view while the real fd stays non-blocking under the hood.
TEST(HookTest, UserNonBlockingSocketsReturnEagain) {
  weft::run(One(), [] {
    char c;
    Pair nb(SOCK_NONBLOCK);
    EXPECT_EQ(read(nb.a, &c, 1), -1);
    EXPECT_EQ(Errno(), EAGAIN);
    EXPECT_NE(fcntl(nb.a, F_GETFL) & O_NONBLOCK, 0);

    Pair p;
    EXPECT_EQ(fcntl(p.a, F_GETFL) & O_NONBLOCK, 0);  // the user's view: blocking
    ASSERT_EQ(fcntl(p.a, F_SETFL, fcntl(p.a, F_GETFL) | O_NONBLOCK), 0);
    EXPECT_NE(fcntl(p.a, F_GETFL) & O_NONBLOCK, 0);
    EXPECT_EQ(recv(p.a, &c, 1, 0), -1);
    EXPECT_EQ(Errno(), EAGAIN);
    ASSERT_EQ(fcntl(p.a, F_SETFL, fcntl(p.a, F_GETFL) & ~O_NONBLOCK), 0);
    EXPECT_EQ(fcntl(p.a, F_GETFL) & O_NONBLOCK, 0);

    int on = 1;
    ASSERT_EQ(ioctl(p.b, FIONBIO, &on), 0);
    EXPECT_EQ(read(p.b, &c, 1), -1);
    EXPECT_EQ(Errno(), EWOULDBLOCK);
    EXPECT_NE(fcntl(p.b, F_GETFL) & O_NONBLOCK, 0);
    int off = 0;
    ASSERT_EQ(ioctl(p.b, FIONBIO, &off), 0);
    // Blocking again: the read waits for the byte a neighbour sends.
    auto w = spawn([&] {
      sleep_for(absl::Milliseconds(10));
      EXPECT_EQ(write(p.a, "z", 1), 1);
    });
    EXPECT_EQ(read(p.b, &c, 1), 1);
    EXPECT_EQ(c, 'z');
    w.join();

    // MSG_DONTWAIT asks one call not to wait, whatever the mode.
    EXPECT_EQ(recv(p.b, &c, 1, MSG_DONTWAIT), -1);
    EXPECT_EQ(Errno(), EAGAIN);
  });
}

// SO_RCVTIMEO/SO_SNDTIMEO become deadlines: EAGAIN after them, as the kernel.
TEST(HookTest, SocketTimeoutsEndWaitsWithEagain) {
  weft::run(One(), [] {
    Pair p;
    timeval tv{0, 50000};
    ASSERT_EQ(setsockopt(p.a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    timeval back{};
    socklen_t len = sizeof back;
    ASSERT_EQ(getsockopt(p.a, SOL_SOCKET, SO_RCVTIMEO, &back, &len), 0);
    EXPECT_GE(back.tv_usec, 50000);  // the kernel rounds up to its tick
    std::atomic<bool> ticked{false};
    auto ticker = spawn([&] {
      sleep_for(absl::Milliseconds(10));
      ticked = true;
    });
    auto start = steady_clock::now();
    char c;
    EXPECT_EQ(read(p.a, &c, 1), -1);
    EXPECT_EQ(Errno(), EAGAIN);
    EXPECT_GE(test::MillisSince(start), 45);
    EXPECT_TRUE(ticked.load());  // the worker ran others meanwhile
    ticker.join();

    ASSERT_EQ(setsockopt(p.b, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    std::vector<char> big(1 << 20, 'y');
    ssize_t total = 0;
    for (;;) {  // fills the buffer, then times out
      ssize_t n = write(p.b, big.data(), big.size());
      if (n < 0) break;
      total += n;
    }
    EXPECT_EQ(Errno(), EAGAIN);
    EXPECT_GT(total, 0);
  });
}

int Listener(sockaddr_in* addr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *addr = a;
  return fd;
}

TEST(HookTest, AcceptAndConnectWait) {
  weft::run(One(), [] {
    sockaddr_in addr{};
    int lfd = Listener(&addr);
    auto server = spawn([&] {
      int c = accept(lfd, nullptr, nullptr);  // parks until the client connects
      EXPECT_GE(c, 0);
      EXPECT_EQ(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
      char buf[4];
      EXPECT_EQ(read(c, buf, 4), 4);
      EXPECT_EQ(write(c, buf, 4), 4);
      int c2 = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
      EXPECT_NE(fcntl(c2, F_GETFL) & O_NONBLOCK, 0);
      close(c2);
      close(c);
    });
    sleep_for(absl::Milliseconds(10));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(write(fd, "ping", 4), 4);
    char buf[4];
    EXPECT_EQ(read(fd, buf, 4), 4);
    EXPECT_EQ(std::string(buf, 4), "ping");
    int fd2 = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(fd2, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    server.join();
    close(fd2);
    close(fd);
    close(lfd);

    // Nobody listens there any more: the blocking connect reports SO_ERROR.
    int fd3 = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(fd3, reinterpret_cast<sockaddr*>(&addr), sizeof addr), -1);
    EXPECT_EQ(Errno(), ECONNREFUSED);
    close(fd3);
  });
}

TEST(HookTest, PollWaitsOnSeveralFdsWithATimeout) {
  weft::run(One(), [] {
    Pair p1, p2;
    pollfd fds[2] = {{p1.a, POLLIN, 0}, {p2.a, POLLIN, 0}};
    auto start = steady_clock::now();
    EXPECT_EQ(poll(fds, 2, 30), 0);  // nothing: the timeout
    EXPECT_GE(test::MillisSince(start), 25);
    auto w = spawn([&] {
      sleep_for(absl::Milliseconds(10));
      EXPECT_EQ(write(p2.b, "x", 1), 1);
    });
    EXPECT_EQ(poll(fds, 2, -1), 1);  // the second becomes readable
    EXPECT_EQ(fds[0].revents, 0);
    EXPECT_EQ(fds[1].revents, POLLIN);
    w.join();

    timespec ts{0, 20000000};
    pollfd one{p1.a, POLLIN, 0};
    EXPECT_EQ(ppoll(&one, 1, &ts, nullptr), 0);
  });
}

TEST(HookTest, SelectWaitsOnSeveralFdsWithATimeout) {
  weft::run(One(), [] {
    Pair p1, p2;
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p1.a, &rs);
    FD_SET(p2.a, &rs);
    timeval tv{0, 30000};
    auto start = steady_clock::now();
    EXPECT_EQ(::select(std::max(p1.a, p2.a) + 1, &rs, nullptr, nullptr, &tv), 0);
    EXPECT_GE(test::MillisSince(start), 25);
    auto w = spawn([&] {
      sleep_for(absl::Milliseconds(10));
      EXPECT_EQ(write(p1.b, "x", 1), 1);
    });
    FD_ZERO(&rs);
    FD_SET(p1.a, &rs);
    FD_SET(p2.a, &rs);
    EXPECT_EQ(::select(std::max(p1.a, p2.a) + 1, &rs, nullptr, nullptr, nullptr), 1);
    EXPECT_TRUE(FD_ISSET(p1.a, &rs));
    EXPECT_FALSE(FD_ISSET(p2.a, &rs));
    w.join();
    timespec ts{0, 10000000};
    FD_ZERO(&rs);
    FD_SET(p2.a, &rs);
    EXPECT_EQ(pselect(p2.a + 1, &rs, nullptr, nullptr, &ts, nullptr), 0);
  });
}

TEST(HookTest, EpollWaitOnTheFibersOwnInstance) {
  weft::run(One(), [] {
    Pair p;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = p.a;
    ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, p.a, &ev), 0);
    epoll_event out[4];
    EXPECT_EQ(epoll_wait(ep, out, 4, 20), 0);
    auto w = spawn([&] {
      sleep_for(absl::Milliseconds(10));
      EXPECT_EQ(write(p.b, "x", 1), 1);
    });
    EXPECT_EQ(epoll_wait(ep, out, 4, -1), 1);
    EXPECT_EQ(out[0].data.fd, p.a);
    w.join();
    close(ep);
  });
}

// For each sleep call, 20 fibers sleeping 50 ms on one worker: they overlap,
// so a round takes about 50 ms, not the 1 s of 20 sleeps in a row.
int SleepOnce(int kind) {
  switch (kind) {
    case 0: {
      timespec ts{0, 50000000};
      return nanosleep(&ts, nullptr);
    }
    case 1: {
      timespec ts{0, 50000000};
      return clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    }
    case 2:
      return usleep(50000);
    default: {
      timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      now.tv_nsec += 50000000;
      if (now.tv_nsec >= 1000000000) {
        now.tv_nsec -= 1000000000;
        now.tv_sec += 1;
      }
      return clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &now, nullptr);
    }
  }
}

TEST(HookTest, SleepsParkTheFiber) {
  weft::run(One(), [] {
    for (int kind = 0; kind < 4; ++kind) {
      auto start = steady_clock::now();
      std::vector<Fiber<int>> fs;
      for (int i = 0; i < 20; ++i) fs.push_back(spawn([kind] { return SleepOnce(kind); }));
      for (auto& f : fs) EXPECT_EQ(f.get(), 0);
      auto ms = test::MillisSince(start);
      EXPECT_GE(ms, 45) << "sleep kind " << kind;
      EXPECT_LT(ms, 700) << "sleep kind " << kind << ": the sleeps did not overlap";
    }
    auto start = steady_clock::now();
    auto a = spawn([] { return sleep(1); });
    auto b = spawn([] { return sleep(1); });
    EXPECT_EQ(a.get(), 0u);
    EXPECT_EQ(b.get(), 0u);
    EXPECT_LT(test::MillisSince(start), 1900);
  });
}

// close() of an fd another fiber waits on wakes it with EBADF; the number,
// reused at once, starts clean.
TEST(HookTest, CloseWakesAWaiterWithEbadf) {
  weft::run(One(), [] {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    auto reader = spawn([&] {
      char c;
      ssize_t n = read(sv[0], &c, 1);
      return std::make_pair(n, Errno());
    });
    sleep_for(absl::Milliseconds(10));
    ASSERT_EQ(close(sv[0]), 0);
    auto [n, err] = reader.get();
    EXPECT_EQ(n, -1);
    EXPECT_EQ(err, EBADF);
    Pair p;  // likely reuses sv[0]'s number
    auto r2 = spawn([&] {
      char c;
      return read(p.a, &c, 1);
    });
    sleep_for(absl::Milliseconds(5));
    EXPECT_EQ(write(p.b, "k", 1), 1);
    EXPECT_EQ(r2.get(), 1);
    close(sv[1]);
  });
}

TEST(HookTest, PipesAndDupsKeepTheUsersMode) {
  weft::run(One(), [] {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    int rd = dup(fds[0]);
    auto reader = spawn([&] {
      char c = 0;
      EXPECT_EQ(read(rd, &c, 1), 1);  // the dup is blocking too, and waits
      return c;
    });
    sleep_for(absl::Milliseconds(10));
    EXPECT_EQ(write(fds[1], "p", 1), 1);
    EXPECT_EQ(reader.get(), 'p');
    int fds2[2];
    ASSERT_EQ(pipe2(fds2, O_NONBLOCK), 0);
    ASSERT_EQ(dup2(fds2[0], rd), rd);  // rd now the non-blocking pipe's
    char c;
    EXPECT_EQ(read(rd, &c, 1), -1);
    EXPECT_EQ(Errno(), EAGAIN);
    int rd3 = fcntl(fds2[0], F_DUPFD_CLOEXEC, 100);
    EXPECT_GE(rd3, 100);
    EXPECT_NE(fcntl(rd3, F_GETFL) & O_NONBLOCK, 0);
    ASSERT_EQ(dup3(fds[0], rd3, O_CLOEXEC), rd3);
    EXPECT_EQ(fcntl(rd3, F_GETFL) & O_NONBLOCK, 0);
    for (int fd : {fds[0], fds[1], fds2[0], fds2[1], rd, rd3}) close(fd);
  });
}

// A kill or an expired weft::Timeout ends a hooked wait with EINTR; the kill
// then throws FiberExit at the fiber's next weft suspension point.
TEST(HookTest, KillAndTimeoutInterruptWithEintr) {
  weft::run(One(), [] {
    Pair p;
    std::atomic<int> got_errno{0};
    std::atomic<bool> reached_after{false};
    auto victim = spawn([&] {
      char c;
      ssize_t n = read(p.a, &c, 1);
      got_errno = n < 0 ? Errno() : 0;
      yield();  // throws FiberExit
      reached_after = true;
    });
    sleep_for(absl::Milliseconds(10));
    victim.kill();
    victim.join();
    EXPECT_EQ(got_errno.load(), EINTR);
    EXPECT_FALSE(reached_after.load());
    EXPECT_TRUE(victim.killed());

    auto timed = spawn([&] {
      Timeout t(absl::Milliseconds(20));
      timespec ts{5, 0};
      int r = nanosleep(&ts, nullptr);
      int e = Errno();
      char c;
      ssize_t n = read(p.a, &c, 1);
      return std::make_tuple(r, e, n, Errno());
    });
    auto [r, e, n, e2] = timed.get();
    EXPECT_EQ(r, -1);
    EXPECT_EQ(e, EINTR);
    EXPECT_EQ(n, -1);
    EXPECT_EQ(e2, EINTR);
  });
}

// errno after a hooked call is the call's, also when the fiber resumed on
// another worker: 1,000 fibers on 4 workers, each failing calls around waits.
TEST(HookTest, ErrnoSurvivesMigration) {
#if defined(WEFT_TSAN)
  // Excluded under TSan: its interceptors for read/usleep/... sit above the
  // hook (libtsan comes first in the lookup order), so the fiber switches
  // happen inside a TSan interceptor, whose per-thread state then spans
  // fibers and threads. Here (4 workers, pooled stacks reused across
  // workers) TSan reports races on a joiner's stack record in
  // core/fiber.cc's join path; every report has such an interceptor frame
  // under the switch, and no core test shows them. Not yet shown which side
  // is wrong: see io/hook/README.md, "Sanitizers".
  GTEST_SKIP() << "TSan interceptors wrap the hook's fiber switches";
#endif
  constexpr int kFibers = static_cast<int>(test::Scaled(1000));
  int wrong = weft::run({.workers = 4}, [] {
    std::atomic<int> wrong{0};
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(spawn([&wrong, i] {
        Pair p(SOCK_NONBLOCK);
        char c;
        if (read(p.a, &c, 1) != -1) wrong++;
        usleep(100 * (i % 5));  // parks; likely resumes elsewhere
        if (Errno() != EAGAIN) wrong++;
        if (read(-1, &c, 1) != -1) wrong++;
        yield();
        if (Errno() != EBADF) wrong++;
        Pair q;
        auto w = spawn([&] {
          usleep(200);
          (void)write(q.b, "x", 1);
        });
        if (read(q.a, &c, 1) != 1) wrong++;  // waited; may resume elsewhere
        w.join();
        if (fcntl(-1, F_GETFL) != -1 || Errno() != EBADF) wrong++;
      }));
    }
    join_all(fs);
    return wrong.load();
  });
  EXPECT_EQ(wrong, 0);
}

TEST(HookTest, NameLookupsRunOffTheWorker) {
  weft::run(One(), [] {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    addrinfo* res = nullptr;
    ASSERT_EQ(getaddrinfo("127.0.0.1", "80", &hints, &res), 0);
    ASSERT_NE(res, nullptr);
    EXPECT_EQ(reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_port, htons(80));
    freeaddrinfo(res);
    hostent he{}, *out = nullptr;
    char buf[1024];
    int herr = 0;
    EXPECT_EQ(gethostbyname_r("localhost", &he, buf, sizeof buf, &out, &herr), 0);
    EXPECT_NE(out, nullptr);
    EXPECT_NE(gethostbyname("localhost"), nullptr);
  });
}

// What each call returns, with errno, for a fixed script of calls.
std::vector<std::pair<long, int>> Script() {
  std::vector<std::pair<long, int>> out;
  auto note = [&](long r) { out.emplace_back(r, r < 0 ? Errno() : 0); };
  int devnull = open("/dev/null", O_WRONLY);
  note(write(devnull, "abc", 3));
  close(devnull);
  char c;
  note(read(-1, &c, 1));
  note(write(12345, &c, 1));
  int sv[2];
  note(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
  note(read(sv[0], &c, 1));
  note(recv(sv[0], &c, 1, 0));
  note(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
  pollfd p{sv[0], POLLIN, 0};
  note(poll(&p, 1, 10));
  note(send(sv[1], "q", 1, 0));
  note(poll(&p, 1, 10));
  note(read(sv[0], &c, 1));
  note(close(sv[0]));
  note(close(sv[0]));
  note(close(sv[1]));
  timespec bad{0, -1};
  note(nanosleep(&bad, nullptr));
  note(usleep(1000));
  note(connect(-1, nullptr, 0));
  note(accept(-1, nullptr, nullptr));
  note(dup(-1));
  note(shutdown(-1, SHUT_RDWR));
  int one = 1;
  note(setsockopt(-1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
  return out;
}

// Outside a fiber every hooked call is libc's: a plain thread (in a process
// with a runtime running) and a fiber's Disable scope get the same results
// and errno as the same script... in a fiber, where each call is non-
// blocking or fails at once and so must agree too.
TEST(HookTest, OutsideAFiberEveryCallIsLibcs) {
  auto on_thread = Script();
  std::vector<std::pair<long, int>> on_other_thread, in_fiber, disabled;
  weft::run(One(), [&] {
    std::thread t([&] { on_other_thread = Script(); });
    t.join();
    in_fiber = Script();
    hook::Disable off;
    disabled = Script();
  });
  EXPECT_EQ(on_thread, on_other_thread);
  EXPECT_EQ(on_thread, in_fiber);
  EXPECT_EQ(on_thread, disabled);
}

}  // namespace
}  // namespace weft
