// poll, ppoll, select, pselect and epoll_wait from a fiber. A call that
// would block first asks the kernel with a zero timeout; if nothing is ready
// the fiber waits on a private epoll instance holding every fd of the call
// (level-triggered), which weft's poller watches as one readable fd, then
// asks the kernel again with a zero timeout to fill in the results. So the
// answers are always libc's own; only the waiting moved.
//
// ppoll/pselect's signal mask is applied to those zero-timeout calls only;
// while the fiber waits, the worker's mask holds.
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include "weft/io/hook/hooked_wait.h"
#include "weft/io/hook/real_calls.h"

namespace hk = weft::hook::internal;
using weft::internal::monotonic_now_ns;

namespace {

uint32_t epoll_events_of(short poll_events) {
  uint32_t e = 0;
  if (poll_events & POLLIN) e |= EPOLLIN;
  if (poll_events & POLLOUT) e |= EPOLLOUT;
  if (poll_events & POLLPRI) e |= EPOLLPRI;
  if (poll_events & POLLRDHUP) e |= EPOLLRDHUP;
  return e;
}

// Adds fd for `events` to ep. True if fd is ready at once whatever it waits
// for: a regular file (EPERM: epoll refuses files, which are always ready)
// or a bad fd (poll reports POLLNVAL, select EBADF).
bool add(int ep, int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0) return false;
  if (errno == EEXIST) {              // the same fd twice in one call: wait for both
    ev.events |= EPOLLIN | EPOLLOUT;  // at worst an early wake-up; the re-poll decides
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0;
  }
  return true;
}

// Parks the fiber until one of the fds `add_all(ep)` registers may be ready,
// or until deadline_ns. 0 (ask the kernel again) or an errno.
template <typename AddAll>
int wait_any(int64_t deadline_ns, const AddAll& add_all) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return hk::get_errno();
  int e = 0;
  if (!add_all(ep)) {
    e = hk::wait_ready(ep, hk::IoDir::kRead, deadline_ns, /*timeout_err=*/0);
  }
  weft::internal::forget_fd(ep);
  WEFT_REAL(close)(ep);
  return e;
}

int64_t deadline_from_ms(int timeout_ms) {
  return timeout_ms < 0 ? INT64_MAX : monotonic_now_ns() + int64_t{timeout_ms} * 1000000;
}

int64_t deadline_from_ts(const timespec* ts) {
  if (ts == nullptr) return INT64_MAX;
  return monotonic_now_ns() + int64_t{ts->tv_sec} * 1000000000 + ts->tv_nsec;
}

// The loop shared by all five: `now()` asks the kernel without waiting.
template <typename Now, typename AddAll>
int wait_loop(int64_t deadline_ns, const Now& now, const AddAll& add_all) {
  for (;;) {
    int r = now();
    if (r != 0 || monotonic_now_ns() >= deadline_ns) return r;
    if (int e = wait_any(deadline_ns, add_all); e != 0) {
      hk::set_errno(e);
      return -1;
    }
  }
}

bool add_pollfds(int ep, const pollfd* fds, nfds_t n) {
  for (nfds_t i = 0; i < n; ++i) {
    if (fds[i].fd < 0) continue;
    if (add(ep, fds[i].fd, epoll_events_of(fds[i].events))) return true;
  }
  return false;
}

bool add_fd_sets(int ep, int nfds, const fd_set* r, const fd_set* w, const fd_set* x) {
  for (int fd = 0; fd < nfds; ++fd) {
    uint32_t ev = 0;
    if (r != nullptr && FD_ISSET(fd, r)) ev |= EPOLLIN | EPOLLRDHUP;
    if (w != nullptr && FD_ISSET(fd, w)) ev |= EPOLLOUT;
    if (x != nullptr && FD_ISSET(fd, x)) ev |= EPOLLPRI;
    if (ev != 0 && add(ep, fd, ev)) return true;
  }
  return false;
}

// select's sets are in-out: each zero-timeout try starts from the caller's.
struct FdSets {
  fd_set r, w, x;
  void save(const fd_set* rs, const fd_set* ws, const fd_set* xs) {
    if (rs) r = *rs;
    if (ws) w = *ws;
    if (xs) x = *xs;
  }
  void restore(fd_set* rs, fd_set* ws, fd_set* xs) const {
    if (rs) *rs = r;
    if (ws) *ws = w;
    if (xs) *xs = x;
  }
};

}  // namespace

extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout_ms) {
  if (timeout_ms == 0 || hk::hooked_fiber() == nullptr) return WEFT_REAL(poll)(fds, n, timeout_ms);
  return wait_loop(
      deadline_from_ms(timeout_ms), [&] { return WEFT_REAL(poll)(fds, n, 0); },
      [&](int ep) { return add_pollfds(ep, fds, n); });
}

int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
  if ((ts != nullptr && ts->tv_sec == 0 && ts->tv_nsec == 0) || hk::hooked_fiber() == nullptr) {
    return WEFT_REAL(ppoll)(fds, n, ts, mask);
  }
  const timespec zero{0, 0};
  return wait_loop(
      deadline_from_ts(ts), [&] { return WEFT_REAL(ppoll)(fds, n, &zero, mask); },
      [&](int ep) { return add_pollfds(ep, fds, n); });
}

int select(int nfds, fd_set* r, fd_set* w, fd_set* x, timeval* tv) {
  if ((tv != nullptr && tv->tv_sec == 0 && tv->tv_usec == 0) || hk::hooked_fiber() == nullptr) {
    return WEFT_REAL(select)(nfds, r, w, x, tv);
  }
  const int64_t deadline =
      tv == nullptr ? INT64_MAX
                    : monotonic_now_ns() + int64_t{tv->tv_sec} * 1000000000 + tv->tv_usec * 1000;
  FdSets in;
  in.save(r, w, x);
  int res = wait_loop(
      deadline,
      [&] {
        in.restore(r, w, x);
        timeval zero{0, 0};
        return WEFT_REAL(select)(nfds, r, w, x, &zero);
      },
      [&](int ep) {
        return add_fd_sets(ep, nfds, r ? &in.r : nullptr, w ? &in.w : nullptr, x ? &in.x : nullptr);
      });
  if (tv != nullptr) {  // Linux reports the time left
    int64_t left = deadline == INT64_MAX ? 0 : std::max<int64_t>(0, deadline - monotonic_now_ns());
    tv->tv_sec = left / 1000000000;
    tv->tv_usec = (left % 1000000000) / 1000;
  }
  return res;
}

int pselect(int nfds, fd_set* r, fd_set* w, fd_set* x, const timespec* ts, const sigset_t* mask) {
  if ((ts != nullptr && ts->tv_sec == 0 && ts->tv_nsec == 0) || hk::hooked_fiber() == nullptr) {
    return WEFT_REAL(pselect)(nfds, r, w, x, ts, mask);
  }
  FdSets in;
  in.save(r, w, x);
  return wait_loop(
      deadline_from_ts(ts),
      [&] {
        in.restore(r, w, x);
        const timespec zero{0, 0};
        return WEFT_REAL(pselect)(nfds, r, w, x, &zero, mask);
      },
      [&](int ep) {
        return add_fd_sets(ep, nfds, r ? &in.r : nullptr, w ? &in.w : nullptr, x ? &in.x : nullptr);
      });
}

// A fiber waiting on its own epoll instance: weft's poller watches that
// instance's fd (readable when it has events).
int epoll_wait(int ep, epoll_event* events, int max, int timeout_ms) {
  if (timeout_ms == 0 || hk::hooked_fiber() == nullptr) {
    return WEFT_REAL(epoll_wait)(ep, events, max, timeout_ms);
  }
  const int64_t deadline = deadline_from_ms(timeout_ms);
  for (;;) {
    int r = WEFT_REAL(epoll_wait)(ep, events, max, 0);
    if (r != 0 || monotonic_now_ns() >= deadline) return r;
    if (int e = hk::wait_ready(ep, hk::IoDir::kRead, deadline, /*timeout_err=*/0); e != 0) {
      hk::set_errno(e);
      return -1;
    }
  }
}

}  // extern "C"
