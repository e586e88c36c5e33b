// weft's exception types.
//
// weft reports outcomes a program should handle (I/O failures, timeouts) as
// absl::Status. Exceptions are reserved for two things:
//   * weft::UsageError — a programming error at the call site (joining an
//     empty Fiber handle, calling a fiber-only function on a plain thread,
//     Runtime::spawn from outside a runtime that is shutting down), the way
//     std::thread::join throws std::system_error. A fiber of a runtime that
//     is shutting down (one being unwound) may still spawn: that is no
//     error, and the new fiber starts already killed (it runs until its
//     first suspension point, where it unwinds; see Runtime::spawn);
//   * weft::FiberExit — thrown inside a fiber that is being killed (runtime
//     shutdown, or Fiber::kill) at its suspension point, so the fiber unwinds
//     and its destructors run.
// Besides, a weft::Timeout scope (core/timeout.h) throws weft::TimeoutError
// at a suspension point once its deadline passes: opted into by whoever
// creates the Timeout, and meant, like FiberExit, to unwind to the scope that
// set the deadline. A per-call deadline (recv_for, acquire_for) still
// reports a timeout as a value.
//
//   try {
//     weft::sleep_for(absl::Seconds(1));
//   } catch (const weft::UsageError& e) {
//     std::cerr << e.what();  // "weft::sleep_for called outside a fiber ..."
//   }
#pragma once

#include <stdexcept>
#include <string>

namespace weft {

// A weft function was called in a way its contract forbids. what() says which
// function and what to do instead.
class UsageError : public std::logic_error {
 public:
  explicit UsageError(const std::string& what) : std::logic_error(what) {}
};

// Unwinds a fiber that is being killed. Deliberately not a std::exception, so
// `catch (const std::exception&)` in user code does not swallow it; a fiber
// that catches it with `catch (...)` must rethrow. The fiber's entry catches it,
// and Fiber::join() then reports the fiber as killed.
struct FiberExit {};

}  // namespace weft
