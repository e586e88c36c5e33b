// weft::Generator<Yield, Send> — a stackful generator driven by send(), as in
// Python.
//
// The body is any callable taking `Generator<Yield, Send>::Co&`; it runs on
// its own pooled stack, and `co.yield(v)` hands v to whoever resumed it and
// suspends until the next next()/send(), whose value it then returns. Nothing
// runs until the first resume; yield may be called from any depth of calls.
//
//   weft::Generator<int> count([](auto& co) { for (int i = 0; i < 3; ++i) co.yield(i); });
//   for (int v : count) std::printf("%d\n", v);             // 0 1 2
//
//   weft::Generator<std::string, int> dog([](auto& co) {  // takes ints, yields replies
//     std::optional<int> bone = co.yield("hungry");        // empty when resumed by next()
//     while (bone) bone = co.yield("ate bone " + std::to_string(*bone));
//   });
//   dog.next();        // "hungry": runs to the first yield (Python: dog.send(None))
//   dog.send(1);       // "ate bone 1"
//   dog.close();       // GeneratorExit at the yield: the body unwinds, RAII runs
//
// Python          weft
//   next(g)         g.next()        -> std::optional<Yield>; nullopt once finished
//   g.send(v)       g.send(v)       -> the next yielded value; nullopt if it finished
//   x = yield y     x = co.yield(y) -> std::optional<Send>; nullopt after next()
//   g.close()       g.close()       and ~Generator()
//   for x in g      for (auto& x : g)
//
// Errors: an exception escaping the body is rethrown by the next()/send() that
// resumed it (the generator is then finished). send() to a finished generator
// throws weft::StopIteration; send() to one not yet started, resuming a
// running one, co.yield() from outside its own body, and a body that yields
// again after GeneratorExit throw weft::UsageError.
//
// Blocking: next()/send()/close() block nothing themselves: the body runs on
// the caller's thread, as part of the caller's fiber, until it yields. If the
// body sleeps or waits, that fiber parks (and the call returns later, perhaps
// on another worker). A body on a plain thread can use only what works there.
//
// Thread-safety: none; a Generator is used by one fiber or thread at a time.
// A suspended generator may be handed to another fiber or thread (with the
// usual happens-before, e.g. through a Channel) and resumed there.
//
// Cost: no heap allocation; the closure and value slots live at the top of
// the generator's stack (64 KiB, 256 KiB under ASan, taken from a pool; an
// idle one touches one page). A send/yield round trip is two context switches.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "weft/core/errors.h"
#include "weft/core/internal/coroutine.h"

namespace weft {

// send() to a generator that has finished, like Python's StopIteration.
class StopIteration : public UsageError {
 public:
  using UsageError::UsageError;
};

// Thrown from co.yield() when the generator is closed (close() or its
// destructor), so the body unwinds and its destructors run. Like
// weft::FiberExit it is deliberately not a std::exception; a body that
// catches it with `catch (...)` must rethrow or return, not yield again.
struct GeneratorExit {};

namespace internal {

// The non-template part of a Generator: its state machine and its switches.
class GeneratorCore {
 public:
  enum class Status : uint8_t {
    kNotStarted,  // created; the body has not run
    kSuspended,   // the body waits in co.yield()
    kRunning,     // the body runs (a resume is in progress)
    kFinished,    // the body returned or threw; the stack is about to be released
  };

  explicit GeneratorCore(CoroutineControl* co) : co_(co) {}
  GeneratorCore(const GeneratorCore&) = delete;
  GeneratorCore& operator=(const GeneratorCore&) = delete;

  Status status() const { return status_; }
  bool closing() const { return closing_; }
  CoroutineControl* coroutine() const { return co_; }
  std::exception_ptr take_error() { return std::exchange(error_, nullptr); }

  // Caller side: runs the body until it yields or finishes. `closing`: make
  // the pending co.yield() throw GeneratorExit. Inlined into the caller with
  // its switch (see transfer).
  [[gnu::always_inline]] void resume(bool closing) {
    if (status_ != Status::kSuspended) start_or_throw();
    closing_ = closing;
    status_ = Status::kRunning;
    transfer(/*into_body=*/true);
  }

  // Body side: hands control back to the resumer; returns when resumed.
  // Inlined into the body with its switch (see transfer).
  [[gnu::always_inline]] void suspend() {
    status_ = Status::kSuspended;
    transfer(/*into_body=*/false);
    if (closing_ && std::uncaught_exceptions() == 0) throw GeneratorExit{};
  }

  // Throws UsageError unless called by the body itself, on its own stack.
  [[gnu::always_inline]] void check_yield() const {
    if (status_ != Status::kRunning || !running_on(co_->stack)) throw_yield_outside();
  }

  // Body side, last act: records the outcome and names the resumer as the
  // final switch's target; the body then returns (coroutine_entry switches).
  void finish(std::exception_ptr error);

 private:
  void start_or_throw();
  [[noreturn]] static void throw_yield_outside();
  // Switches into the body or back to the resumer. Always inlined, down to
  // the switch itself, so each next()/send() and each co.yield() in the
  // user's code is its own switch site and no return follows a switch (see
  // coroutine.cc, "Switch cost").
  [[gnu::always_inline]] void transfer(bool into_body) {
    Handover h;
    if (into_body) {
      coroutine_switch(&resumer_.ctx, &resumer_.suspended_on, &co_->ctx, &co_->suspended_on, &h);
    } else {
      coroutine_switch(&co_->ctx, &co_->suspended_on, &resumer_.ctx, &resumer_.suspended_on, &h);
    }
  }

  CoroutineControl* co_;
  SavedContext resumer_;
  Status status_ = Status::kNotStarted;
  bool closing_ = false;
  std::exception_ptr error_;
};

// Messages shared by every instantiation.
[[noreturn]] void throw_send_finished();
[[noreturn]] void throw_send_not_started();
[[noreturn]] void throw_ignored_exit();
void report_close_error(std::exception_ptr e);
[[noreturn]] void abort_destroy_running();

}  // namespace internal

template <typename Yield, typename Send = std::monostate>
class Generator {
  static_assert(std::is_object_v<Yield> && std::is_object_v<Send> && !std::is_array_v<Yield>,
                "weft::Generator<Yield, Send>: Yield and Send must be object types");
  struct State;

 public:
  using yield_type = Yield;
  using send_type = Send;

  // The body's handle to its generator.
  class Co {
   public:
    Co(const Co&) = delete;
    Co& operator=(const Co&) = delete;

    // Hands `value` to the resumer and suspends the body. Returns the value of
    // the send() that resumes it, or nullopt if next() resumed it. Throws
    // GeneratorExit when the generator is being closed (unless called from a
    // destructor during unwinding: it then returns nullopt), and UsageError
    // if not called by this generator's body on its own stack.
    [[gnu::always_inline]] std::optional<Send> yield(Yield value) {
      s_->core.check_yield();
      s_->yielded.emplace(std::move(value));
      s_->core.suspend();
      std::optional<Send> sent = std::move(s_->sent);
      s_->sent.reset();
      return sent;
    }

   private:
    friend class Generator;
    explicit Co(State* s) : s_(s) {}
    State* s_;
  };

  // An input iterator over the yielded values; each ++ resumes the body.
  class iterator {
   public:
    using value_type = Yield;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    Yield& operator*() const { return *value_; }
    Yield* operator->() const { return &*value_; }
    iterator& operator++() {
      value_ = gen_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !value_.has_value(); }

   private:
    friend class Generator;
    iterator(Generator* gen, std::optional<Yield> first) : gen_(gen), value_(std::move(first)) {}
    Generator* gen_ = nullptr;
    mutable std::optional<Yield> value_;
  };

  // An empty generator: done() is true.
  Generator() = default;

  // A generator that will run `body(co)` on its first resume. Takes a stack
  // (throws UsageError if the closure exceeds a quarter of it); the closure is
  // moved or copied onto it, like std::thread's.
  template <typename F>
    requires(!std::is_same_v<std::decay_t<F>, Generator> &&
             std::is_invocable_v<std::decay_t<F>&, Co&>)
  explicit Generator(F&& body) {
    using B = Body<std::decay_t<F>>;
    internal::CoroutineControl* co = internal::coroutine_create(sizeof(B), alignof(B), &B::run);
    try {
      state_ = new (co->owner) B(co, std::forward<F>(body));
    } catch (...) {
      internal::coroutine_release(co);
      throw;
    }
  }

  Generator(Generator&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  // Closes this generator (as the destructor does), then takes `other`'s.
  Generator& operator=(Generator&& other) noexcept {
    if (this != &other) {
      destroy();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }

  // Closes an unfinished generator: GeneratorExit unwinds its body. What
  // close() would throw is reported on stderr instead (as Python does); a
  // body that yields again is abandoned without unwinding. Aborts if called
  // from the body itself.
  ~Generator() { destroy(); }

  // Resumes the body (co.yield returns nullopt; the first call starts it).
  // Returns the next yielded value, or nullopt once the body has returned.
  // Rethrows what the body throws. Throws UsageError if the generator is
  // already running (a body resuming itself). Always inlined (see
  // GeneratorCore::transfer).
  [[gnu::always_inline]] std::optional<Yield> next() {
    if (state_ == nullptr) return std::nullopt;
    state_->sent.reset();
    state_->core.resume(false);
    return after_resume();
  }

  // Resumes the body with `value` (co.yield returns it). Returns the next
  // yielded value, or nullopt if the body returned. Throws StopIteration if
  // the generator had already finished, UsageError if it has not started
  // (start it with next(): Python's "can't send non-None value to a
  // just-started generator") or is running; rethrows what the body throws.
  // Always inlined (see GeneratorCore::transfer).
  [[gnu::always_inline]] std::optional<Yield> send(Send value) {
    if (state_ == nullptr) internal::throw_send_finished();
    if (state_->core.status() == internal::GeneratorCore::Status::kNotStarted) {
      internal::throw_send_not_started();
    }
    state_->sent.emplace(std::move(value));
    state_->core.resume(false);
    return after_resume();
  }

  // Finishes the generator: a suspended body gets GeneratorExit from its
  // co.yield() and unwinds; one never started is dropped without running; a
  // finished one is left alone. Rethrows another exception the body throws
  // while unwinding; throws UsageError if the body yields again (it then
  // stays suspended) or if the generator is running.
  void close() {
    if (state_ == nullptr) return;
    if (state_->core.status() == internal::GeneratorCore::Status::kNotStarted) {
      release();
      return;
    }
    state_->core.resume(true);
    if (state_->core.status() == internal::GeneratorCore::Status::kSuspended) {
      state_->yielded.reset();
      internal::throw_ignored_exit();
    }
    after_resume();
  }

  // True once the body has returned, thrown or been closed (and for an empty
  // generator).
  bool done() const { return state_ == nullptr; }

  // Resumes the body for the first value; see iterator.
  iterator begin() { return iterator(this, next()); }
  std::default_sentinel_t end() { return {}; }

 private:
  struct State {
    State(internal::CoroutineControl* c, void (*d)(State*)) : core(c), co(this), destroy(d) {}
    internal::GeneratorCore core;
    Co co;
    std::optional<Yield> yielded;
    std::optional<Send> sent;
    void (*destroy)(State*);  // ~Body<Fn>
  };

  template <typename Fn>
  struct Body : State {
    template <typename F>
    Body(internal::CoroutineControl* c, F&& f)
        : State(c, [](State* s) { static_cast<Body*>(s)->~Body(); }), fn(std::forward<F>(f)) {}
    std::optional<Fn> fn;  // reset when the body ends, on the generator's own stack

    static void run(internal::CoroutineControl* c) {
      auto* self = static_cast<Body*>(static_cast<State*>(c->owner));
      std::exception_ptr error;
      try {
        std::invoke(*self->fn, self->co);
      } catch (const GeneratorExit&) {
        if (!self->core.closing()) error = std::current_exception();
      } catch (...) {
        error = std::current_exception();
      }
      self->fn.reset();
      self->core.finish(std::move(error));
    }
  };

  // After a resume: the yielded value, or the end (releasing the stack).
  [[gnu::always_inline]] std::optional<Yield> after_resume() {
    if (__builtin_expect(state_->core.status() == internal::GeneratorCore::Status::kSuspended, 1)) {
      std::optional<Yield> value = std::move(state_->yielded);
      state_->yielded.reset();
      return value;
    }
    return after_finish();
  }

  // The body returned or threw: release the stack, rethrow its exception.
  __attribute__((noinline)) std::optional<Yield> after_finish() {
    std::exception_ptr error = state_->core.take_error();
    release();
    if (error) std::rethrow_exception(error);
    return std::nullopt;
  }

  void release() {
    State* s = std::exchange(state_, nullptr);
    internal::CoroutineControl* co = s->core.coroutine();
    s->destroy(s);
    internal::coroutine_release(co);
  }

  void destroy() noexcept {
    if (state_ == nullptr) return;
    if (state_->core.status() == internal::GeneratorCore::Status::kRunning) {
      internal::abort_destroy_running();
    }
    try {
      close();
    } catch (...) {
      internal::report_close_error(std::current_exception());
    }
    if (state_ != nullptr) release();  // it yielded again: abandon its frames
  }

  State* state_ = nullptr;
};

}  // namespace weft
