// weft::net::Server — gevent's StreamServer: accept connections and run one
// fiber per connection, with a connection cap, timeouts and a graceful stop.
//
//   auto server = weft::net::Server::listen("0.0.0.0:7000", [](weft::net::TcpStream& conn) {
//     char buf[4096];
//     for (;;) {
//       absl::StatusOr<std::size_t> n = conn.read_some(buf);
//       if (!n.ok() || *n == 0 || !conn.write_all({buf, *n}).ok()) return;
//     }
//   }, {.max_connections = 10000, .idle_timeout = absl::Seconds(60)});
//   weft::spawn([&] { weft::wait_signal({SIGTERM}); server->stop(absl::Seconds(10)); });
//   server->serve();                      // returns once stopped
//
// Accepting starts when listen() returns (so the port is known and open at
// once); serve() only waits for the stop. Each connection's handler runs in
// its own fiber with the stream, which closes when the handler returns (or
// unwinds). Handlers run concurrently on every worker, so the handler
// object is called from many fibers at once and must be safe for that.
//
// Limits. max_connections bounds the handlers running at once: past it the
// server stops accepting (the kernel's backlog holds the rest, and they are
// served as slots free up) or, with reject_when_full, accepts and closes the
// newcomers at once, counting them. idle_timeout ends any read that waits
// that long for its first byte; connection_timeout ends every read and write
// that long after the accept. Either ends the handler's call with
// DeadlineExceeded (StreamSocket::timed_out() says which) and is counted in
// Stats::timed_out when the handler returns; the connection then closes.
//
// Stopping. stop(grace) closes the listeners at once (new connects are
// refused; connections still in the kernel's backlog are reset by it), then
// lets the handlers finish within `grace`: a connection that is idle — it
// has answered everything it read (a write_all since its last read) and is
// waiting for more — sees EOF (read_some returns 0), as if the client had
// closed, so a request/response handler ends after its current answer. A
// connection whose handler returned during the stop is closed gracefully:
// FIN first, then what the client still sends is read and dropped until it
// closes too (at most 1 s), so it reads EOF rather than a reset. A handler
// still running at the end of the grace is killed (weft::FiberExit: its
// RAII runs, its stream closes) and counted as cut.
//
// TLS. listen_tls takes a server TlsContext (io/net/tls_context.h) and a
// handler of TlsStream&:
//
//   auto ctx = weft::net::TlsContext::server(
//       {.certificate = {.cert_file = "server.pem", .key_file = "server.key"}});
//   auto server = weft::net::Server::listen_tls("0.0.0.0:7443", *ctx,
//       [](weft::net::TlsStream& conn) { /* as above */ },
//       {.idle_timeout = absl::Seconds(60), .handshake_timeout = absl::Seconds(5)});
//
// Each connection's handshake runs in the connection's own fiber (a slow
// client delays no other), within Options::handshake_timeout of the accept
// (and the connection_timeout, if sooner). A handshake that fails or times
// out — a plain-text client, a stalled one, no common protocol — closes the
// connection without calling the handler and is counted in
// Stats::tls_failed. Limits, timeouts and stopping then work as for TCP:
// a connection is idle at stop when it has written an answer (write_all)
// since the last read that returned data and OpenSSL holds no part of a
// record — the handshake's own writes and TLS 1.3 session tickets do not
// count as an answer. When the handler returns, the server sends
// close_notify (TlsStream::shutdown), so the client reads a clean end, not
// a truncation. A connection still in its handshake when stop() is called
// counts as running: it finishes (or fails) within the handshake timeout,
// or is killed at the end of the grace.
//
// Other stream types: the handler is a function of the stream type the
// server was made for (TcpStream from listen, UnixStream from listen_unix,
// TlsStream from listen_tls); the accepting, limits and stopping are the
// same code (see server.cc), which takes the accepted socket and hands it
// to a per-server "connection runner", which for TLS does the handshake.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/io/net/address.h"
#include "weft/io/net/tcp.h"
#include "weft/io/net/tls.h"
#include "weft/io/net/tls_context.h"
#include "weft/io/net/unix.h"

namespace weft::net {

class Server {
 public:
  struct Options {
    // Handlers running at once; 0: no limit.
    int max_connections = 0;
    // At the limit: false pauses accepting (the backlog waits), true accepts
    // and closes each new connection at once (Stats::rejected).
    bool reject_when_full = false;
    // The longest any read may wait for its first byte (InfiniteDuration: no
    // limit).
    absl::Duration idle_timeout = absl::InfiniteDuration();
    // The longest a connection may live, counted from its accept: every read
    // and write after that ends with DeadlineExceeded.
    absl::Duration connection_timeout = absl::InfiniteDuration();
    // TCP only: SO_REUSEPORT with `listeners` sockets on the one port (0: one
    // per worker of the runtime), each with its own accepting fiber; the
    // kernel spreads the connections over them.
    bool reuse_port = false;
    int listeners = 0;
    // The kernel's queue of connections not yet accepted.
    int backlog = 1024;
    // listen_tls only: the longest a TLS handshake may take, from the
    // accept; past it the connection closes (Stats::tls_failed).
    absl::Duration handshake_timeout = absl::Seconds(10);
  };

  // A snapshot of the counters. accepted: connections handed to a handler;
  // active: handlers running now; rejected: closed at once by
  // reject_when_full; timed_out: connections whose handler got a
  // DeadlineExceeded from idle_timeout or connection_timeout; cut: handlers
  // killed at the end of stop()'s grace; tls_failed: connections of
  // listen_tls whose handshake failed or timed out (their handler never ran;
  // they are in `accepted` too).
  struct Stats {
    uint64_t accepted = 0;
    uint64_t active = 0;
    uint64_t rejected = 0;
    uint64_t timed_out = 0;
    uint64_t cut = 0;
    uint64_t tls_failed = 0;
  };

  using TcpHandler = std::function<void(TcpStream&)>;
  using UnixHandler = std::function<void(UnixStream&)>;
  using TlsHandler = std::function<void(TlsStream&)>;

  // Binds "host:port" (numeric, see Address::parse; port 0 picks a free
  // one) and starts accepting. Must be called from a fiber: the accepting
  // fibers and the handlers run in its runtime. InvalidArgument for bad
  // options; the bind's error otherwise. Blocks nothing.
  static absl::StatusOr<Server> listen(std::string_view host_port, TcpHandler handler,
                                       Options options);
  static absl::StatusOr<Server> listen(std::string_view host_port, TcpHandler handler) {
    return listen(host_port, std::move(handler), Options());
  }
  // The same on a Unix socket path (see UnixListener::bind; the file is
  // removed at stop). reuse_port does not apply.
  static absl::StatusOr<Server> listen_unix(std::string_view path, UnixHandler handler,
                                            Options options);
  static absl::StatusOr<Server> listen_unix(std::string_view path, UnixHandler handler) {
    return listen_unix(path, std::move(handler), Options());
  }
  // TCP as listen, with TLS: every connection handshakes with `tls` (a
  // server context; the server keeps its own handle on it) before its
  // handler runs. InvalidArgument for a client context.
  static absl::StatusOr<Server> listen_tls(std::string_view host_port, const TlsContext& tls,
                                           TlsHandler handler, Options options);
  static absl::StatusOr<Server> listen_tls(std::string_view host_port, const TlsContext& tls,
                                           TlsHandler handler) {
    return listen_tls(host_port, tls, std::move(handler), Options());
  }

  Server(Server&&) noexcept;
  Server& operator=(Server&&) noexcept;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // A server still running is stopped with no grace (stop(ZeroDuration())).
  // From a fiber, like stop.
  ~Server();

  // Blocks the calling fiber until stop() has finished (at once if it has).
  // OK then; the error that made an accepting fiber give up, if one did
  // (the others keep accepting).
  absl::Status serve();

  // Stops: refuses new connections at once, waits up to `grace` for the
  // handlers (idle connections see EOF), then kills the rest and waits for
  // them to unwind. Returns how many were killed. Blocks the calling fiber
  // (which must not be one of this server's handlers) until every handler
  // has ended; a second call returns 0 at once.
  int stop(absl::Duration grace);

  Stats stats() const;

  // Where it listens: the TCP address (with the chosen port) or, for
  // listen_unix, an unspecified Address (see path()).
  Address address() const;
  // The Unix socket path, or empty for TCP.
  std::string path() const;

  struct State;  // server.cc

 private:
  explicit Server(std::unique_ptr<State> s);
  // listen and listen_tls: binds the listeners of `st` (options and runner
  // set), then start().
  static absl::StatusOr<Server> listen_tcp(std::string_view host_port, std::unique_ptr<State> st);
  // Spawns the accepting fibers of a State whose listeners are bound.
  static absl::StatusOr<Server> start(std::unique_ptr<State> st);
  std::unique_ptr<State> state_;
};

}  // namespace weft::net
