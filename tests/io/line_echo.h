// A line-echo protocol for the server tests (server_test.cc,
// server_tls_test.cc), over TcpStream or TlsStream alike: a handler that
// echoes each '\n'-terminated line and counts requests, and the client's
// line reader.
//
//   weft::test::EchoCounts counts;
//   auto server = net::Server::listen("127.0.0.1:0", weft::test::LineEcho(&counts));
//   ...
//   std::string buf, line;
//   ASSERT_TRUE(weft::test::ReadLine(*client, &buf, &line, absl::Now() + kLong).ok());
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace weft::test {

// Reads up to and including the next '\n' into *line, keeping what follows
// in *buf. OK with an empty line on a clean end (EOF; over TLS,
// close_notify) before any byte.
template <typename Stream>
absl::Status ReadLine(Stream& s, std::string* buf, std::string* line, absl::Time deadline) {
  for (;;) {
    if (std::size_t nl = buf->find('\n'); nl != std::string::npos) {
      *line = buf->substr(0, nl + 1);
      buf->erase(0, nl + 1);
      return absl::OkStatus();
    }
    char tmp[4096];
    absl::StatusOr<std::size_t> n = s.read_some(tmp, deadline);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      line->clear();
      if (!buf->empty()) return absl::OutOfRangeError("EOF mid-line");
      return absl::OkStatus();
    }
    buf->append(tmp, *n);
  }
}

// What LineEcho did: the requests whose first byte it read, and the ones
// it answered. Handlers run on any worker, hence atomics.
struct EchoCounts {
  std::atomic<int64_t> started{0};
  std::atomic<int64_t> answered{0};
};

// A line-echo handler that fills *counts; converts to Server::TcpHandler
// and Server::TlsHandler.
inline auto LineEcho(EchoCounts* counts) {
  return [counts](auto& conn) {
    std::string buf;
    for (;;) {
      // Waiting for the next request: nothing of it read yet.
      char tmp[4096];
      while (buf.find('\n') == std::string::npos) {
        absl::StatusOr<std::size_t> n = conn.read_some(tmp);
        if (!n.ok() || *n == 0) return;
        if (buf.empty()) counts->started.fetch_add(1);
        buf.append(tmp, *n);
      }
      std::size_t nl = buf.find('\n');
      std::string line = buf.substr(0, nl + 1);
      buf.erase(0, nl + 1);
      if (!conn.write_all(line).ok()) return;
      counts->answered.fetch_add(1);
      if (!buf.empty()) counts->started.fetch_add(1);  // a pipelined next request
    }
  };
}

}  // namespace weft::test
