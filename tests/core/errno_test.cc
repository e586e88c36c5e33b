// errno belongs to the fiber: every switch saves the running context's errno
// and installs the resumed one's (core/internal/context.h, swap_eh). A fiber
// that set errno and then yielded, slept or was woken on another worker finds
// its own value, never a neighbour's.
#include <atomic>
#include <cerrno>
#include <vector>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

class ErrnoTest : public test::RuntimeTest {};

// errno is read through a call the compiler cannot see into: glibc declares
// __errno_location const, so GCC may keep its result across weft::yield()
// (a switch after which the fiber may run on another thread) and read the old
// thread's errno. User code that reads errno right after a call is fine.
[[gnu::noinline]] int ReadErrno() {
  asm volatile("" ::: "memory");
  return errno;
}
[[gnu::noinline]] void WriteErrno(int v) {
  asm volatile("" ::: "memory");
  errno = v;
}

TEST_P(ErrnoTest, NewFiberStartsWithZero) {
  int seen = Run([] {
    WriteErrno(EBADF);  // the main fiber's
    return spawn([] { return ReadErrno(); }).get();
  });
  EXPECT_EQ(seen, 0);
}

TEST_P(ErrnoTest, SurvivesYieldWhileNeighboursWriteTheirOwn) {
  constexpr int kFibers = 8;
  constexpr int kRounds = 200;
  int wrong = Run([] {
    std::atomic<int> wrong{0};
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(spawn([i, &wrong] {
        for (int r = 0; r < kRounds; ++r) {
          const int mine = 1000 + i * kRounds + r;
          WriteErrno(mine);
          yield();
          if (ReadErrno() != mine) wrong.fetch_add(1);
        }
      }));
    }
    join_all(fs);
    return wrong.load();
  });
  EXPECT_EQ(wrong, 0);
}

// 1,000 fibers on the runtime's workers, each parking on a timer and on a
// join several times: with more than one worker most resume on a worker other
// than the one they parked on, whose errno holds some other fiber's value.
TEST_P(ErrnoTest, SurvivesParkingAndMigration) {
  constexpr int kFibers = static_cast<int>(test::Scaled(1000));
  int wrong = Run([] {
    std::atomic<int> wrong{0};
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(spawn([i, &wrong] {
        for (int r = 0; r < 3; ++r) {
          WriteErrno(i + 1);
          sleep_for(absl::Microseconds(100 * (i % 7)));
          if (ReadErrno() != i + 1) wrong.fetch_add(1);
          WriteErrno(-(i + 1));
          spawn([i] { WriteErrno(i * 3); }).join();
          if (ReadErrno() != -(i + 1)) wrong.fetch_add(1);
        }
      }));
    }
    join_all(fs);
    return wrong.load();
  });
  EXPECT_EQ(wrong, 0);
}

TEST_P(ErrnoTest, GeneratorBodyHasItsOwn) {
  Run([] {
    Generator<int> g([](auto& co) {
      WriteErrno(EPIPE);
      co.yield(1);
      EXPECT_EQ(ReadErrno(), EPIPE);
    });
    WriteErrno(EAGAIN);
    EXPECT_EQ(g.next(), 1);
    EXPECT_EQ(ReadErrno(), EAGAIN);
    EXPECT_FALSE(g.next().has_value());
    EXPECT_EQ(ReadErrno(), EAGAIN);
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, ErrnoTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
