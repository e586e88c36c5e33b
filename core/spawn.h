// weft::spawn — start a fiber.
//
//   auto f = weft::spawn([] { return 42; });             // inside a fiber
//   auto g = weft::spawn(&compute, std::ref(data), 7);   // function + arguments
//   auto h = runtime.spawn(handle_client, std::move(conn)); // from any thread
//
// The callable and its arguments are decayed and moved (or copied) into the
// new fiber's own stack, like std::thread: pass std::ref to share. The
// fiber becomes runnable at once; spawn itself never blocks and allocates no
// heap memory (the fiber's control block, closure and result live at the
// top of its pooled stack).
#pragma once

#include <type_traits>
#include <utility>

#include "weft/core/fiber.h"
#include "weft/core/internal/spawn_impl.h"  // Task, spawn_on

namespace weft {

// Starts `f(args...)` in a new fiber on the runtime of the calling fiber and
// returns its handle. Throws UsageError when called outside a fiber (use
// Runtime::spawn there). Blocks nothing: the new fiber starts once the
// caller suspends (a join, a wait, a yield, its end) or an idle worker
// takes it. While the runtime shuts down (the caller is being unwound), the
// spawn succeeds and the new fiber starts already killed (see
// Runtime::spawn).
//
// Start order, as gevent's: on one worker, the fibers a fiber spawns
// between two of its suspensions start in the order they were spawned, and
// they start before older runnable work (depth-first across generations).
// Spawn g1, g2, g3, then join g1: g1 runs first, then g2, then g3. Fibers
// spawned from outside the runtime (Runtime::spawn) start in the order they
// were spawned, too. With several workers, idle workers take the oldest
// spawns and run them at the same time, so no order holds between fibers
// that different workers run.
template <typename F, typename... Args>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
      Fiber<internal::SpawnResult<F, Args...>> spawn(F&& f, Args&&... args) {
    return internal::spawn_on(internal::current_runtime_or_throw("weft::spawn"), std::forward<F>(f),
                              std::forward<Args>(args)...);
  }

}  // namespace weft
