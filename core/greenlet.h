// weft::Greenlet — explicit, symmetric switching between stacks, as Python's
// greenlet module.
//
// A greenlet runs a function on its own stack. switch_to() moves control to
// it, and it runs until it switches elsewhere; each greenlet resumes exactly
// where it left off. A greenlet whose function returns hands its return value
// (or exception) to its parent: the greenlet that was running when it was
// created, or the implicit main greenlet of the fiber or thread.
//
//   weft::Greenlet gr1, gr2;
//   gr1 = weft::Greenlet([&] { std::puts("12"); gr2.switch_to(); std::puts("34"); });
//   gr2 = weft::Greenlet([&] { std::puts("56"); gr1.switch_to(); std::puts("78"); });
//   gr1.switch_to();   // 12 56 34; gr1 returns to its parent (here), gr2 waits
//
//   weft::Greenlet adder([](std::any v) {             // started by the first switch
//     int sum = std::any_cast<int>(v);
//     for (;;) sum += std::any_cast<int>(weft::Greenlet::current().parent().switch_to(sum));
//   });
//   adder.switch_to(1);   // 1
//   adder.switch_to(2);   // 3: the value passes in, the running sum comes back
//
// Values are std::any, because a greenlet's switches are not typed by the
// greenlet: the value given to g.switch_to(v) is returned by whichever
// switch_to() g is suspended in (or passed to g's function if it has not
// started), and what that call expects depends on where it is, not on g; the
// value a switch_to() returns comes from whoever switches back, or is the
// return value of a child that finished. A Greenlet<R(Args...)> could type
// only the start and the end. So, as Python's switch(*args): no argument
// passes an empty std::any, one argument passes it (a std::any as is), more
// pass a std::tuple of them; receivers std::any_cast what they expect (a
// mismatch throws std::bad_any_cast). std::any needs copyable values: pass a
// move-only one inside a std::shared_ptr. Small values are stored inline; no
// switch allocates for an empty std::any, an int or a pointer.
//
// Errors (weft::UsageError, with what to do): switching to a dead greenlet,
// using an empty handle, switching to a greenlet of another fiber or thread.
// An exception escaping a greenlet's function is rethrown by the parent's
// pending switch_to().
//
// Threads of execution: every fiber, and every plain thread, has its own main
// greenlet and its own "current" greenlet. A greenlet belongs to the fiber
// (or thread) that created it: switch to it, and copy and drop its handles,
// only from there; it can run nowhere else. A greenlet may sleep or wait like
// the rest of its fiber (the whole fiber parks, and may resume on another
// worker: greenlet state is per fiber, not per worker thread).
//
// Lifetime: a Greenlet is a handle, like a Python reference; the greenlet
// lives while handles to it (or its children, whose parent it is) exist.
// Handles on the greenlet's own stack (its locals, and temporaries such as
// the one in `Greenlet::current().parent().switch_to()`) do not count while
// it is suspended: when the last other handle to a suspended greenlet is
// dropped, nothing can switch to it any more and it is killed: it gets
// weft::GreenletExit at its pending switch_to() and unwinds (RAII runs), then
// control returns to the dropper. As in Python, greenlets whose stacks hold
// handles to each other in a cycle are never killed. Greenlets must not
// outlive their fiber.
//
// Cost: a greenlet takes a pooled stack (64 KiB, 256 KiB under ASan, one page
// touched when idle) and a small heap record when created; a switch is one
// context switch plus a few loads and stores, and allocates nothing.
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

#include "weft/core/errors.h"
#include "weft/core/internal/coroutine.h"

namespace weft {

// Thrown at a greenlet's pending switch_to() when its last handle is dropped.
// Escaping the greenlet's function, it ends the greenlet quietly (the parent
// receives an empty value). Like weft::FiberExit it is not a std::exception.
struct GreenletExit {};

namespace internal {

struct GreenletRoot;
struct GreenletClosure;

// A greenlet's record (greenlet.cc describes ownership and roots). Here so
// that Greenlet::switch_any can switch inline.
struct GreenletRec {
  enum class State : uint8_t { kNotStarted, kActive, kDead };

  int refs = 0;       // handles + children's parent links
  int self_refs = 0;  // the handles among them that sit on its own stack
  State state = State::kNotStarted;
  bool is_main = false;
  bool disposing = false;  // being killed by its last handle's drop
  GreenletRoot* root = nullptr;
  GreenletRec* parent = nullptr;       // a reference; null for a main greenlet
  CoroutineControl* co = nullptr;      // its stack, from creation until death
  GreenletClosure* closure = nullptr;  // at the top of that stack
  Context* ctx = nullptr;              // where it is suspended
  StackRange* suspended_on = nullptr;  // ASan: the stack it is suspended on
};

// The greenlets of one fiber or plain thread (see greenlet.cc, "Roots").
struct GreenletRoot {
  GreenletRoot(FiberControl* f, uint64_t id) : fiber(f), fiber_id(id) {
    main.state = GreenletRec::State::kActive;
    main.is_main = true;
    main.root = this;
    main.ctx = &main_ctx.ctx;
    main.suspended_on = &main_ctx.suspended_on;
  }

  FiberControl* const fiber;  // null: a plain thread's root
  const uint64_t fiber_id;
  GreenletRec main;
  SavedContext main_ctx;
  GreenletRec* current = &main;
  GreenletRec* dying = nullptr;  // died; its stack awaits release
  std::any value;                // in flight during a switch
  std::exception_ptr error;
};

// The plain thread's root (null until it uses greenlets, and in fibers).
extern constinit thread_local GreenletRoot* t_greenlet_root;
// True if the calling fiber is `root`'s (root->fiber is not null).
bool greenlet_runs_in_fiber(const GreenletRoot* root);
// The end of a switch back that brought a dead child or an exception:
// releases the child, rethrows the exception, else returns `received`.
std::any greenlet_finish_switch(GreenletRoot* root, std::any received);

// The greenlet's function, type-erased, at the top of its stack.
struct GreenletClosure {
  std::any (*invoke)(GreenletClosure*, std::any&& arg) = nullptr;
  void (*destroy)(GreenletClosure*) = nullptr;
  GreenletRec* rec = nullptr;
};

template <typename Fn>
struct GreenletFn final : GreenletClosure {
  template <typename F>
  explicit GreenletFn(F&& f) : fn(std::forward<F>(f)) {
    invoke = &run;
    destroy = [](GreenletClosure* c) { static_cast<GreenletFn*>(c)->~GreenletFn(); };
  }

  static std::any run(GreenletClosure* c, std::any&& arg) {
    Fn& fn = static_cast<GreenletFn*>(c)->fn;
    if constexpr (std::is_invocable_v<Fn&, std::any>) {
      return wrap([&] { return std::invoke(fn, std::move(arg)); });
    } else {
      return wrap([&] { return std::invoke(fn); });
    }
  }

  template <typename Call>
  static std::any wrap(Call call) {
    using R = std::invoke_result_t<Call>;
    if constexpr (std::is_void_v<R>) {
      call();
      return {};
    } else {
      static_assert(std::is_copy_constructible_v<std::decay_t<R>>,
                    "a greenlet's return value travels in a std::any and must be copyable");
      return std::any(call());
    }
  }

  Fn fn;
};

// Creates a greenlet whose closure `build(where, arg)` constructs at `where`
// (`bytes` aligned to `align`). Returns it with no reference.
GreenletRec* greenlet_new(std::size_t bytes, std::size_t align,
                          GreenletClosure* (*build)(void* where, void* arg), void* arg);
// Reference counting by handles; `handle` is the handle's address (a handle on
// the greenlet's own stack is a self-reference, see greenlet.cc).
void greenlet_ref(GreenletRec* g, const void* handle);
void greenlet_unref(GreenletRec* g, const void* handle);
void greenlet_moved(GreenletRec* g, const void* from, const void* to);

}  // namespace internal

class Greenlet {
 public:
  // An empty handle: switch_to() throws UsageError; assign a greenlet to it.
  Greenlet() = default;

  // A greenlet, not started, that will run `run(value)` (or `run()`) with the
  // value of the first switch_to() into it; its return value (void: an empty
  // std::any) goes to its parent. Its parent is the greenlet running now. The
  // callable is moved or copied onto the greenlet's own stack; throws
  // UsageError if it exceeds a quarter of it.
  template <typename F>
    requires(!std::is_same_v<std::decay_t<F>, Greenlet> &&
             (std::is_invocable_v<std::decay_t<F>&, std::any> ||
              std::is_invocable_v<std::decay_t<F>&>))
  explicit Greenlet(F&& run) {
    using C = internal::GreenletFn<std::decay_t<F>>;
    auto build = [](void* where, void* arg) -> internal::GreenletClosure* {
      return new (where) C(std::forward<F>(*static_cast<std::remove_reference_t<F>*>(arg)));
    };
    rec_ = internal::greenlet_new(sizeof(C), alignof(C), build, &run);
    internal::greenlet_ref(rec_, this);
  }

  Greenlet(const Greenlet& other) : rec_(other.rec_) {
    if (rec_ != nullptr) internal::greenlet_ref(rec_, this);
  }
  Greenlet(Greenlet&& other) noexcept : rec_(std::exchange(other.rec_, nullptr)) {
    if (rec_ != nullptr) internal::greenlet_moved(rec_, &other, this);
  }
  Greenlet& operator=(const Greenlet& other) {
    Greenlet copy(other);
    swap(copy);
    return *this;
  }
  Greenlet& operator=(Greenlet&& other) noexcept {
    Greenlet taken(std::move(other));
    swap(taken);
    return *this;
  }
  // Drops this handle; the last one to a suspended greenlet kills it (see the
  // top of this file). What the killed greenlet throws instead of dying
  // quietly is reported on stderr.
  ~Greenlet() {
    if (rec_ != nullptr) internal::greenlet_unref(rec_, this);
  }

  void swap(Greenlet& other) noexcept {
    std::swap(rec_, other.rec_);
    if (rec_ != nullptr) internal::greenlet_moved(rec_, &other, this);
    if (other.rec_ != nullptr) internal::greenlet_moved(other.rec_, this, &other);
  }

  // Switches to this greenlet, passing `args` (see the top of this file for
  // how they are packed), and returns the value passed back by whoever
  // switches to the calling greenlet next, or the return value of a child
  // that finished. Rethrows an exception a child's function threw. Throws
  // UsageError for an empty handle, a dead greenlet, or a greenlet of another
  // fiber or thread. Switching to the running greenlet returns the value at
  // once. Blocks nothing; the calling greenlet is suspended until switched to.
  template <typename... Args>
  [[gnu::always_inline]] std::any switch_to(Args&&... args) {
    if constexpr (sizeof...(Args) == 0) {
      return switch_any(std::any());
    } else if constexpr (sizeof...(Args) == 1 &&
                         (std::is_same_v<std::decay_t<Args>, std::any> && ...)) {
      return switch_any(std::forward<Args>(args)...);
    } else if constexpr (sizeof...(Args) == 1) {
      return switch_any(std::make_any<std::decay_t<Args>...>(std::forward<Args>(args)...));
    } else {
      return switch_any(
          std::make_any<std::tuple<std::decay_t<Args>...>>(std::forward<Args>(args)...));
    }
  }

  // True once its function has returned or thrown (never for a main greenlet).
  bool dead() const;
  // True once it has been switched to (always for a main greenlet).
  bool started() const;
  // The greenlet control goes to when this one finishes; empty for a main
  // greenlet.
  Greenlet parent() const;
  // The running greenlet of the calling fiber or thread (its main greenlet
  // unless a greenlet runs). Blocks nothing; takes a lock in a fiber.
  static Greenlet current();
  // True for a main greenlet (the implicit one of a fiber or thread).
  bool is_main() const;

  explicit operator bool() const { return rec_ != nullptr; }
  friend bool operator==(const Greenlet& a, const Greenlet& b) { return a.rec_ == b.rec_; }

 private:
  explicit Greenlet(internal::GreenletRec* rec) : rec_(rec) { internal::greenlet_ref(rec_, this); }

  // The common switch, compiled into the caller down to the context switch
  // (see coroutine.cc, "Switch cost"): to a started, live greenlet other than
  // the running one, from a greenlet something else refers to, in the right
  // fiber or thread. Everything else, errors included, is switch_checked's.
  [[gnu::always_inline]] std::any switch_any(std::any&& value) {
    using internal::GreenletRec;
    GreenletRec* to = rec_;
    if (to != nullptr && to->state == GreenletRec::State::kActive) {
      internal::GreenletRoot* root = to->root;
      GreenletRec* from = root->current;
      if (to != from && (from->is_main || from->refs != from->self_refs) &&
          (root->fiber == nullptr ? internal::t_greenlet_root == root
                                  : internal::greenlet_runs_in_fiber(root))) {
        root->value = std::move(value);
        root->current = to;
        internal::Handover h;
        internal::coroutine_switch(from->ctx, from->suspended_on, to->ctx, to->suspended_on, &h);
        // Switched back to `from` (root->current == from again).
        std::any received = std::move(root->value);
        if (__builtin_expect(root->dying != nullptr || root->error != nullptr, 0)) {
          return internal::greenlet_finish_switch(root, std::move(received));
        }
        return received;
      }
    }
    return switch_checked(std::move(value));
  }
  // Checks everything switch_to promises to check, then switches.
  std::any switch_checked(std::any&& value);

  internal::GreenletRec* rec_ = nullptr;
};

}  // namespace weft
