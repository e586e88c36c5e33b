// weft::net::Server: accepting fibers, one fiber per connection, a registry
// of live connections, and the graceful stop.
//
// Accepting. One fiber per listening socket loops on accept. With a
// connection cap and no reject_when_full it takes a Semaphore unit *before*
// accepting, so at the cap it simply stops calling accept and the kernel's
// backlog holds the newcomers; the unit goes back when the handler's fiber
// ends. With reject_when_full it accepts first and closes the connection if
// no unit is free.
//
// The registry. Every connection has a Conn record in `conns` (a std::list:
// its iterators stay valid while others come and go) holding the handler
// fiber's handle, its fd, and its DrainControl. The record is created, and
// the fiber spawned, under `mu`, so the fiber (which erases its own record
// under `mu` when it ends) cannot finish before its handle is stored. `mu`
// is a thread-side lock (weft::internal::Lock), not a weft::Mutex: the
// record is erased from a destructor, also while the fiber unwinds from a
// kill, and a fiber lock could throw FiberExit there. Nothing waits while
// holding it (spawn, list edits and io::forget block nothing).
//
// Stopping. (1) Kill and join the accepting fibers, then close the listeners:
// new connects are refused from here on. (2) Mark every connection draining
// (DrainControl::draining) and wake its reader if it is parked at a message
// boundary (DrainControl::idle_wait): io::forget(fd) ends that wait with
// Cancelled, and StreamSocket::read_some, seeing `draining`, returns EOF
// instead of waiting again. A reader between its check of `draining` and
// its park misses that wake-up, so the stopping fiber pokes again every
// kPokeInterval until the handlers are gone or the grace has passed: a
// periodic retry rather than a handshake with every reader, which would cost
// each read an atomic read-modify-write in the common, not-stopping case.
// The fd stays valid while it is poked: a connection's fiber sets Conn::fd
// to -1 under `mu` *before* its stream closes. (3) At the end of the grace,
// take the remaining handles, kill the fibers still running (counted as
// cut), and join them all.
//
// Rejected: closing idle connections with shutdown(SHUT_RD). It wakes the
// reader too, but from then on every read that finds the buffer empty
// returns 0, also in the middle of a request whose rest is still on its
// way, which would drop a request the server has begun to read.
#include "weft/io/net/server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <list>
#include <optional>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "weft/core/fiber.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/spawn.h"
#include "weft/io/fd_wait.h"
#include "weft/sync/event.h"
#include "weft/sync/semaphore.h"

namespace weft::net {
namespace {

constexpr absl::Duration kPokeInterval = absl::Milliseconds(20);

struct Conn {
  internal::DrainControl drain;
  int fd = -1;        // guarded by State::mu; -1 once the stream is about to close
  Fiber<void> fiber;  // guarded by State::mu; taken by stop() at the end of the grace
  // The handler has returned (the fiber may still linger over the close).
  // Written by the connection's fiber, read by stop() to count the cut;
  // relaxed: the count is a statistic, and the kill is right either way.
  std::atomic<bool> handler_done{false};
};

absl::Status validate(const Server::Options& o) {
  auto bad = [](const char* what) {
    return absl::InvalidArgumentError(absl::StrCat("weft::net::Server: ", what));
  };
  if (o.max_connections < 0) return bad("max_connections must be >= 0 (0: no limit)");
  if (o.backlog <= 0) return bad("backlog must be > 0");
  if (o.listeners < 0) return bad("listeners must be >= 0 (0: one per worker)");
  if (o.idle_timeout <= absl::ZeroDuration()) return bad("idle_timeout must be > 0");
  if (o.connection_timeout <= absl::ZeroDuration()) return bad("connection_timeout must be > 0");
  if (o.handshake_timeout <= absl::ZeroDuration()) return bad("handshake_timeout must be > 0");
  if (weft::internal::current_fiber_or_null() == nullptr) {
    return bad("listen must be called from a fiber of the runtime that will run the handlers");
  }
  return absl::OkStatus();
}

}  // namespace

struct Server::State {
  // Runs one connection: builds the stream from the accepted socket, calls
  // configure(), then the handler. The one place that knows the stream type
  // (the seam for TLS: a handshake before the handler).
  using Runner = std::function<void(State&, Socket, Conn&)>;

  Options options;
  Runner runner;
  std::vector<Socket> listeners;
  Address address;
  std::string unix_path;
  std::optional<Semaphore> slots;  // with a connection cap

  weft::internal::Lock mu;
  std::list<Conn> conns ABSL_GUARDED_BY(mu);
  absl::Status accept_error ABSL_GUARDED_BY(mu);
  std::vector<Fiber<void>> acceptors;  // the fiber that called listen and stop() only

  // Relaxed counters: statistics, read with no ordering against anything.
  std::atomic<uint64_t> accepted{0}, active{0}, rejected{0}, timed_out{0}, cut{0};
  std::atomic<uint64_t> tls_failed{0};
  std::atomic<int> acceptors_left{0};
  // Written and read under `mu` (as is every change of `active`; its
  // atomicity is for stats()): the handler that brings `active` to 0 during
  // a stop sets handlers_gone.
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool stopped = false;  // stop() has been called (the caller's fiber only)
  Event handlers_gone;   // the last handler ended during a stop
  Event done;            // stop() finished, or every acceptor gave up

  void accept_loop(int fd);
  void start(Socket s);
  void finish(std::list<Conn>::iterator it);
  template <typename StreamT>
  void configure(StreamT& stream, Conn& c, absl::Time accepted_at);
  void release(Conn& c, bool timed_out);
  void poke();
};

void Server::State::accept_loop(int fd) {
  const bool pause_at_cap = slots.has_value() && !options.reject_when_full;
  for (;;) {
    if (pause_at_cap) slots->acquire();  // a kill from stop() ends the wait
    absl::StatusOr<Socket> s = internal::accept_socket(fd, absl::InfiniteFuture());
    if (!s.ok()) {
      // accept_socket already retries what is transient (EINTR, aborted
      // connections, out of fds); what is left is the listener itself.
      if (pause_at_cap) slots->release();
      {
        weft::internal::LockGuard g(mu);
        if (accept_error.ok()) accept_error = s.status();
      }
      std::fprintf(stderr, "weft::net::Server: stopped accepting: %s\n",
                   std::string(s.status().message()).c_str());
      if (acceptors_left.fetch_sub(1, std::memory_order_relaxed) == 1) done.set();
      return;
    }
    if (slots.has_value() && options.reject_when_full && !slots->try_acquire()) {
      rejected.fetch_add(1, std::memory_order_relaxed);
      continue;  // `s` closes here
    }
    start(std::move(*s));
  }
}

void Server::State::start(Socket s) {
  weft::internal::LockGuard g(mu);
  auto it = conns.emplace(conns.end());
  it->fd = s.fd();
  accepted.fetch_add(1, std::memory_order_relaxed);
  active.fetch_add(1, std::memory_order_relaxed);
  it->fiber = weft::spawn([this, it, s = std::move(s)]() mutable {
    absl::Cleanup end = [this, it] { finish(it); };
    runner(*this, std::move(s), *it);
  });
}

template <typename StreamT>
void Server::State::configure(StreamT& stream, Conn& c, absl::Time accepted_at) {
  stream.set_read_timeout(options.idle_timeout);
  if (options.connection_timeout != absl::InfiniteDuration()) {
    stream.set_deadline(accepted_at + options.connection_timeout);
  }
  stream.set_drain_control(&c.drain);
}

void Server::State::release(Conn& c, bool was_timed_out) {
  if (was_timed_out) timed_out.fetch_add(1, std::memory_order_relaxed);
  weft::internal::LockGuard g(mu);
  c.fd = -1;  // no poke from here on: the stream closes next
}

void Server::State::finish(std::list<Conn>::iterator it) {
  if (slots.has_value()) slots->release();
  // The connection's last touch of the State: stop() returns (and the
  // State may be freed) once it has seen `active` reach 0 under `mu`, so
  // nothing of the State may be used after this block.
  weft::internal::LockGuard g(mu);
  // Dropping our own handle detaches it; stop() may have taken it already.
  conns.erase(it);
  if (active.fetch_sub(1, std::memory_order_relaxed) == 1 && stopping) handlers_gone.set();
}

void Server::State::poke() {
  weft::internal::LockGuard g(mu);
  for (Conn& c : conns) {
    if (c.fd >= 0 && c.drain.idle_wait.load(std::memory_order_relaxed)) io::forget(c.fd);
  }
}

namespace {

// A graceful close for a connection ended by a stop: the client may have
// begun its next request just as the handler saw EOF, and closing a socket
// with unread input resets the connection. So: FIN first (the client reads
// EOF), then read and drop what still comes until the client closes too,
// for at most kLinger (or until stop()'s grace ends and the kill comes).
void linger(int fd) {
  constexpr absl::Duration kLinger = absl::Seconds(1);
  if (::shutdown(fd, SHUT_WR) != 0) return;
  const absl::Time end = absl::Now() + kLinger;
  char buf[4096];
  for (std::size_t dropped = 0; dropped < (std::size_t{1} << 20);) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      dropped += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return;
    if (!io::wait_readable_until(fd, end).ok()) return;
  }
}

// Runs a connection's handler. A std::exception it throws is reported and
// ends the connection; weft::FiberExit is no std::exception, so a kill
// unwinds on through.
template <typename Handler, typename Stream>
void run_handler(const Handler& handler, Stream& stream) {
  try {
    handler(stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft::net::Server: a handler threw: %s\n", e.what());
  }
}

// The stream-specific part of a connection (State::Runner).
template <typename StreamT>
Server::State::Runner make_runner(std::function<void(StreamT&)> handler) {
  return [handler = std::move(handler)](Server::State& st, Socket s, Conn& c) {
    StreamT stream(std::move(s));
    st.configure(stream, c, absl::Now());
    // Declared after the stream, so it runs before the stream closes (also
    // when the fiber unwinds from a kill).
    absl::Cleanup release = [&] { st.release(c, stream.timed_out()); };
    run_handler(handler, stream);
    c.handler_done.store(true, std::memory_order_relaxed);
    // Acquire: pairs with the release in stop().
    if (c.drain.draining.load(std::memory_order_acquire) && stream.is_open()) linger(stream.fd());
  };
}

// The TLS runner: the handshake, then the handler as in make_runner, then
// close_notify.
Server::State::Runner make_tls_runner(TlsContext ctx, Server::TlsHandler handler) {
  return
      [ctx = std::move(ctx), handler = std::move(handler)](Server::State& st, Socket s, Conn& c) {
        const absl::Time accepted_at = absl::Now();
        absl::Time handshake_end = accepted_at + st.options.handshake_timeout;
        if (st.options.connection_timeout != absl::InfiniteDuration()) {
          handshake_end = std::min(handshake_end, accepted_at + st.options.connection_timeout);
        }
        absl::StatusOr<TlsStream> tls =
            TlsStream::server_until(TcpStream(std::move(s)), ctx, handshake_end);
        if (!tls.ok()) {
          // The socket is closed already (TlsStream::server closes it on error)
          // while Conn::fd still names it. Harmless: poke() forgets an fd only
          // while its reader is parked idle, which needs the drain control,
          // attached only after a handshake; release() clears it now anyway.
          st.tls_failed.fetch_add(1, std::memory_order_relaxed);
          st.release(c, /*was_timed_out=*/false);
          c.handler_done.store(true, std::memory_order_relaxed);
          return;
        }
        TlsStream& stream = *tls;
        st.configure(stream, c, accepted_at);
        // Declared after the stream, so it runs before the stream closes.
        absl::Cleanup release = [&] { st.release(c, stream.timed_out()); };
        run_handler(handler, stream);
        c.handler_done.store(true, std::memory_order_relaxed);
        if (!stream.is_open()) return;
        // close_notify, so the client reads a clean end rather than a
        // truncation (DataLoss); a peer gone already only makes it fail.
        stream.shutdown().IgnoreError();
        // Acquire: pairs with the release in stop(). linger's own SHUT_WR
        // repeats the one shutdown() made, harmlessly.
        if (c.drain.draining.load(std::memory_order_acquire)) linger(stream.fd());
      };
}

}  // namespace

absl::StatusOr<Server> Server::start(std::unique_ptr<State> st) {
  Server::State* raw = st.get();
  raw->acceptors_left.store(static_cast<int>(raw->listeners.size()), std::memory_order_relaxed);
  for (Socket& l : raw->listeners) {
    raw->acceptors.push_back(weft::spawn([raw, fd = l.fd()] { raw->accept_loop(fd); }));
  }
  return Server(std::move(st));
}

absl::StatusOr<Server> Server::listen(std::string_view host_port, TcpHandler handler,
                                      Options options) {
  auto st = std::make_unique<State>();
  st->options = options;
  st->runner = make_runner<TcpStream>(std::move(handler));
  return listen_tcp(host_port, std::move(st));
}

absl::StatusOr<Server> Server::listen_tls(std::string_view host_port, const TlsContext& tls,
                                          TlsHandler handler, Options options) {
  if (!tls.is_server()) {
    return absl::InvalidArgumentError(
        "weft::net::Server: listen_tls needs a server TlsContext (TlsContext::server)");
  }
  auto st = std::make_unique<State>();
  st->options = options;
  st->runner = make_tls_runner(tls, std::move(handler));
  return listen_tcp(host_port, std::move(st));
}

absl::StatusOr<Server> Server::listen_tcp(std::string_view host_port, std::unique_ptr<State> st) {
  const Options& options = st->options;
  if (absl::Status v = validate(options); !v.ok()) return v;
  absl::StatusOr<Address> a = Address::parse(host_port);
  if (!a.ok()) return a.status();
  int n = 1;
  if (options.reuse_port) {
    n = options.listeners > 0 ? options.listeners : weft::internal::current_worker_count();
  }
  Address at = *a;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<TcpListener> l =
        TcpListener::bind(at, {.reuse_port = options.reuse_port, .backlog = options.backlog});
    if (!l.ok()) return l.status();
    if (i == 0) {
      // Port 0 chose a port: the other SO_REUSEPORT sockets join that one.
      absl::StatusOr<Address> bound = l->local_address();
      if (!bound.ok()) return bound.status();
      at = *bound;
      st->address = *bound;
    }
    st->listeners.push_back(std::move(*l));
  }
  if (options.max_connections > 0) st->slots.emplace(options.max_connections);
  return start(std::move(st));
}

absl::StatusOr<Server> Server::listen_unix(std::string_view path, UnixHandler handler,
                                           Options options) {
  if (absl::Status v = validate(options); !v.ok()) return v;
  if (options.reuse_port) {
    return absl::InvalidArgumentError("weft::net::Server: reuse_port is for TCP only");
  }
  absl::StatusOr<UnixListener> l = UnixListener::bind(path, {.backlog = options.backlog});
  if (!l.ok()) return l.status();
  auto st = std::make_unique<State>();
  st->options = options;
  st->runner = make_runner<UnixStream>(std::move(handler));
  st->unix_path = l->path();
  st->listeners.push_back(std::move(*l));  // the server removes the file at stop
  if (options.max_connections > 0) st->slots.emplace(options.max_connections);
  return start(std::move(st));
}

Server::Server(std::unique_ptr<State> s) : state_(std::move(s)) {}
Server::Server(Server&&) noexcept = default;

Server& Server::operator=(Server&& other) noexcept {
  if (this != &other) {
    if (state_ != nullptr && !state_->stopped) stop(absl::ZeroDuration());
    state_ = std::move(other.state_);
  }
  return *this;
}

Server::~Server() {
  if (state_ != nullptr && !state_->stopped) stop(absl::ZeroDuration());
}

absl::Status Server::serve() {
  if (state_ == nullptr) return absl::FailedPreconditionError("weft::net::Server: moved from");
  state_->done.wait();
  weft::internal::LockGuard g(state_->mu);
  return state_->stopped ? absl::OkStatus() : state_->accept_error;
}

int Server::stop(absl::Duration grace) {
  State* st = state_.get();
  if (st == nullptr || st->stopped) return 0;
  st->stopped = true;
  const absl::Time end = absl::Now() + grace;

  // (1) No new connections: the acceptors end (a kill ends their accept or
  // their wait for a slot), then the listeners close.
  for (Fiber<void>& a : st->acceptors) a.kill();
  for (Fiber<void>& a : st->acceptors) a.join();
  st->acceptors.clear();
  for (Socket& l : st->listeners) l.close();
  if (!st->unix_path.empty() && st->unix_path[0] != '@') ::unlink(st->unix_path.c_str());

  // (2) Drain: idle connections see EOF; the others finish what they began.
  {
    weft::internal::LockGuard g(st->mu);
    st->stopping = true;
    // Release: pairs with the acquire in StreamSocket::read_some.
    for (Conn& c : st->conns) c.drain.draining.store(true, std::memory_order_release);
  }
  while (st->active.load(std::memory_order_relaxed) != 0 && absl::Now() < end) {
    st->poke();
    st->handlers_gone.wait_until(std::min(end, absl::Now() + kPokeInterval));
  }

  // (3) Cut what is left, and wait for it to unwind.
  std::vector<Fiber<void>> rest;
  int cut = 0;
  {
    weft::internal::LockGuard g(st->mu);
    for (Conn& c : st->conns) {
      if (!c.fiber.valid()) continue;
      // One whose handler returned is only lingering over its close: ended,
      // not cut, though the kill ends its linger too.
      if (!c.handler_done.load(std::memory_order_relaxed)) ++cut;
      rest.push_back(std::move(c.fiber));
    }
  }
  for (Fiber<void>& f : rest) f.kill();
  for (Fiber<void>& f : rest) f.join();
  // Fibers whose handle was dropped (they erased their record) may still be
  // in finish(): wait until the last has left it (see finish()).
  for (;;) {
    {
      weft::internal::LockGuard g(st->mu);
      if (st->active.load(std::memory_order_relaxed) == 0) break;
    }
    st->handlers_gone.wait_until(absl::Now() + kPokeInterval);
  }
  st->cut.fetch_add(static_cast<uint64_t>(cut), std::memory_order_relaxed);
  st->done.set();
  return cut;
}

Server::Stats Server::stats() const {
  Stats s;
  if (state_ == nullptr) return s;
  s.accepted = state_->accepted.load(std::memory_order_relaxed);
  s.active = state_->active.load(std::memory_order_relaxed);
  s.rejected = state_->rejected.load(std::memory_order_relaxed);
  s.timed_out = state_->timed_out.load(std::memory_order_relaxed);
  s.cut = state_->cut.load(std::memory_order_relaxed);
  s.tls_failed = state_->tls_failed.load(std::memory_order_relaxed);
  return s;
}

Address Server::address() const { return state_ != nullptr ? state_->address : Address(); }
std::string Server::path() const { return state_ != nullptr ? state_->unix_path : std::string(); }

}  // namespace weft::net
