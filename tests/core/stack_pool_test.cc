#include "weft/core/internal/stack_pool.h"

#include <cstring>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace weft::internal {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kStack = 64 * 1024;
constexpr std::size_t kControl = 256;

TEST(StackPoolTest, RoundsStackSizeUpToPages) {
  StackPool pool(20000, kControl);
  EXPECT_EQ(pool.stack_size(), 20480u);
  EXPECT_EQ(pool.control_bytes(), kControl);
}

TEST(StackPoolTest, SlotGeometry) {
  StackPool pool(kStack, kControl);
  SlotHeader* h = pool.take_shared();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(pool.top_of(h) - reinterpret_cast<char*>(h), static_cast<std::ptrdiff_t>(kControl));
  EXPECT_EQ(pool.top_of(h) - pool.lo_of(h), static_cast<std::ptrdiff_t>(kStack));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pool.lo_of(h)) % kPage, 0u);
  EXPECT_EQ(h->state.load(), SlotState::kFree);
  EXPECT_EQ(pool.slots_carved(), 1u);
  // The whole usable stack below the header is writable.
  std::memset(pool.lo_of(h), 0xAB, kStack - kControl);
  EXPECT_TRUE(pool.canary_intact(h));
  pool.give_shared(h, h, 1);
}

TEST(StackPoolTest, SharedListIsLifo) {
  StackPool pool(kStack, kControl);
  SlotHeader* a = pool.take_shared();
  SlotHeader* b = pool.take_shared();
  ASSERT_NE(a, b);
  pool.give_shared(a, a, 1);
  pool.give_shared(b, b, 1);
  EXPECT_EQ(pool.take_shared(), b);
  EXPECT_EQ(pool.take_shared(), a);
  EXPECT_EQ(pool.slots_carved(), 2u);  // reused, not carved again
}

TEST(StackPoolTest, SlotsDoNotOverlap) {
  StackPool pool(kStack, kControl);
  std::vector<SlotHeader*> slots;
  for (int i = 0; i < 200; ++i) slots.push_back(pool.take_shared());  // spans chunks
  std::set<char*> los;
  for (SlotHeader* h : slots) los.insert(pool.lo_of(h));
  ASSERT_EQ(los.size(), slots.size());
  char* prev_top = nullptr;
  for (char* lo : los) {
    if (prev_top != nullptr) {
      EXPECT_GE(lo, prev_top + kPage) << "no room for a guard page";
    }
    prev_top = lo + kStack;
  }
  EXPECT_EQ(pool.slots_carved(), 200u);
}

TEST(StackCacheTest, TakeAndGiveAreLifo) {
  StackPool pool(kStack, kControl);
  StackCache cache(&pool);
  SlotHeader* a = cache.take();
  SlotHeader* b = cache.take();
  SlotHeader* c = cache.take();
  ASSERT_NE(a, b);
  ASSERT_NE(b, c);
  cache.give(a);
  cache.give(b);
  cache.give(c);
  EXPECT_EQ(cache.take(), c);
  EXPECT_EQ(cache.take(), b);
  EXPECT_EQ(cache.take(), a);
  EXPECT_EQ(pool.slots_carved(), 3u);
  cache.give(a);
  cache.give(b);
  cache.give(c);
}

TEST(StackCacheTest, DestructionReturnsSlotsToThePool) {
  StackPool pool(kStack, kControl);
  std::set<SlotHeader*> given;
  {
    StackCache cache(&pool);
    for (int i = 0; i < 5; ++i) given.insert(cache.take());
    for (SlotHeader* h : given) cache.give(h);
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(given.count(pool.take_shared()), 1u);
  EXPECT_EQ(pool.slots_carved(), 5u);
}

TEST(StackCacheTest, RefillsFromTheSharedList) {
  StackPool pool(kStack, kControl);
  SlotHeader* a = pool.take_shared();
  pool.give_shared(a, a, 1);
  StackCache cache(&pool);
  EXPECT_EQ(cache.take(), a);
  cache.give(a);
}

TEST(StackCacheTest, SpillsToTheSharedListWhenLarge) {
  StackPool pool(kStack, kControl);
  StackCache cache(&pool);
  std::vector<SlotHeader*> slots;
  for (int i = 0; i < 1100; ++i) slots.push_back(cache.take());
  for (SlotHeader* h : slots) cache.give(h);
  SlotHeader* head = nullptr;
  std::size_t spilled = pool.take_shared_batch(2000, &head);
  EXPECT_GT(spilled, 0u);
  EXPECT_LT(spilled, 1100u);
  std::set<SlotHeader*> seen;
  for (SlotHeader* h = head; h != nullptr; h = h->next_free) seen.insert(h);
  EXPECT_EQ(seen.size(), spilled);
  // The warmest (last given) stay in the cache.
  EXPECT_EQ(seen.count(slots.back()), 0u);
  EXPECT_EQ(cache.take(), slots.back());
}

TEST(StackPoolTest, ForEachSlotVisitsEveryHandedOutSlotOnce) {
  StackPool pool(kStack, kControl);
  StackCache cache(&pool);
  std::set<SlotHeader*> handed;
  for (int i = 0; i < 70; ++i) handed.insert(cache.take());
  for (int i = 0; i < 10; ++i) handed.insert(pool.take_shared());
  std::multiset<SlotHeader*> visited;
  pool.for_each_slot([&](SlotHeader* h) { visited.insert(h); });
  EXPECT_EQ(visited.size(), handed.size());
  for (SlotHeader* h : handed) EXPECT_EQ(visited.count(h), 1u);
}

TEST(StackPoolTest, GuardOwnerMapsGuardPagesToTheirSlot) {
  StackPool pool(kStack, kControl);
  std::vector<SlotHeader*> slots;
  for (int i = 0; i < 130; ++i) slots.push_back(pool.take_shared());
  for (SlotHeader* h : slots) {
    char* lo = pool.lo_of(h);
    EXPECT_EQ(pool.guard_owner(lo - 1), h);
    EXPECT_EQ(pool.guard_owner(lo - kPage), h);
    EXPECT_EQ(pool.guard_owner(lo - kPage / 2), h);
    EXPECT_EQ(pool.guard_owner(lo), nullptr);
    EXPECT_EQ(pool.guard_owner(lo + kStack / 2), nullptr);
    EXPECT_EQ(pool.guard_owner(reinterpret_cast<char*>(h)), nullptr);
  }
  int local = 0;
  EXPECT_EQ(pool.guard_owner(&local), nullptr);
  EXPECT_EQ(pool.guard_owner(nullptr), nullptr);
}

TEST(StackPoolTest, FreshSlotsHaveARealGuard) {
  StackPool pool(kStack, kControl);
  SlotHeader* h = pool.take_shared();
  if (pool.guard_mode() == GuardMode::kCanary) GTEST_SKIP() << "no guard pages on this kernel";
  EXPECT_FALSE(h->has_canary);
}

TEST(StackPoolDeathTest, WritingIntoAGuardPageFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  {
    StackPool probe(kStack, kControl);
    probe.take_shared();
    if (probe.guard_mode() == GuardMode::kCanary) GTEST_SKIP() << "no guard pages on this kernel";
  }
  EXPECT_DEATH(
      {
        StackPool pool(kStack, kControl);
        pool.take_shared();
        SlotHeader* h = pool.take_shared();  // not the first slot of its slab
        volatile char* guard = pool.lo_of(h) - 1;
        *guard = 1;
      },
      "");
}

TEST(StackPoolDeathTest, ReadingAGuardPageFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  {
    StackPool probe(kStack, kControl);
    probe.take_shared();
    if (probe.guard_mode() == GuardMode::kCanary) GTEST_SKIP() << "no guard pages on this kernel";
  }
  EXPECT_DEATH(
      {
        StackPool pool(kStack, kControl);
        SlotHeader* h = pool.take_shared();
        volatile char* guard = pool.lo_of(h) - kPage;
        char c = *guard;
        (void)c;
      },
      "");
}

}  // namespace
}  // namespace weft::internal
