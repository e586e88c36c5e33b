// weft::wait_signal and watch_signals (io/signal.h): raise() from a fiber
// and from a plain thread, kill() to the process, a signal that arrives
// before anyone waits (kept, and the process survives), which of several
// signals came, several waiters, the deadline, and signals that cannot be
// watched. SIGUSR1 and SIGUSR2 stand in for SIGTERM: their default action
// is to terminate too, so a lost handler would end the test run.
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kLong = absl::Seconds(30);

class SignalTest : public test::RuntimeTest {
 protected:
  // The signal hub's three fds (io/signal.cc) are opened once per process,
  // at the first watch_signals, and kept until exit: open them before the
  // fixture records the fds a test starts with, so they are not a leak.
  static void SetUpTestSuite() { ASSERT_TRUE(watch_signals({SIGUSR1, SIGUSR2}).ok()); }
};

TEST_P(SignalTest, RaiseFromAFiber) {
  Run([] {
    auto waiter = spawn([] { return wait_signal_for({SIGUSR1}, kLong); });
    sleep_for(absl::Milliseconds(10));
    spawn([] { raise(SIGUSR1); }).join();
    absl::StatusOr<int> sig = waiter.get();
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_EQ(*sig, SIGUSR1);
  });
}

TEST_P(SignalTest, RaiseFromAPlainThread) {
  Run([] {
    auto waiter = spawn([] { return wait_signal_for({SIGUSR2}, kLong); });
    sleep_for(absl::Milliseconds(10));
    std::thread([] { raise(SIGUSR2); }).join();
    absl::StatusOr<int> sig = waiter.get();
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_EQ(*sig, SIGUSR2);
  });
}

TEST_P(SignalTest, KillToTheProcess) {
  Run([] {
    auto waiter = spawn([] { return wait_signal_for({SIGUSR1}, kLong); });
    sleep_for(absl::Milliseconds(10));
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    EXPECT_EQ(*waiter.get(), SIGUSR1);
  });
}

TEST_P(SignalTest, SignalBeforeWaitingIsKept) {
  Run([] {
    ASSERT_TRUE(watch_signals({SIGUSR1, SIGUSR2}).ok());
    raise(SIGUSR2);  // nobody waits yet: kept, and we live
    sleep_for(absl::Milliseconds(20));
    absl::StatusOr<int> sig = wait_signal_for({SIGUSR1, SIGUSR2}, kLong);
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_EQ(*sig, SIGUSR2);
    // Taken: the next wait waits.
    EXPECT_TRUE(
        absl::IsDeadlineExceeded(wait_signal_for({SIGUSR2}, absl::Milliseconds(20)).status()));
  });
}

TEST_P(SignalTest, EachWaiterGetsItsOwnSignal) {
  Run([] {
    auto one = spawn([] { return wait_signal_for({SIGUSR1}, kLong); });
    auto two = spawn([] { return wait_signal_for({SIGUSR2}, kLong); });
    sleep_for(absl::Milliseconds(20));
    raise(SIGUSR2);
    EXPECT_EQ(*two.get(), SIGUSR2);
    EXPECT_FALSE(one.ready());
    std::thread([] { kill(getpid(), SIGUSR1); }).join();
    EXPECT_EQ(*one.get(), SIGUSR1);
  });
}

TEST_P(SignalTest, DeadlineAndKill) {
  Run([] {
    absl::Time start = absl::Now();
    absl::StatusOr<int> sig = wait_signal_for({SIGUSR1}, absl::Milliseconds(30));
    EXPECT_TRUE(absl::IsDeadlineExceeded(sig.status())) << sig.status();
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(25));
    auto waiter = spawn([] { wait_signal({SIGUSR1}).IgnoreError(); });
    sleep_for(absl::Milliseconds(10));
    waiter.kill();
    waiter.join();
    EXPECT_TRUE(waiter.killed());
    // The poller's role was handed on: a new waiter still gets its signal.
    auto next = spawn([] { return wait_signal_for({SIGUSR1}, kLong); });
    sleep_for(absl::Milliseconds(10));
    raise(SIGUSR1);
    EXPECT_EQ(*next.get(), SIGUSR1);
  });
}

TEST(SignalOptionsTest, SignalsThatCannotBeWatched) {
  EXPECT_THAT(watch_signals({SIGKILL}).message(), HasSubstr("cannot be watched"));
  EXPECT_THAT(watch_signals({SIGSEGV}).message(), HasSubstr("cannot be watched"));
  EXPECT_TRUE(absl::IsInvalidArgument(watch_signals({0})));
  EXPECT_TRUE(absl::IsInvalidArgument(watch_signals({})));
  EXPECT_THROW(wait_signal({SIGUSR1}).IgnoreError(), UsageError);
}

INSTANTIATE_TEST_SUITE_P(Workers, SignalTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
