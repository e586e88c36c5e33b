// weft::Fiber<T> — the handle to a spawned fiber, and weft::join_all.
//
// A Fiber<T> is returned by weft::spawn / Runtime::spawn. It is move-only,
// like std::thread, but dropping it detaches the fiber instead of aborting.
//
//   weft::Fiber<int> f = weft::spawn([](int x) { return x * 2; }, 21);
//   f.join();            // waits (parks the calling fiber, or blocks a thread)
//   int v = f.get();     // 42; rethrows what the fiber threw
//
//   auto a = weft::spawn(task_a), b = weft::spawn(task_b);
//   if (auto r = weft::join_all({a, b}, absl::Seconds(1)); !r) {
//     for (std::size_t i : r.pending()) { /* 0 is a, 1 is b */ }
//   }
//
//   auto w = weft::spawn(serve_forever);
//   w.kill();            // w unwinds from its wait with weft::FiberExit
//   w.join();            // w.killed() is now true
//
// A handle stays a handle to its fiber for as long as it lives, as a gevent
// greenlet object does: once the fiber has finished (returned, thrown, been
// killed) and even after get(), id(), name(), ready(), killed() still
// answer, join() and join_for() return at once, and kill() does nothing.
// get() alone is once-only: it takes the value out (a second get() throws
// UsageError). Only an empty handle (default-constructed, moved from,
// detached) throws UsageError from join, get and kill. A finished fiber's
// stack slot (where its result lives) stays with its handle until the
// handle is dropped or detached.
//
// Handles are not thread-safe: use one handle from one fiber or thread at a
// time (many handles on many threads are fine). A handle may outlive its
// Runtime, but only to be dropped.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <new>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "weft/core/errors.h"
#include "weft/core/internal/clock.h"
#include "weft/core/internal/fiber_control.h"

namespace weft {

// Thrown by Fiber<T>::get() when the fiber was killed and has no value.
class FiberKilled : public std::runtime_error {
 public:
  explicit FiberKilled(const std::string& what) : std::runtime_error(what) {}
};

namespace internal {
bool join_fiber(FiberControl* target, int64_t deadline_ns);
void release_fiber_handle(FiberControl* f);
void kill_fiber(FiberControl* f);

// Where a fiber's return value lives: inside its closure, on its own stack.
template <typename T>
struct ResultSlot {
  alignas(T) unsigned char storage[sizeof(T)];
  bool has_value = false;
  T* get() { return std::launder(reinterpret_cast<T*>(storage)); }
  void destroy() {
    if (has_value) get()->~T();
    has_value = false;
  }
};
template <>
struct ResultSlot<void> {
  void destroy() {}
};
}  // namespace internal

// What every Fiber<T> has, whatever T is.
class FiberBase {
 public:
  FiberBase() = default;
  FiberBase(FiberBase&& other) noexcept
      : ctl_(std::exchange(other.ctl_, nullptr)), taken_(std::exchange(other.taken_, false)) {}
  FiberBase& operator=(FiberBase&& other) noexcept {
    if (this != &other) {
      reset();
      ctl_ = std::exchange(other.ctl_, nullptr);
      taken_ = std::exchange(other.taken_, false);
    }
    return *this;
  }
  FiberBase(const FiberBase&) = delete;
  FiberBase& operator=(const FiberBase&) = delete;
  ~FiberBase() { reset(); }

  // True if this handle refers to a fiber (not default-constructed, moved
  // from or detached); still true after the fiber finished and after get().
  bool valid() const { return ctl_ != nullptr; }
  explicit operator bool() const { return valid(); }

  // The fiber's id, unique within the process; 0 for an invalid handle.
  uint64_t id() const { return ctl_ != nullptr ? ctl_->id : 0; }
  // The name given with weft::set_name (empty if none). Racy while the fiber
  // may still rename itself.
  std::string name() const { return ctl_ != nullptr ? std::string(ctl_->name) : std::string(); }

  // True once the fiber has finished (returned, thrown, or been killed).
  // Never blocks.
  bool ready() const {
    return ctl_ != nullptr &&
           ctl_->join_word.load(std::memory_order_acquire) == internal::kJoinDone;
  }

  // Waits until the fiber finishes; returns at once if it has (gevent's
  // join: any number of times, also after get()). Blocks the calling fiber
  // (parking it; its worker runs other fibers), or the calling thread if it
  // is not a fiber. Throws UsageError if the handle is empty or a fiber
  // joins itself; throws FiberExit if the caller is killed while waiting.
  void join() {
    check_valid("join");
    internal::join_fiber(ctl_, INT64_MAX);
  }

  // Waits at most `timeout` for the fiber to finish; true if it did. Blocks
  // like join().
  bool join_for(absl::Duration timeout) {
    check_valid("join_for");
    return internal::join_fiber(ctl_, internal::deadline_after(timeout));
  }
  // As join_for, until `deadline`.
  bool join_until(absl::Time deadline) {
    check_valid("join_until");
    return internal::join_fiber(ctl_, internal::deadline_at(deadline));
  }

  // True if the fiber ended because it was killed (weft::FiberExit), false
  // while it runs or if it ended otherwise (a fiber may catch FiberExit and
  // return normally).
  bool killed() const { return ready() && ctl_->killed; }

  // Asks the fiber to die, like gevent's greenlet.kill(block=False): it
  // throws weft::FiberExit from its current suspension point (or from its
  // next one, if it is running), unwinds running its destructors, and
  // ends; join() then returns and killed() is true, get() throws
  // FiberKilled. Returns at once; kill_and_join waits.
  //   * A fiber killed before it first ran never runs its body (its
  //     closure's captures are destroyed); it still counts as killed.
  //   * Every wait is interrupted: sleep, yield, join, join_all, and every
  //     sync/ wait (Mutex, CondVar, Semaphore, WaitGroup, Latch, Event,
  //     Channel send/recv, select).
  //   * A fiber that never reaches a suspension point cannot be killed
  //     (cooperative scheduling: nothing preempts it).
  //   * Killing a finished fiber does nothing; killing twice is killing once.
  //   * A fiber killing itself through its own handle throws FiberExit at
  //     once, as gevent does (unless it is already unwinding: then at its
  //     next suspension point after the unwinding ends).
  // Any fiber or thread; blocks nothing (the kill itself never waits).
  // Throws UsageError on an empty handle (not on a finished fiber's, nor
  // after get()). Must not race with the destruction of the fiber's
  // Runtime.
  void kill() {
    check_valid("kill");
    internal::kill_fiber(ctl_);
  }

  // kill(), then join_for(timeout): true once the fiber has finished
  // (gevent's kill(block=True, timeout=...)). Blocks like join(); may be
  // repeated.
  bool kill_and_join(absl::Duration timeout = absl::InfiniteDuration()) {
    kill();
    return join_for(timeout);
  }

  // Lets the fiber run on without a handle; the handle becomes invalid. The
  // same happens when a handle is destroyed.
  void detach() { reset(); }

 protected:
  explicit FiberBase(internal::FiberControl* ctl) : ctl_(ctl) {}

  void check_valid(const char* what) const {
    if (ctl_ == nullptr) {
      throw UsageError(std::string("weft::Fiber::") + what +
                       " on an empty handle (default-constructed, moved from or detached)");
    }
  }
  std::string describe(const char* prefix, const char* suffix) const {
    return std::string("weft::Fiber::") + prefix + std::to_string(ctl_->id) + suffix;
  }
  // Joins if needed, marks the outcome taken and rethrows the fiber's
  // exception, if any. The handle keeps the slot: it still answers id(),
  // ready(), join() and kill() afterwards.
  void wait_for_outcome() {
    check_valid("get");
    if (taken_) {
      throw UsageError(describe("get: the outcome of fiber ",
                                " was already taken by get(); get() is once-only"));
    }
    if (!ready()) internal::join_fiber(ctl_, INT64_MAX);
    taken_ = true;
    if (ctl_->error) std::rethrow_exception(ctl_->error);
    if (ctl_->killed) throw FiberKilled(describe("get: fiber ", " was killed and has no value"));
  }
  void reset() {
    if (ctl_ != nullptr) internal::release_fiber_handle(std::exchange(ctl_, nullptr));
    taken_ = false;
  }

  internal::FiberControl* ctl_ = nullptr;
  bool taken_ = false;  // get() ran: the value has been moved out

  friend class FiberRef;
  friend struct FiberFactory;
};

template <typename T>
class Fiber : public FiberBase {
  static_assert(!std::is_reference_v<T>,
                "a fiber cannot return a reference: return a pointer or a value");

 public:
  Fiber() = default;

  // Waits for the fiber (joining it if not yet joined) and returns its value,
  // or rethrows its exception (FiberKilled if it was killed). Once-only: the
  // value is moved out, and a second get() throws UsageError. The handle
  // stays valid (id(), ready(), join(), kill() as for any finished fiber).
  // Blocks like join().
  T get() {
    wait_for_outcome();
    auto* slot = static_cast<internal::ResultSlot<T>*>(ctl_->result);
    return std::move(*slot->get());
  }

 private:
  friend struct FiberFactory;
  explicit Fiber(internal::FiberControl* ctl) : FiberBase(ctl) {}
};

template <>
class Fiber<void> : public FiberBase {
 public:
  Fiber() = default;
  // Waits for the fiber and rethrows its exception, if any (FiberKilled if
  // it was killed). Once-only, like Fiber<T>::get(); the handle stays valid.
  void get() { wait_for_outcome(); }

 private:
  friend struct FiberFactory;
  explicit Fiber(internal::FiberControl* ctl) : FiberBase(ctl) {}
};

// Builds handles; used by spawn (core/spawn.h).
struct FiberFactory {
  template <typename T>
  static Fiber<T> make(internal::FiberControl* ctl) {
    return Fiber<T>(ctl);
  }
  static internal::FiberControl* control(const FiberBase& f) { return f.ctl_; }
};

// A non-owning reference to any Fiber<T>, so join_all takes mixed types.
class FiberRef {
 public:
  FiberRef(const FiberBase& f) : ctl_(FiberFactory::control(f)) {}  // NOLINT: implicit by design
  internal::FiberControl* control() const { return ctl_; }

 private:
  internal::FiberControl* ctl_;
};

// What join_all returns: which of the handles had finished when it returned
// (gevent's joinall returns the finished greenlets). Converts to true if all
// had, so `if (!weft::join_all(fs, d))` reads as before.
//
//   auto r = weft::join_all(fs, absl::Seconds(1));
//   if (!r) for (std::size_t i : r.pending()) fs[i].kill();
class JoinAllResult {
 public:
  JoinAllResult() = default;
  // All of `n` handles finished.
  explicit JoinAllResult(std::size_t n) : size_(n) {}
  // `done[i]`: whether handle i had finished.
  explicit JoinAllResult(std::vector<bool> done) : size_(done.size()), done_(std::move(done)) {
    if (std::find(done_.begin(), done_.end(), false) == done_.end()) done_.clear();
  }

  // True if every handle had finished (also for no handles at all).
  bool all() const { return done_.empty(); }
  explicit operator bool() const { return all(); }

  // How many handles were given, and how many of them had finished.
  std::size_t size() const { return size_; }
  std::size_t count() const {
    return all() ? size_ : static_cast<std::size_t>(std::count(done_.begin(), done_.end(), true));
  }
  // Whether handle `i` (in the order given) had finished. Throws
  // std::out_of_range unless i < size().
  bool finished(std::size_t i) const {
    if (i >= size_) throw std::out_of_range("weft::JoinAllResult::finished: index out of range");
    return all() || done_[i];
  }
  // The indices of the handles that had finished / had not, ascending.
  std::vector<std::size_t> finished() const { return indices(true); }
  std::vector<std::size_t> pending() const { return indices(false); }

 private:
  std::vector<std::size_t> indices(bool which) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < size_; ++i) {
      if ((all() || done_[i]) == which) out.push_back(i);
    }
    return out;
  }
  std::size_t size_ = 0;
  std::vector<bool> done_;  // empty when every handle had finished
};

// Waits until every fiber in `fibers` has finished, or until `timeout` has
// passed; the result converts to true if all finished and says which did.
// Does not rethrow the fibers' exceptions (get() does) and does not count as
// join(). Invalid handles count as finished. Blocks like Fiber::join()
// (FiberExit if the caller is killed, TimeoutError if a weft::Timeout of
// the caller expires, while it waits).
JoinAllResult join_all(std::span<const FiberRef> fibers,
                       absl::Duration timeout = absl::InfiniteDuration());
inline JoinAllResult join_all(std::initializer_list<FiberRef> fibers,
                              absl::Duration timeout = absl::InfiniteDuration()) {
  return join_all(std::span<const FiberRef>(fibers.begin(), fibers.size()), timeout);
}
// Any range of handles: join_all(std::vector<Fiber<int>>&, timeout).
template <typename Range>
  requires requires(Range& r) { static_cast<const FiberBase&>(*std::begin(r)); }
JoinAllResult join_all(Range& fibers, absl::Duration timeout = absl::InfiniteDuration()) {
  std::vector<FiberRef> refs;
  for (const FiberBase& f : fibers) refs.emplace_back(f);
  return join_all(std::span<const FiberRef>(refs), timeout);
}

}  // namespace weft
