// The machinery behind weft::spawn and Runtime::spawn (core/spawn.h): the
// closure as it sits on the new fiber's stack, and the one path every spawn
// takes (allocate a slot, build the closure in it, start it). Implementation
// detail; see core/private/runtime_core.cc for allocate/start.
#pragma once

#include <exception>
#include <functional>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

#include "weft/core/fiber.h"  // Fiber, FiberFactory, ResultSlot
#include "weft/core/internal/fiber_control.h"

namespace weft {
namespace internal {

class RuntimeCore;
FiberControl* allocate_fiber(RuntimeCore* rt, std::size_t bytes, std::size_t align);
void abandon_fiber(RuntimeCore* rt, FiberControl* f);
void start_fiber(RuntimeCore* rt, FiberControl* f);
RuntimeCore* current_runtime_or_throw(const char* who);
void exit_if_killed_before_start(FiberControl* self);  // core/fiber.cc

// The closure as it sits on the fiber's stack.
template <typename R, typename Fn, typename... Args>
struct Task {
  template <typename F, typename... A>
  explicit Task(F&& f, A&&... a) : call(std::forward<F>(f), std::forward<A>(a)...) {}

  std::tuple<Fn, Args...> call;
  ResultSlot<R> result;

  static void invoke(FiberControl* c) {
    auto* t = static_cast<Task*>(c->task);
    // The callable and its arguments die when the fiber ends, even if a
    // handle keeps the result around; so do they when it throws.
    struct DestroyCall {
      Task* t;
      ~DestroyCall() { t->call.~tuple(); }
    } guard{t};
    // Killed before it ever ran: unwind before the body starts.
    if (c->kill_requested.load(std::memory_order_relaxed)) [[unlikely]] {
      exit_if_killed_before_start(c);
    }
    if constexpr (std::is_void_v<R>) {
      std::apply([](auto&&... xs) { std::invoke(std::move(xs)...); }, std::move(t->call));
    } else {
      new (t->result.storage) R(std::apply(
          [](auto&&... xs) -> R { return std::invoke(std::move(xs)...); }, std::move(t->call)));
      t->result.has_value = true;
    }
  }
  static void destroy(FiberControl* c) { static_cast<Task*>(c->task)->result.destroy(); }
};

template <typename F, typename... Args>
using SpawnResult = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;

// Runs exactly once per spawn_with_exit_hook: on the worker, after the fiber
// has ended however it ended and its handle reads ready (after its joiner
// is woken), or at once, on the spawning thread, if the spawn throws. It
// runs in the scheduler's hand-over, not in a fiber: it must not block or
// throw. weft::Pool gives its slot back through it.
struct ExitHook {
  void (*fn)(void*) noexcept = nullptr;
  void* arg = nullptr;
};

template <typename F, typename... Args>
Fiber<SpawnResult<F, Args...>> spawn_with_exit_hook(RuntimeCore* rt, ExitHook hook, F&& f,
                                                    Args&&... args) {
  using R = SpawnResult<F, Args...>;
  using T = Task<R, std::decay_t<F>, std::decay_t<Args>...>;
  FiberControl* c;
  try {
    c = allocate_fiber(rt, sizeof(T), alignof(T));
  } catch (...) {
    if (hook.fn != nullptr) hook.fn(hook.arg);
    throw;
  }
  T* task;
  try {
    task = new (c->task) T(std::forward<F>(f), std::forward<Args>(args)...);
  } catch (...) {
    abandon_fiber(rt, c);
    if (hook.fn != nullptr) hook.fn(hook.arg);
    throw;
  }
  c->invoke = &T::invoke;
  c->destroy_result = &T::destroy;
  c->result = &task->result;
  c->exit_hook = hook.fn;
  c->exit_hook_arg = hook.arg;
  start_fiber(rt, c);  // never throws
  return FiberFactory::make<R>(c);
}

template <typename F, typename... Args>
Fiber<SpawnResult<F, Args...>> spawn_on(RuntimeCore* rt, F&& f, Args&&... args) {
  return spawn_with_exit_hook(rt, ExitHook{}, std::forward<F>(f), std::forward<Args>(args)...);
}

}  // namespace internal

}  // namespace weft
