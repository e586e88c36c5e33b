// StackSample: where a worker's thread, interrupted by the blocking
// detector's signal, leaves the stack it was running (see stack_sample.cc).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace weft::internal {

class Worker;

// One per worker, preallocated: the signal handler allocates nothing and
// writes only here. The monitor thread asks (request_stack_sample), the
// worker's handler answers; `state` hands the slot from one to the other.
struct StackSample {
  static constexpr int kMaxFrames = 64;
  enum State : uint32_t {
    kIdle = 0,       // the monitor's: nothing asked
    kRequested = 1,  // asked; the handler may claim it
    kFilling = 2,    // the handler's, writing the answer
    kDone = 3,       // answered; the monitor's again
  };
  std::atomic<uint32_t> state{kIdle};
  // Written by the monitor before kRequested: the episode it asks about
  // (Worker::progress_stamp).
  uint64_t stamp = 0;
  // Written by the handler before kDone.
  bool found = false;  // the episode was still on: the fields below are set
  uint64_t fiber_id = 0;
  char fiber_name[32] = {0};
  int depth = 0;
  void* frames[kMaxFrames] = {nullptr};
};

// Installs the process's handler for kSampleSignal the first time, and
// restores the previous disposition when the last user releases it.
// Thread-safe.
void acquire_sample_signal();
void release_sample_signal();

// Signals worker `w` (thread `thread`) and waits up to `timeout_ns` for its
// answer in w->sample(). True if it answered (then sample().found says
// whether the episode `stamp` was still on); false if it did not in time
// (the request is withdrawn, or waited out if the handler is writing).
// Monitor thread only.
bool request_stack_sample(Worker* w, pthread_t thread, uint64_t stamp, int64_t timeout_ns);

}  // namespace weft::internal
