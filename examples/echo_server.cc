// The seeds' echo server: one fiber per connection, on every core.
//
//   echo_server --port=7788 --workers=2        # then: nc 127.0.0.1 7788
//
// Mirrors gevent's StreamServer example:
//   def handle(sock, address):
//       print('New connection from %s:%s' % address)
//       while True:
//           data = sock.recv(1024)
//           if not data: break
//           sock.sendall(data)
//       print('Connection closed %s:%s' % address)
//   StreamServer(('127.0.0.1', 7788), handle).serve_forever()
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "weft/weft.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 7788, "port to listen on (0: any free port)");
ABSL_FLAG(int, workers, 0, "worker threads (0: one per core)");
ABSL_FLAG(bool, quiet, false, "do not print connects and disconnects");

namespace {

void handle(weft::net::TcpStream conn, bool quiet) {
  std::string peer = conn.peer_address().ok() ? conn.peer_address()->to_string() : "?";
  if (!quiet) std::printf("New connection from %s\n", peer.c_str());
  char buf[4096];
  for (;;) {
    absl::StatusOr<std::size_t> n = conn.read_some(buf);
    if (!n.ok() || *n == 0) break;
    if (!conn.write_all({buf, *n}).ok()) break;
  }
  if (!quiet) std::printf("Connection closed %s\n", peer.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("a fiber-per-connection TCP echo server");
  absl::ParseCommandLine(argc, argv);
  const bool quiet = absl::GetFlag(FLAGS_quiet);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a line at a time, even into a pipe
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  return weft::run(options, [&]() -> int {
    std::string host = absl::GetFlag(FLAGS_host);
    if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6
    std::string where = host + ":" + std::to_string(absl::GetFlag(FLAGS_port));
    absl::StatusOr<weft::net::TcpListener> listener = weft::net::TcpListener::bind(where);
    if (!listener.ok()) {
      std::fprintf(stderr, "echo_server: %s\n", std::string(listener.status().message()).c_str());
      return 1;
    }
    std::printf("Listening on %s\n", listener->local_address()->to_string().c_str());
    for (;;) {
      absl::StatusOr<weft::net::TcpStream> conn = listener->accept();
      if (!conn.ok()) {
        std::fprintf(stderr, "echo_server: %s\n", std::string(conn.status().message()).c_str());
        continue;
      }
      weft::spawn(handle, std::move(*conn), quiet);
    }
  });
}
