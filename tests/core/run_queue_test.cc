#include "weft/core/private/run_queue.h"

#include <algorithm>
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

TEST_F(RunQueueTest, ReverseSinceRunsABatchOldestFirstInFrontOfOlderWork) {
  RunQueue<int> q(16);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.push(item(i)));  // older work
  int64_t base = q.bottom_index();
  for (int i = 3; i < 8; ++i) ASSERT_TRUE(q.push(item(i)));  // the batch
  q.reverse_since(base);
  EXPECT_EQ(q.size_hint(), 8u);
  for (int i : {3, 4, 5, 6, 7, 2, 1, 0}) EXPECT_EQ(q.pop(), item(i));
  EXPECT_EQ(q.pop(), nullptr);
}

TEST_F(RunQueueTest, ReverseSinceWithoutThievesGivesTheSameOrder) {
  RunQueue<int> q(8);
  ASSERT_TRUE(q.push(item(0)));
  EXPECT_EQ(q.steal(), item(0));  // top_ moves past the batch's base
  int64_t base = q.bottom_index() - 1;
  for (int i = 1; i < 6; ++i) ASSERT_TRUE(q.push(item(i)));
  q.reverse_since(base, /*no_thieves=*/true);
  for (int i = 1; i < 6; ++i) EXPECT_EQ(q.pop(), item(i));
  EXPECT_EQ(q.pop(), nullptr);
}

TEST_F(RunQueueTest, ReverseSinceOnAQueueThatHeldNothingOlder) {
  // The batch starts at the top, where a thief could be taking its oldest
  // element: reverse_since claims it and puts it back at the bottom.
  RunQueue<int> q(8);
  int64_t base = q.bottom_index();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.push(item(i)));
  q.reverse_since(base);
  EXPECT_EQ(q.size_hint(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(q.pop(), item(i));
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_EQ(q.steal(), nullptr);
}

TEST_F(RunQueueTest, ReverseSinceOnAFullRing) {
  RunQueue<int> q(4);
  int64_t base = q.bottom_index();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.push(item(i)));
  q.reverse_since(base);
  EXPECT_FALSE(q.push(item(9)));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(q.pop(), item(i));
  // After a wrap, too.
  for (int round = 0; round < 5; ++round) {
    base = q.bottom_index();
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.push(item(10 * round + i)));
    q.reverse_since(base);
    EXPECT_EQ(q.steal(), item(10 * round + 3));  // thieves now take the newest
    for (int i = 0; i < 3; ++i) EXPECT_EQ(q.pop(), item(10 * round + i));
  }
}

TEST_F(RunQueueTest, ReverseSinceLeavesWhatThievesTook) {
  RunQueue<int> q(8);
  int64_t base = q.bottom_index();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.push(item(i)));
  EXPECT_EQ(q.steal(), item(0));
  EXPECT_EQ(q.steal(), item(1));
  q.reverse_since(base);
  for (int i : {2, 3, 4}) EXPECT_EQ(q.pop(), item(i));
  EXPECT_EQ(q.pop(), nullptr);
  // A batch of one, or one the thieves left one of, stays as it is.
  base = q.bottom_index();
  ASSERT_TRUE(q.push(item(5)));
  q.reverse_since(base);
  ASSERT_TRUE(q.push(item(6)));
  ASSERT_TRUE(q.push(item(7)));
  EXPECT_EQ(q.steal(), item(5));
  EXPECT_EQ(q.steal(), item(6));
  q.reverse_since(base);
  EXPECT_EQ(q.pop(), item(7));
  EXPECT_EQ(q.pop(), nullptr);
}

TEST_F(RunQueueTest, TakeOldestTakesFromTheTopOldestFirst) {
  RunQueue<int> q(8);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(q.push(item(i)));
  EXPECT_EQ(q.steal(), item(0));
  std::vector<int*> taken;
  EXPECT_EQ(q.take_oldest(4, [&](int* p) { taken.push_back(p); }), 4u);
  EXPECT_EQ(taken, (std::vector<int*>{item(1), item(2), item(3), item(4)}));
  EXPECT_EQ(q.size_hint(), 3u);
  // The freed slots take pushes again; the rest is where it was.
  for (int i = 8; i < 13; ++i) ASSERT_TRUE(q.push(item(i)));
  EXPECT_FALSE(q.push(item(13)));
  EXPECT_EQ(q.steal(), item(5));
  EXPECT_EQ(q.pop(), item(12));
  // Asking for more than there is takes what there is.
  taken.clear();
  EXPECT_EQ(q.take_oldest(100, [&](int* p) { taken.push_back(p); }), 6u);
  EXPECT_EQ(taken.front(), item(6));
  EXPECT_EQ(taken.back(), item(11));
  EXPECT_EQ(q.take_oldest(100, [&](int*) { ADD_FAILURE() << "took from an empty queue"; }), 0u);
  EXPECT_EQ(q.pop(), nullptr);
}

TEST_F(RunQueueTest, PopWithoutThievesIsLifoAndMeetsTakeOldest) {
  RunQueue<int> q(4);
  for (int round = 0; round < 3; ++round) {  // around the ring
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.push(item(i)));
    EXPECT_EQ(q.pop(/*no_thieves=*/true), item(3));
    int* oldest = nullptr;
    EXPECT_EQ(q.take_oldest(1, [&](int* p) { oldest = p; }), 1u);
    EXPECT_EQ(oldest, item(0));
    EXPECT_EQ(q.pop(/*no_thieves=*/true), item(2));
    EXPECT_EQ(q.pop(/*no_thieves=*/true), item(1));
    EXPECT_EQ(q.pop(/*no_thieves=*/true), nullptr);
    EXPECT_EQ(q.size_hint(), 0u);
  }
}

// n items, a RunQueue, and three thieves stealing from it until the owner
// is done; counts how often each item was taken (by the owner's take() or a
// thief) so a test can check that every item was taken exactly once.
class ThievesAtWork {
 public:
  ThievesAtWork(int n, std::size_t capacity)
      : items_(n), taken_(new std::atomic<int>[n]), q_(capacity) {
    for (int i = 0; i < n; ++i) {
      items_[i] = i;
      taken_[i].store(0, std::memory_order_relaxed);
    }
    for (int t = 0; t < 3; ++t) {
      thieves_.emplace_back([this] {
        for (;;) {
          bool done = owner_done_.load(std::memory_order_acquire);
          if (int* p = q_.steal()) {
            taken_[*p].fetch_add(1, std::memory_order_relaxed);
            stolen_.fetch_add(1, std::memory_order_relaxed);
          } else if (done) {
            return;
          }
        }
      });
    }
  }

  // A test that stops early (an ASSERT) still stops its thieves.
  ~ThievesAtWork() {
    owner_done_.store(true, std::memory_order_release);
    for (auto& t : thieves_) {
      if (t.joinable()) t.join();
    }
  }

  RunQueue<int>& queue() { return q_; }
  int* item(int i) { return &items_[i]; }
  // The owner took p.
  void take(int* p) {
    taken_[*p].fetch_add(1, std::memory_order_relaxed);
    ++popped_;
  }
  // Drains what is left, stops the thieves, checks every item was taken
  // exactly once and that the thieves took some.
  void finish_and_check() {
    while (int* p = q_.pop()) take(p);
    owner_done_.store(true, std::memory_order_release);
    for (auto& t : thieves_) t.join();
    const int n = static_cast<int>(items_.size());
    EXPECT_EQ(popped_ + stolen_.load(), n);
    EXPECT_GT(stolen_.load(), 0);
    int wrong = 0;
    for (int k = 0; k < n; ++k) {
      if (taken_[k].load() != 1 && ++wrong <= 10) {
        ADD_FAILURE() << "item " << k << " taken " << taken_[k].load() << " times";
      }
    }
    EXPECT_EQ(wrong, 0);
  }

 private:
  std::vector<int> items_;
  std::unique_ptr<std::atomic<int>[]> taken_;
  RunQueue<int> q_;
  std::atomic<bool> owner_done_{false};
  std::atomic<int> stolen_{0};
  int popped_ = 0;
  std::vector<std::thread> thieves_;
};

TEST(RunQueueConcurrencyTest, BatchesReversedUnderThievesAreTakenExactlyOnce) {
  // The owner pushes batches of 1..9 and reverses each while three thieves
  // steal, then pops a few: the reservation and the CAS for a batch's
  // oldest element must neither lose nor duplicate an item. Each batch's
  // items that the owner pops come out oldest first.
  const int kItems = static_cast<int>(test::Scaled(1000000));
  ThievesAtWork w(kItems, 32);
  RunQueue<int>& q = w.queue();
  int out_of_order = 0;
  int i = 0;
  uint32_t rng = 12345;
  while (i < kItems) {
    rng = rng * 1103515245u + 12345u;
    int batch = std::min<int>(1 + static_cast<int>((rng >> 16) % 9), kItems - i);
    while (q.size_hint() + static_cast<std::size_t>(batch) > q.capacity()) {
      if (int* p = q.pop()) w.take(p);
    }
    int64_t base = q.bottom_index();
    int first = i;
    for (int k = 0; k < batch; ++k) ASSERT_TRUE(q.push(w.item(i++)));
    q.reverse_since(base);
    // Pop up to half the batch: whatever of it the thieves left comes out
    // oldest first (increasing).
    int last = -1;
    for (int k = 0; k < batch / 2; ++k) {
      int* p = q.pop();
      if (p == nullptr) break;
      w.take(p);
      if (*p >= first) {
        if (*p < last) ++out_of_order;
        last = *p;
      }
    }
  }
  w.finish_and_check();
  EXPECT_EQ(out_of_order, 0);
}

TEST(RunQueueConcurrencyTest, OwnerAndThievesTakeEveryItemExactlyOnce) {
  // The owner pushes and pops while three thieves steal; with a small ring the
  // owner hits "full" often, and pop races thieves for the last element.
  const int kItems = static_cast<int>(test::Scaled(2000000));
  ThievesAtWork w(kItems, 64);
  RunQueue<int>& q = w.queue();
  for (int i = 0; i < kItems; ++i) {
    while (!q.push(w.item(i))) {
      if (int* p = q.pop()) w.take(p);
    }
    if (i % 3 == 0) {
      if (int* p = q.pop()) w.take(p);
    }
  }
  w.finish_and_check();
}

TEST(RunQueueConcurrencyTest, SpillsUnderThievesTakeEveryItemExactlyOnce) {
  // The owner pushes; when the ring is full it spills the older half with
  // take_oldest, as Worker::push_run_queue does, while three thieves steal
  // from the same end: the one CAS must neither lose nor duplicate an item,
  // and a spill comes out in push order.
  const int kItems = static_cast<int>(test::Scaled(2000000));
  ThievesAtWork w(kItems, 64);
  RunQueue<int>& q = w.queue();
  int out_of_order = 0;
  for (int i = 0; i < kItems; ++i) {
    while (!q.push(w.item(i))) {
      int last = -1;
      q.take_oldest(q.capacity() / 2, [&](int* p) {
        if (*p < last) ++out_of_order;
        last = *p;
        w.take(p);
      });
    }
  }
  w.finish_and_check();
  EXPECT_EQ(out_of_order, 0);
}

}  // namespace
}  // namespace weft::internal
