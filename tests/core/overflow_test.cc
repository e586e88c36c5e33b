// Stack overflow in a fiber must be reported, never silent corruption.
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "weft/weft.h"

namespace weft {
namespace {

volatile bool g_never = false;

// Recurses until the stack runs out; the volatile buffer keeps every frame
// alive and stops the compiler from turning the recursion into a loop.
__attribute__((noinline)) int Recurse(int depth) {
  if (g_never) return 0;
  volatile char frame[512];
  std::memset(const_cast<char*>(frame), depth & 0xff, sizeof frame);
  return Recurse(depth + 1) + frame[depth % sizeof frame];
}

class OverflowDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(OverflowDeathTest, DeepRecursionIsReportedWithTheFiberId) {
  EXPECT_DEATH(weft::run({.workers = 1}, [] { return Recurse(0); }),
               "fiber [0-9]+ overflowed its stack");
}

TEST_F(OverflowDeathTest, ReportNamesTheStackSize) {
  EXPECT_DEATH(weft::run({.workers = 2, .stack_size = 32 * 1024}, [] { return Recurse(0); }),
               "fiber [0-9]+ overflowed its stack \\(size 32768 bytes\\)");
}

TEST_F(OverflowDeathTest, OverflowInAChildFiberOnAnotherWorker) {
  EXPECT_DEATH(weft::run({.workers = 4},
                         [] {
                           std::vector<Fiber<int>> fs;
                           for (int i = 0; i < 8; ++i) {
                             fs.push_back(spawn([i] {
                               sleep_for(absl::Milliseconds(1));
                               return i == 5 ? Recurse(0) : i;
                             }));
                           }
                           int sum = 0;
                           for (auto& f : fs) sum += f.get();
                           return sum;
                         }),
               "fiber [0-9]+ overflowed its stack");
}

TEST(OverflowTest, DeepButBoundedRecursionFitsALargerStack) {
  // Not an overflow: 256 frames of ~0.5 KiB in a 1 MiB stack.
  struct Bounded {
    static int Go(int depth) {
      volatile char frame[512];
      std::memset(const_cast<char*>(frame), 1, sizeof frame);
      return depth == 0 ? frame[0] : Go(depth - 1) + frame[1];
    }
  };
  EXPECT_EQ(weft::run({.workers = 1, .stack_size = 1 << 20}, [] { return Bounded::Go(256); }), 257);
}

}  // namespace
}  // namespace weft
