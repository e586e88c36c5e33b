// echo_server: seed program #8 (the gevent echo server, the last program of
// document 002_…), ported one to one from examples/seeds/echo_server.py.
//
// sever(port) binds ('', port), listens with a backlog of 5 and accepts in a
// loop, printing "new client from [%s] " % str(addr) and spawning a fiber
// that runs handle_request(cli). handle_request reads up to 1024 bytes at a
// time, prints "recv:" and the bytes as Python prints them (b'hello\n'), and
// sends them back; at EOF it closes the connection and prints "client was
// closed". The document sends with `coon.send(recvData)`, a typo (NameError:
// the greenlet would die after its first message): conn.send is what was
// meant, and what both the seed and this port do.
//
//   echo_server                       # port 7788, every IPv4 interface; then: nc 127.0.0.1 7788
//   echo_server --host=127.0.0.1 --port=0 --workers=1
//   echo_server --port=7788 --workers=2 --quiet --backlog=1024     # for load tests
//
//   new client from [('127.0.0.1', 54321)]       (the line ends in a space)
//   recv: b'hello\n'
//   client was closed
//
// Where gevent runs it all on one thread, weft runs a fiber per connection
// on every core (--workers, 0: one per core). With --port=0 the port is
// picked by the kernel and "Listening on HOST:PORT" printed on stderr (the
// seed prints nothing of the kind, so stdout stays the seed's).
// tests/examples/check_echo_server.sh drives this and the seed with the same
// client session and diffs what they print.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "weft/weft.h"

ABSL_FLAG(std::string, host, "",
          "address to listen on (\"\": every IPv4 interface, the seed's bind(('', port)))");
ABSL_FLAG(int, port, 7788, "port to listen on (0: any free port, printed on stderr)");
ABSL_FLAG(int, backlog, 5, "listen() backlog: the seed's 5; load tests want more");
ABSL_FLAG(int, workers, 0, "worker threads (0: one per core)");
ABSL_FLAG(bool, quiet, false, "print nothing per client or message (for load tests)");

namespace {

// Python's str() of a socket address: ('127.0.0.1', 54321), or for IPv6
// ('::1', 54321, 0, 0).
std::string str(const weft::net::Address& addr) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (addr.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(addr.sockaddr_ptr());
    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
    return absl::StrFormat("('%s', %d)", ip, addr.port());
  }
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(addr.sockaddr_ptr());
  inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
  return absl::StrFormat("('%s', %d, %u, %u)", ip, addr.port(), ntohl(sin6->sin6_flowinfo),
                         sin6->sin6_scope_id);
}

// Python's repr() of bytes: b'...' in single quotes, or in double quotes if
// the bytes hold a ' and no "; \\, the quote, \t, \n and \r escaped, other
// bytes outside printable ASCII as \xhh.
std::string repr(std::string_view data) {
  const char quote =
      data.find('\'') != std::string_view::npos && data.find('"') == std::string_view::npos ? '"'
                                                                                            : '\'';
  std::string out = {'b', quote};
  for (unsigned char c : data) {
    if (c == quote || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < ' ' || c >= 0x7f) {
      out += absl::StrFormat("\\x%02x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

// Each line is one printf, so lines from fibers on different workers never
// mix; stdout is line-buffered (see main).
void handle_request(weft::net::TcpStream conn) {
  const bool quiet = absl::GetFlag(FLAGS_quiet);
  char buf[1024];
  for (;;) {  // while True:
    // recvData = conn.recv(1024)# 耗时操作
    absl::StatusOr<std::size_t> n = conn.read_some(buf);
    if (!n.ok()) {  // Python: recv raises, and the greenlet dies with a traceback
      std::fprintf(stderr, "echo_server: recv: %s\n", std::string(n.status().message()).c_str());
      return;
    }
    if (*n == 0) {  // if not recvData:
      conn.close();
      if (!quiet) std::printf("client was closed\n");
      break;
    }
    std::string_view data(buf, *n);
    if (!quiet) std::printf("recv: %s\n", repr(data).c_str());  // print("recv:", recvData)
    // conn.send(recvData): the document's `coon.send` is a typo. write_all
    // sends it all, as send() does with 1024 bytes on a blocking socket.
    if (absl::Status s = conn.write_all(data); !s.ok()) {
      std::fprintf(stderr, "echo_server: send: %s\n", std::string(s.message()).c_str());
      return;
    }
  }
}

int sever(int port) {
  // s = socket.socket(); s.bind(('', port)); s.listen(5)
  std::string host = absl::GetFlag(FLAGS_host);
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6
  absl::StatusOr<weft::net::TcpListener> s = weft::net::TcpListener::bind(
      host + ":" + std::to_string(port), {.backlog = absl::GetFlag(FLAGS_backlog)});
  if (!s.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", std::string(s.status().message()).c_str());
    return 1;
  }
  if (port == 0) {
    std::fprintf(stderr, "Listening on %s\n", s->local_address()->to_string().c_str());
  }
  const bool quiet = absl::GetFlag(FLAGS_quiet);
  for (;;) {  // while True:
    // cli, addr = s.accept() # 耗时操作
    absl::StatusOr<weft::net::TcpStream> cli = s->accept();
    if (!cli.ok()) {  // Python would die here; a server had better go on
      std::fprintf(stderr, "echo_server: accept: %s\n",
                   std::string(cli.status().message()).c_str());
      continue;
    }
    if (!quiet) {
      absl::StatusOr<weft::net::Address> addr = cli->peer_address();
      std::printf("new client from [%s] \n", addr.ok() ? str(*addr).c_str() : "?");
    }
    // 遇到耗时操作自动切换协程
    weft::spawn(handle_request, std::move(*cli));  // gevent.spawn(handle_request, cli)
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Seed #8: an echo server, one fiber per client (gevent's, ported).");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_backlog) < 1) {
    std::fprintf(stderr, "echo_server: --backlog must be 1 or more, got %d\n",
                 absl::GetFlag(FLAGS_backlog));
    return 2;
  }
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  if (absl::Status s = options.validate(); !s.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a line at a time, even into a pipe
  return weft::run(options, [] { return sever(absl::GetFlag(FLAGS_port)); });
}
