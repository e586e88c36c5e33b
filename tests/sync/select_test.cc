// weft::select over channel operations: readiness, blocking, timeouts,
// defaults, closed channels, fairness, and exactly-once delivery under load.
#include "weft/sync/select.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using SelectTest = test::RuntimeTest;

TEST_P(SelectTest, PicksTheReadyCase) {
  Run([] {
    Channel<int> a(1), b(1);
    ASSERT_TRUE(b.send(7).ok());
    std::optional<int> va, vb;
    EXPECT_EQ(select(on_recv(a, va), on_recv(b, vb)), 1);
    EXPECT_FALSE(va.has_value());
    EXPECT_EQ(vb, 7);
  });
}

TEST_P(SelectTest, BlocksUntilASenderArrives) {
  Run([] {
    Channel<int> a, b;  // unbuffered
    auto sender = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      EXPECT_TRUE(b.send(42).ok());
    });
    std::optional<int> va, vb;
    EXPECT_EQ(select(on_recv(a, va), on_recv(b, vb)), 1);
    EXPECT_EQ(vb, 42);
    sender.join();
  });
}

TEST_P(SelectTest, UnbufferedSendCaseCompletesWhenAReceiverArrives) {
  Run([] {
    Channel<int> ch;
    std::optional<int> got;
    auto receiver = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      got = ch.recv();
    });
    absl::Status st = absl::UnknownError("unset");
    EXPECT_EQ(select(on_send(ch, 5, &st)), 0);
    EXPECT_TRUE(st.ok()) << st;
    receiver.join();
    EXPECT_EQ(got, 5);
  });
}

TEST_P(SelectTest, SelectForTimesOutAndLeavesNothingBehind) {
  Run([] {
    Channel<int> ch(4);
    std::optional<int> v;
    EXPECT_EQ(select_for(on_recv(ch, v), absl::Milliseconds(10)), -1);
    EXPECT_FALSE(v.has_value());
    // The timed-out select must not still be registered as a receiver.
    ASSERT_TRUE(ch.send(1).ok());
    EXPECT_EQ(ch.size(), 1u);
  });
}

TEST_P(SelectTest, SelectForTakesTheTimeoutLastAndRunsAReadyCase) {
  Run([] {
    Channel<int> a(1), b(1);
    std::optional<int> va;
    ASSERT_TRUE(b.send(7).ok());
    auto vb = on_recv(b);  // holds its own result
    EXPECT_EQ(select_for(on_recv(a, va), vb, absl::Seconds(10)), 1);
    EXPECT_FALSE(va.has_value());
    ASSERT_TRUE(vb.value().has_value());
    EXPECT_EQ(*vb.value(), 7);
    absl::Duration timeout = absl::Seconds(10);                        // an lvalue works too
    EXPECT_EQ(select_for(on_recv(a, va), on_send(b, 9), timeout), 1);  // b has room
    EXPECT_EQ(b.try_recv(), 9);
    // A case that becomes ready while the select waits.
    auto sender = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      ASSERT_TRUE(a.send(3).ok());
    });
    EXPECT_EQ(select_for(on_recv(a, va), absl::Seconds(10)), 0);
    EXPECT_EQ(va, 3);
    sender.join();
    EXPECT_EQ(select_for(on_recv(a, va), absl::Milliseconds(5)), kSelectNone);
  });
}

TEST_P(SelectTest, SelectUntilTakesADeadline) {
  Run([] {
    Channel<int> ch(1);
    auto c = on_recv(ch);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(select_until(c, absl::Now() + absl::Milliseconds(20)), kSelectNone);
    EXPECT_GE(test::MillisSince(start), 15);
    EXPECT_FALSE(c.value().has_value());
    EXPECT_EQ(select_until(on_send(ch, 4), absl::InfiniteFuture()), 0);
    EXPECT_EQ(select_until(c, absl::InfinitePast()), 0);  // ready: runs
    EXPECT_EQ(c.value(), 4);
  });
}

TEST_P(SelectTest, OwningRecvCaseWorksWithSelectAndTrySelect) {
  Run([] {
    Channel<std::string> words(2);
    auto c = on_recv(words);
    EXPECT_EQ(try_select(c), kSelectNone);
    ASSERT_TRUE(words.send("hi").ok());
    EXPECT_EQ(select(c), 0);
    EXPECT_EQ(c.value(), "hi");
    ASSERT_TRUE(words.close().ok());
    EXPECT_EQ(select(c), 0);  // closed and drained: ready, nullopt
    EXPECT_FALSE(c.value().has_value());
  });
}

TEST_P(SelectTest, TrySelectIsGosDefaultCase) {
  Run([] {
    Channel<int> ch(1);
    std::optional<int> v;
    EXPECT_EQ(try_select(on_recv(ch, v)), -1);
    ASSERT_TRUE(ch.send(3).ok());
    EXPECT_EQ(try_select(on_recv(ch, v)), 0);
    EXPECT_EQ(v, 3);
  });
}

TEST(SelectPlainThreadTest, TrySelectWorksOnAPlainThread) {
  Channel<int> ch(1);
  std::optional<int> v;
  EXPECT_EQ(try_select(on_send(ch, 9)), 0);
  EXPECT_EQ(try_select(on_recv(ch, v)), 0);
  EXPECT_EQ(v, 9);
}

TEST(SelectPlainThreadTest, WaitingOnAPlainThreadThrowsUsageError) {
  Channel<int> ch(1);
  std::optional<int> v;
  EXPECT_THROW(select(on_recv(ch, v)), UsageError);
  // The channel's lock was released: it still works.
  EXPECT_TRUE(ch.try_send(*std::make_unique<int>(1)));
}

TEST_P(SelectTest, ClosedChannelsAreReady) {
  Run([] {
    Channel<int> in(1), out(1);
    ASSERT_TRUE(in.close().ok());
    std::optional<int> v = 5;
    EXPECT_EQ(select(on_recv(in, v)), 0);
    EXPECT_FALSE(v.has_value());
    ASSERT_TRUE(out.close().ok());
    absl::Status st;
    EXPECT_EQ(select(on_send(out, 1, &st)), 0);
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  });
}

TEST_P(SelectTest, FairAmongReadyCases) {
  Run([] {
    constexpr int kRounds = 2000;
    Channel<int> a(Channel<int>::kUnbounded), b(Channel<int>::kUnbounded);
    for (int i = 0; i < kRounds; ++i) {
      ASSERT_TRUE(a.send(i).ok());
      ASSERT_TRUE(b.send(i).ok());
    }
    int picks[2] = {0, 0};
    std::optional<int> va, vb;
    for (int i = 0; i < kRounds; ++i) ++picks[select(on_recv(a, va), on_recv(b, vb))];
    EXPECT_GT(picks[0], kRounds * 3 / 10);
    EXPECT_GT(picks[1], kRounds * 3 / 10);
  });
}

TEST_P(SelectTest, ManySelectorsReceiveEveryItemExactlyOnce) {
  Run([] {
    const int kItems = static_cast<int>(test::Scaled(20000, 10));
    constexpr int kSelectors = 6;
    Channel<int> a(8), b;  // one bounded, one unbuffered
    std::atomic<int64_t> sum{0}, count{0};
    std::vector<Fiber<void>> fs;
    for (int s = 0; s < kSelectors; ++s) {
      fs.push_back(spawn([&] {
        std::optional<int> va, vb;
        for (;;) {
          int i = select(on_recv(a, va), on_recv(b, vb));
          std::optional<int>& v = i == 0 ? va : vb;
          if (!v) return;  // a channel closed: done
          sum.fetch_add(*v);
          count.fetch_add(1);
        }
      }));
    }
    auto pa = spawn([&] {
      for (int i = 0; i < kItems; ++i) ASSERT_TRUE(a.send(i).ok());
    });
    auto pb = spawn([&] {
      for (int i = 0; i < kItems; ++i) ASSERT_TRUE(b.send(i).ok());
    });
    pa.join();
    pb.join();
    while (count.load() < 2 * kItems) yield();
    ASSERT_TRUE(a.close().ok());
    for (auto& f : fs) f.join();
    EXPECT_EQ(count.load(), 2 * kItems);
    EXPECT_EQ(sum.load(), 2 * (int64_t{kItems} * (kItems - 1) / 2));
  });
}

// Selectors mixing a send case and a receive case are killed while their
// counterparts complete them. A case a counterpart completed counts (the
// kill lands at the next wait); a selector the kill reached first completes
// nothing. So what the producer reports sent equals what selectors report
// received, and what selectors report forwarded equals what the sink got.
TEST_P(SelectTest, KilledSelectorsLoseNothing) {
  Run([] {
    const int kItems = static_cast<int>(test::Scaled(4000, 10));
    constexpr int kSelectors = 4;
    Channel<int> in, out;  // unbuffered: every transfer is a hand-off
    std::vector<std::atomic<int>> received(kItems), forwarded(kItems), sunk(kItems);
    auto selector = [&] {
      int held = -1;  // received, not yet forwarded
      std::optional<int> v;
      for (;;) {
        if (held < 0) {
          if (select(on_recv(in, v)) == 0 && !v) return;
          received[*v].fetch_add(1);
          held = *v;
          continue;
        }
        absl::Status st;
        int i = select(on_send(out, held, &st), on_recv(in, v));
        if (i == 0) {
          if (!st.ok()) return;
          forwarded[held].fetch_add(1);
          held = -1;
        } else if (v) {
          received[*v].fetch_add(1);
          held = *v;  // the older one is dropped: received, never forwarded
        } else {
          return;
        }
      }
    };
    std::vector<Fiber<void>> fs;
    for (int s = 0; s < kSelectors; ++s) fs.push_back(spawn(selector));
    auto sink = spawn([&] {
      while (auto v = out.recv()) sunk[*v].fetch_add(1);
    });
    std::atomic<int> sent{0};
    auto producer = spawn([&] {
      for (int i = 0; i < kItems; ++i) {
        if (in.send(i).ok()) sent.fetch_add(1);
      }
    });
    for (int k = 0; !producer.ready(); ++k) {
      fs[k % kSelectors].kill_and_join(absl::Seconds(10));
      fs[k % kSelectors] = spawn(selector);
      for (int y = 0; y < k % 5; ++y) yield();
    }
    ASSERT_TRUE(in.close().ok());
    for (auto& f : fs) f.join();
    ASSERT_TRUE(out.close().ok());
    sink.join();
    int64_t got = 0, twice = 0, fwd_mismatch = 0;
    for (int i = 0; i < kItems; ++i) {
      got += received[i].load();
      twice += received[i].load() > 1;
      fwd_mismatch += forwarded[i].load() != sunk[i].load();
    }
    EXPECT_EQ(sent.load(), kItems);
    EXPECT_EQ(got, kItems);
    EXPECT_EQ(twice, 0);
    EXPECT_EQ(fwd_mismatch, 0);
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, SelectTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
