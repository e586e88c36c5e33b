// The SIGSEGV handler that turns a guard-page hit into a readable report.
//
// It must be async-signal-safe: it reads only the immutable slab table of each
// registered StackPool (StackPool::guard_owner), formats with plain loops and
// writes with write(2). It runs on a per-worker alternate signal stack, since
// the faulting fiber's stack is exactly what has run out.
#include "weft/core/private/overflow.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "weft/core/internal/fiber_control.h"
#include "weft/core/internal/stack_pool.h"

namespace weft::internal {
namespace {

constexpr int kMaxPools = 64;
// Registered pools. Written under g_mu, read lock-free by the handler
// (acquire pairs with the release store in register_overflow_pool).
std::atomic<StackPool*> g_pools[kMaxPools];
std::mutex g_mu;
bool g_installed = false;
struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

constexpr std::size_t kAltStackBytes = 128 * 1024;  // ASan's handler needs room

void write_str(const char* s) {
  ssize_t ignored = write(STDERR_FILENO, s, std::strlen(s));
  (void)ignored;
}

void write_u64(uint64_t v) {
  char buf[24];
  int i = sizeof buf;
  buf[--i] = '\0';
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && i > 0);
  write_str(buf + i);
}

void chain(int sig, siginfo_t* info, void* uctx) {
  const struct sigaction& prev = sig == SIGBUS ? g_previous_bus : g_previous_segv;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction != nullptr) {
      prev.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  // Default action: reinstall it and return; the faulting instruction runs
  // again and the kernel delivers the signal with its default effect.
  signal(sig, SIG_DFL);
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  for (int i = 0; i < kMaxPools; ++i) {
    StackPool* pool = g_pools[i].load(std::memory_order_acquire);
    if (pool == nullptr) continue;
    SlotHeader* h = pool->guard_owner(info->si_addr);
    if (h == nullptr) continue;
    auto* f = static_cast<FiberControl*>(h);
    write_str("weft: fiber ");
    write_u64(f->id);
    write_str(" overflowed its stack (size ");
    write_u64(pool->stack_size());
    write_str(" bytes); raise RuntimeOptions::stack_size or move large locals to the heap\n");
    signal(SIGABRT, SIG_DFL);
    abort();
  }
  chain(sig, info, uctx);
}

}  // namespace

void register_overflow_pool(StackPool* pool) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto& slot : g_pools) {
    if (slot.load(std::memory_order_relaxed) == nullptr) {
      slot.store(pool, std::memory_order_release);
      break;
    }
  }
  if (g_installed) return;
  g_installed = true;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = &on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_previous_segv);
  sigaction(SIGBUS, &sa, &g_previous_bus);
}

void unregister_overflow_pool(StackPool* pool) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto& slot : g_pools) {
    if (slot.load(std::memory_order_relaxed) == pool)
      slot.store(nullptr, std::memory_order_release);
  }
}

void* install_signal_stack() {
  void* mem = mmap(nullptr, kAltStackBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  stack_t ss;
  ss.ss_sp = mem;
  ss.ss_size = kAltStackBytes;
  ss.ss_flags = 0;
  stack_t old;
  if (sigaltstack(&ss, &old) != 0) {
    munmap(mem, kAltStackBytes);
    return nullptr;
  }
  return mem;
}

void release_signal_stack(void* stack) {
  if (stack == nullptr) return;
  stack_t ss;
  std::memset(&ss, 0, sizeof ss);
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  munmap(stack, kAltStackBytes);
}

}  // namespace weft::internal
