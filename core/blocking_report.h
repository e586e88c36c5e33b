// weft::BlockingReport — what the blocking detector says about a fiber that
// kept its worker too long without a suspension point.
//
// The detector is gevent's monitor thread: opt in with
// RuntimeOptions::detect_blocking, and a fiber that runs longer than
// RuntimeOptions::blocking_threshold (100 ms by default) without switching
// (a busy loop, a blocking call weft cannot make cooperative) is reported
// once per such episode, with the stack it is running right now:
//
//   weft::Runtime rt({.detect_blocking = true,
//                     .on_blocking = [](const weft::BlockingReport& r) {
//                       LOG(WARNING) << r.to_string();
//                     }});
//
// Without on_blocking, the report goes to stderr (BlockingReport::to_string).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace weft {

struct BlockingReport {
  uint64_t fiber_id = 0;   // 0 if the episode ended before the stack was taken
  std::string fiber_name;  // weft::set_name's, may be empty
  int worker = 0;          // the worker it held
  // How long it had kept the worker when the monitor noticed: at least
  // this long (the monitor looks every quarter threshold), and still going.
  absl::Duration blocked_for;
  // Where it was running, innermost first: "0x55d0c2a1b2c3 busy_loop()"
  // (the address alone where no symbol is found). Empty if the worker
  // thread did not answer the sample signal in time (see stack_sample.cc).
  std::vector<std::string> stack;

  // A multi-line text for logs: "weft: fiber 12 "name" has kept worker 0
  // for 153ms without a suspension point; it is running:" and the frames.
  std::string to_string() const;
};

}  // namespace weft
