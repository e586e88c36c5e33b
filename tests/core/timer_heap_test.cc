#include "weft/core/private/timer_heap.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace weft::internal {
namespace {

// Timers are never dereferenced by the heap: fake fiber pointers will do.
FiberControl* FakeFiber(int i) {
  return reinterpret_cast<FiberControl*>(static_cast<uintptr_t>(64 * (i + 1)));
}

std::vector<TimerHeap::Entry> PopDue(TimerHeap& heap, int64_t now) {
  std::vector<TimerHeap::Entry> out;
  heap.pop_due(now, [&](const TimerHeap::Entry& e) { out.push_back(e); });
  return out;
}

TEST(TimerHeapTest, StartsEmpty) {
  TimerHeap heap;
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
  EXPECT_EQ(heap.pop_due(INT64_MAX, [](const TimerHeap::Entry&) { FAIL(); }), 0u);
}

TEST(TimerHeapTest, NextDeadlineIsTheEarliest) {
  TimerHeap heap;
  heap.add(50, FakeFiber(0), 1);
  EXPECT_EQ(heap.next_deadline(), 50);
  heap.add(70, FakeFiber(1), 1);
  EXPECT_EQ(heap.next_deadline(), 50);
  heap.add(10, FakeFiber(2), 1);
  EXPECT_EQ(heap.next_deadline(), 10);
  EXPECT_EQ(heap.size(), 3u);
}

TEST(TimerHeapTest, PopDueTakesOnlyDueEntriesInDeadlineOrder) {
  TimerHeap heap;
  heap.add(30, FakeFiber(3), 13);
  heap.add(10, FakeFiber(1), 11);
  heap.add(40, FakeFiber(4), 14);
  heap.add(20, FakeFiber(2), 12);

  EXPECT_TRUE(PopDue(heap, 9).empty());
  auto due = PopDue(heap, 20);  // inclusive
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].deadline_ns, 10);
  EXPECT_EQ(due[0].fiber, FakeFiber(1));
  EXPECT_EQ(due[0].token, 11u);
  EXPECT_EQ(due[1].deadline_ns, 20);
  EXPECT_EQ(due[1].fiber, FakeFiber(2));
  EXPECT_EQ(due[1].token, 12u);
  EXPECT_EQ(heap.size(), 2u);
  EXPECT_EQ(heap.next_deadline(), 30);

  due = PopDue(heap, 1000);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].fiber, FakeFiber(3));
  EXPECT_EQ(due[1].fiber, FakeFiber(4));
  EXPECT_TRUE(heap.empty());
}

TEST(TimerHeapTest, RandomDeadlinesComeOutSorted) {
  std::mt19937_64 rng(42);
  TimerHeap heap;
  std::vector<int64_t> deadlines;
  for (int i = 0; i < 10000; ++i) {
    int64_t d = static_cast<int64_t>(rng() % 5000);  // many duplicates
    deadlines.push_back(d);
    heap.add(d, FakeFiber(i), static_cast<uint64_t>(i));
  }
  std::sort(deadlines.begin(), deadlines.end());
  std::vector<int64_t> got;
  std::vector<bool> seen(10000, false);
  // Pop in several steps, as a worker does between scheduling decisions.
  for (int64_t now = 0; now <= 5000; now += 250) {
    for (const auto& e : PopDue(heap, now)) {
      EXPECT_LE(e.deadline_ns, now);
      got.push_back(e.deadline_ns);
      ASSERT_FALSE(seen[e.token]) << "timer " << e.token << " fired twice";
      seen[e.token] = true;
      EXPECT_EQ(e.fiber, FakeFiber(static_cast<int>(e.token)));
    }
    if (!heap.empty()) {
      EXPECT_GT(heap.next_deadline(), now);
    }
  }
  EXPECT_EQ(got, deadlines);
  EXPECT_TRUE(heap.empty());
}

TEST(TimerHeapTest, UsableAfterABigBurstIsDrained) {
  TimerHeap heap;
  for (int i = 0; i < 20000; ++i) heap.add(i, FakeFiber(i), 0);
  EXPECT_EQ(PopDue(heap, INT64_MAX).size(), 20000u);
  EXPECT_TRUE(heap.empty());
  heap.add(5, FakeFiber(0), 7);
  EXPECT_EQ(heap.next_deadline(), 5);
  EXPECT_EQ(PopDue(heap, 5).size(), 1u);
}

TEST(TimerHeapTest, DrainTakesEverythingDueOrNot) {
  TimerHeap heap;
  heap.add(INT64_MAX - 1, FakeFiber(0), 1);
  heap.add(5, FakeFiber(1), 2);
  heap.add(1000000, FakeFiber(2), 3);
  std::vector<uint64_t> tokens;
  heap.drain([&](const TimerHeap::Entry& e) { tokens.push_back(e.token); });
  std::sort(tokens.begin(), tokens.end());
  EXPECT_EQ(tokens, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
  heap.drain([](const TimerHeap::Entry&) { FAIL(); });
}

}  // namespace
}  // namespace weft::internal
