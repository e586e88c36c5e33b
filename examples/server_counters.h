// The counters line the example servers print when they stop.
//
//   std::printf("%s\n", examples::counters_line(server->stats()).c_str());
//   // accepted=3 active=0 rejected=0 timed_out=0 cut=0
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "weft/weft.h"

namespace examples {

// "accepted=N active=N rejected=N timed_out=N cut=N", without tls_failed
// (each server prints that its own way, and only when serving TLS).
inline std::string counters_line(const weft::net::Server::Stats& s) {
  return absl::StrCat("accepted=", s.accepted, " active=", s.active, " rejected=", s.rejected,
                      " timed_out=", s.timed_out, " cut=", s.cut);
}

}  // namespace examples
