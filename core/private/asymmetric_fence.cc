// membarrier(2) behind the asymmetric fence (see asymmetric_fence.h).
#include "weft/core/private/asymmetric_fence.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>

namespace weft::internal {
namespace {

long membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

}  // namespace

void init_asymmetric_fence() {
#if !defined(WEFT_TSAN)
  static std::once_flag once;
  std::call_once(once, [] {
    long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
    if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) return;
    g_asymmetric_fence.store(true, std::memory_order_relaxed);
  });
#endif
}

void heavy_fence() {
  // The caller's own store must precede the barrier too.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!g_asymmetric_fence.load(std::memory_order_relaxed)) return;  // light sides are seq_cst
  // Once registered the command does not fail (membarrier(2)); retried all
  // the same, since a light side now relies on it.
  while (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
  }
}

}  // namespace weft::internal
