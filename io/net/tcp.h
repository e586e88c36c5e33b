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
// fibers) and takes an optional deadline; on a plain thread it blocks the
// thread. Errors are absl::Status values with errno-derived codes and
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

namespace weft::net {

class TcpStream : public Socket {
 public:
  TcpStream() = default;
  explicit TcpStream(Socket s) : Socket(std::move(s)) {}

  // Reads what is available, at most buf.size() bytes, waiting until there is
  // something. 0 means the peer closed its side (EOF). DeadlineExceeded if
  // nothing came by `deadline`; a reset peer is an error status.
  absl::StatusOr<std::size_t> read_some(std::span<char> buf,
                                        absl::Time deadline = absl::InfiniteFuture());
  // Reads exactly buf.size() bytes. OutOfRange (naming how many bytes came)
  // if the peer closes first. Bytes read before an error stay in buf.
  absl::Status read_exact(std::span<char> buf, absl::Time deadline = absl::InfiniteFuture());
  // Writes all of data, waiting for buffer space as needed.
  absl::Status write_all(std::string_view data, absl::Time deadline = absl::InfiniteFuture());

  // Half-close: the peer reads EOF; this side can still read.
  absl::Status shutdown_write();
  // Shuts both directions down (the fd stays open until close()). Safe while
  // another fiber is blocked on this stream: its read returns EOF (0), its
  // write an error.
  absl::Status shutdown();
  absl::Status set_nodelay(bool on);
  absl::StatusOr<Address> peer_address() const;
 private:
  // The last read returned less than asked: the socket buffer was empty
  // then, so the next read waits for an edge first instead of a syscall that
  // would only say EAGAIN (one syscall saved per message on a ping-pong
  // connection). An edge that arrived since is kept by the poller, and a
  // hang-up is sticky there (FdSlot::hung_up), so neither new data nor a
  // pending EOF can be missed.
  bool drained_ = false;
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
  absl::StatusOr<TcpStream> accept(absl::Time deadline = absl::InfiniteFuture());

 private:
  explicit TcpListener(Socket s) : Socket(std::move(s)) {}
};

// Connects to "host:port" (a name is resolved on the offload pool, see
// resolve()), trying each address in turn until one connects or `timeout`
// passes. The last address's error if none connects.
absl::StatusOr<TcpStream> dial(std::string_view host_port,
                               absl::Duration timeout = absl::InfiniteDuration());
absl::StatusOr<TcpStream> dial(const Address& address,
                               absl::Duration timeout = absl::InfiniteDuration());

}  // namespace weft::net
