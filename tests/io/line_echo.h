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
//
// and the graceful stop under load both server tests run, StopMidLoad.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "weft/io/net/server.h"
#include "weft/weft.h"

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
    absl::StatusOr<std::size_t> n = s.read_some_until(tmp, deadline);
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

// What the clients of a graceful stop saw, summed over them.
struct StopClientCounts {
  std::atomic<int64_t> answers{0};     // requests answered in full
  std::atomic<int64_t> clean_ends{0};  // connections ended cleanly between requests
  std::atomic<int64_t> errors{0};      // a failed dial, read, or a torn answer
  std::atomic<int64_t> refused{0};     // dials refused after the end
};

// Client `i` of a graceful-stop test, on the connection `c` (its dial's
// result) to the LineEcho server at `addr`: sends numbered requests, each
// in two writes (every fourth with a pause between, so that the stop finds
// some half-read), until the server ends the connection, and then dials
// `addr` again, which must be refused. A clean end (EOF, over TLS
// close_notify) may come only before any byte of an answer; each request
// must otherwise get its own line back.
template <typename Stream>
void RequestUntilStopped(absl::StatusOr<Stream> c, int i, const std::string& addr,
                         StopClientCounts* seen) {
  constexpr absl::Duration kLong = absl::Seconds(30);
  if (!c.ok()) {
    seen->errors.fetch_add(1);
    ADD_FAILURE() << c.status();
    return;
  }
  std::string buf, line;
  for (int r = 0;; ++r) {
    std::string req = "request " + std::to_string(i) + " " + std::to_string(r) + "\n";
    std::size_t half = req.size() / 2;
    absl::Status w = c->write_all(std::string_view(req).substr(0, half));
    if (w.ok()) {
      if (r % 4 == 0) sleep_for(absl::Milliseconds(1));
      w = c->write_all(std::string_view(req).substr(half));
    }
    absl::Status rd = ReadLine(*c, &buf, &line, absl::Now() + kLong);
    if (!rd.ok()) {
      seen->errors.fetch_add(1);
      ADD_FAILURE() << "client " << i << ": " << rd << " (write: " << w << ")";
      return;
    }
    if (line.empty()) {  // the server ended cleanly: it had not read this one
      seen->clean_ends.fetch_add(1);
      break;
    }
    EXPECT_EQ(line, req);
    seen->answers.fetch_add(1);
  }
  c->close();
  auto again = net::dial_for(addr, absl::Seconds(5));
  if (!again.ok()) seen->refused.fetch_add(1);
}

// A graceful stop under load: `conns` clients (RequestUntilStopped, each on
// what dial(addr) returns) against `server`, a LineEcho filling `counts`;
// once all have connected and run 300 ms, stop(5s). Every request the server
// began to read must be answered, every client must end cleanly and then
// be refused, none cut. Returns the requests answered before the stop;
// *stats gets the server's counters after it.
template <typename Dial>
int64_t StopMidLoad(net::Server& server, int conns, Dial dial, const EchoCounts& counts,
                    net::Server::Stats* stats) {
  const std::string addr = server.address().to_string();
  StopClientCounts seen;
  WaitGroup connected;
  connected.add(conns);
  std::vector<Fiber<void>> clients;
  for (int i = 0; i < conns; ++i) {
    clients.push_back(spawn([&, i] {
      auto c = dial(addr);
      connected.done();
      RequestUntilStopped(std::move(c), i, addr, &seen);
    }));
  }
  connected.wait();
  sleep_for(absl::Milliseconds(300));  // mid-load
  const int64_t answered_before = counts.answered.load();
  EXPECT_EQ(server.stop(absl::Seconds(5)), 0);
  join_all(clients);
  *stats = server.stats();
  EXPECT_GT(answered_before, 0);
  EXPECT_EQ(stats->active, 0u);
  EXPECT_EQ(stats->cut, 0u);
  EXPECT_EQ(static_cast<int64_t>(stats->accepted), conns);
  // stop() returned with none cut: every handler has ended, so the server's
  // counts are final.
  EXPECT_EQ(seen.errors.load(), 0);
  EXPECT_EQ(counts.started.load(), counts.answered.load());
  EXPECT_EQ(seen.answers.load(), counts.answered.load());
  EXPECT_EQ(seen.clean_ends.load(), conns);
  EXPECT_EQ(seen.refused.load(), conns);
  return answered_before;
}

}  // namespace weft::test
