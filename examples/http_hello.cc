// A minimal HTTP/1.1 keep-alive server answering "hello world", one fiber
// per connection on every core.
//
//   http_hello --port=8080 --workers=2      # then: wrk -t1 -c100 -d10s http://127.0.0.1:8080/
//
// Pipelined requests are answered in order, with one write per batch read.
// A malformed or oversized request (no header end within 8 KiB, a bad
// request line, a body it cannot frame) gets a 400 and the connection
// closes. A client idle for --idle_timeout between requests, or slower than
// that to send a request's headers, is dropped.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "weft/weft.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 8080, "port to listen on (0: any free port)");
ABSL_FLAG(int, workers, 0, "worker threads (0: one per core)");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(30),
          "drop a connection that sends nothing (or no full request) for this long");

namespace {

constexpr std::size_t kMaxRequest = 8192;
constexpr std::string_view kHello =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n";
constexpr std::string_view kHelloClose =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: "
    "close\r\n\r\nhello world\n";
constexpr std::string_view kBadRequest =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: "
    "close\r\n\r\nbad request\n";

struct Request {
  std::size_t size = 0;     // header bytes plus body bytes
  bool keep_alive = true;
};

enum class Parse { kIncomplete, kDone, kBad };

bool is_token_char(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Parses one request at the start of `in`.
Parse parse_request(absl::string_view in, Request* req) {
  std::size_t end = in.find("\r\n\r\n");
  if (end == absl::string_view::npos) return in.size() >= kMaxRequest ? Parse::kBad : Parse::kIncomplete;
  absl::string_view head = in.substr(0, end + 2);
  std::size_t eol = head.find("\r\n");
  absl::string_view line = head.substr(0, eol);
  // METHOD SP target SP HTTP/1.x
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = line.rfind(' ');
  if (sp1 == 0 || sp1 == absl::string_view::npos || sp2 == sp1) return Parse::kBad;
  if (!std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(sp1), is_token_char)) {
    return Parse::kBad;
  }
  absl::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  absl::string_view version = line.substr(sp2 + 1);
  if (target.empty() || target.find(' ') != absl::string_view::npos) return Parse::kBad;
  if (version == "HTTP/1.1") {
    req->keep_alive = true;
  } else if (version == "HTTP/1.0") {
    req->keep_alive = false;
  } else {
    return Parse::kBad;
  }
  std::size_t body = 0;
  for (std::size_t pos = eol + 2; pos < head.size();) {
    std::size_t next = head.find("\r\n", pos);
    absl::string_view h = head.substr(pos, next - pos);
    pos = next + 2;
    std::size_t colon = h.find(':');
    if (colon == 0 || colon == absl::string_view::npos) return Parse::kBad;
    absl::string_view name = h.substr(0, colon);
    absl::string_view value = absl::StripAsciiWhitespace(h.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "content-length")) {
      if (!absl::SimpleAtoi(value, &body) || body > kMaxRequest) return Parse::kBad;
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      return Parse::kBad;  // no chunked request bodies in a hello server
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      if (absl::EqualsIgnoreCase(value, "close")) req->keep_alive = false;
      if (absl::EqualsIgnoreCase(value, "keep-alive")) req->keep_alive = true;
    }
  }
  req->size = end + 4 + body;
  if (in.size() < req->size) return in.size() >= 2 * kMaxRequest ? Parse::kBad : Parse::kIncomplete;
  return Parse::kDone;
}

void serve(weft::net::TcpStream conn, absl::Duration idle_timeout) {
  std::string in;
  std::string out;
  in.reserve(2 * kMaxRequest);
  char buf[4096];
  for (;;) {
    absl::StatusOr<std::size_t> n = conn.read_some(buf, absl::Now() + idle_timeout);
    if (!n.ok() || *n == 0) return;
    in.append(buf, *n);
    std::size_t used = 0;
    bool close = false;
    for (;;) {
      Request req;
      Parse p = parse_request(absl::string_view(in).substr(used), &req);
      if (p == Parse::kIncomplete) break;
      if (p == Parse::kBad) {
        out.append(kBadRequest);
        close = true;
        break;
      }
      used += req.size;
      out.append(req.keep_alive ? kHello : kHelloClose);
      if (!req.keep_alive) {
        close = true;
        break;
      }
    }
    in.erase(0, used);
    if (!out.empty()) {
      if (!conn.write_all(out, absl::Now() + idle_timeout).ok()) return;
      out.clear();
    }
    if (close) {
      // Lingering close: the peer may still be sending (an oversized
      // request); closing with unread input would reset the connection and
      // could destroy our answer in flight. Drain briefly until its EOF.
      conn.shutdown_write().IgnoreError();
      absl::Time linger = absl::Now() + absl::Seconds(1);
      for (std::size_t drained = 0; drained < (std::size_t{1} << 20);) {
        absl::StatusOr<std::size_t> m = conn.read_some(buf, linger);
        if (!m.ok() || *m == 0) break;
        drained += *m;
      }
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("HTTP/1.1 hello-world server (one fiber per connection)");
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  const absl::Duration idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  return weft::run(options, [&]() -> int {
    std::string host = absl::GetFlag(FLAGS_host);
    if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6
    auto listener = weft::net::TcpListener::bind(host + ":" + std::to_string(absl::GetFlag(FLAGS_port)));
    if (!listener.ok()) {
      std::fprintf(stderr, "http_hello: %s\n", std::string(listener.status().message()).c_str());
      return 1;
    }
    std::printf("Listening on http://%s/\n", listener->local_address()->to_string().c_str());
    for (;;) {
      absl::StatusOr<weft::net::TcpStream> conn = listener->accept();
      if (!conn.ok()) continue;  // accept already backs off when out of fds
      weft::spawn(serve, std::move(*conn), idle_timeout);
    }
  });
}
