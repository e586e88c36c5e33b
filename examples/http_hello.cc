// A minimal HTTP/1.1 keep-alive server answering "hello world", on
// weft::net::Server (one fiber per connection on every core) with a
// BufferedReader.
//
//   http_hello --port=8080 --workers=2      # then: wrk -t1 -c100 -d10s http://127.0.0.1:8080/
//   http_hello --port=8443 --tls-cert=cert.pem --tls-key=key.pem   # HTTPS
//
// Pipelined requests are answered in order, with one write per batch read.
// A malformed or oversized request (no header end within 8 KiB, a bad
// request line, a NUL or other control byte in the request line or a
// header, a body it cannot frame) gets a 400 and the connection closes. A
// read that waits --idle_timeout for a byte (between requests, or in the
// middle of one) drops the client. SIGTERM or SIGINT stops it gracefully:
// no new connections, each connection finishes the answers it owes, idle
// ones close, and after --grace the rest are cut; it prints the counters
// and exits 0. With --tls-cert and --tls-key (PEM files) it serves HTTPS
// (Server::listen_tls, ALPN "http/1.1"): the same, plus a handshake within
// --handshake-timeout, failed handshakes counted (tls_failed=), and
// close_notify before each close. Flags take dashes or underscores
// (--tls-cert, --tls_cert).
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "example_flags.h"
#include "hello_responses.h"
#include "server_counters.h"
#include "weft/weft.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 8080, "port to listen on (0: any free port)");
ABSL_FLAG(int, workers, 0, "worker threads (0: one per core)");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(30),
          "drop a connection whose read waits this long for a byte");
ABSL_FLAG(absl::Duration, grace, absl::Seconds(10),
          "on SIGTERM/SIGINT, how long connections may take to finish");
ABSL_FLAG(std::string, tls_cert, "", "serve HTTPS with this certificate chain (PEM file)");
ABSL_FLAG(std::string, tls_key, "", "the private key of --tls-cert (PEM file)");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "with TLS, close a connection whose handshake takes longer");

namespace {

using examples::kBadRequest;
using examples::kHello;
using examples::kHelloClose;
using examples::kMaxRequest;

struct Request {
  std::size_t body = 0;  // Content-Length
  bool keep_alive = true;
};

bool is_token_char(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// A control byte (NUL .. US, DEL), which no request line or header may hold
// (a header value may hold a horizontal tab).
bool has_control_byte(absl::string_view s, bool tab_ok) {
  return std::any_of(s.begin(), s.end(), [tab_ok](char ch) {
    unsigned char c = static_cast<unsigned char>(ch);
    return (c < 0x20 && !(tab_ok && c == '\t')) || c == 0x7f;
  });
}

// Parses a request head: the request line and headers, each ending in CRLF,
// then the empty line. False if it is malformed.
bool parse_head(std::string_view whole, Request* req) {
  // Less the empty line's CRLF: every line, the last too, ends in CRLF.
  absl::string_view head(whole.data(), whole.size() - 2);
  std::size_t eol = head.find("\r\n");
  absl::string_view line = head.substr(0, eol);
  if (has_control_byte(line, /*tab_ok=*/false)) return false;
  // METHOD SP target SP HTTP/1.x
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = line.rfind(' ');
  if (sp1 == 0 || sp1 == absl::string_view::npos || sp2 == sp1) return false;
  if (!std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(sp1), is_token_char)) {
    return false;
  }
  absl::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  absl::string_view version = line.substr(sp2 + 1);
  if (target.empty() || target.find(' ') != absl::string_view::npos) return false;
  if (version == "HTTP/1.1") {
    req->keep_alive = true;
  } else if (version == "HTTP/1.0") {
    req->keep_alive = false;
  } else {
    return false;
  }
  for (std::size_t pos = eol + 2; pos < head.size();) {
    std::size_t next = head.find("\r\n", pos);
    absl::string_view h = head.substr(pos, next - pos);
    pos = next + 2;
    if (has_control_byte(h, /*tab_ok=*/true)) return false;
    std::size_t colon = h.find(':');
    if (colon == 0 || colon == absl::string_view::npos) return false;
    absl::string_view name = h.substr(0, colon);
    absl::string_view value = absl::StripAsciiWhitespace(h.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "content-length")) {
      if (!absl::SimpleAtoi(value, &req->body) || req->body > kMaxRequest) return false;
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      return false;  // no chunked request bodies in a hello server
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      if (absl::EqualsIgnoreCase(value, "close")) req->keep_alive = false;
      if (absl::EqualsIgnoreCase(value, "keep-alive")) req->keep_alive = true;
    }
  }
  return true;
}

// --idle_timeout, read once in main: each write may take that long too (a
// client that never reads is dropped).
absl::Duration g_write_timeout = absl::InfiniteDuration();

// Ends our side: FIN (TCP) or close_notify then FIN (TLS).
void end_writes(weft::net::TcpStream& conn) { conn.shutdown_write().IgnoreError(); }
void end_writes(weft::net::TlsStream& conn) { conn.shutdown().IgnoreError(); }

// Lingering close: the peer may still be sending (an oversized request);
// closing with unread input would reset the connection and could destroy
// our answer in flight. Drain briefly until its EOF.
template <typename Stream>
void close_gently(Stream& conn) {
  end_writes(conn);
  absl::Time linger = absl::Now() + absl::Seconds(1);
  char buf[4096];
  for (std::size_t drained = 0; drained < (std::size_t{1} << 20);) {
    absl::StatusOr<std::size_t> m = conn.read_some_until(buf, linger);
    if (!m.ok() || *m == 0) break;
    drained += *m;
  }
}

// TcpStream or TlsStream.
template <typename Stream>
void serve(Stream& conn) {
  auto write = [&conn](std::string_view data) { return conn.write_all_for(data, g_write_timeout); };
  weft::net::BufferedReader in(conn, 2 * kMaxRequest);
  std::string out;
  for (;;) {
    absl::StatusOr<std::string_view> head = in.read_until("\r\n\r\n", kMaxRequest);
    Request req;
    bool bad = absl::IsResourceExhausted(head.status());  // no header end within 8 KiB
    if (!bad && (!head.ok() || head->empty())) break;     // EOF, timeout, reset: done
    if (!bad) bad = !parse_head(*head, &req);
    if (!bad && req.body > 0) {
      absl::StatusOr<std::string_view> body = in.peek(req.body);
      if (!body.ok() || body->size() < req.body) break;
      in.consume(req.body);
    }
    if (bad) {
      out.append(kBadRequest);
      write(out).IgnoreError();
      close_gently(conn);
      return;
    }
    out.append(req.keep_alive ? kHello : kHelloClose);
    if (!req.keep_alive) {
      if (write(out).ok()) close_gently(conn);
      return;
    }
    // One write per batch: answer once no further request is already here.
    if (in.buffered().find("\r\n\r\n") == absl::string_view::npos) {
      if (!write(out).ok()) return;
      out.clear();
    }
  }
  if (!out.empty()) write(out).IgnoreError();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("HTTP/1.1 hello-world server on weft::net::Server");
  examples::parse_dashed_flags(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // Before any thread exists: from here on a SIGTERM waits for us.
  if (absl::Status s = weft::watch_signals({SIGTERM, SIGINT}); !s.ok()) {
    std::fprintf(stderr, "http_hello: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  g_write_timeout = absl::GetFlag(FLAGS_idle_timeout);
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  return weft::run(options, []() -> int {
    const std::string address =
        examples::listen_address(absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port));
    const weft::net::Server::Options server_options = {
        .idle_timeout = absl::GetFlag(FLAGS_idle_timeout),
        .handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout)};
    const std::string cert = absl::GetFlag(FLAGS_tls_cert), key = absl::GetFlag(FLAGS_tls_key);
    const bool tls = !cert.empty() || !key.empty();
    absl::StatusOr<weft::net::Server> server;
    if (tls) {
      absl::StatusOr<weft::net::TlsContext> ctx = weft::net::TlsContext::server(
          {.certificate = {.cert_file = cert, .key_file = key}, .alpn = {"http/1.1"}});
      server = ctx.ok() ? weft::net::Server::listen_tls(address, *ctx, serve<weft::net::TlsStream>,
                                                        server_options)
                        : ctx.status();
    } else {
      server = weft::net::Server::listen(address, serve<weft::net::TcpStream>, server_options);
    }
    if (!server.ok()) {
      std::fprintf(stderr, "http_hello: %s\n", std::string(server.status().message()).c_str());
      return 1;
    }
    std::printf("Listening on %s://%s/\n", tls ? "https" : "http",
                server->address().to_string().c_str());
    weft::spawn([&] {
      absl::StatusOr<int> sig = weft::wait_signal({SIGTERM, SIGINT});
      std::printf("stopping on signal %d\n", sig.ok() ? *sig : 0);
      server->stop(absl::GetFlag(FLAGS_grace));
    });
    absl::Status served = server->serve();
    weft::net::Server::Stats s = server->stats();
    std::printf("%s\n", examples::counters_line(s).c_str());
    if (tls) std::printf("tls_failed=%llu\n", static_cast<unsigned long long>(s.tls_failed));
    if (!served.ok()) {
      std::fprintf(stderr, "http_hello: %s\n", std::string(served.message()).c_str());
      return 1;
    }
    return 0;
  });
}
