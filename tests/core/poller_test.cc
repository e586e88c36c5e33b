// The poller's per-fd state machine (poller.h: the words kIdle / kReady /
// waiting fiber, the generation, the hang-up bit, the registration), driven
// directly: the test owns a Poller and calls its poll() itself, so it decides
// exactly when an edge is dispatched. A wait needs a fiber to park, so the
// waits run on a one-worker Runtime (the smallest harness that parks); that
// runtime's own poller is never involved. A deadline of 0 (already passed)
// asks "is an edge pending right now?" without parking.
#include "weft/core/private/poller.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "weft/core/internal/clock.h"
#include "weft/core/private/worker.h"
#include "weft/weft.h"

namespace weft::internal {
namespace {

constexpr int64_t kNow = 0;  // a deadline already passed: never park

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      r = fds[0];
      w = fds[1];
    }
  }
  ~Pipe() {
    close_reader();
    close_writer();
  }
  void close_reader() {
    if (r >= 0) {
      Poller::forget(r);
      ::close(r);
      r = -1;
    }
  }
  void close_writer() {
    if (w >= 0) {
      Poller::forget(w);
      ::close(w);
      w = -1;
    }
  }
  void put() { ASSERT_EQ(::write(w, "x", 1), 1); }
};

class PollerTest : public ::testing::Test {
 protected:
  // Starts a fiber that waits on `fd` and returns what the wait returned.
  Fiber<absl::Status> StartWait(int fd, IoDir dir, int64_t deadline_ns) {
    parked_.store(nullptr);
    return rt_->spawn([this, fd, dir, deadline_ns] {
      parked_.store(Worker::current()->current_fiber());
      return poller_.wait(fd, dir, deadline_ns);
    });
  }
  // Waits (this thread) until the fiber StartWait started is parked and
  // published: from then on only an edge, a forget or its deadline ends it.
  void UntilParked() {
    FiberControl* f;
    while ((f = parked_.load()) == nullptr || (f->epoch.load(std::memory_order_acquire) & 3) != 1) {
      sched_yield();
    }
  }
  // One wait that never parks: OK if an edge (or a hang-up) is pending.
  absl::Status WaitNow(int fd, IoDir dir) { return StartWait(fd, dir, kNow).get(); }
  // Dispatches what epoll has, blocking until `deadline_ns` (0: not at all).
  int Poll(int64_t deadline_ns = 0) {
    while (!poller_.try_acquire()) sched_yield();
    int woken = poller_.poll(deadline_ns);
    poller_.release();
    return woken;
  }

  Poller poller_;
  // Destroyed first: no fiber outlives the poller. (A unique_ptr: ~Runtime
  // may throw, which a test fixture's destructor may not.)
  std::unique_ptr<Runtime> rt_ = std::make_unique<Runtime>(RuntimeOptions{.workers = 1});
  std::atomic<FiberControl*> parked_{nullptr};
};

TEST_F(PollerTest, EdgeBeforeWaitIsKeptForTheWait) {
  Pipe p;
  ASSERT_TRUE(poller_.watch(p.r).ok());
  p.put();
  EXPECT_EQ(Poll(), 0) << "nobody waits: the edge must be kept, not handed out";
  EXPECT_TRUE(WaitNow(p.r, IoDir::kRead).ok()) << "the kept edge was lost";
  EXPECT_TRUE(absl::IsDeadlineExceeded(WaitNow(p.r, IoDir::kRead)))
      << "one edge satisfied two waits";
}

TEST_F(PollerTest, DirectionsKeepSeparateEdges) {
  Pipe p;
  // A pipe's write end is writable at once: registering it yields an
  // output edge, and no input edge.
  ASSERT_TRUE(poller_.watch(p.w).ok());
  Poll();
  EXPECT_TRUE(absl::IsDeadlineExceeded(WaitNow(p.w, IoDir::kRead)));
  EXPECT_TRUE(WaitNow(p.w, IoDir::kWrite).ok());
}

TEST_F(PollerTest, WaitBeforeEdgeIsWokenByIt) {
  Pipe p;
  auto waiter = StartWait(p.r, IoDir::kRead, INT64_MAX);
  UntilParked();
  p.put();
  EXPECT_EQ(Poll(deadline_after(absl::Seconds(10))), 1) << "the edge did not wake the waiter";
  EXPECT_TRUE(waiter.get().ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(WaitNow(p.r, IoDir::kRead)))
      << "an edge handed to a waiter was also kept for the next wait";
}

TEST_F(PollerTest, DeadlineEndsAWaitNoEdgeCame) {
  Pipe p;
  auto waiter = StartWait(p.r, IoDir::kRead, deadline_after(absl::Milliseconds(5)));
  EXPECT_TRUE(absl::IsDeadlineExceeded(waiter.get()));
  // The word is free again: a later edge is kept for the next wait.
  p.put();
  Poll();
  EXPECT_TRUE(WaitNow(p.r, IoDir::kRead).ok());
}

TEST_F(PollerTest, SecondWaiterInOneDirectionIsRefused) {
  Pipe p;
  auto first = StartWait(p.r, IoDir::kRead, INT64_MAX);
  UntilParked();
  absl::Status second =
      rt_->spawn([&] { return poller_.wait(p.r, IoDir::kRead, INT64_MAX); }).get();
  EXPECT_TRUE(absl::IsFailedPrecondition(second)) << second;
  p.put();
  Poll(deadline_after(absl::Seconds(10)));
  EXPECT_TRUE(first.get().ok());
}

TEST_F(PollerTest, ForgetDuringWaitCancelsIt) {
  Pipe p;
  auto waiter = StartWait(p.r, IoDir::kRead, INT64_MAX);
  UntilParked();
  p.close_reader();  // forget, then close
  absl::Status st = waiter.get();
  EXPECT_TRUE(absl::IsCancelled(st)) << st;
}

// The fd number of a file that was registered, waited on and had an edge
// and a hang-up pending, reused for a new file after forget + close: the new
// file starts with nothing pending, gets its own registration, and its
// edges reach its waiters.
TEST_F(PollerTest, ReusedFdNumberStartsFresh) {
  Pipe old_pipe;
  const int fd = old_pipe.r;
  auto first = StartWait(fd, IoDir::kRead, INT64_MAX);
  UntilParked();
  old_pipe.put();
  old_pipe.close_writer();  // data and hang-up, dispatched to the waiter
  Poll(deadline_after(absl::Seconds(10)));
  EXPECT_TRUE(first.get().ok());
  Poll();
  old_pipe.close_reader();

  Pipe fresh;
  if (fresh.r != fd) {  // the new file takes the old number
    ASSERT_EQ(dup3(fresh.r, fd, O_CLOEXEC), fd);
    ::close(fresh.r);
    fresh.r = fd;
  }
  EXPECT_TRUE(absl::IsDeadlineExceeded(WaitNow(fd, IoDir::kRead)))
      << "the new file inherited the old one's pending edge or hang-up";
  auto waiter = StartWait(fd, IoDir::kRead, INT64_MAX);
  UntilParked();
  fresh.put();
  EXPECT_EQ(Poll(deadline_after(absl::Seconds(10))), 1)
      << "the new file's edge never came: is it registered?";
  EXPECT_TRUE(waiter.get().ok());
}

// A hang-up is sticky: once seen, every read wait returns at once, even
// after the edge that carried it was consumed (the EOF brings no new edge).
TEST_F(PollerTest, HangUpStaysUntilForget) {
  Pipe p;
  ASSERT_TRUE(poller_.watch(p.r).ok());
  p.put();
  p.close_writer();
  Poll();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(WaitNow(p.r, IoDir::kRead).ok()) << "wait " << i;
  char buf[4];
  EXPECT_EQ(::read(p.r, buf, sizeof buf), 1);
  EXPECT_EQ(::read(p.r, buf, sizeof buf), 0);  // EOF, and no edge for it
  EXPECT_TRUE(WaitNow(p.r, IoDir::kRead).ok());
  // A waiter parked before the hang-up is woken by it.
  Pipe q;
  auto waiter = StartWait(q.r, IoDir::kRead, INT64_MAX);
  UntilParked();
  q.close_writer();
  EXPECT_EQ(Poll(deadline_after(absl::Seconds(10))), 1);
  EXPECT_TRUE(waiter.get().ok());
  EXPECT_TRUE(WaitNow(q.r, IoDir::kRead).ok());
}

// A poller that goes away hands its fds back: another poller can register
// them and deliver their edges.
TEST_F(PollerTest, FdsOutliveTheirPoller) {
  Pipe p;
  {
    Poller other;
    ASSERT_TRUE(other.watch(p.r).ok());
  }
  p.put();
  ASSERT_TRUE(poller_.watch(p.r).ok());
  Poll();
  EXPECT_TRUE(WaitNow(p.r, IoDir::kRead).ok());
}

}  // namespace
}  // namespace weft::internal
