#include "weft/sync/channel.h"

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

class ChannelTest : public test::RuntimeTest {};

// send() on an unbuffered channel returns only once a receiver took the value.
TEST_P(ChannelTest, UnbufferedSendWaitsForReceiver) {
  Run([&] {
    Channel<int> ch;
    std::atomic<bool> started{false}, sent{false};
    auto sender = spawn([&] {
      started = true;
      EXPECT_TRUE(ch.send(42).ok());
      sent = true;
    });
    while (!started) yield();
    sleep_for(absl::Milliseconds(20));
    EXPECT_FALSE(sent.load());
    EXPECT_EQ(ch.recv(), 42);
    sender.join();
    EXPECT_TRUE(sent.load());
    EXPECT_EQ(ch.size(), 0u);
  });
}

TEST_P(ChannelTest, BoundedSenderBlocksWhenFullAndProceedsAfterRecv) {
  Run([&] {
    Channel<int> ch(2);
    EXPECT_EQ(ch.capacity(), 2u);
    EXPECT_TRUE(ch.send(1).ok());
    EXPECT_TRUE(ch.send(2).ok());
    EXPECT_EQ(ch.size(), 2u);
    std::atomic<bool> started{false}, sent{false};
    auto sender = spawn([&] {
      started = true;
      EXPECT_TRUE(ch.send(3).ok());
      sent = true;
    });
    while (!started) yield();
    sleep_for(absl::Milliseconds(20));
    EXPECT_FALSE(sent.load());
    EXPECT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch.recv(), 1);
    sender.join();
    EXPECT_TRUE(sent.load());
    EXPECT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch.recv(), 2);
    EXPECT_EQ(ch.recv(), 3);
    EXPECT_EQ(ch.size(), 0u);
  });
}

TEST_P(ChannelTest, UnboundedNeverBlocksSenders) {
  const int kN = static_cast<int>(test::Scaled(20000));
  Run([&] {
    Channel<int> ch(Channel<int>::kUnbounded);
    for (int i = 0; i < kN; ++i) ASSERT_TRUE(ch.send(i).ok());
    EXPECT_EQ(ch.size(), static_cast<size_t>(kN));
    // Also from another fiber while nobody receives.
    spawn([&] {
      for (int i = 0; i < kN; ++i) ASSERT_TRUE(ch.send(kN + i).ok());
    }).join();
    for (int i = 0; i < 2 * kN; ++i) ASSERT_EQ(ch.try_recv(), i);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
  });
}

// Many producers and consumers: every item arrives exactly once, and each
// consumer sees each producer's items in increasing order.
void RunMpmc(test::RuntimeTest* t, std::size_t capacity, bool range_for) {
  constexpr int kProducers = 6, kConsumers = 5;
  const int64_t kPer = test::Scaled(3000);
  std::vector<std::atomic<int64_t>> got(kProducers * kPer);
  std::atomic<int64_t> total{0}, sum{0}, order_errors{0}, size_errors{0};
  weft::run(RuntimeOptions{.workers = t->GetParam()}, [&] {
    Channel<int64_t> ch(capacity);
    std::vector<Fiber<void>> producers, consumers;
    for (int c = 0; c < kConsumers; ++c) {
      consumers.push_back(spawn([&] {
        std::vector<int64_t> last(kProducers, -1);
        auto take = [&](int64_t v) {
          int p = static_cast<int>(v / kPer);
          int64_t s = v % kPer;
          if (s <= last[p]) order_errors.fetch_add(1);
          last[p] = s;
          got[v].fetch_add(1);
          total.fetch_add(1);
          sum.fetch_add(v);
          if (capacity != 0 && capacity != Channel<int64_t>::kUnbounded && ch.size() > capacity)
            size_errors.fetch_add(1);
        };
        if (range_for) {
          for (int64_t v : ch) take(v);
        } else {
          while (auto v = ch.recv()) take(*v);
        }
      }));
    }
    for (int p = 0; p < kProducers; ++p) {
      producers.push_back(spawn([&, p] {
        for (int64_t i = 0; i < kPer; ++i) {
          EXPECT_TRUE(ch.send(p * kPer + i).ok());
          if (capacity != 0 && capacity != Channel<int64_t>::kUnbounded && ch.size() > capacity)
            size_errors.fetch_add(1);
          if (i % 97 == 0) yield();
        }
      }));
    }
    for (auto& f : producers) f.join();
    EXPECT_TRUE(ch.close().ok());
    for (auto& f : consumers) f.join();
    EXPECT_EQ(ch.size(), 0u);
  });
  const int64_t n = kProducers * kPer;
  EXPECT_EQ(total.load(), n);
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
  EXPECT_EQ(order_errors.load(), 0);
  EXPECT_EQ(size_errors.load(), 0);
  int64_t bad = 0;
  for (auto& g : got) bad += g.load() != 1;
  EXPECT_EQ(bad, 0);
}

TEST_P(ChannelTest, MpmcUnbufferedExactlyOnceInOrder) { RunMpmc(this, 0, false); }
TEST_P(ChannelTest, MpmcBoundedExactlyOnceInOrder) { RunMpmc(this, 4, true); }
TEST_P(ChannelTest, MpmcCapacityOneExactlyOnceInOrder) { RunMpmc(this, 1, false); }
TEST_P(ChannelTest, MpmcUnboundedExactlyOnceInOrder) {
  RunMpmc(this, Channel<int64_t>::kUnbounded, true);
}

TEST_P(ChannelTest, CloseDrainsThenEnds) {
  Run([&] {
    Channel<int> ch(8);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(ch.send(i).ok());
    EXPECT_FALSE(ch.closed());
    EXPECT_TRUE(ch.close().ok());
    EXPECT_TRUE(ch.closed());
    EXPECT_EQ(ch.close().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ch.send(9).code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ch.send_for(9, absl::Milliseconds(5)).code(), absl::StatusCode::kFailedPrecondition);
    int v = 9;
    EXPECT_FALSE(ch.try_send(v));
    EXPECT_EQ(ch.recv(), 0);
    auto r = ch.recv_for(absl::Seconds(1));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 1);
    EXPECT_EQ(ch.try_recv(), 2);
    EXPECT_EQ(ch.recv(), std::nullopt);
    EXPECT_EQ(ch.recv_for(absl::Seconds(1)).status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
  });
}

TEST_P(ChannelTest, CloseWakesWaitingReceivers) {
  Run([&] {
    Channel<int> ch;
    std::atomic<int> ended{0};
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < 4; ++i) {
      fs.push_back(spawn([&] {
        EXPECT_EQ(ch.recv(), std::nullopt);
        ended.fetch_add(1);
      }));
    }
    fs.push_back(spawn([&] {
      EXPECT_EQ(ch.recv_for(absl::Seconds(30)).status().code(), absl::StatusCode::kOutOfRange);
      ended.fetch_add(1);
    }));
    sleep_for(absl::Milliseconds(10));
    EXPECT_EQ(ended.load(), 0);
    EXPECT_TRUE(ch.close().ok());
    for (auto& f : fs) f.join();
    EXPECT_EQ(ended.load(), 5);
  });
}

TEST_P(ChannelTest, CloseFailsBlockedUnbufferedSender) {
  Run([&] {
    Channel<int> ch;
    std::atomic<bool> started{false};
    auto sender = spawn([&] {
      started = true;
      return ch.send(5);
    });
    while (!started) yield();
    sleep_for(absl::Milliseconds(10));
    EXPECT_TRUE(ch.close().ok());
    EXPECT_EQ(sender.get().code(), absl::StatusCode::kFailedPrecondition);
    // The value was dropped, not left for a receiver.
    EXPECT_EQ(ch.recv(), std::nullopt);
    EXPECT_EQ(ch.size(), 0u);
  });
}

TEST_P(ChannelTest, CloseFailsBlockedBoundedSender) {
  Run([&] {
    Channel<int> ch(1);
    ASSERT_TRUE(ch.send(1).ok());
    std::atomic<bool> started{false};
    auto sender = spawn([&] {
      started = true;
      return ch.send(2);
    });
    while (!started) yield();
    sleep_for(absl::Milliseconds(10));
    EXPECT_TRUE(ch.close().ok());
    EXPECT_EQ(sender.get().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.recv(), std::nullopt);
  });
}

TEST_P(ChannelTest, RangeForEndsOnClose) {
  Run([&] {
    Channel<int> ch(3);
    auto producer = spawn([&] {
      for (int i = 1; i <= 100; ++i) EXPECT_TRUE(ch.send(i).ok());
      EXPECT_TRUE(ch.close().ok());
    });
    int sum = 0, n = 0, prev = 0;
    for (int v : ch) {
      EXPECT_EQ(v, prev + 1);
      prev = v;
      sum += v;
      ++n;
    }
    producer.join();
    EXPECT_EQ(n, 100);
    EXPECT_EQ(sum, 5050);
  });
}

TEST_P(ChannelTest, MoveOnlyValues) {
  Run([&] {
    for (std::size_t cap : {std::size_t{0}, std::size_t{1}, Channel<int>::kUnbounded}) {
      Channel<std::unique_ptr<int>> ch(cap);
      auto producer = spawn([&] {
        for (int i = 0; i < 50; ++i) EXPECT_TRUE(ch.send(std::make_unique<int>(i)).ok());
        EXPECT_TRUE(ch.close().ok());
      });
      int i = 0;
      for (std::unique_ptr<int>& p : ch) {
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(*p, i++);
      }
      producer.join();
      EXPECT_EQ(i, 50);
    }
    // try_send on a full channel does not move from its argument.
    Channel<std::unique_ptr<int>> full(1);
    ASSERT_TRUE(full.send(std::make_unique<int>(1)).ok());
    auto p = std::make_unique<int>(2);
    EXPECT_FALSE(full.try_send(p));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 2);
    auto got = full.try_recv();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(**got, 1);
    EXPECT_TRUE(full.try_send(p));
    EXPECT_EQ(p, nullptr);
    EXPECT_EQ(**full.recv(), 2);
  });
}

TEST_P(ChannelTest, TrySendUnbufferedNeedsWaitingReceiver) {
  Run([&] {
    Channel<std::unique_ptr<int>> ch;
    auto p = std::make_unique<int>(7);
    EXPECT_FALSE(ch.try_send(p));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(ch.size(), 0u);
    auto receiver = spawn([&] { return ch.recv(); });
    auto start = std::chrono::steady_clock::now();
    while (!ch.try_send(p)) {
      ASSERT_LT(test::MillisSince(start), 10000);
      sleep_for(absl::Milliseconds(1));
    }
    EXPECT_EQ(p, nullptr);
    auto got = receiver.get();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(**got, 7);
  });
}

TEST_P(ChannelTest, TrySendAndTryRecvBounded) {
  Run([&] {
    Channel<int> ch(2);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    int a = 1, b = 2, c = 3;
    EXPECT_TRUE(ch.try_send(a));
    EXPECT_TRUE(ch.try_send(b));
    EXPECT_FALSE(ch.try_send(c));
    EXPECT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch.try_recv(), 1);
    EXPECT_TRUE(ch.try_send(c));
    EXPECT_EQ(ch.try_recv(), 2);
    EXPECT_EQ(ch.try_recv(), 3);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
  });
}

TEST_P(ChannelTest, RecvForTimesOut) {
  Run([&] {
    Channel<int> ch(4);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(ch.recv_for(absl::Milliseconds(20)).status().code(),
              absl::StatusCode::kDeadlineExceeded);
    EXPECT_GE(test::MillisSince(start), 15);
    // A value that arrives before the deadline is received.
    auto sender = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      EXPECT_TRUE(ch.send(8).ok());
    });
    auto r = ch.recv_for(absl::Seconds(10));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 8);
    sender.join();
  });
}

TEST_P(ChannelTest, SendForOnFullBoundedTimesOutWithoutLosingValues) {
  Run([&] {
    Channel<int> ch(1);
    ASSERT_TRUE(ch.send(1).ok());
    EXPECT_EQ(ch.send_for(2, absl::Milliseconds(20)).code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    EXPECT_TRUE(ch.send_for(3, absl::Milliseconds(20)).ok());
    EXPECT_EQ(ch.recv(), 3);
  });
}

TEST_P(ChannelTest, TimedOutUnbufferedSendIsNeverReceived) {
  Run([&] {
    Channel<int> ch;
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(ch.send_for(1, absl::Milliseconds(20)).code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_GE(test::MillisSince(start), 15);
    EXPECT_EQ(ch.size(), 0u);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    auto sender = spawn([&] { return ch.send(2); });
    EXPECT_EQ(ch.recv(), 2);
    EXPECT_TRUE(sender.get().ok());
    // With a receiver arriving in time, send_for succeeds.
    auto receiver = spawn([&] {
      sleep_for(absl::Milliseconds(5));
      return ch.recv();
    });
    EXPECT_TRUE(ch.send_for(3, absl::Seconds(10)).ok());
    EXPECT_EQ(receiver.get(), 3);
  });
}

// Racing timeouts against receivers: every send that reported OK is received
// exactly once, and no timed-out value is ever received.
TEST_P(ChannelTest, UnbufferedSendForRacingReceiversLosesNothing) {
  const int kSenders = 4;
  const int64_t kPer = test::Scaled(300);
  Run([&] {
    Channel<int64_t> ch;
    std::vector<std::atomic<int>> ok(kSenders * kPer), received(kSenders * kPer);
    std::vector<Fiber<void>> senders;
    for (int s = 0; s < kSenders; ++s) {
      senders.push_back(spawn([&, s] {
        for (int64_t i = 0; i < kPer; ++i) {
          int64_t v = s * kPer + i;
          absl::Status st = ch.send_for(v, absl::Microseconds(50 + (i % 7) * 30));
          if (st.ok()) {
            ok[v] = 1;
          } else {
            EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
          }
        }
      }));
    }
    auto receiver = spawn([&] {
      for (;;) {
        auto r = ch.recv_for(absl::Microseconds(100));
        if (r.ok()) {
          received[*r].fetch_add(1);
        } else if (r.status().code() == absl::StatusCode::kOutOfRange) {
          return;
        }
      }
    });
    for (auto& f : senders) f.join();
    EXPECT_TRUE(ch.close().ok());
    receiver.join();
    int64_t mismatches = 0;
    for (int64_t v = 0; v < kSenders * kPer; ++v) mismatches += ok[v].load() != received[v].load();
    EXPECT_EQ(mismatches, 0);
  });
}

// Receivers are killed while senders hand values to them. A receiver whose
// wait a sender ended gets the value (the kill then lands at its next wait);
// one the kill got first gets none, and the sender passes to the next. So
// every value that a send() reported sent is received exactly once.
TEST_P(ChannelTest, KilledReceiversLoseNoHandedOffValue) {
  for (std::size_t capacity : {std::size_t{0}, std::size_t{2}}) {
    const int64_t kValues = test::Scaled(4000);
    Run([&] {
      Channel<int64_t> ch(capacity);
      std::vector<std::atomic<int>> received(kValues);
      std::atomic<int64_t> sent_ok{0};
      std::vector<Fiber<void>> receivers;
      auto receive_forever = [&] {
        while (auto v = ch.recv()) received[*v].fetch_add(1);
      };
      for (int r = 0; r < 4; ++r) receivers.push_back(spawn(receive_forever));
      auto sender = spawn([&] {
        for (int64_t v = 0; v < kValues; ++v) {
          if (ch.send(v).ok()) sent_ok.fetch_add(1);
        }
      });
      // Keep killing the oldest receiver and starting a fresh one.
      for (int k = 0; !sender.ready(); ++k) {
        receivers[k % 4].kill_and_join(absl::Seconds(10));
        receivers[k % 4] = spawn(receive_forever);
        if (k % 3 == 0) yield();
      }
      EXPECT_TRUE(ch.close().ok());
      for (auto& f : receivers) f.join();
      int64_t total = 0, twice = 0;
      for (auto& r : received) {
        total += r.load();
        twice += r.load() > 1;
      }
      EXPECT_EQ(twice, 0) << "capacity " << capacity;
      // Values still buffered at close() were drained by the last receivers.
      EXPECT_EQ(total, sent_ok.load()) << "capacity " << capacity;
      EXPECT_EQ(sent_ok.load(), kValues) << "capacity " << capacity;
    });
  }
}

// The same race from the sender's side: senders waiting in send() are
// killed while a receiver takes values. A killed sender's value is never
// received; a sender whose send() returned OK had its value received.
TEST_P(ChannelTest, KilledSendersDeliverExactlyWhatTheyReport) {
  const int kSenders = 4;
  const int64_t kPer = test::Scaled(1000);
  Run([&] {
    Channel<int64_t> ch;
    std::vector<std::atomic<int>> reported(kSenders * kPer), received(kSenders * kPer);
    std::vector<Fiber<void>> senders;
    for (int s = 0; s < kSenders; ++s) {
      senders.push_back(spawn([&, s] {
        for (int64_t i = 0; i < kPer; ++i) {
          int64_t v = s * kPer + i;
          if (ch.send(v).ok()) reported[v] = 1;
        }
      }));
    }
    auto receiver = spawn([&] {
      while (auto v = ch.recv()) received[*v].fetch_add(1);
    });
    // Kill each sender at a different point of its run.
    for (int s = 0; s < kSenders; ++s) {
      for (int k = 0; k < 20 * (s + 1); ++k) yield();
      senders[s].kill();
    }
    for (auto& f : senders) f.kill_and_join(absl::Seconds(10));
    EXPECT_TRUE(ch.close().ok());
    receiver.join();
    int64_t mismatches = 0;
    for (int64_t v = 0; v < kSenders * kPer; ++v) {
      mismatches += reported[v].load() != received[v].load();
    }
    EXPECT_EQ(mismatches, 0);
  });
}

// A value whose move constructor throws when told to.
struct Fragile {
  int v = 0;
  bool throw_on_move = false;
  Fragile() = default;
  Fragile(int value, bool t) : v(value), throw_on_move(t) {}
  Fragile(Fragile&& o) : v(o.v), throw_on_move(o.throw_on_move) {
    if (throw_on_move) throw std::runtime_error("move failed");
  }
  Fragile& operator=(Fragile&&) = default;
};

// A hand-off whose move throws: the exception reaches the sender, the
// channel's lock is released, and the receiver it had already claimed is not
// lost: it waits on and takes the next value.
TEST_P(ChannelTest, AThrowingMoveDuringAHandOffLosesNoWaiter) {
  Run([&] {
    Channel<Fragile> ch;
    auto receiver = spawn([&] { return ch.recv()->v; });
    // Let the receiver park; a few tries in case it has not yet.
    bool threw = false;
    for (int i = 0; i < 100 && !threw; ++i) {
      sleep_for(absl::Milliseconds(1));
      Fragile bad(1, true);
      try {
        (void)ch.try_send(bad);
      } catch (const std::runtime_error&) {
        threw = true;
      }
    }
    EXPECT_TRUE(threw);
    EXPECT_TRUE(ch.send(Fragile(2, false)).ok());  // the lock was released
    EXPECT_EQ(receiver.get(), 2);
  });
}

struct DtorCount {
  std::atomic<int>* n;
  ~DtorCount() { n->fetch_add(1); }
};

TEST_P(ChannelTest, ShutdownKillsFibersWaitingInSendAndRecv) {
  constexpr int kEach = 4;
  std::atomic<int> dtors{0}, started{0}, returned{0};
  Channel<int> recv_ch(2), unbuffered(0), full(1);
  int zero = 0;
  ASSERT_TRUE(full.try_send(zero));
  auto start = std::chrono::steady_clock::now();
  {
    Runtime rt(options());
    for (int i = 0; i < kEach; ++i) {
      rt.spawn([&] {
        DtorCount d{&dtors};
        started.fetch_add(1);
        (void)recv_ch.recv();
        returned.fetch_add(1);
      });
      rt.spawn([&, i] {
        DtorCount d{&dtors};
        started.fetch_add(1);
        (void)unbuffered.send(i);
        returned.fetch_add(1);
      });
      rt.spawn([&, i] {
        DtorCount d{&dtors};
        started.fetch_add(1);
        (void)full.send(i + 1);
        returned.fetch_add(1);
      });
    }
    while (started.load() < 3 * kEach) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(dtors.load(), 3 * kEach);
  EXPECT_EQ(returned.load(), 0);
  EXPECT_LT(test::MillisSince(start), 10000);
  // Killed senders left nothing behind.
  EXPECT_EQ(unbuffered.size(), 0u);
  EXPECT_EQ(full.size(), 1u);
  EXPECT_EQ(full.try_recv(), 0);
}

TEST_P(ChannelTest, PlainThreadSendsIntoBoundedChannel) {
  Run([&] {
    Channel<int> ch(4);
    std::thread t([&] {
      for (int i = 0; i < 4; ++i) EXPECT_TRUE(ch.send(i).ok());
    });
    t.join();
    for (int i = 0; i < 4; ++i) EXPECT_EQ(ch.recv(), i);
  });
}

TEST(ChannelPlainThreadTest, NonWaitingOpsWorkWaitingOpsThrowUsageError) {
  Channel<int> ch(2);
  EXPECT_TRUE(ch.send(1).ok());
  EXPECT_TRUE(ch.send(2).ok());
  EXPECT_THROW((void)ch.send(3), UsageError);  // full: must wait
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch.recv(), 1);
  EXPECT_EQ(ch.recv(), 2);
  EXPECT_THROW((void)ch.recv(), UsageError);  // empty: must wait
  EXPECT_THROW((void)ch.recv_for(absl::Milliseconds(5)), UsageError);
  // The channel still works afterwards.
  EXPECT_TRUE(ch.send(4).ok());
  EXPECT_EQ(ch.try_recv(), 4);

  Channel<int> unbuffered;
  EXPECT_THROW((void)unbuffered.send(1), UsageError);  // no receiver waits
  EXPECT_EQ(unbuffered.size(), 0u);                    // the value was withdrawn
  EXPECT_TRUE(unbuffered.close().ok());
  EXPECT_EQ(unbuffered.recv(), std::nullopt);  // closed and drained: no wait
}

// On a plain thread an unbuffered send() completes if a receiver is already
// waiting and throws UsageError if it would have to wait. Either way the
// outcome is exact: a send that threw delivered nothing (else a caller that
// retries would send it twice), one that returned OK delivered its value.
TEST_P(ChannelTest, PlainThreadUnbufferedSendDeliversExactlyWhenItSaysSo) {
  const int kIters = static_cast<int>(test::Scaled(3000));
  int threw = 0, sent = 0, wrong = 0;
  Runtime rt(options());
  for (int i = 0; i < kIters; ++i) {
    Channel<int> ch;
    std::atomic<bool> started{false};
    auto receiver = rt.spawn([&] {
      started = true;
      return ch.recv();
    });
    while (!started) std::this_thread::yield();
    // Sometimes before the receiver parks, mostly after.
    if (i % 3 != 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
    bool t = false;
    absl::Status st;
    try {
      st = ch.send(i);
    } catch (const UsageError&) {
      t = true;
    }
    EXPECT_TRUE(ch.close().ok());
    std::optional<int> got = receiver.get();
    threw += t;
    sent += !t;
    if (t ? got.has_value() : !(st.ok() && got == i)) ++wrong;
  }
  EXPECT_GT(sent, 0);
  EXPECT_EQ(wrong, 0) << "of " << threw << " sends that threw and " << sent << " that returned";
}

TEST_P(ChannelTest, TrySendTakesTemporariesAndKeepsAnUnsentRvalue) {
  Run([&] {
    Channel<std::unique_ptr<int>> ch(1);
    EXPECT_TRUE(ch.try_send(std::make_unique<int>(1)));  // a temporary
    auto p = std::make_unique<int>(2);
    EXPECT_FALSE(ch.try_send(std::move(p)));  // full: not sent, not moved from
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 2);
    auto got = ch.try_recv();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(**got, 1);
    EXPECT_TRUE(ch.try_send(std::move(p)));
    EXPECT_EQ(p, nullptr);
    ASSERT_TRUE(ch.close().ok());
    EXPECT_FALSE(ch.try_send(std::make_unique<int>(3)));  // closed
  });
}

TEST_P(ChannelTest, UnboundedFactoryNeverBlocksSenders) {
  Run([&] {
    auto ch = Channel<int>::unbounded();
    EXPECT_EQ(ch.capacity(), Channel<int>::kUnbounded);
    for (int i = 0; i < 10000; ++i) ASSERT_TRUE(ch.try_send(i));
    for (int i = 0; i < 10000; ++i) ASSERT_TRUE(ch.send_for(i, absl::ZeroDuration()).ok());
    EXPECT_EQ(ch.size(), 20000u);
    EXPECT_EQ(ch.recv(), 0);
  });
}

// Channels are shared by reference and never move (see channel.h).
static_assert(!std::is_move_constructible_v<Channel<int>>);
static_assert(!std::is_copy_constructible_v<Channel<int>>);

TEST_P(ChannelTest, SendUntilAndRecvUntilTakeADeadline) {
  Run([&] {
    Channel<int> ch(1);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(ch.recv_until(absl::Now() + absl::Milliseconds(20)).status().code(),
              absl::StatusCode::kDeadlineExceeded);
    EXPECT_GE(test::MillisSince(start), 15);
    EXPECT_TRUE(ch.send_until(1, absl::Now() + absl::Seconds(10)).ok());
    EXPECT_EQ(ch.send_until(2, absl::Now() + absl::Milliseconds(5)).code(),
              absl::StatusCode::kDeadlineExceeded);  // full
    EXPECT_EQ(ch.send_until(3, absl::InfinitePast()).code(), absl::StatusCode::kDeadlineExceeded);
    auto r = ch.recv_until(absl::InfiniteFuture());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 1);
    ASSERT_TRUE(ch.close().ok());
    EXPECT_EQ(ch.recv_until(absl::Now() + absl::Seconds(10)).status().code(),
              absl::StatusCode::kOutOfRange);
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, ChannelTest, test::WorkerCounts(), test::WorkerCountName);

// Destroying a channel that fibers wait on is reported, never a hang: the
// process aborts, naming the channel and how many wait.
TEST(ChannelDeathTest, DestroyedWhileFibersWaitAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        alarm(20);
        Runtime rt({.workers = 2});
        auto f = rt.spawn([] {
          auto* ch = new Channel<int>;
          auto r1 = spawn([ch] { (void)ch->recv(); });
          auto r2 = spawn([ch] { (void)ch->recv(); });
          sleep_for(absl::Milliseconds(50));  // both parked in recv
          delete ch;
        });
        f.join();
      },
      "weft::Channel destroyed while 2 fibers wait on it");
  EXPECT_DEATH(
      {
        alarm(20);
        Runtime rt({.workers = 1});
        auto f = rt.spawn([] {
          auto* ch = new Channel<int>;
          auto s = spawn([ch] { (void)ch->send(1); });  // unbuffered: waits
          sleep_for(absl::Milliseconds(50));
          delete ch;
        });
        f.join();
      },
      "weft::Channel destroyed while 1 fiber waits on it");
}

}  // namespace
}  // namespace weft
