// echo_service: a TCP echo server built on weft::net::Server, the way a
// service is run: a connection cap, an idle timeout, a graceful stop on
// SIGTERM or SIGINT that prints the server's counters.
//
//   echo_service --port=7000 --workers=2 --max-conns=10000 --idle-timeout=60s
//   echo_service --port=0                        # any free port
//   echo_service --port=7443 --tls-cert=cert.pem --tls-key=key.pem   # TLS
//
//   Listening on 127.0.0.1:7000
//   ^C
//   stopping on signal 2 (grace 10s)
//   accepted=3 active=0 rejected=0 timed_out=0 cut=0
//
// Every byte it reads goes back at once (what the C epoll server of
// tools/run_io_peers.sh does, for a like-for-like benchmark). On SIGTERM it
// stops accepting, lets each connection finish the echo it is writing (an
// idle one is closed gracefully, its client reads EOF), kills what is still
// running after --grace, prints the counters and exits 0. With --tls-cert
// and --tls-key (PEM files) it serves TLS instead (Server::listen_tls): each
// connection handshakes within --handshake-timeout, a failed handshake is
// counted (tls_failed=, printed with the counters), and a connection ends
// with close_notify. Flags take dashes or underscores (--max-conns,
// --max_conns).
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "example_flags.h"
#include "server_counters.h"
#include "weft/weft.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 7000, "port to listen on (0: any free port)");
ABSL_FLAG(int, workers, 0, "worker threads (0: one per core)");
ABSL_FLAG(int, max_conns, 0, "connections served at once (0: no limit); the rest wait");
ABSL_FLAG(bool, reject_when_full, false, "at --max-conns, close new connections at once");
ABSL_FLAG(absl::Duration, idle_timeout, absl::InfiniteDuration(),
          "close a connection that sends nothing for this long");
ABSL_FLAG(absl::Duration, grace, absl::Seconds(10),
          "on SIGTERM/SIGINT, how long running connections may take to finish");
ABSL_FLAG(bool, reuse_port, false, "one SO_REUSEPORT listener per worker");
ABSL_FLAG(int, backlog, 1024, "listen() backlog");
ABSL_FLAG(std::string, tls_cert, "", "serve TLS with this certificate chain (PEM file)");
ABSL_FLAG(std::string, tls_key, "", "the private key of --tls-cert (PEM file)");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "with TLS, close a connection whose handshake takes longer");

namespace {

// TcpStream or TlsStream.
template <typename Stream>
void echo(Stream& conn) {
  char buf[16 * 1024];
  for (;;) {
    absl::StatusOr<std::size_t> n = conn.read_some(buf);
    if (!n.ok() || *n == 0) return;
    if (!conn.write_all({buf, *n}).ok()) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("TCP echo service on weft::net::Server; SIGTERM stops it");
  examples::parse_dashed_flags(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // Before any thread exists: from here on a SIGTERM waits for us.
  if (absl::Status s = weft::watch_signals({SIGTERM, SIGINT}); !s.ok()) {
    std::fprintf(stderr, "echo_service: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return weft::run({.workers = absl::GetFlag(FLAGS_workers)}, []() -> int {
    const std::string address =
        examples::listen_address(absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port));
    const weft::net::Server::Options options = {
        .max_connections = absl::GetFlag(FLAGS_max_conns),
        .reject_when_full = absl::GetFlag(FLAGS_reject_when_full),
        .idle_timeout = absl::GetFlag(FLAGS_idle_timeout),
        .reuse_port = absl::GetFlag(FLAGS_reuse_port),
        .backlog = absl::GetFlag(FLAGS_backlog),
        .handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout)};
    const std::string cert = absl::GetFlag(FLAGS_tls_cert), key = absl::GetFlag(FLAGS_tls_key);
    const bool tls = !cert.empty() || !key.empty();
    absl::StatusOr<weft::net::Server> server;
    if (tls) {
      absl::StatusOr<weft::net::TlsContext> ctx =
          weft::net::TlsContext::server({.certificate = {.cert_file = cert, .key_file = key}});
      server = ctx.ok() ? weft::net::Server::listen_tls(address, *ctx, echo<weft::net::TlsStream>,
                                                        options)
                        : ctx.status();
    } else {
      server = weft::net::Server::listen(address, echo<weft::net::TcpStream>, options);
    }
    if (!server.ok()) {
      std::fprintf(stderr, "echo_service: %s\n", std::string(server.status().message()).c_str());
      return 1;
    }
    std::printf("Listening on %s%s\n", server->address().to_string().c_str(), tls ? " (TLS)" : "");
    weft::spawn([&] {
      absl::StatusOr<int> sig = weft::wait_signal({SIGTERM, SIGINT});
      const absl::Duration grace = absl::GetFlag(FLAGS_grace);
      std::printf("stopping on signal %d (grace %s)\n", sig.ok() ? *sig : 0,
                  absl::FormatDuration(grace).c_str());
      server->stop(grace);
    });
    absl::Status served = server->serve();
    weft::net::Server::Stats s = server->stats();
    std::printf("%s%s\n", examples::counters_line(s).c_str(),
                tls ? (" tls_failed=" + std::to_string(s.tls_failed)).c_str() : "");
    if (!served.ok()) {
      std::fprintf(stderr, "echo_service: %s\n", std::string(served.message()).c_str());
      return 1;
    }
    return 0;
  });
}
