#include "weft/core/internal/run_queue.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"

namespace weft::internal {
namespace {

class RunQueueTest : public ::testing::Test {
 protected:
  RunQueueTest() : items_(1024) {}
  int* item(int i) { return &items_[i]; }
  std::vector<int> items_;
};

TEST_F(RunQueueTest, EmptyQueueYieldsNull) {
  RunQueue<int> q(8);
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_EQ(q.steal(), nullptr);
  EXPECT_EQ(q.size_hint(), 0u);
  EXPECT_EQ(q.capacity(), 8u);
}

TEST_F(RunQueueTest, PopIsLifo) {
  RunQueue<int> q(8);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.push(item(i)));
  EXPECT_EQ(q.size_hint(), 5u);
  for (int i = 4; i >= 0; --i) EXPECT_EQ(q.pop(), item(i));
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_EQ(q.size_hint(), 0u);
}

TEST_F(RunQueueTest, StealIsFifo) {
  RunQueue<int> q(8);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.push(item(i)));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(q.steal(), item(i));
  EXPECT_EQ(q.steal(), nullptr);
}

TEST_F(RunQueueTest, PopAndStealMeetInTheMiddle) {
  RunQueue<int> q(8);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.push(item(i)));
  EXPECT_EQ(q.steal(), item(0));
  EXPECT_EQ(q.pop(), item(3));
  EXPECT_EQ(q.steal(), item(1));
  EXPECT_EQ(q.pop(), item(2));
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_EQ(q.steal(), nullptr);
}

TEST_F(RunQueueTest, FullQueueRejectsPush) {
  RunQueue<int> q(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.push(item(i)));
  EXPECT_FALSE(q.push(item(4)));
  EXPECT_EQ(q.size_hint(), 4u);
  // Room made at either end can be reused.
  EXPECT_EQ(q.steal(), item(0));
  EXPECT_TRUE(q.push(item(5)));
  EXPECT_FALSE(q.push(item(6)));
  EXPECT_EQ(q.pop(), item(5));
  EXPECT_TRUE(q.push(item(7)));
  for (int i : {1, 2, 3, 7}) EXPECT_EQ(q.steal(), item(i));
}

TEST_F(RunQueueTest, SmallestCapacityWorks) {
  RunQueue<int> q(2);
  EXPECT_TRUE(q.push(item(0)));
  EXPECT_TRUE(q.push(item(1)));
  EXPECT_FALSE(q.push(item(2)));
  EXPECT_EQ(q.pop(), item(1));
  EXPECT_EQ(q.steal(), item(0));
}

TEST_F(RunQueueTest, WrapsAroundTheRingManyTimes) {
  RunQueue<int> q(4);
  for (int round = 0; round < 1000; ++round) {
    ASSERT_TRUE(q.push(item(round % 100)));
    ASSERT_TRUE(q.push(item(round % 100 + 1)));
    ASSERT_TRUE(q.push(item(round % 100 + 2)));
    ASSERT_EQ(q.steal(), item(round % 100));
    ASSERT_EQ(q.pop(), item(round % 100 + 2));
    ASSERT_EQ(q.steal(), item(round % 100 + 1));
    ASSERT_EQ(q.pop(), nullptr);
  }
}

TEST(RunQueueConcurrencyTest, OwnerAndThievesTakeEveryItemExactlyOnce) {
  // The owner pushes and pops while three thieves steal; with a small ring the
  // owner hits "full" often, and pop races thieves for the last element.
  const int kItems = static_cast<int>(test::Scaled(2000000));
  constexpr int kThieves = 3;
  std::vector<int> items(kItems);
  std::unique_ptr<std::atomic<int>[]> taken(new std::atomic<int>[kItems]);
  for (int i = 0; i < kItems; ++i) {
    items[i] = i;
    taken[i].store(0, std::memory_order_relaxed);
  }
  RunQueue<int> q(64);
  std::atomic<bool> owner_done{false};
  std::atomic<int> stolen{0};

  auto take = [&](int* p) {
    ASSERT_NE(p, nullptr);
    taken[*p].fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> thieves;
  for (int t = 0; t < kThieves; ++t) {
    thieves.emplace_back([&] {
      for (;;) {
        bool done = owner_done.load(std::memory_order_acquire);
        if (int* p = q.steal()) {
          take(p);
          stolen.fetch_add(1, std::memory_order_relaxed);
        } else if (done) {
          return;
        }
      }
    });
  }

  int popped = 0;
  for (int i = 0; i < kItems; ++i) {
    while (!q.push(&items[i])) {
      if (int* p = q.pop()) {
        take(p);
        ++popped;
      }
    }
    if (i % 3 == 0) {
      if (int* p = q.pop()) {
        take(p);
        ++popped;
      }
    }
  }
  while (int* p = q.pop()) {
    take(p);
    ++popped;
  }
  owner_done.store(true, std::memory_order_release);
  for (auto& t : thieves) t.join();

  EXPECT_EQ(popped + stolen.load(), kItems);
  EXPECT_GT(stolen.load(), 0);
  int wrong = 0;
  for (int i = 0; i < kItems; ++i) {
    if (taken[i].load() != 1) {
      if (++wrong <= 10) ADD_FAILURE() << "item " << i << " taken " << taken[i].load() << " times";
    }
  }
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace weft::internal
