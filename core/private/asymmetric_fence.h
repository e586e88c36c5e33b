// An asymmetric store-load fence, for Dekker-style handshakes where one side
// runs millions of times a second and the other rarely.
//
// The handshake here: a parking fiber stores its token, then loads its kill
// flag (on_parked); a killer stores the flag, then loads the token
// (RuntimeCore::request_kill). Each side must see the other's store or have
// its own seen, so each needs a store-load fence between its two accesses.
// A full fence (or a seq_cst store, an xchg on x86) waits for the store
// buffer to drain, and right after a context switch has pushed eight
// registers that costs about 6 ns a park on this machine: 12 ns of a 76 ns
// channel round trip. So the frequent side uses light_fence() (the compiler
// may not reorder; the CPU still may) and the rare side heavy_fence(), which
// makes every running thread of the process execute a full barrier
// (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED) — a few microseconds, on
// every kill. Either the parking fiber's store precedes its barrier point and the
// killer's load sees it, or its load follows that point and sees the flag.
//
// Where membarrier is unavailable (old kernels, seccomp, valgrind) both sides
// use full fences; ThreadSanitizer builds do too, since TSan does not model
// membarrier. asymmetric() says which, decided once per process before any
// runtime's first worker starts, and never changes afterwards.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::internal {

// Set once (init_asymmetric_fence) before the first worker of the first
// runtime starts; read relaxed: threads started afterwards see it through
// their creation, and it never changes again.
inline std::atomic<bool> g_asymmetric_fence{false};

// Decides, once per process, whether the asymmetric pair is available
// (registers the process for expedited membarrier). Thread-safe.
void init_asymmetric_fence();

// Publishes `value` in `word`, then orders that store before the caller's
// next load: the frequent side. A plain store and a compiler barrier when
// the pair is asymmetric, a seq_cst store otherwise.
[[gnu::always_inline]] inline void store_then_fence(std::atomic<uint64_t>& word, uint64_t value) {
#if !defined(WEFT_TSAN)
  if (g_asymmetric_fence.load(std::memory_order_relaxed)) [[likely]] {
    word.store(value, std::memory_order_release);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return;
  }
#endif
  word.store(value, std::memory_order_seq_cst);
}

// The rare side's store-load fence: a full barrier on every running thread
// of the process when the pair is asymmetric, a seq_cst fence otherwise.
void heavy_fence();

}  // namespace weft::internal
