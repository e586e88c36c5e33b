// weft::io::watch / forget / wait_readable / wait_writable: readiness wakes
// the one fiber waiting for it, on any worker; an edge that nobody waited for
// is kept; deadlines, forget, kill and a second waiter end a wait with the
// documented status; a plain thread blocks in poll(2); a blocked reader costs
// no CPU.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using test::MillisSince;
using test::Scaled;
using ::testing::HasSubstr;

// Long enough for a fiber that announced it is about to wait to be parked.
constexpr absl::Duration kSettle = absl::Milliseconds(20);
// A deadline no correct test comes near; reaching it means a lost wake-up.
constexpr absl::Duration kLong = absl::Seconds(30);

// Two connected non-blocking fds: a pipe or a socketpair. Forgets and closes
// both on destruction.
class FdPair {
 public:
  static FdPair pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return FdPair(-1, -1);
    return FdPair(fds[0], fds[1]);
  }
  static FdPair socketpair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      return FdPair(-1, -1);
    }
    return FdPair(fds[0], fds[1]);
  }
  FdPair(FdPair&& o) noexcept : a_(std::exchange(o.a_, -1)), b_(std::exchange(o.b_, -1)) {}
  FdPair& operator=(FdPair&&) = delete;
  ~FdPair() {
    for (int fd : {a_, b_}) {
      if (fd >= 0) {
        io::forget(fd);
        ::close(fd);
      }
    }
  }
  bool ok() const { return a_ >= 0 && b_ >= 0; }
  int a() const { return a_; }  // the read end of a pipe
  int b() const { return b_; }  // the write end of a pipe

 private:
  FdPair(int a, int b) : a_(a), b_(b) {}
  int a_;
  int b_;
};

// The kinds of FdPair every readiness test runs on.
enum class Kind { kPipe, kSocketPair };
FdPair make_fd_pair(Kind k) { return k == Kind::kPipe ? FdPair::pipe() : FdPair::socketpair(); }

bool write_byte(int fd, char c = 'x') { return ::write(fd, &c, 1) == 1; }

// Reads one byte; -1 if none could be read.
int read_byte(int fd) {
  unsigned char c;
  return ::read(fd, &c, 1) == 1 ? c : -1;
}

// Writes into fd until the kernel says EAGAIN; returns the bytes written.
std::size_t fill(int fd) {
  static const std::vector<char> chunk(64 * 1024, 'f');
  std::size_t total = 0;
  for (;;) {
    ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return total;
  }
}

// Reads from fd until EAGAIN (or EOF); returns the bytes read.
std::size_t drain(int fd) {
  std::vector<char> buf(64 * 1024);
  std::size_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return total;
  }
}

// Parks the calling fiber until `flag` is set (or `limit` passes; false then).
bool WaitUntil(const std::atomic<bool>& flag, absl::Duration limit = kLong) {
  absl::Time end = absl::Now() + limit;
  while (!flag.load()) {
    if (absl::Now() > end) return false;
    sleep_for(absl::Milliseconds(1));
  }
  return true;
}

double process_cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

class FdWaitTest : public test::RuntimeTest {};

// A waiter parks until data arrives, then reads it; it does not return before.
void ExpectReadableWakesWaiter(Kind kind) {
  FdPair p = make_fd_pair(kind);
  ASSERT_TRUE(p.ok());
  std::atomic<bool> entered{false};
  std::atomic<bool> written{false};
  auto reader = spawn([&] {
    entered = true;
    absl::Status s = io::wait_readable_for(p.a(), kLong);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_TRUE(written.load()) << "the wait returned before anything was written";
    EXPECT_EQ(read_byte(p.a()), 'r');
  });
  ASSERT_TRUE(WaitUntil(entered));
  sleep_for(kSettle);
  EXPECT_FALSE(reader.ready());
  written = true;
  ASSERT_TRUE(write_byte(p.b(), 'r'));
  reader.join();
}

TEST_P(FdWaitTest, ReadableWakesWaiterOnPipe) {
  Run([] { ExpectReadableWakesWaiter(Kind::kPipe); });
}

TEST_P(FdWaitTest, ReadableWakesWaiterOnSocketPair) {
  Run([] { ExpectReadableWakesWaiter(Kind::kSocketPair); });
}

// A writer blocked on a full buffer parks until the other side drains it.
void ExpectWritableWakesWaiter(Kind kind) {
  FdPair p = make_fd_pair(kind);
  ASSERT_TRUE(p.ok());
  ASSERT_GT(fill(p.b()), 0u);
  std::atomic<bool> entered{false};
  std::atomic<bool> drained{false};
  auto writer = spawn([&] {
    entered = true;
    absl::Status s = io::wait_writable_for(p.b(), kLong);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_TRUE(drained.load()) << "the wait returned while the buffer was full";
    EXPECT_TRUE(write_byte(p.b()));
  });
  ASSERT_TRUE(WaitUntil(entered));
  sleep_for(kSettle);
  EXPECT_FALSE(writer.ready());
  drained = true;
  EXPECT_GT(drain(p.a()), 0u);
  writer.join();
}

TEST_P(FdWaitTest, WritableWakesWaiterOnPipe) {
  Run([] { ExpectWritableWakesWaiter(Kind::kPipe); });
}

TEST_P(FdWaitTest, WritableWakesWaiterOnSocketPair) {
  Run([] { ExpectWritableWakesWaiter(Kind::kSocketPair); });
}

// One fiber waits to read and another to write the same socket: each
// direction has its own waiter, and each is woken by its own event.
TEST_P(FdWaitTest, ReaderAndWriterOfOneSocketWaitIndependently) {
  Run([] {
    FdPair p = FdPair::socketpair();
    ASSERT_TRUE(p.ok());
    ASSERT_GT(fill(p.a()), 0u);  // a cannot write until b reads
    std::atomic<int> entered{0};
    std::atomic<bool> readable{false};
    std::atomic<bool> writable{false};
    auto reader = spawn([&] {
      entered.fetch_add(1);
      EXPECT_TRUE(io::wait_readable_for(p.a(), kLong).ok());
      EXPECT_TRUE(readable.load());
      EXPECT_EQ(read_byte(p.a()), 'b');
    });
    auto writer = spawn([&] {
      entered.fetch_add(1);
      EXPECT_TRUE(io::wait_writable_for(p.a(), kLong).ok());
      EXPECT_TRUE(writable.load());
    });
    while (entered.load() < 2) sleep_for(absl::Milliseconds(1));
    sleep_for(kSettle);
    readable = true;
    ASSERT_TRUE(write_byte(p.b(), 'b'));
    reader.join();
    EXPECT_FALSE(writer.ready());
    writable = true;
    EXPECT_GT(drain(p.b()), 0u);
    writer.join();
  });
}

// A plain thread has no poller: it blocks in poll(2), with the same statuses.
TEST(FdWaitThreadTest, PlainThreadWaitsInPoll) {
  FdPair p = FdPair::pipe();
  ASSERT_TRUE(p.ok());
  std::atomic<bool> written{false};
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    written = true;
    write_byte(p.b(), 't');
  });
  EXPECT_TRUE(io::wait_readable_for(p.a(), kLong).ok());
  EXPECT_TRUE(written.load());
  EXPECT_EQ(read_byte(p.a()), 't');
  writer.join();

  // Deadline from a thread.
  auto start = std::chrono::steady_clock::now();
  absl::Status s = io::wait_readable_for(p.a(), absl::Milliseconds(50));
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_GE(MillisSince(start), 45);

  // Writable from a thread: at once on an empty pipe, after a drain on a full one.
  EXPECT_TRUE(io::wait_writable_for(p.b(), kLong).ok());
  ASSERT_GT(fill(p.b()), 0u);
  EXPECT_TRUE(absl::IsDeadlineExceeded(io::wait_writable_for(p.b(), absl::Milliseconds(20))));
  std::atomic<bool> drained{false};
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    drained = true;
    drain(p.a());
  });
  EXPECT_TRUE(io::wait_writable_for(p.b(), kLong).ok());
  EXPECT_TRUE(drained.load());
  reader.join();
  // watch() is a no-op on a plain thread.
  EXPECT_TRUE(io::watch(p.a()).ok());
}

// A plain thread may also wait on an fd a runtime's fibers use.
TEST_P(FdWaitTest, PlainThreadAndFiberShareAPipe) {
  Runtime rt(options());
  FdPair to_thread = FdPair::pipe();
  FdPair to_fiber = FdPair::pipe();
  ASSERT_TRUE(to_thread.ok() && to_fiber.ok());
  const int kRounds = static_cast<int>(Scaled(200));
  auto fiber = rt.spawn([&] {
    for (int i = 0; i < kRounds; ++i) {
      int c;
      while ((c = read_byte(to_fiber.a())) < 0) {  // readiness is a hint: retry, wait again
        if (!io::wait_readable_for(to_fiber.a(), kLong).ok()) return i;
      }
      if (c != i % 251 || !write_byte(to_thread.b(), static_cast<char>(c))) return i;
    }
    return kRounds;
  });
  int i = 0;
  for (; i < kRounds; ++i) {
    ASSERT_TRUE(write_byte(to_fiber.b(), static_cast<char>(i % 251)));
    int c;
    while ((c = read_byte(to_thread.a())) < 0) {
      ASSERT_TRUE(io::wait_readable_for(to_thread.a(), kLong).ok());
    }
    ASSERT_EQ(c, i % 251);
  }
  EXPECT_EQ(fiber.get(), kRounds);
}

// An edge that arrives while nobody waits is kept for the next wait: write
// first, let the poller see the edge, then wait: it returns at once rather
// than at the deadline.
TEST_P(FdWaitTest, EdgeBeforeWaitIsNotLost) {
  Run([] {
    for (Kind kind : {Kind::kPipe, Kind::kSocketPair}) {
      FdPair p = make_fd_pair(kind);
      ASSERT_TRUE(p.ok());
      ASSERT_TRUE(io::watch(p.a()).ok());
      ASSERT_TRUE(io::watch(p.a()).ok()) << "watch must be idempotent";
      ASSERT_TRUE(write_byte(p.b()));
      sleep_for(kSettle);  // idle workers poll meanwhile and record the edge
      const absl::Duration kDeadline = absl::Seconds(5);
      auto start = std::chrono::steady_clock::now();
      absl::Status s = io::wait_readable_for(p.a(), kDeadline);
      EXPECT_TRUE(s.ok()) << s;
      EXPECT_LT(MillisSince(start), absl::ToInt64Milliseconds(kDeadline) / 2);
      EXPECT_EQ(read_byte(p.a()), 'x');
    }
  });
}

// Data already there when the fd is first registered counts as an edge too.
TEST_P(FdWaitTest, DataBeforeFirstWatchIsSeen) {
  Run([] {
    FdPair p = FdPair::socketpair();
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(write_byte(p.b(), 'y'));
    EXPECT_TRUE(io::wait_readable_for(p.a(), kLong).ok());
    EXPECT_EQ(read_byte(p.a()), 'y');
    // A fresh socket is writable at once, also on its first wait.
    EXPECT_TRUE(io::wait_writable_for(p.b(), kLong).ok());
  });
}

// Many edges while nobody waits collapse into one ready state: the next wait
// returns at once, the one after that waits for a new edge.
TEST_P(FdWaitTest, KeptEdgeIsConsumedByOneWait) {
  Run([] {
    FdPair p = FdPair::pipe();
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(io::watch(p.a()).ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(write_byte(p.b()));
      sleep_for(absl::Milliseconds(2));
    }
    sleep_for(kSettle);  // every edge has reached the poller
    EXPECT_TRUE(io::wait_readable_for(p.a(), kLong).ok());
    EXPECT_EQ(drain(p.a()), 5u);
    absl::Status s = io::wait_readable_for(p.a(), absl::Milliseconds(30));
    EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  });
}

TEST_P(FdWaitTest, DeadlineExpires) {
  Run([] {
    FdPair p = FdPair::pipe();
    ASSERT_TRUE(p.ok());
    const absl::Duration d = absl::Milliseconds(100);
    auto start = std::chrono::steady_clock::now();
    absl::Status s = io::wait_readable_for(p.a(), d);
    int64_t ms = MillisSince(start);
    EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
    EXPECT_THAT(s.message(), HasSubstr("read"));
    EXPECT_GE(ms, absl::ToInt64Milliseconds(d) - 5);
    EXPECT_LT(ms, absl::ToInt64Milliseconds(d) + 5000);

    ASSERT_GT(fill(p.b()), 0u);
    start = std::chrono::steady_clock::now();
    s = io::wait_writable_for(p.b(), d);
    ms = MillisSince(start);
    EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
    EXPECT_THAT(s.message(), HasSubstr("write"));
    EXPECT_GE(ms, absl::ToInt64Milliseconds(d) - 5);
    EXPECT_LT(ms, absl::ToInt64Milliseconds(d) + 5000);

    // The pipe still works after its deadlines.
    EXPECT_GT(drain(p.a()), 0u);
    EXPECT_TRUE(io::wait_writable_for(p.b(), kLong).ok());

    // A deadline already past fails without waiting (on a fresh pipe: a
    // used one may hold a kept edge, and readiness wins over the deadline).
    FdPair q = FdPair::pipe();
    ASSERT_TRUE(q.ok());
    EXPECT_TRUE(absl::IsDeadlineExceeded(io::wait_readable_until(q.a(), absl::InfinitePast())));
    EXPECT_TRUE(
        absl::IsDeadlineExceeded(io::wait_readable_until(q.a(), absl::Now() - absl::Seconds(1))));
  });
}

// Many fibers with deadlines on one runtime each time out on their own.
TEST_P(FdWaitTest, ManyDeadlinesExpireIndependently) {
  Run([] {
    const int kFibers = static_cast<int>(Scaled(64, 4));
    std::vector<FdPair> pipes;
    for (int i = 0; i < kFibers; ++i) {
      pipes.push_back(FdPair::pipe());
      ASSERT_TRUE(pipes.back().ok());
    }
    std::vector<Fiber<absl::StatusCode>> fibers;
    for (int i = 0; i < kFibers; ++i) {
      fibers.push_back(spawn([&p = pipes[i], i] {
        return io::wait_readable_for(p.a(), absl::Milliseconds(10 + i % 20)).code();
      }));
    }
    for (auto& f : fibers) EXPECT_EQ(f.get(), absl::StatusCode::kDeadlineExceeded);
  });
}

// forget() while a fiber waits ends the wait with Cancelled.
TEST_P(FdWaitTest, ForgetWhileWaitingCancels) {
  Run([] {
    for (bool write_dir : {false, true}) {
      FdPair p = FdPair::socketpair();
      ASSERT_TRUE(p.ok());
      if (write_dir) {
        ASSERT_GT(fill(p.a()), 0u);
      }
      std::atomic<bool> entered{false};
      auto waiter = spawn([&] {
        entered = true;
        return write_dir ? io::wait_writable_for(p.a(), kLong)
                         : io::wait_readable_for(p.a(), kLong);
      });
      ASSERT_TRUE(WaitUntil(entered));
      sleep_for(kSettle);
      ASSERT_FALSE(waiter.ready());
      // Once is enough when the waiter is parked; a waiter that was slow to
      // start re-registers the fd, so forget again until it ends.
      absl::Time end = absl::Now() + kLong;
      do {
        io::forget(p.a());
      } while (!waiter.join_for(absl::Milliseconds(20)) && absl::Now() < end);
      ASSERT_TRUE(waiter.ready());
      absl::Status s = waiter.get();
      EXPECT_TRUE(absl::IsCancelled(s)) << s;
      EXPECT_THAT(s.message(), HasSubstr(std::to_string(p.a())));
      // The fd can be waited on again: the next wait registers it afresh.
      if (write_dir) {
        EXPECT_GT(drain(p.b()), 0u);
        EXPECT_TRUE(io::wait_writable_for(p.a(), kLong).ok());
      } else {
        ASSERT_TRUE(write_byte(p.b()));
        EXPECT_TRUE(io::wait_readable_for(p.a(), kLong).ok());
      }
    }
    // forget on an fd never watched, or twice, is harmless.
    FdPair q = FdPair::pipe();
    io::forget(q.a());
    io::forget(q.a());
  });
}

// forget() from a plain thread reaches a fiber's wait too.
TEST_P(FdWaitTest, ForgetFromPlainThreadCancels) {
  Runtime rt(options());
  FdPair p = FdPair::pipe();
  ASSERT_TRUE(p.ok());
  std::atomic<bool> entered{false};
  auto waiter = rt.spawn([&] {
    entered = true;
    return io::wait_readable_for(p.a(), kLong);
  });
  while (!entered.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  absl::Time end = absl::Now() + kLong;
  do {
    io::forget(p.a());
  } while (!waiter.join_for(absl::Milliseconds(20)) && absl::Now() < end);
  absl::Status s = waiter.get();
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
}

// Only one fiber may wait per fd and direction: of two readers, one gets
// FailedPrecondition at once, and the other the data.
TEST_P(FdWaitTest, SecondWaiterGetsFailedPrecondition) {
  Run([] {
    FdPair p = FdPair::pipe();
    ASSERT_TRUE(p.ok());
    std::atomic<int> failed{0};
    auto waiter = [&] {
      absl::Status s = io::wait_readable_for(p.a(), kLong);
      if (absl::IsFailedPrecondition(s)) {
        EXPECT_THAT(s.message(), HasSubstr("already waiting to read"));
        failed.fetch_add(1);
      }
      return s;
    };
    auto a = spawn(waiter);
    auto b = spawn(waiter);
    absl::Time end = absl::Now() + kLong;
    while (failed.load() == 0 && absl::Now() < end) sleep_for(absl::Milliseconds(1));
    ASSERT_EQ(failed.load(), 1);
    sleep_for(kSettle);
    ASSERT_TRUE(write_byte(p.b()));
    absl::Status sa = a.get();
    absl::Status sb = b.get();
    EXPECT_EQ(sa.ok() + sb.ok(), 1) << sa << " / " << sb;
    EXPECT_EQ(failed.load(), 1);
    EXPECT_EQ(read_byte(p.a()), 'x');
  });
}

// Counts destructions, to show a killed waiter unwinds.
struct DestructorCounter {
  std::atomic<int>* count;
  ~DestructorCounter() { count->fetch_add(1); }
};

// Fiber::kill interrupts the wait with FiberExit; the fiber's RAII runs and
// its fd can be waited on afterwards by another fiber.
TEST_P(FdWaitTest, KillInterruptsWait) {
  Run([] {
    for (bool write_dir : {false, true}) {
      FdPair p = FdPair::socketpair();
      ASSERT_TRUE(p.ok());
      if (write_dir) {
        ASSERT_GT(fill(p.a()), 0u);
      }
      std::atomic<int> destroyed{0};
      std::atomic<bool> entered{false};
      std::atomic<bool> passed{false};
      auto f = spawn([&] {
        DestructorCounter c{&destroyed};
        entered = true;
        absl::Status s = write_dir ? io::wait_writable(p.a()) : io::wait_readable(p.a());
        passed = true;
        return s;
      });
      ASSERT_TRUE(WaitUntil(entered));
      sleep_for(kSettle);
      EXPECT_FALSE(f.ready());
      f.kill();
      ASSERT_TRUE(f.join_for(kLong));
      EXPECT_TRUE(f.killed());
      EXPECT_FALSE(passed.load());
      EXPECT_EQ(destroyed.load(), 1);
      EXPECT_THROW(f.get().IgnoreError(), FiberKilled);
      // The killed fiber no longer holds the fd's waiter slot.
      if (write_dir) {
        EXPECT_GT(drain(p.b()), 0u);
        EXPECT_TRUE(io::wait_writable_for(p.a(), kLong).ok());
      } else {
        ASSERT_TRUE(write_byte(p.b()));
        EXPECT_TRUE(io::wait_readable_for(p.a(), kLong).ok());
      }
    }
  });
}

// A fiber killed while it unwinds (a destructor that waits for I/O) stops
// waiting early instead of spinning until its deadline: like every other
// wait (sleep_for, the sync/ waits), the wait gives up with an error.
TEST_P(FdWaitTest, KilledFiberUnwindingStopsWaiting) {
  Run([] {
    FdPair p = FdPair::pipe();
    ASSERT_TRUE(p.ok());
    const absl::Duration kDestructorDeadline = absl::Seconds(10);
    struct WaitsInDestructor {
      int fd;
      absl::Duration deadline;
      absl::Status* out;
      ~WaitsInDestructor() { *out = io::wait_readable_for(fd, deadline); }
    };
    absl::Status in_destructor;
    std::atomic<bool> entered{false};
    auto f = spawn([&] {
      WaitsInDestructor w{p.a(), kDestructorDeadline, &in_destructor};
      entered = true;
      sleep_for(kLong);
    });
    ASSERT_TRUE(WaitUntil(entered));
    sleep_for(kSettle);
    f.kill();
    ASSERT_TRUE(f.join_for(kLong));
    EXPECT_TRUE(f.killed());
    EXPECT_FALSE(in_destructor.ok());
    EXPECT_FALSE(absl::IsDeadlineExceeded(in_destructor))
        << "the killed fiber's wait ran to its deadline: " << in_destructor;
  });
}

// Runtime shutdown kills a fiber blocked on I/O; its RAII runs.
TEST_P(FdWaitTest, ShutdownInterruptsWait) {
  FdPair p = FdPair::pipe();
  ASSERT_TRUE(p.ok());
  std::atomic<int> destroyed{0};
  std::atomic<bool> entered{false};
  std::atomic<bool> passed{false};
  {
    Runtime rt(options());
    rt.spawn([&] {
        DestructorCounter c{&destroyed};
        entered = true;
        io::wait_readable(p.a()).IgnoreError();
        passed = true;
      }).detach();
    while (!entered.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    rt.shutdown();
    EXPECT_EQ(rt.stats().live_fibers, 0u);
  }
  EXPECT_EQ(destroyed.load(), 1);
  EXPECT_FALSE(passed.load());
  // Outside any runtime the fd is usable again (a plain-thread wait).
  ASSERT_TRUE(write_byte(p.b()));
  EXPECT_TRUE(io::wait_readable_for(p.a(), kLong).ok());
}

// An fd watched by one runtime that is gone can be used by the next one.
TEST_P(FdWaitTest, FdOutlivesItsRuntime) {
  FdPair p = FdPair::pipe();
  ASSERT_TRUE(p.ok());
  for (int round = 0; round < 3; ++round) {
    Runtime rt(options());
    std::atomic<bool> watched{false};
    auto f = rt.spawn([&] {
      EXPECT_TRUE(io::watch(p.a()).ok());
      watched = true;
      EXPECT_TRUE(io::wait_readable_for(p.a(), kLong).ok());
      return read_byte(p.a());
    });
    while (!watched.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(write_byte(p.b(), static_cast<char>('a' + round)));
    EXPECT_EQ(f.get(), 'a' + round) << "round " << round;
  }
}

// Thousands of fibers each wait on their own pipe; the pipes are written in
// a random order by several writer fibers; every waiter wakes and reads the
// byte meant for it.
TEST_P(FdWaitTest, ManyWaitersWokenInRandomOrder) {
  Run([this] {
    const int kPipes = static_cast<int>(Scaled(2000, 20));
    std::vector<FdPair> pipes;
    pipes.reserve(kPipes);
    for (int i = 0; i < kPipes; ++i) {
      pipes.push_back(FdPair::pipe());
      ASSERT_TRUE(pipes.back().ok()) << "pipe " << i << ": " << std::strerror(errno);
    }
    std::atomic<int> waiting{0};
    std::atomic<int> woken{0};
    std::vector<Fiber<int>> waiters;
    waiters.reserve(kPipes);
    for (int i = 0; i < kPipes; ++i) {
      waiters.push_back(spawn([&, i] {
        const int fd = pipes[i].a();
        waiting.fetch_add(1);
        for (;;) {
          int c = read_byte(fd);
          if (c >= 0) {
            woken.fetch_add(1);
            return c;
          }
          absl::Status s = io::wait_readable_for(fd, kLong);
          if (!s.ok()) {
            ADD_FAILURE() << "waiter " << i << ": " << s;
            return -1;
          }
        }
      }));
    }
    while (waiting.load() < kPipes) sleep_for(absl::Milliseconds(1));
    sleep_for(kSettle);
    EXPECT_EQ(woken.load(), 0);

    std::vector<int> order(kPipes);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(12345));
    const int kWriters = std::max(2, workers());
    std::vector<Fiber<void>> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.push_back(spawn([&, w] {
        for (std::size_t k = w; k < order.size(); k += kWriters) {
          int i = order[k];
          EXPECT_TRUE(write_byte(pipes[i].b(), static_cast<char>(i % 256)));
          if (k % 64 == 0) yield();
        }
      }));
    }
    for (auto& w : writers) w.join();
    ASSERT_TRUE(join_all(waiters, kLong)) << woken.load() << " of " << kPipes << " woke";
    for (int i = 0; i < kPipes; ++i) EXPECT_EQ(waiters[i].get(), i % 256) << "waiter " << i;
    EXPECT_EQ(woken.load(), kPipes);
  });
}

TEST_P(FdWaitTest, BadFdIsInvalidArgument) {
  Run([] {
    absl::Status s = io::watch(-1);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_THAT(s.message(), HasSubstr("-1"));
    EXPECT_TRUE(absl::IsInvalidArgument(io::wait_readable_for(-1, kLong)));
    io::forget(-1);  // harmless
  });
}

// An idle runtime whose only fiber is blocked in a read sleeps in the kernel:
// under 5% of a core over 300 ms (a polling worker would use ~100%).
TEST_P(FdWaitTest, BlockedReaderUsesNoCpu) {
  Runtime rt(options());
  FdPair p = FdPair::socketpair();
  ASSERT_TRUE(p.ok());
  std::atomic<bool> entered{false};
  auto reader = rt.spawn([&] {
    entered = true;
    absl::Status s = io::wait_readable(p.a());
    EXPECT_TRUE(s.ok()) << s;
    return read_byte(p.a());
  });
  while (!entered.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // workers go idle
  double before = process_cpu_seconds();
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  double used = process_cpu_seconds() - before;
  double wall = static_cast<double>(MillisSince(start)) / 1000;
  EXPECT_LT(used, 0.05 * wall) << "an idle runtime with a blocked reader used " << used
                               << " s of CPU in " << wall << " s";
  EXPECT_FALSE(reader.ready());
  ASSERT_TRUE(write_byte(p.b(), 'z'));
  EXPECT_EQ(reader.get(), 'z');
}

INSTANTIATE_TEST_SUITE_P(Workers, FdWaitTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
