// A minimal HTTPS/1.1 keep-alive server answering "hello world", one fiber
// per connection on every core: TLS through weft::net::TlsStream.
//
//   https_hello --cert=cert.pem --key=key.pem --port=8443 --workers=2
//   wrk -t1 -c100 -d10s https://127.0.0.1:8443/
//
// Requests are GETs without bodies (what wrk and curl send); pipelined ones
// are answered in order, one write per batch read. A request with a body,
// or no header end within 8 KiB, gets a 400 and the connection closes. A
// client that does not finish its handshake within --handshake_timeout, or
// stays idle for --idle_timeout, is dropped.
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "example_flags.h"
#include "hello_responses.h"
#include "weft/weft.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 8443, "port to listen on (0: any free port)");
ABSL_FLAG(int, workers, 0, "worker threads (0: one per core)");
ABSL_FLAG(std::string, cert, "", "PEM certificate chain (required)");
ABSL_FLAG(std::string, key, "", "PEM private key (required)");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10), "drop a slower handshake");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(30),
          "drop a connection that sends nothing (or no full request) for this long");

namespace {

using examples::kBadRequest;
using examples::kHello;
using examples::kHelloClose;
using examples::kMaxRequest;

// Answers the complete requests at the start of `in` into `out`; returns
// the bytes used, and sets `close` when the connection must end after.
std::size_t answer(absl::string_view in, std::string& out, bool& close) {
  std::size_t used = 0;
  for (;;) {
    absl::string_view rest = in.substr(used);
    std::size_t end = rest.find("\r\n\r\n");
    if (end == absl::string_view::npos) {
      if (rest.size() >= kMaxRequest) {
        out.append(kBadRequest);
        close = true;
      }
      return used;
    }
    absl::string_view head = rest.substr(0, end + 2);
    std::size_t eol = head.find("\r\n");
    absl::string_view line = head.substr(0, eol);
    const std::string lower = absl::AsciiStrToLower(head);  // header names are case-insensitive
    if (absl::StrContains(lower, "\r\ncontent-length:") ||
        absl::StrContains(lower, "\r\ntransfer-encoding:") ||
        !(absl::EndsWith(line, " HTTP/1.1") || absl::EndsWith(line, " HTTP/1.0"))) {
      out.append(kBadRequest);
      close = true;
      return used;
    }
    used += end + 4;
    const bool keep_alive = absl::EndsWith(line, "1.1")
                                ? !absl::StrContains(lower, "\r\nconnection: close")
                                : absl::StrContains(lower, "\r\nconnection: keep-alive");
    if (!keep_alive) {
      out.append(kHelloClose);
      close = true;
      return used;
    }
    out.append(kHello);
  }
}

void serve(weft::net::TcpStream tcp, const weft::net::TlsContext& ctx) {
  absl::StatusOr<weft::net::TlsStream> conn =
      weft::net::TlsStream::server_for(std::move(tcp), ctx, absl::GetFlag(FLAGS_handshake_timeout));
  if (!conn.ok()) return;  // not TLS, a refused certificate, too slow: this one only
  const absl::Duration idle = absl::GetFlag(FLAGS_idle_timeout);
  std::string in;
  std::string out;
  char buf[4096];
  for (;;) {
    absl::StatusOr<std::size_t> n = conn->read_some_for(buf, idle);
    if (!n.ok() || *n == 0) break;
    in.append(buf, *n);
    bool close = false;
    in.erase(0, answer(in, out, close));
    if (!out.empty()) {
      if (!conn->write_all_for(out, idle).ok()) return;
      out.clear();
    }
    if (close) break;
  }
  conn->shutdown().IgnoreError();  // close_notify, so the client sees a clean end
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("HTTPS/1.1 hello-world server (one fiber per connection)");
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  absl::StatusOr<weft::net::TlsContext> ctx =
      weft::net::TlsContext::server({.certificate = {.cert_file = absl::GetFlag(FLAGS_cert),
                                                     .key_file = absl::GetFlag(FLAGS_key)},
                                     .alpn = {"http/1.1"}});
  if (!ctx.ok()) {
    std::fprintf(stderr, "https_hello: %s\n", std::string(ctx.status().message()).c_str());
    return 1;
  }
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  return weft::run(options, [&]() -> int {
    auto listener = weft::net::TcpListener::bind(
        examples::listen_address(absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port)));
    if (!listener.ok()) {
      std::fprintf(stderr, "https_hello: %s\n", std::string(listener.status().message()).c_str());
      return 1;
    }
    std::printf("Listening on https://%s/\n", listener->local_address()->to_string().c_str());
    for (;;) {
      absl::StatusOr<weft::net::TcpStream> conn = listener->accept();
      if (!conn.ok()) continue;  // accept already backs off when out of fds
      weft::spawn(serve, std::move(*conn), std::cref(*ctx));
    }
  });
}
