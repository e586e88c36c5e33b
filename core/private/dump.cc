// The fiber dump: Runtime::dump and SIGQUIT (Go's goroutine dump).
//
// What it reads, and why racily. The dump walks every stack slot the pool
// ever handed out (StackPool::for_each_slot) while the workers run on: it
// stops nothing (a dump at a million fibers must not freeze a server). A
// live fiber's fields (id, name, epoch, wait site, saved stack pointer) are
// written by the fiber and its workers with no lock the dump could take, so
// the dump reads them in functions built without the sanitizers'
// instrumentation (snapshot, walk_stack) and treats what it reads as a
// hint: a fiber that changes state meanwhile may be reported in its old or
// new state, or with a short stack. It never faults: every address it
// dereferences is checked against the slot's usable stack range, which
// stays mapped while the runtime lives (slabs are never unmapped).
//
// State, from the fiber's epoch (fiber_control.h): a fiber that a worker's
// current_ names is running there; an epoch 4k+1 (parked, published) or
// 4k+3 (publishing) is waiting on its wait_site; a wait that leaves the
// epoch alone (weft::blocking's park_uninterruptible) is told by its site,
// which that wait clears on resume; anything else is runnable.
//
// Stacks. A suspended fiber's saved stack pointer points at the frame the
// switch pushed (context.h: rbp at +0x30, the resume address at +0x38).
// From there the walk follows the frame-pointer chain ([rbp] = the caller's
// rbp, [rbp + 8] = the return address) while rbp stays 8-aligned, inside the
// stack and strictly increasing, for at most DumpOptions::max_frames. So
// full stacks need frame pointers in every frame on the way (the `profile`
// preset, or -fno-omit-frame-pointer): in a release build weft's own
// functions use rbp as a general register, and the walk stops at the first
// one (the stack then shows the resume point alone). Symbols come from
// absl::Symbolize (the ELF symbol tables: no debug info needed).
#include "weft/core/private/dump.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/debugging/symbolize.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "weft/core/internal/clock.h"
#include "weft/core/private/runtime_core.h"
#include "weft/core/private/worker.h"

namespace weft::internal {
namespace {

enum class State { kRunning, kRunnable, kWaiting };

struct Snapshot {
  State state = State::kRunnable;
  int worker = -1;  // running on, or last ran on
  uint64_t id = 0;
  char name[sizeof(FiberControl::name)] = {};
  WaitSite site;
  int64_t parked_ns = 0;
  void* saved_sp = nullptr;
};

// The racy reads (see the essay): no sanitizer instrumentation here.
__attribute__((no_sanitize("address", "thread"), noinline)) Snapshot snapshot(
    FiberControl* f, const std::vector<FiberControl*>& running) {
  Snapshot s;
  s.id = f->id;
  std::memcpy(s.name, f->name, sizeof(s.name));
  s.name[sizeof(s.name) - 1] = '\0';
  s.worker = f->last_worker != nullptr ? f->last_worker->index() : -1;
  for (std::size_t i = 0; i < running.size(); ++i) {
    if (running[i] == f) {
      s.state = State::kRunning;
      s.worker = static_cast<int>(i);
      return s;
    }
  }
  const uint64_t e = f->epoch.load(std::memory_order_relaxed);
  s.site = f->wait_site;
  s.parked_ns = f->parked_ns;
  s.saved_sp = *f->ctx.saved_stack_pointer_slot();
  if ((e & 1) == 1 || s.site.kind == WaitKind::kOffload) {
    s.state = State::kWaiting;
  } else {
    s.site = {};
  }
  return s;
}

__attribute__((no_sanitize("address", "thread"), noinline)) std::vector<Worker*> running_workers(
    RuntimeCore& rt, std::vector<FiberControl*>* running) {
  std::vector<Worker*> ws;
  for (int i = 0; i < rt.worker_count(); ++i) {
    FiberControl* current = *rt.worker(i)->current_fiber_slot();  // read here, not in push_back
    running->push_back(current);
    ws.push_back(rt.worker(i));
  }
  return ws;
}

// Return addresses of a suspended fiber, innermost first (see the essay).
__attribute__((no_sanitize("address", "thread"), noinline)) std::vector<uintptr_t> walk_stack(
    void* saved_sp, uintptr_t lo, uintptr_t hi, int max_frames) {
  std::vector<uintptr_t> pcs;
  auto sp = reinterpret_cast<uintptr_t>(saved_sp);
  if (sp < lo || sp + 0x40 > hi || (sp & 7) != 0) return pcs;
  pcs.push_back(*reinterpret_cast<const uintptr_t*>(sp + 0x38));
  uintptr_t fp = *reinterpret_cast<const uintptr_t*>(sp + 0x30);
  uintptr_t prev = sp;
  while (static_cast<int>(pcs.size()) < max_frames) {
    if (fp <= prev || fp + 16 > hi || (fp & 7) != 0) break;
    const uintptr_t ret = reinterpret_cast<const uintptr_t*>(fp)[1];
    if (ret < 4096) break;
    pcs.push_back(ret);
    prev = fp;
    fp = reinterpret_cast<const uintptr_t*>(fp)[0];
  }
  return pcs;
}

std::string symbol(uintptr_t pc, bool return_address) {
  char buf[1024];
  // A return address points after its call: look up the call itself.
  const void* at = reinterpret_cast<const void*>(return_address ? pc - 1 : pc);
  if (absl::Symbolize(at, buf, sizeof(buf))) return buf;
  return "??";
}

const char* state_name(State s) {
  switch (s) {
    case State::kRunning:
      return "running";
    case State::kRunnable:
      return "runnable";
    case State::kWaiting:
      return "waiting";
  }
  return "?";
}

// Kinds whose object is worth grouping by (one primitive many wait on).
bool group_by_object(WaitKind k) {
  switch (k) {
    case WaitKind::kMutex:
    case WaitKind::kCondVar:
    case WaitKind::kSemaphore:
    case WaitKind::kWaitGroup:
    case WaitKind::kEvent:
    case WaitKind::kWaitQueue:
    case WaitKind::kChannelSend:
    case WaitKind::kChannelRecv:
      return true;
    default:
      return false;
  }
}

std::string describe_site(const Snapshot& s, int64_t now_ns) {
  const WaitSite& w = s.site;
  switch (w.kind) {
    case WaitKind::kSleep:
    case WaitKind::kHookSleep: {
      const auto left = static_cast<int64_t>(w.object) - now_ns;
      return absl::StrFormat("%s until %+.3f ms", wait_kind_name(w.kind), left / 1e6);
    }
    case WaitKind::kJoin:
      return absl::StrCat("join of fiber ", w.object);
    case WaitKind::kFdRead:
    case WaitKind::kFdWrite:
      return absl::StrCat("fd ", w.object, w.kind == WaitKind::kFdRead ? " readable" : " writable");
    case WaitKind::kOffload:
    case WaitKind::kSelect:
    case WaitKind::kNone:
      return wait_kind_name(w.kind);
    default:
      return absl::StrFormat("%s %#x", wait_kind_name(w.kind), w.object);
  }
}

}  // namespace

void write_dump(RuntimeCore& rt, std::ostream& out, const DumpOptions& options) {
  std::vector<FiberControl*> running;
  running_workers(rt, &running);
  const int64_t now_ns = monotonic_now_ns();
  StackPool& pool = rt.stack_pool();
  auto live = [](SlotHeader* h) {
    return h->state.load(std::memory_order_acquire) == SlotState::kLive;
  };

  // Pass 1: the summary, grouped by state and wait site (counts only, so a
  // million fibers cost a scan, not a million records).
  using Key = std::tuple<int, uint32_t, uint64_t>;
  std::map<Key, uint64_t> groups;
  uint64_t total = 0;
  pool.for_each_slot([&](SlotHeader* h) {
    if (!live(h)) return;
    Snapshot s = snapshot(static_cast<FiberControl*>(h), running);
    const uint64_t object = group_by_object(s.site.kind) ? s.site.object : 0;
    ++groups[{static_cast<int>(s.state), static_cast<uint32_t>(s.site.kind), object}];
    ++total;
  });
  out << "weft dump: " << total << " live fibers on " << rt.worker_count() << " workers\n";
  std::vector<std::pair<uint64_t, Key>> by_count;
  for (const auto& [k, n] : groups) by_count.push_back({n, k});
  std::sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  constexpr std::size_t kMaxGroups = 32;
  for (std::size_t i = 0; i < by_count.size() && i < kMaxGroups; ++i) {
    const auto& [n, k] = by_count[i];
    const auto kind = static_cast<WaitKind>(std::get<1>(k));
    std::string what = state_name(static_cast<State>(std::get<0>(k)));
    if (kind != WaitKind::kNone) {
      absl::StrAppend(&what, " on ", wait_kind_name(kind));
      if (std::get<2>(k) != 0) absl::StrAppend(&what, absl::StrFormat(" %#x", std::get<2>(k)));
    }
    out << absl::StrFormat("  %9d  %s\n", n, what);
  }
  if (by_count.size() > kMaxGroups) {
    out << "  ... " << by_count.size() - kMaxGroups << " more groups\n";
  }

  // Pass 2: the first max_fibers fibers, each with its stack.
  std::size_t listed = 0;
  pool.for_each_slot([&](SlotHeader* h) {
    if (listed >= options.max_fibers || !live(h)) return;
    auto* f = static_cast<FiberControl*>(h);
    Snapshot s = snapshot(f, running);
    if (!live(h)) return;  // finished meanwhile
    ++listed;
    out << "\nfiber " << s.id;
    if (s.name[0] != '\0') out << " \"" << s.name << "\"";
    switch (s.state) {
      case State::kRunning:
        out << ": running on worker " << s.worker << "\n";
        return;  // its stack is changing under us: not walked
      case State::kRunnable:
        out << ": runnable";
        if (s.worker >= 0) out << " (last ran on worker " << s.worker << ")";
        out << "\n";
        break;
      case State::kWaiting:
        out << ": waiting on " << describe_site(s, now_ns);
        // Now, not at the dump's start: the fiber may have parked since.
        out << absl::StrFormat(", for %.3f ms",
                               std::max<int64_t>(0, real_monotonic_now_ns() - s.parked_ns) / 1e6);
        out << "\n";
        break;
    }
    if (!options.stacks) return;
    const auto lo = reinterpret_cast<uintptr_t>(pool.lo_of(h));
    const auto hi = reinterpret_cast<uintptr_t>(f);  // the control block sits above the stack
    std::vector<uintptr_t> pcs = walk_stack(s.saved_sp, lo, hi, options.max_frames);
    for (std::size_t i = 0; i < pcs.size(); ++i) {
      out << absl::StrFormat("    #%-2d 0x%012x %s\n", i, pcs[i], symbol(pcs[i], i != 0));
    }
  });
  if (listed < total) out << "\n(" << total - listed << " more fibers not listed)\n";
}

// --- SIGQUIT ---------------------------------------------------------------

namespace {

// The registry of runtimes that asked for SIGQUIT dumps, the pipe the
// handler writes to, and the dumper thread. g_quit_pipe is read by the
// handler (an atomic int: async-signal-safe); everything else is under
// g_quit_mu, which the handler never takes.
std::mutex g_quit_mu;
std::vector<RuntimeCore*>* g_quit_runtimes = nullptr;  // under g_quit_mu
std::thread* g_quit_thread = nullptr;                  // under g_quit_mu
std::atomic<int> g_quit_pipe{-1};                      // the write end
int g_quit_read = -1;                                  // under g_quit_mu
struct sigaction g_old_quit;                           // under g_quit_mu

void on_sigquit(int) {
  const int saved = errno;
  const int fd = g_quit_pipe.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const char c = 'd';
    [[maybe_unused]] ssize_t n = write(fd, &c, 1);  // full pipe: a dump is pending anyway
  }
  errno = saved;
}

void quit_dumper(int read_fd) {
  for (;;) {
    char c;
    ssize_t n = read(read_fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == 'q') return;
    std::lock_guard<std::mutex> lock(g_quit_mu);
    for (RuntimeCore* rt : *g_quit_runtimes) {
      write_dump(*rt, std::cerr, DumpOptions{});
      std::cerr.flush();
    }
  }
}

}  // namespace

void register_quit_dump(RuntimeCore* rt) {
  std::lock_guard<std::mutex> lock(g_quit_mu);
  if (g_quit_runtimes == nullptr) g_quit_runtimes = new std::vector<RuntimeCore*>;
  g_quit_runtimes->push_back(rt);
  if (g_quit_thread != nullptr) return;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("weft: dump_on_sigquit: pipe2");
    return;
  }
  // Non-blocking write end: the handler must never block.
  fcntl(fds[1], F_SETFL, O_NONBLOCK);
  g_quit_read = fds[0];
  g_quit_pipe.store(fds[1], std::memory_order_relaxed);
  g_quit_thread = new std::thread(quit_dumper, fds[0]);
  struct sigaction sa {};
  sa.sa_handler = &on_sigquit;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGQUIT, &sa, &g_old_quit);
}

void unregister_quit_dump(RuntimeCore* rt) {
  std::thread* t = nullptr;
  int write_fd = -1;
  int read_fd = -1;
  {
    std::lock_guard<std::mutex> lock(g_quit_mu);
    if (g_quit_runtimes == nullptr) return;
    auto& v = *g_quit_runtimes;
    auto it = std::find(v.begin(), v.end(), rt);
    if (it == v.end()) return;
    v.erase(it);
    if (!v.empty() || g_quit_thread == nullptr) return;
    // The last one: restore the old disposition, then stop the dumper.
    sigaction(SIGQUIT, &g_old_quit, nullptr);
    write_fd = g_quit_pipe.exchange(-1, std::memory_order_relaxed);
    read_fd = std::exchange(g_quit_read, -1);
    t = std::exchange(g_quit_thread, nullptr);
  }
  const char q = 'q';
  [[maybe_unused]] ssize_t n = write(write_fd, &q, 1);
  t->join();
  delete t;
  close(write_fd);
  close(read_fd);
}

}  // namespace weft::internal
