// The Injector on its own, no runtime: FIFO order, batches, and what it
// promises under concurrency. It is a mutex-protected list, so it is MPMC;
// the order it promises is push order, which under concurrency means each
// producer's fibers come out in the order that producer pushed them (there is
// no order between producers). Its empty() is a hint that may miss a push in
// flight but never reports empty for a list that stayed non-empty.
#include "weft/core/private/injector.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"

namespace weft::internal {
namespace {

// Fibers that are only list nodes: the Injector touches next_ready and
// nothing else. `id` says who pushed it and in which order.
std::unique_ptr<FiberControl[]> Nodes(std::size_t n) {
  auto nodes = std::make_unique<FiberControl[]>(n);
  for (std::size_t i = 0; i < n; ++i) nodes[i].id = i;
  return nodes;
}

// Links nodes[first, first + n) through next_ready, for push_batch.
void Chain(FiberControl* nodes, std::size_t first, std::size_t n) {
  for (std::size_t i = first; i + 1 < first + n; ++i) nodes[i].next_ready = &nodes[i + 1];
}

TEST(InjectorTest, EmptyInjectorPopsNull) {
  Injector inj;
  EXPECT_TRUE(inj.empty());
  EXPECT_EQ(inj.pop(), nullptr);
}

TEST(InjectorTest, PopIsFifo) {
  auto nodes = Nodes(5);
  Injector inj;
  for (int i = 0; i < 5; ++i) inj.push(&nodes[i]);
  EXPECT_FALSE(inj.empty());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(inj.pop(), &nodes[i]);
  EXPECT_EQ(inj.pop(), nullptr);
  EXPECT_TRUE(inj.empty());
}

TEST(InjectorTest, BatchKeepsItsOrderBehindWhatIsQueued) {
  auto nodes = Nodes(8);
  Injector inj;
  inj.push(&nodes[0]);
  Chain(nodes.get(), 1, 4);
  inj.push_batch(&nodes[1], &nodes[4], 4);
  inj.push(&nodes[5]);
  Chain(nodes.get(), 6, 2);
  inj.push_batch(&nodes[6], &nodes[7], 2);
  for (int i = 0; i < 8; ++i) {
    FiberControl* f = inj.pop();
    ASSERT_EQ(f, &nodes[i]) << "pop " << i;
    EXPECT_EQ(f->next_ready, nullptr) << "a popped fiber still links into the list";
  }
  EXPECT_TRUE(inj.empty());
}

TEST(InjectorTest, PopBatchTakesTheOldestUpToMax) {
  auto nodes = Nodes(6);
  Injector inj;
  Chain(nodes.get(), 0, 6);
  inj.push_batch(&nodes[0], &nodes[5], 6);
  EXPECT_EQ(inj.size_hint(), 6u);
  FiberControl* head = nullptr;
  ASSERT_EQ(inj.pop_batch(4, &head), 4u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(head, &nodes[i]) << "batch entry " << i;
    head = head->next_ready;
  }
  EXPECT_EQ(head, nullptr) << "the batch's last fiber still links into the list";
  EXPECT_EQ(inj.size_hint(), 2u);
  // Fewer left than asked for: what there is; then nothing.
  ASSERT_EQ(inj.pop_batch(10, &head), 2u);
  EXPECT_EQ(head, &nodes[4]);
  EXPECT_EQ(head->next_ready, &nodes[5]);
  EXPECT_EQ(nodes[5].next_ready, nullptr);
  EXPECT_TRUE(inj.empty());
  EXPECT_EQ(inj.pop_batch(10, &head), 0u);
  // The tail went with the last batch: a new push starts a fresh list.
  inj.push(&nodes[0]);
  EXPECT_EQ(inj.pop(), &nodes[0]);
}

// Emptying the list and filling it again: the tail must not keep pointing at
// a fiber that left (it would link new pushes behind a popped node).
TEST(InjectorTest, RefillAfterDrain) {
  auto nodes = Nodes(4);
  Injector inj;
  inj.push(&nodes[0]);
  EXPECT_EQ(inj.pop(), &nodes[0]);
  inj.push(&nodes[1]);
  inj.push(&nodes[2]);
  EXPECT_EQ(inj.pop(), &nodes[1]);
  EXPECT_EQ(inj.pop(), &nodes[2]);
  inj.push(&nodes[3]);
  EXPECT_EQ(inj.pop(), &nodes[3]);
  EXPECT_EQ(inj.pop(), nullptr);
}

// Producers push singly and in batches; the consumers check that each
// producer's fibers come out in its own order, none twice, none lost.
void RaceProducersAgainstConsumers(int producers, int consumers) {
  const std::size_t per_producer = static_cast<std::size_t>(weft::test::Scaled(20000));
  auto nodes = Nodes(per_producer * producers);
  Injector inj;
  std::atomic<std::size_t> popped{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  // Per consumer: fibers it popped after a later one of the same producer.
  // (Order is checked per consumer: comparing across consumers would need a
  // clock shared with the pops.)
  std::vector<std::vector<std::size_t>> out_of_order(consumers);
  auto counts = std::make_unique<std::atomic<int>[]>(per_producer * producers);
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) {
      }
      std::size_t base = p * per_producer;
      std::size_t i = 0;
      while (i < per_producer) {
        // Every third push is a batch of up to 3, the way a worker spills
        // half its run queue or a poll hands over its woken fibers.
        std::size_t n = (i % 3 == 0) ? std::min<std::size_t>(3, per_producer - i) : 1;
        Chain(nodes.get(), base + i, n);
        inj.push_batch(&nodes[base + i], &nodes[base + i + n - 1], n);
        i += n;
      }
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      std::vector<std::ptrdiff_t> last(producers, -1);
      while (!go.load(std::memory_order_acquire)) {
      }
      while (popped.load(std::memory_order_relaxed) < per_producer * producers) {
        FiberControl* f = inj.pop();
        if (f == nullptr) continue;
        popped.fetch_add(1, std::memory_order_relaxed);
        std::size_t idx = f->id;
        counts[idx].fetch_add(1, std::memory_order_relaxed);
        int p = static_cast<int>(idx / per_producer);
        auto k = static_cast<std::ptrdiff_t>(idx % per_producer);
        if (k <= last[p]) out_of_order[c].push_back(idx);
        last[p] = k;
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  for (int c = 0; c < consumers; ++c) {
    EXPECT_TRUE(out_of_order[c].empty())
        << "consumer " << c << " popped " << out_of_order[c].size()
        << " fibers before an earlier push of the same producer, first: fiber "
        << out_of_order[c][0];
  }
  std::size_t lost = 0, twice = 0;
  for (std::size_t i = 0; i < per_producer * producers; ++i) {
    int n = counts[i].load();
    lost += n == 0;
    twice += n > 1;
  }
  EXPECT_EQ(lost, 0u) << "fibers pushed and never popped";
  EXPECT_EQ(twice, 0u) << "fibers popped more than once";
  EXPECT_TRUE(inj.empty());
  EXPECT_EQ(inj.pop(), nullptr);
}

TEST(InjectorTest, ManyProducersOneConsumer) { RaceProducersAgainstConsumers(4, 1); }

TEST(InjectorTest, ManyProducersManyConsumers) { RaceProducersAgainstConsumers(3, 3); }

// empty() may lag a push in flight, but once a push has returned (and the
// reader is ordered after it), a list that nobody popped is never empty.
TEST(InjectorTest, EmptyIsNeverStaleAfterAnOrderedPush) {
  const int rounds = static_cast<int>(weft::test::Scaled(20000));
  auto nodes = Nodes(1);
  Injector inj;
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int r = 1; r <= rounds; ++r) {
      inj.push(&nodes[0]);
      pushed.store(r, std::memory_order_release);  // pairs with the acquire below
      while (pushed.load(std::memory_order_acquire) != -r) {
      }
    }
  });
  int stale = 0;
  for (int r = 1; r <= rounds; ++r) {
    while (pushed.load(std::memory_order_acquire) != r) {
    }
    stale += inj.empty();
    EXPECT_EQ(inj.pop(), &nodes[0]);
    pushed.store(-r, std::memory_order_release);
  }
  producer.join();
  EXPECT_EQ(stale, 0) << "empty() said empty after a push that happened-before it";
}

}  // namespace
}  // namespace weft::internal
