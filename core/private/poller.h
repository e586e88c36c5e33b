// Poller: the runtime's one epoll instance, and the fd readiness a fiber
// waits on.
//
// It lives in core, not io, because it is where an idle worker sleeps: the
// worker that owns the poller blocks in epoll_wait with its next timer as the
// timeout, so I/O readiness, timers and new work (the eventfd doorbell) all
// end the same sleep (DESIGN.md §2). io/ builds the public fd waits and the
// sockets on it.
//
// Every fd is registered once, edge-triggered, for input and output, with the
// poller of the runtime that first waits on it. Each fd has a slot (FdSlot,
// in one process-wide table indexed by fd number, never freed) holding, per
// direction, one word:
//   kIdle   nothing pending, nobody waiting;
//   kReady  an edge arrived that nobody has consumed yet;
//   other   the FiberControl* of the one fiber waiting for that direction.
// An edge either hands itself to the waiting fiber (word -> kIdle, fiber
// woken) or is kept (word -> kReady) for the next wait, so none is lost
// between a syscall's EAGAIN and the wait that follows it.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "weft/core/internal/fiber_api.h"  // IoDir
#include "weft/core/internal/fiber_control.h"

namespace weft::internal {

class Poller;

struct FdSlot {
  static constexpr uintptr_t kIdle = 0;
  static constexpr uintptr_t kReady = 1;

  // kIdle, kReady or a waiting FiberControl*, per IoDir. acq_rel on every
  // RMW: a waker that takes a fiber out must see it fully published.
  std::atomic<uintptr_t> word[2] = {kIdle, kIdle};
  // Bumped by forget(): waits begun under an older generation end with
  // Cancelled, and events carrying an older generation are dropped (the fd
  // number may already name another file).
  std::atomic<uint32_t> gen{0};
  // Set (sticky until forget) once epoll reports a hang-up or an error:
  // from then on a read wait returns at once. An edge that brings the last
  // data together with the peer's FIN is consumed by one read, and no edge
  // ever follows for the EOF; a reader that skips its syscall after a short
  // read (TcpStream) would otherwise wait forever for it.
  std::atomic<bool> hung_up{false};
  // Registration, one of the three below. A thread takes the slot by CAS
  // to kChanging (acquire), does its epoll_ctl, then stores kRegistered or
  // kUnregistered (release); others spin while they see kChanging.
  static constexpr uint32_t kUnregistered = 0;  // in no epoll set
  static constexpr uint32_t kChanging = 1;      // being (de)registered
  static constexpr uint32_t kRegistered = 2;    // in `owner`'s epoll set
  std::atomic<uint32_t> state{kUnregistered};
  Poller* owner = nullptr;  // written under kChanging, read under kRegistered
};

class Poller {
 public:
  // Creates the epoll instance and its doorbell; throws std::system_error
  // when the process is out of fds.
  Poller();
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Registers fd (edge-triggered, in+out) unless it already is. The fd must
  // be non-blocking for the waits to make sense. InvalidArgument for a
  // negative or huge fd; errno-derived errors from epoll_ctl.
  absl::Status watch(int fd);
  // Forgets fd before it is closed: deregisters it (from whichever runtime
  // watches it) and ends every wait on it with Cancelled. Harmless on an fd
  // never watched. Any thread.
  static void forget(int fd);

  // Parks the running fiber until fd is ready in `dir`, until deadline_ns
  // (monotonic; INT64_MAX: none), or until the fd is forgotten. OK when
  // ready (the caller retries its syscall), DeadlineExceeded, Cancelled
  // (forgotten), FailedPrecondition (another fiber already waits on this fd
  // in this direction). Throws FiberExit if the fiber is killed; Cancelled
  // instead if it is killed while already unwinding (it must not throw then).
  absl::Status wait(int fd, IoDir dir, int64_t deadline_ns);
  // The same wait for a plain thread: blocks it in poll(2).
  static absl::Status wait_thread(int fd, IoDir dir, int64_t deadline_ns);

  // --- For workers. At most one thread polls at a time. ---

  // Takes the poller; false if another worker has it.
  bool try_acquire() { return !busy_.exchange(true, std::memory_order_acquire); }
  void release() { busy_.store(false, std::memory_order_release); }
  // True once any fd was ever watched: before that, polling is pointless.
  bool in_use() const { return in_use_.load(std::memory_order_relaxed); }
  // Waits for events until deadline_ns (monotonic; 0: do not block; < 0:
  // none) and wakes the fibers they concern, from the calling worker. Caller
  // must hold the poller. Returns the number of fibers woken.
  int poll(int64_t deadline_ns);
  // Ends a blocked poll() early (the doorbell). Any thread.
  void ring();

 private:
  static constexpr int kBatch = 128;

  int dispatch(uint64_t data, uint32_t events);

  int epfd_ = -1;
  int doorbell_ = -1;
  std::atomic<bool> busy_{false};
  std::atomic<bool> in_use_{false};
  epoll_event events_[kBatch];  // used by the holder only
};

}  // namespace weft::internal
