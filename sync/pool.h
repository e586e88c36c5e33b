// weft::Pool — bounded concurrency: at most n fibers of the pool run at once
// (gevent.pool.Pool).
//
//   weft::Pool pool(4);                        // at most 4 at once
//   for (const auto& url : urls) {
//     pool.spawn(fetch, url);                  // waits for a free slot
//   }
//   pool.join();                               // every fiber spawned through it
//
// spawn() takes a slot before it starts the fiber — parking the calling
// fiber (or blocking a plain thread) while all n are taken — and returns the
// fiber's handle, which works like any other (join, get, kill; dropping it
// detaches). The slot is given back when the fiber has ended, however it
// ended (returned, threw, or was killed, also before it ever ran), once its
// handle reads ready.
//
// Built on weft::Semaphore (the slots) and weft::WaitGroup (join). The pool's
// state is shared with its fibers, so destroying a Pool neither waits for
// nor kills them: they finish on their own. A Pool may be used from many
// fibers and threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/time/time.h"
#include "weft/core/fiber.h"
#include "weft/core/runtime.h"
#include "weft/core/spawn.h"
#include "weft/sync/semaphore.h"
#include "weft/sync/wait_group.h"

namespace weft {

class Pool {
  class State;

 public:
  // A pool of `size` slots whose fibers start on the runtime of the fiber
  // that calls spawn(). Throws UsageError unless size >= 1.
  explicit Pool(int size);
  // A pool of `size` slots whose fibers start on `runtime`, so spawn() works
  // from plain threads too. `runtime` must outlive every spawn() call.
  Pool(Runtime& runtime, int size);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  // Neither waits for nor kills the pool's fibers (call join() first if
  // they must be done).
  ~Pool();

  // Waits for a free slot, then starts `f(args...)` in a new fiber holding
  // that slot until f ends, and returns its handle (arguments are taken as
  // by weft::spawn). Blocks the calling fiber (parked in the slots'
  // Semaphore) or, from a plain thread, the thread, while the pool is full.
  // Throws FiberExit / TimeoutError if the calling fiber is killed or its
  // weft::Timeout expires while it waits (no slot is then taken), and
  // UsageError where weft::spawn / Runtime::spawn would.
  template <typename F, typename... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
        Fiber<internal::SpawnResult<F, Args...>> spawn(F&& f, Args&&... args) {
      // Refuse a plain thread before waiting, not after.
      internal::RuntimeCore* rt = runtime_ == nullptr
                                      ? internal::current_runtime_or_throw("weft::Pool::spawn")
                                      : internal::RuntimeAccess::core(*runtime_);
      void* slot = take_slot(state_);  // waits; from here on the hook owns the slot
      return internal::spawn_with_exit_hook(rt, {&give_back_slot, slot}, std::forward<F>(f),
                                            std::forward<Args>(args)...);
    }

  // Waits until every fiber spawned through the pool so far has ended (each
  // handle's ready() is then true).
  // Blocks the calling fiber, or a plain thread. FiberExit / TimeoutError
  // as for any wait.
  void join();
  // As join(), giving up after `timeout` / at `deadline`; true if they all
  // ended.
  bool join_for(absl::Duration timeout);
  bool join_until(absl::Time deadline);

  // The number of slots (n).
  int size() const { return size_; }
  // Slots free right now: size() minus the fibers holding one. Never
  // blocks; a snapshot while fibers come and go.
  int free_count() const;
  // True if no slot is free (spawn would wait).
  bool full() const { return free_count() == 0; }

 private:
  // Waits for a free slot and returns a reference to `state` that owns it;
  // give_back_slot (the fiber's exit hook, see internal::ExitHook) returns
  // the slot and drops the reference once the fiber has ended and its
  // handle reads ready, so a join() that returns finds every fiber ready.
  static void* take_slot(const std::shared_ptr<State>& state);
  static void give_back_slot(void* slot) noexcept;

  const int size_;
  Runtime* const runtime_;
  std::shared_ptr<State> state_;
};

}  // namespace weft
