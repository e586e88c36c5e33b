// weft::wait_signal — a fiber waits for a Unix signal (SIGTERM, SIGINT, ...).
//
//   int main() {
//     weft::watch_signals({SIGTERM, SIGINT}).IgnoreError();  // early: none is lost
//     return weft::run([] {
//       auto server = weft::net::Server::listen(...);
//       weft::spawn([&] {
//         absl::StatusOr<int> sig = weft::wait_signal({SIGTERM, SIGINT});
//         server->stop(absl::Seconds(10));
//       });
//       server->serve();
//     });
//   }
//
// watch_signals takes the signals over for the process: from then on one of
// them no longer runs its default action (terminating the process) but is
// kept until a wait_signal asks for it, however long that takes, on
// whatever thread it lands (a worker, the offload pool, main, a thread of
// another library; sent to the process with kill(2) or to a thread with
// raise(3)). A signal of the set that arrives twice before it is waited for
// is reported once, like any standard signal. wait_signal watches its
// signals itself; call watch_signals earlier so that one arriving before the
// first wait is not lost.
//
// How: see signal.cc. The signals get a handler, which records the signal
// and rings an eventfd; a signalfd takes the ones pending for the whole
// process (when every thread blocks them, say because main blocked them
// before it started any thread); the waiting fiber parks on the runtime's
// poller until either has something. Not for SIGKILL and SIGSTOP (they
// cannot be caught) nor SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP and SIGSYS
// (a fault must not be deferred). A handler the program had installed for a
// watched signal is replaced.
#pragma once

#include <initializer_list>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace weft {

// Takes the signals over (see above). Idempotent; any thread, also before a
// runtime exists. InvalidArgument naming a signal that cannot be watched;
// the errno's status if a system call fails. Blocks nothing.
absl::Status watch_signals(std::initializer_list<int> signals);

// Parks the calling fiber until one of `signals` arrives (or has arrived
// since it was watched, and nobody took it), and returns its number;
// DeadlineExceeded at `deadline`. Several fibers may wait at once, on the
// same or different signals; each signal is handed to one waiter. Throws
// weft::FiberExit if the fiber is killed while it waits. Fibers only
// (UsageError on a plain thread).
absl::StatusOr<int> wait_signal_until(std::initializer_list<int> signals, absl::Time deadline);
// The same with a timeout, and without a limit.
inline absl::StatusOr<int> wait_signal_for(std::initializer_list<int> signals,
                                           absl::Duration timeout) {
  return wait_signal_until(signals, absl::Now() + timeout);
}
inline absl::StatusOr<int> wait_signal(std::initializer_list<int> signals) {
  return wait_signal_until(signals, absl::InfiniteFuture());
}

}  // namespace weft
