// Signals for fibers: a handler, a signalfd and an eventfd behind one fd on
// the runtime's poller.
//
// Where a signal goes. A signal sent to the process is delivered to one
// thread that does not block it, or, if every thread blocks it, stays
// pending for the process; one sent to a thread (raise(3), pthread_kill)
// is delivered to that thread or stays pending for it alone. The runtime
// cannot know every thread (main, other libraries' threads), so:
//
//   * watch_signals installs a handler (sigaction) for each signal. It runs
//     on whatever thread the signal lands on and does two async-signal-safe
//     things: sets the signal's bit in `pending` (a lock-free atomic) and
//     adds 1 to an eventfd. A signal is never lost and never kills the
//     process once its handler is in, whichever thread gets it.
//   * A signalfd for the watched set takes the signals pending for the
//     process as a whole, which only happens when every thread blocks them
//     (a program that blocked them in main before starting any thread: the
//     classic signalfd set-up, which keeps working).
//   * Both fds sit in a private epoll set (level-triggered), and the
//     runtime's shared poller watches that one fd: a waiting fiber parks on
//     it like on a socket.
//
// Rejected: blocking the signals in every worker and offload thread and
// reading only the signalfd. A signal raised by a fiber (raise(3) is
// thread-directed) then stays pending for that one worker thread, and a
// signalfd read by a fiber on any other worker never sees it; main and
// foreign threads would still need blocking too, or a signal landing there
// kills the process. A handler covers every thread at once. It also means
// the workers' signal masks stay as the program set them.
//
// Waiters. One fiber at a time waits on the fd (the poller allows one
// waiter per fd and direction): the first to find nothing pending becomes
// the "poller", the others wait on a CondVar. The poller, once woken,
// drains both fds into `pending`, wakes everybody, and each takes its own
// signal (a compare-and-swap on `pending`, so each signal goes to one
// waiter); whoever finds nothing becomes the next poller.
#include "weft/io/signal.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <mutex>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/io/fd_wait.h"
#include "weft/io/net/socket.h"
#include "weft/sync/cond_var.h"
#include "weft/sync/mutex.h"

namespace weft {
namespace {

using net::internal::errno_status;

uint64_t bit(int sig) { return uint64_t{1} << (sig - 1); }

struct Hub {
  // Set up once (under setup_mu), then never closed: the process keeps its
  // signals watched until it exits.
  int efd = -1;   // the handler's doorbell
  int sfd = -1;   // signalfd of the watched set
  int epfd = -1;  // efd and sfd; the fd fibers wait on

  std::mutex setup_mu;   // watch_signals only; never held while waiting
  uint64_t watched = 0;  // guarded by setup_mu

  // Signals arrived and not yet taken. Set by the handler and by drain()
  // (release: nothing else is published with them, but a taker that sees a
  // bit should see the signal as arrived in every sense), cleared by take()
  // (acquire CAS).
  std::atomic<uint64_t> pending{0};

  weft::Mutex mu;
  weft::CondVar changed;  // `pending` may have new bits for somebody
  bool polling = false;   // guarded by mu: a fiber waits on epfd
};

// Written once before the first handler is installed, never changed; the
// handler reads it with acquire (sigaction's system call orders the store
// before any delivery in practice, the acquire makes it formal).
std::atomic<Hub*> g_hub{nullptr};

void on_signal(int sig) {
  const int saved = errno;  // the interrupted code may be about to read errno
  Hub* h = g_hub.load(std::memory_order_acquire);
  h->pending.fetch_or(bit(sig), std::memory_order_release);
  uint64_t one = 1;
  ssize_t r = ::write(h->efd, &one, sizeof one);  // EAGAIN only at 2^64-1: rung anyway
  (void)r;
  errno = saved;
}

absl::Status check_signal(int sig) {
  switch (sig) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
      return absl::InvalidArgumentError(absl::StrCat("weft::watch_signals: signal ", sig, " (",
                                                     strsignal(sig), ") cannot be watched"));
    default:
      break;
  }
  if (sig < 1 || sig > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("weft::watch_signals: no signal numbered ", sig));
  }
  return absl::OkStatus();
}

// The hub, created on first use with its three fds.
absl::StatusOr<Hub*> hub() {
  static std::mutex create_mu;
  std::lock_guard<std::mutex> g(create_mu);
  if (Hub* h = g_hub.load(std::memory_order_acquire)) return h;
  auto* h = new Hub;  // never freed: a handler may run at any time until exit
  h->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (h->efd < 0) return errno_status(errno, "eventfd");
  sigset_t none;
  sigemptyset(&none);
  h->sfd = ::signalfd(-1, &none, SFD_NONBLOCK | SFD_CLOEXEC);
  if (h->sfd < 0) return errno_status(errno, "signalfd");
  h->epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (h->epfd < 0) return errno_status(errno, "epoll_create1");
  for (int fd : {h->efd, h->sfd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: drain() empties both anyway
    ev.data.fd = fd;
    if (::epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return errno_status(errno, "epoll_ctl");
  }
  g_hub.store(h, std::memory_order_release);  // pairs with the handler's acquire
  return h;
}

// Moves what both fds hold into `pending`.
void drain(Hub& h) {
  signalfd_siginfo si;
  while (::read(h.sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (si.ssi_signo >= 1 && si.ssi_signo <= 64) {
      h.pending.fetch_or(bit(static_cast<int>(si.ssi_signo)), std::memory_order_release);
    }
  }
  uint64_t count;
  ssize_t r = ::read(h.efd, &count, sizeof count);  // resets it; the bits are in `pending`
  (void)r;
}

// Takes the lowest pending signal of `set`; 0 if none.
int take(Hub& h, uint64_t set) {
  uint64_t p = h.pending.load(std::memory_order_acquire);
  while ((p & set) != 0) {
    int sig = __builtin_ctzll(p & set) + 1;
    // Acquire on success: pairs with the release that set the bit.
    if (h.pending.compare_exchange_weak(p, p & ~bit(sig), std::memory_order_acquire,
                                        std::memory_order_acquire)) {
      return sig;
    }
  }
  return 0;
}

absl::StatusOr<uint64_t> watch(std::initializer_list<int> signals, Hub** out) {
  uint64_t set = 0;
  for (int sig : signals) {
    if (absl::Status s = check_signal(sig); !s.ok()) return s;
    set |= bit(sig);
  }
  if (set == 0) return absl::InvalidArgumentError("weft::watch_signals: no signals given");
  absl::StatusOr<Hub*> h = hub();
  if (!h.ok()) return h.status();
  *out = *h;
  Hub& hb = **h;
  std::lock_guard<std::mutex> g(hb.setup_mu);
  if ((hb.watched & set) == set) return set;
  // The signalfd first, then the handlers: a signal pending for the process
  // already is taken by the signalfd either way.
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig = 1; sig <= 64; ++sig) {
    if (((hb.watched | set) & bit(sig)) != 0) sigaddset(&mask, sig);
  }
  if (::signalfd(hb.sfd, &mask, SFD_NONBLOCK | SFD_CLOEXEC) < 0) {
    return errno_status(errno, "signalfd");
  }
  for (int sig : signals) {
    if ((hb.watched & bit(sig)) != 0) continue;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigfillset(&sa.sa_mask);  // the handler is short; let nothing nest into it
    sa.sa_flags = SA_RESTART;
    if (::sigaction(sig, &sa, nullptr) != 0) {
      return errno_status(errno, absl::StrCat("sigaction(", sig, ")"));
    }
    hb.watched |= bit(sig);
  }
  return set;
}

}  // namespace

absl::Status watch_signals(std::initializer_list<int> signals) {
  Hub* h = nullptr;
  return watch(signals, &h).status();
}

absl::StatusOr<int> wait_signal_until(std::initializer_list<int> signals, absl::Time deadline) {
  internal::require_fiber("weft::wait_signal");
  Hub* hp = nullptr;
  absl::StatusOr<uint64_t> set = watch(signals, &hp);
  if (!set.ok()) return set.status();
  Hub& h = *hp;
  std::unique_lock<weft::Mutex> lock(h.mu);
  for (;;) {
    if (int sig = take(h, *set)) return sig;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("weft::wait_signal: no signal before the deadline");
    }
    if (h.polling) {
      h.changed.wait_until(lock, deadline);
      continue;
    }
    // Become the poller: park on the fd without holding the lock.
    h.polling = true;
    lock.unlock();
    absl::Status s;
    {
      // Also when a kill unwinds the wait: hand the poller's role on.
      absl::Cleanup hand_on = [&] {
        drain(h);
        lock.lock();
        h.polling = false;
        h.changed.notify_all();
      };
      s = io::wait_readable_until(h.epfd, deadline);
    }
    if (!s.ok() && !absl::IsDeadlineExceeded(s)) return s;
  }
}

}  // namespace weft
