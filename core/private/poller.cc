// The epoll poller. See poller.h for the per-fd word protocol.
//
// A wait publishes its fiber in the fd's word only in the park Handover
// (after the switch), like every other wait (fiber_api.h). The waker side is
// Poller::dispatch: it swaps the fiber out of the word and wakes it by its
// current parking epoch. Reading the epoch instead of a stored token keeps
// the word a single pointer; the cost is that a fiber that already woke (by
// its deadline or a kill) and parked again elsewhere may get one spurious
// wake-up, which every wait tolerates (callers loop on their condition).
#include "weft/core/private/poller.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "weft/core/internal/clock.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/private/runtime_core.h"
#include "weft/core/private/worker.h"

namespace weft::internal {
namespace {

// epoll data for the doorbell; fd slots use (gen << 32) | fd.
constexpr uint64_t kDoorbellData = ~uint64_t{0};

constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI;
constexpr uint32_t kWriteEvents = EPOLLOUT | EPOLLHUP | EPOLLERR;

absl::Status errno_status(int err, const char* what, int fd) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, " fd ", fd, ": ", std::strerror(err)));
}

// Wakes f if it is parked now, whatever wait it is in (see the file comment).
void wake_parked(FiberControl* f) {
  uint64_t e = f->epoch.load(std::memory_order_acquire);
  if ((e & kEpochPhaseMask) == kEpochPublished) f->runtime->try_wake(f, e);
  if ((e & kEpochPhaseMask) == kEpochPublishing) f->runtime->try_wake(f, e - 2);
}

// An edge for one direction: hand it to the waiter, or keep it.
bool signal(std::atomic<uintptr_t>& word) {
  uintptr_t old = word.load(std::memory_order_acquire);
  for (;;) {
    if (old == FdSlot::kReady) return false;
    uintptr_t next = old == FdSlot::kIdle ? FdSlot::kReady : FdSlot::kIdle;
    if (word.compare_exchange_weak(old, next, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
      break;
    }
  }
  if (old == FdSlot::kIdle) return false;
  wake_parked(reinterpret_cast<FiberControl*>(old));
  return true;
}

enum class Publish { kParked, kReady, kBusy };

struct WaitArgs {
  FdSlot* slot;
  std::atomic<uintptr_t>* word;
  uint32_t gen;
  Publish outcome = Publish::kParked;
};

bool publish_wait(FiberControl* self, uint64_t, void* arg) {
  auto* a = static_cast<WaitArgs*>(arg);
  std::atomic<uintptr_t>& word = *a->word;
  uintptr_t cur = FdSlot::kIdle;
  // acq_rel: release makes the parked fiber visible to dispatch's acquire.
  if (word.compare_exchange_strong(cur, reinterpret_cast<uintptr_t>(self),
                                   std::memory_order_acq_rel, std::memory_order_acquire)) {
    // Parked, unless forget() ran between the caller's generation check and
    // our CAS: it found no waiter to wake, so back out (if it did find us,
    // it is waking us; nobody can resume us before this Handover ends, so
    // *a stays valid until we return).
    if (a->slot->gen.load(std::memory_order_acquire) == a->gen) return false;
    // True: backed out, resume at once (the caller's loop sees the new
    // generation). False: forget() took us and is waking us.
    uintptr_t mine = reinterpret_cast<uintptr_t>(self);
    return word.compare_exchange_strong(mine, FdSlot::kIdle, std::memory_order_acq_rel);
  }
  if (cur == FdSlot::kReady &&
      word.compare_exchange_strong(cur, FdSlot::kIdle, std::memory_order_acq_rel)) {
    a->outcome = Publish::kReady;
  } else {
    a->outcome = Publish::kBusy;  // another fiber got in first; the loop reports it
  }
  return true;  // resume at once
}

// The process-wide FdSlot table: chunks of slots, indexed by fd, allocated
// on first use and never freed (a slot must outlive every event and waiter
// that may still name it).
class FdTable {
 public:
  static constexpr int kChunkBits = 10;
  static constexpr int kChunks = 4096;  // fds below 4M

  static FdTable& get() {
    static FdTable* table = new FdTable;  // leaked: used until the last thread exits
    return *table;
  }

  FdSlot* slot(int fd, bool create) {
    if (fd < 0 || (fd >> kChunkBits) >= kChunks) return nullptr;
    std::atomic<FdSlot*>& chunk = chunks_[fd >> kChunkBits];
    // Acquire: pairs with the CAS below; the slots are constructed.
    FdSlot* c = chunk.load(std::memory_order_acquire);
    if (c == nullptr) {
      if (!create) return nullptr;
      auto* fresh = new FdSlot[std::size_t{1} << kChunkBits];
      if (chunk.compare_exchange_strong(c, fresh, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        c = fresh;
      } else {
        delete[] fresh;  // another thread installed one first; c is it
      }
    }
    return &c[fd & ((1 << kChunkBits) - 1)];
  }

  template <typename F>
  void for_each_slot(F&& f) {
    for (auto& chunk : chunks_) {
      FdSlot* c = chunk.load(std::memory_order_acquire);
      if (c == nullptr) continue;
      for (int i = 0; i < (1 << kChunkBits); ++i) f(c[i]);
    }
  }

 private:
  std::atomic<FdSlot*> chunks_[kChunks] = {};
};

// Ends every wait on s (forget, or the poller going away).
void cancel_waits(FdSlot& s) {
  s.hung_up.store(false, std::memory_order_relaxed);  // the next file starts fresh
  // Release: a waiter that sees the new generation sees the slot reset.
  s.gen.fetch_add(1, std::memory_order_acq_rel);
  for (auto& w : s.word) {
    uintptr_t old = w.exchange(FdSlot::kIdle, std::memory_order_acq_rel);
    if (old > FdSlot::kReady) wake_parked(reinterpret_cast<FiberControl*>(old));
  }
}

}  // namespace

// A plain thread has no poller to park on: it blocks in poll(2).
absl::Status Poller::wait_thread(int fd, IoDir dir, int64_t deadline_ns) {
  pollfd p{fd, static_cast<short>(dir == IoDir::kRead ? POLLIN : POLLOUT), 0};
  for (;;) {
    int timeout_ms = -1;
    if (deadline_ns != INT64_MAX) {
      int64_t left = deadline_ns - monotonic_now_ns();
      if (left <= 0) return absl::DeadlineExceededError(absl::StrCat("fd ", fd, ": deadline"));
      timeout_ms = static_cast<int>(std::min<int64_t>((left + 999999) / 1000000, 1 << 30));
    }
    int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) return errno_status(errno, "poll", fd);
  }
}

Poller::Poller() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "weft: epoll_create1");
  doorbell_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (doorbell_ < 0) {
    int err = errno;
    ::close(epfd_);
    throw std::system_error(err, std::generic_category(), "weft: eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = kDoorbellData;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, doorbell_, &ev);
}

Poller::~Poller() {
  // Fds still registered here (a socket outliving its runtime) go back to
  // unregistered, so another runtime can watch them.
  FdTable::get().for_each_slot([this](FdSlot& s) {
    uint32_t st = FdSlot::kRegistered;
    if (!s.state.compare_exchange_strong(st, FdSlot::kChanging, std::memory_order_acquire)) return;
    if (s.owner != this) {
      s.state.store(FdSlot::kRegistered, std::memory_order_release);
      return;
    }
    cancel_waits(s);
    s.owner = nullptr;
    s.state.store(FdSlot::kUnregistered, std::memory_order_release);
  });
  ::close(doorbell_);
  ::close(epfd_);
}

absl::Status Poller::watch(int fd) {
  FdSlot* s = FdTable::get().slot(fd, true);
  if (s == nullptr) return absl::InvalidArgumentError(absl::StrCat("weft: bad fd ", fd));
  for (;;) {
    uint32_t st = s->state.load(std::memory_order_acquire);
    // Registered here or with another runtime: both work.
    if (st == FdSlot::kRegistered) return absl::OkStatus();
    if (st == FdSlot::kChanging) {  // another thread is (de)registering it: a syscall away
      __builtin_ia32_pause();
      continue;
    }
    if (s->state.compare_exchange_weak(st, FdSlot::kChanging, std::memory_order_acquire)) break;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 =
      (uint64_t{s->gen.load(std::memory_order_relaxed)} << 32) | static_cast<uint32_t>(fd);
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0 && errno != EEXIST) {
    int err = errno;
    s->state.store(FdSlot::kUnregistered, std::memory_order_release);
    return errno_status(err, "weft: epoll_ctl(ADD)", fd);
  }
  in_use_.store(true, std::memory_order_relaxed);
  s->owner = this;
  // Release: a waiter that sees kRegistered sees the registration done.
  s->state.store(FdSlot::kRegistered, std::memory_order_release);
  return absl::OkStatus();
}

void Poller::forget(int fd) {
  FdSlot* s = FdTable::get().slot(fd, false);
  if (s == nullptr) return;
  // Take the slot (kChanging) whatever its state, waiting out a registration
  // in progress: a wait that read the generation before a concurrent
  // close must see it bumped, even if its fd never got registered.
  uint32_t st;
  for (;;) {
    st = s->state.load(std::memory_order_acquire);
    if (st == FdSlot::kChanging) {
      __builtin_ia32_pause();
      continue;
    }
    if (s->state.compare_exchange_weak(st, FdSlot::kChanging, std::memory_order_acquire)) break;
  }
  if (st == FdSlot::kRegistered) epoll_ctl(s->owner->epfd_, EPOLL_CTL_DEL, fd, nullptr);
  cancel_waits(*s);
  s->owner = nullptr;
  s->state.store(FdSlot::kUnregistered, std::memory_order_release);
}

absl::Status Poller::wait(int fd, IoDir dir, int64_t deadline_ns) {
  Worker* w = Worker::current();
  FiberControl* self = w != nullptr ? w->current_fiber() : nullptr;
  if (self == nullptr) return wait_thread(fd, dir, deadline_ns);
  FdSlot* s = FdTable::get().slot(fd, true);
  if (s == nullptr) return absl::InvalidArgumentError(absl::StrCat("weft: bad fd ", fd));
  // The generation first, then the registration: a forget() (close) racing
  // with this wait bumps it after our read, and the loop reports Cancelled
  // instead of parking on an fd that is gone.
  const uint32_t gen = s->gen.load(std::memory_order_acquire);
  if (absl::Status st = watch(fd); !st.ok()) return st;
  std::atomic<uintptr_t>& word = s->word[static_cast<int>(dir)];
  const uintptr_t me = reinterpret_cast<uintptr_t>(self);
  for (;;) {
    // Acquire: pairs with dispatch's release store.
    if (dir == IoDir::kRead && s->hung_up.load(std::memory_order_acquire)) {
      return absl::OkStatus();
    }
    uintptr_t cur = word.load(std::memory_order_acquire);
    if (cur == FdSlot::kReady) {
      if (word.compare_exchange_strong(cur, FdSlot::kIdle, std::memory_order_acq_rel)) {
        return absl::OkStatus();
      }
      continue;
    }
    if (s->gen.load(std::memory_order_acquire) != gen) {
      return absl::CancelledError(absl::StrCat("weft: fd ", fd, " was closed while waiting"));
    }
    if (cur != FdSlot::kIdle) {
      return absl::FailedPreconditionError(
          absl::StrCat("weft: another fiber is already waiting to ",
                       dir == IoDir::kRead ? "read" : "write", " fd ", fd));
    }
    throw_if_killed(self);
    // Killed while already unwinding (a destructor waiting for I/O):
    // throw_if_killed does not throw then, and park_current would return at
    // once every time, so the loop would spin until the deadline (forever
    // without one). Give up instead, as sleep_for and the sync/ waits do.
    // Relaxed, as in throw_if_killed: a kill this load misses is seen by
    // on_parked after publishing, which wakes us, and the next turn sees it.
    if (self->kill_requested.load(std::memory_order_relaxed)) {
      return absl::CancelledError(absl::StrCat("weft: fiber killed while waiting to ",
                                               dir == IoDir::kRead ? "read" : "write", " fd ", fd));
    }
    if (deadline_ns != INT64_MAX && monotonic_now_ns() >= deadline_ns) {
      return absl::DeadlineExceededError(absl::StrCat(
          "weft: deadline passed waiting to ", dir == IoDir::kRead ? "read" : "write", " fd ", fd));
    }
    WaitArgs args{s, &word, gen};
    set_wait_site(self, dir == IoDir::kRead ? WaitKind::kFdRead : WaitKind::kFdWrite,
                  static_cast<uint64_t>(fd));
    park_current(deadline_ns, &publish_wait, &args);
    if (args.outcome == Publish::kReady) return absl::OkStatus();
    if (args.outcome == Publish::kBusy) continue;  // the loop names the problem
    uintptr_t expected = me;
    if (!word.compare_exchange_strong(expected, FdSlot::kIdle, std::memory_order_acq_rel)) {
      // dispatch (or forget) took us out: the edge was handed to us. If the
      // fd was forgotten the loop says so; otherwise the caller retries.
      if (s->gen.load(std::memory_order_acquire) != gen) continue;
      return absl::OkStatus();
    }
    // Woken by the deadline, a kill, or spuriously: the loop decides.
  }
}

int Poller::poll(int64_t deadline_ns) {
  timespec ts{0, 0};
  timespec* tsp = &ts;
  if (deadline_ns < 0) {
    tsp = nullptr;
  } else if (deadline_ns > 0) {
    int64_t left = deadline_ns - monotonic_now_ns();
    if (left > 0) {
      ts.tv_sec = left / 1000000000;
      ts.tv_nsec = left % 1000000000;
    }
  }
  int n = epoll_pwait2(epfd_, events_, kBatch, tsp, nullptr);
  int woken = 0;
  for (int i = 0; i < n; ++i) {
    if (events_[i].data.u64 == kDoorbellData) {
      uint64_t drained;
      while (::read(doorbell_, &drained, sizeof drained) > 0) {
      }
      continue;
    }
    woken += dispatch(events_[i].data.u64, events_[i].events);
  }
  return woken;
}

int Poller::dispatch(uint64_t data, uint32_t events) {
  int fd = static_cast<int>(data & 0xffffffffu);
  FdSlot* s = FdTable::get().slot(fd, false);
  if (s == nullptr || s->gen.load(std::memory_order_acquire) != (data >> 32)) return 0;
  int woken = 0;
  // Release, before the edge is signalled: a reader woken by it sees the bit.
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    s->hung_up.store(true, std::memory_order_release);
  if (events & kReadEvents) woken += signal(s->word[0]);
  if (events & kWriteEvents) woken += signal(s->word[1]);
  return woken;
}

void Poller::ring() {
  uint64_t one = 1;
  // Failure is impossible short of 2^64-1 unread rings; a full counter
  // would still leave the fd readable, which is all a ring needs.
  [[maybe_unused]] ssize_t r = ::write(doorbell_, &one, sizeof one);
}

// The fd waits of fiber_api.h, on the calling thread's runtime.
absl::Status wait_fd(int fd, IoDir dir, int64_t deadline_ns) {
  RuntimeCore* rt = RuntimeCore::current();
  if (rt == nullptr) return Poller::wait_thread(fd, dir, deadline_ns);
  return rt->poller().wait(fd, dir, deadline_ns);
}

absl::Status watch_fd(int fd) {
  RuntimeCore* rt = RuntimeCore::current();
  if (rt == nullptr) return absl::OkStatus();
  return rt->poller().watch(fd);
}

void forget_fd(int fd) { Poller::forget(fd); }

}  // namespace weft::internal
