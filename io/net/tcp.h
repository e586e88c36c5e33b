// TCP for fibers: TcpListener, TcpStream and dial().
//
//   auto listener = weft::net::TcpListener::bind("127.0.0.1:7788");
//   for (;;) {
//     auto conn = listener->accept();
//     if (!conn.ok()) continue;
//     weft::spawn([c = std::move(*conn)]() mutable {
//       char buf[4096];
//       while (auto n = c.read_some(buf)) {           // StatusOr<size_t>
//         if (*n == 0 || !c.write_all({buf, *n}).ok()) break;
//       }
//     });
//   }
//
// Every call that would block parks the calling fiber (its worker runs other
// fibers); on a plain thread it blocks the thread. Each comes three ways, as
// in core and sync: `accept()` waits without a limit, `accept_for(timeout)`
// at most that long and `accept_until(deadline)` until that instant
// (DeadlineExceeded after it); likewise dial and the streams' reads and
// writes. Errors are absl::Status values with errno-derived codes and
// messages; nothing throws except weft::FiberExit when the fiber is killed
// while it waits. Writes never raise SIGPIPE (MSG_NOSIGNAL): a reset peer is
// an error status. Like Go, connections get TCP_NODELAY by default.
//
// One fiber may read while another writes the same stream; two fibers
// reading (or writing) one stream at once get FailedPrecondition. Any fiber
// may call shutdown() to end another's blocked read or write; close() belongs
// to the fiber that owns the stream (see Socket::close).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/io/net/address.h"
#include "weft/io/net/socket.h"
#include "weft/io/net/stream_socket.h"

namespace weft::net {

class TcpStream : public StreamSocket {
 public:
  TcpStream() = default;
  explicit TcpStream(Socket s) : StreamSocket(std::move(s)) {}

  // read_some, read_exact, write_all, shutdown_write, shutdown and the
  // default timeouts come from StreamSocket (stream_socket.h).

  absl::Status set_nodelay(bool on);
  absl::StatusOr<Address> peer_address() const;
};

class TcpListener : public Socket {
 public:
  struct Options {
    bool reuse_port = false;  // SO_REUSEPORT: several listeners on one port
    int backlog = 1024;
  };

  // Binds and listens on a numeric "host:port" (see Address::parse), with
  // SO_REUSEADDR. Port 0 picks a free port (see local_address()).
  static absl::StatusOr<TcpListener> bind(std::string_view host_port, Options options);
  static absl::StatusOr<TcpListener> bind(std::string_view host_port) {
    return bind(host_port, Options());
  }
  static absl::StatusOr<TcpListener> bind(const Address& address, Options options);

  // Waits for the next connection. When the process is out of fds (EMFILE,
  // ENFILE) or memory, it backs off (1 ms doubling to 100 ms) and tries
  // again until the deadline, so a server keeps serving the connections it
  // has; connections aborted before they were accepted are skipped.
  absl::StatusOr<TcpStream> accept_until(absl::Time deadline);
  absl::StatusOr<TcpStream> accept_for(absl::Duration timeout) {
    return accept_until(absl::Now() + timeout);
  }
  absl::StatusOr<TcpStream> accept() { return accept_until(absl::InfiniteFuture()); }

 private:
  explicit TcpListener(Socket s) : Socket(std::move(s)) {}
};

// Connects to "host:port" (a name is resolved on the offload pool, see
// resolve()), trying each address in turn until one connects or the
// deadline passes (DeadlineExceeded). The last address's error if none
// connects.
absl::StatusOr<TcpStream> dial_until(std::string_view host_port, absl::Time deadline);
absl::StatusOr<TcpStream> dial_until(const Address& address, absl::Time deadline);
inline absl::StatusOr<TcpStream> dial_for(std::string_view host_port, absl::Duration timeout) {
  return dial_until(host_port, absl::Now() + timeout);
}
inline absl::StatusOr<TcpStream> dial_for(const Address& address, absl::Duration timeout) {
  return dial_until(address, absl::Now() + timeout);
}
inline absl::StatusOr<TcpStream> dial(std::string_view host_port) {
  return dial_until(host_port, absl::InfiniteFuture());
}
inline absl::StatusOr<TcpStream> dial(const Address& address) {
  return dial_until(address, absl::InfiniteFuture());
}

}  // namespace weft::net
