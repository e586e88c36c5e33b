// Monitor: one thread per runtime that watches the workers' progress, hands
// a blocked worker's queued fibers to the others and reports fibers that
// keep their worker too long. See monitor.cc for the protocol.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "weft/core/blocking_report.h"

namespace weft::internal {

class RuntimeCore;

struct MonitorOptions {
  int64_t handoff_ns = 0;   // hand a worker's queue over after this long; 0: never
  int64_t blocking_ns = 0;  // report a fiber after this long; 0: never
  std::function<void(const BlockingReport&)> on_blocking;  // null: stderr
};

class Monitor {
 public:
  // Whether a runtime with these options and workers needs a monitor.
  static bool needed(const MonitorOptions& o, int workers) {
    return (o.handoff_ns > 0 && workers > 1) || o.blocking_ns > 0;
  }

  Monitor(RuntimeCore* rt, MonitorOptions options);
  ~Monitor();  // stop()s
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // After the workers started; stop() before they are joined. Idempotent.
  void start();
  void stop();

  // A worker left its sleep: if the monitor parked (every worker asleep),
  // it resumes watching. Any worker thread; a fence and a load when the
  // monitor is not parked.
  void note_worker_awake() {
    // Seq-cst fence: the worker is awake (IdleWorkers no longer counts it
    // asleep) before we read parked_; pairs with the fence in park().
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (parked_.load(std::memory_order_relaxed) != 0) unpark();
  }

 private:
  // What the monitor knows of one worker's current episode (monitor thread
  // only): the fiber code it has seen running without a switch.
  struct Episode {
    bool active = false;
    uint64_t stamp = 0;    // Worker::progress_stamp when first seen
    int64_t since_ns = 0;  // when first seen
    // How long into the episode the next hand-off attempt is due
    // (INT64_MAX: none, with the hand-off off or one worker).
    int64_t next_handoff_ns = INT64_MAX;
    bool reported = false;
  };

  void run();
  // Looks at one worker and acts on its episode if an action is due.
  // Returns how soon the next action on that episode falls due, or -1 if
  // none is pending (the worker moved on, or nothing more is due).
  int64_t check(int worker, Episode& e, int64_t now_ns);
  // When, into an episode held held_ns, the next hand-off attempt is due,
  // after one that was refused (the worker was in a scheduler section) or
  // not.
  int64_t next_handoff_after(bool refused, int64_t held_ns) const;
  void report(int worker, uint64_t stamp, int64_t held_ns);
  bool all_asleep() const;
  void park();
  void unpark();

  RuntimeCore* const rt_;
  const MonitorOptions options_;
  // The interval between looks: until the next action due, but at least
  // min; doubling up to max while every worker moves on (see "Ticks" in
  // monitor.cc).
  const int64_t max_tick_ns_;
  const int64_t min_tick_ns_;
  std::thread thread_;
  bool started_ = false;  // start()/stop() run on the runtime's owner thread
  // 1 while stop() has been called; the tick's futex word.
  std::atomic<uint32_t> stop_{0};
  // 1 while the monitor sleeps until a worker wakes (all asleep); its futex
  // word. Written by the monitor (1) and by waking workers and stop() (0).
  alignas(64) std::atomic<uint32_t> parked_{0};
};

}  // namespace weft::internal
