// Reads with a deadline that are answered early leave no timer behind: one
// loopback TCP connection carries 200,000 request/response round trips,
// every read on both sides with a one-hour deadline, and Runtime::stats()
// must keep counting only the fibers actually waiting (at most the two
// readers), never the reads done. Before timers were removed when their
// wait ended early, each read's timer lived for its hour: 400,000 entries.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using net::TcpListener;
using net::TcpStream;

constexpr absl::Duration kHour = absl::Hours(1);

class ReadDeadlineTest : public test::RuntimeTest {};

// The most timer entries `waiting` timed waiters may account for on
// `workers` workers: on one worker exactly them; on several, each worker
// may also hold as many entries of waits that ended while their fiber
// resumed on another worker, plus 64, before it sweeps (see
// core/private/timer_heap.h).
uint64_t Bound(uint64_t waiting, int workers) {
  if (workers == 1) return waiting;
  return 2 * waiting + 65 * static_cast<uint64_t>(workers);
}

TEST_P(ReadDeadlineTest, ManyReadsWithALongDeadlineKeepTimersAtTheWaiters) {
  Runtime rt(options());
  const int64_t rounds = test::Scaled(200000);
  uint64_t worst = 0;
  int64_t answered = 0;
  rt.spawn([&] {
      absl::StatusOr<TcpListener> listener = TcpListener::bind("127.0.0.1:0");
      ASSERT_TRUE(listener.ok()) << listener.status();
      absl::StatusOr<net::Address> address = listener->local_address();
      ASSERT_TRUE(address.ok()) << address.status();

      // The server: reads one byte, answers it, each read with an hour's
      // deadline, until EOF.
      Fiber<int64_t> server = spawn([&]() -> int64_t {
        absl::StatusOr<TcpStream> conn = listener->accept_for(kHour);
        if (!conn.ok()) return -1;
        int64_t served = 0;
        char c;
        for (;;) {
          absl::StatusOr<std::size_t> n = conn->read_some_for({&c, 1}, kHour);
          if (!n.ok() || *n == 0) return served;
          if (!conn->write_all_for({&c, 1}, kHour).ok()) return -1;
          ++served;
        }
      });

      absl::StatusOr<TcpStream> client = net::dial_for(address->to_string(), kHour);
      ASSERT_TRUE(client.ok()) << client.status();
      for (int64_t i = 0; i < rounds; ++i) {
        char out = static_cast<char>(i % 251), in = 0;
        ASSERT_TRUE(client->write_all_for({&out, 1}, kHour).ok());
        absl::StatusOr<std::size_t> n = client->read_some_for({&in, 1}, kHour);
        ASSERT_TRUE(n.ok()) << n.status();
        ASSERT_EQ(*n, 1u);
        ASSERT_EQ(in, out);
        ++answered;
        // Waiting with a deadline now: the server's next read at most.
        if (i % 256 == 0) worst = std::max(worst, rt.stats().timers);
      }
      ASSERT_TRUE(client->shutdown_write().ok());
      EXPECT_EQ(server.get(), rounds);
    }).join();
  EXPECT_EQ(answered, rounds);
  EXPECT_LE(worst, Bound(1, workers())) << "timers of reads answered early piled up";
  // Nobody waits now.
  EXPECT_LE(rt.stats().timers, Bound(0, workers()));
}

INSTANTIATE_TEST_SUITE_P(Workers, ReadDeadlineTest, ::testing::Values(1, 2), test::WorkerCountName);

}  // namespace
}  // namespace weft
