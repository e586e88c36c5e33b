// weft::net::StreamSocket — the byte-stream half shared by TcpStream and
// UnixStream: read_some / read_exact / write_all with deadlines, shutdown,
// and per-stream default timeouts (Go's SetReadDeadline, SO_RCVTIMEO).
//
//   weft::net::TcpStream conn = ...;
//   conn.set_read_timeout(absl::Seconds(30));          // each read: 30 s of silence at most
//   conn.set_deadline(absl::Now() + absl::Minutes(5)); // and nothing past 5 minutes
//   char buf[4096];
//   absl::StatusOr<std::size_t> n = conn.read_some(buf);  // DeadlineExceeded after 30 s idle
//   if (!n.ok() && conn.timed_out()) { /* one of the defaults fired, not a caller's deadline */ }
//   absl::Status w = conn.write_all_for("pong\n", absl::Seconds(1));  // this call: 1 s at most
//
// Each read and write comes three ways, as core's and sync's timed waits
// do: `read_some(buf)` without a limit of its own, `read_some_for(buf,
// timeout)` and `read_some_until(buf, deadline)`. A call's own limit and the
// stream's defaults combine: the earliest wins. With no default set (the
// usual case) nothing changes and a call without a limit waits forever.
//
// Every call that would block parks the calling fiber (its worker runs other
// fibers); on a plain thread it blocks the thread. Errors are absl::Status
// values with errno-derived codes; nothing throws except weft::FiberExit when
// the fiber is killed while it waits. Writes never raise SIGPIPE.
//
// One fiber may read while another writes the same stream; any fiber may
// call shutdown() to end another's blocked read or write; close() belongs to
// the fiber that owns the stream (see Socket::close). The timeout setters are
// for the owner too, between calls.
#pragma once

#include <atomic>
#include <cstddef>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/io/net/socket.h"

namespace weft::net {

namespace internal {
// How weft::net::Server asks a connection to wind down gracefully (see
// server.cc, "Stopping"). Owned by the server's connection record; the
// stream only reads it. Null for a stream no server watches.
struct DrainControl {
  // Set once by Server::stop (release); read by the stream's reads
  // (acquire) before they wait, so a read at a message boundary ends.
  std::atomic<bool> draining{false};
  // True while the stream's reader is parked at a message boundary. Written
  // by the reader, read by the stopping fiber to decide whom to wake; a
  // stale answer only costs a spurious wake-up or one more poke round, so
  // both sides use relaxed.
  std::atomic<bool> idle_wait{false};
};
}  // namespace internal

class StreamSocket : public Socket {
 public:
  StreamSocket() = default;
  explicit StreamSocket(Socket s) : Socket(std::move(s)) {}
  // Moves carry the timeouts and the read state; like every call, not while
  // another fiber uses the stream.
  StreamSocket(StreamSocket&& other) noexcept;
  StreamSocket& operator=(StreamSocket&& other) noexcept;

  // Reads what is available, at most buf.size() bytes, waiting until there is
  // something. 0 means the peer closed its side (EOF) — or, under a stopping
  // weft::net::Server, that the connection was idle (see Server::stop).
  // DeadlineExceeded if nothing came by the deadline (the earliest of
  // `deadline` and the stream's defaults); a reset peer is an error status.
  absl::StatusOr<std::size_t> read_some_until(std::span<char> buf, absl::Time deadline);
  absl::StatusOr<std::size_t> read_some_for(std::span<char> buf, absl::Duration timeout) {
    return read_some_until(buf, absl::Now() + timeout);
  }
  absl::StatusOr<std::size_t> read_some(std::span<char> buf) {
    return read_some_until(buf, absl::InfiniteFuture());
  }
  // Reads exactly buf.size() bytes. OutOfRange (naming how many bytes came)
  // if the peer closes first. Bytes read before an error stay in buf.
  absl::Status read_exact_until(std::span<char> buf, absl::Time deadline);
  absl::Status read_exact_for(std::span<char> buf, absl::Duration timeout) {
    return read_exact_until(buf, absl::Now() + timeout);
  }
  absl::Status read_exact(std::span<char> buf) {
    return read_exact_until(buf, absl::InfiniteFuture());
  }
  // Writes all of data, waiting for buffer space as needed.
  absl::Status write_all_until(std::string_view data, absl::Time deadline);
  absl::Status write_all_for(std::string_view data, absl::Duration timeout) {
    return write_all_until(data, absl::Now() + timeout);
  }
  absl::Status write_all(std::string_view data) {
    return write_all_until(data, absl::InfiniteFuture());
  }

  // Half-close: the peer reads EOF; this side can still read.
  absl::Status shutdown_write();
  // Shuts both directions down (the fd stays open until close()). Safe while
  // another fiber is blocked on this stream: its read returns EOF (0), its
  // write an error.
  absl::Status shutdown();

  // Default timeouts, applied when they come before a call's own deadline.
  // read_timeout: how long each read may wait for its first byte (an idle
  // timeout; InfiniteDuration: none). write_timeout: the same for each
  // write_all as a whole. deadline: an absolute end for every read and write
  // (InfiniteFuture: none). Blocks nothing.
  void set_read_timeout(absl::Duration d) { read_timeout_ = d; }
  void set_write_timeout(absl::Duration d) { write_timeout_ = d; }
  void set_deadline(absl::Time t) { deadline_ = t; }
  absl::Duration read_timeout() const { return read_timeout_; }
  absl::Duration write_timeout() const { return write_timeout_; }
  absl::Time deadline() const { return deadline_; }
  // True once a read or write ended with DeadlineExceeded because of one of
  // the defaults above (not because of a deadline the caller passed).
  bool timed_out() const { return timed_out_.load(std::memory_order_relaxed); }

  // Says that a message has begun though the next read would find nothing
  // of it in the socket: its first bytes sit in a buffer above the stream
  // (BufferedReader calls it). A stopping Server then lets that read wait
  // for the rest instead of ending it as idle. Blocks nothing.
  void mark_unanswered() { answered_.store(false, std::memory_order_relaxed); }

  // For weft::net::Server: the connection's drain control (see
  // internal::DrainControl); null detaches. Not for other callers.
  void set_drain_control(internal::DrainControl* d) { drain_ = d; }

 private:
  // The effective deadline of a read or write begun now, and whether it is
  // one of the defaults (so that DeadlineExceeded means "timed out").
  absl::Time effective_deadline(absl::Time caller, absl::Duration per_call,
                                bool* from_default) const;
  // Waits for the fd in one direction; maps an expired default deadline to a
  // DeadlineExceeded naming it, and sets timed_out_.
  absl::Status wait(bool read, absl::Time deadline, bool from_default);

  // The last read returned less than asked: the socket buffer was empty
  // then, so the next read waits for an edge first instead of a syscall that
  // would only say EAGAIN (one syscall saved per message on a ping-pong
  // connection). An edge that arrived since is kept by the poller, and a
  // hang-up is sticky there (FdSlot::hung_up), so neither new data nor a
  // pending EOF can be missed.
  bool drained_ = false;
  // True when everything read so far has been answered: no read since the
  // last write_all (or nothing read yet). A read that would wait then is
  // "idle" — between requests — and is the one a stopping Server ends.
  // Written by the reading fiber (false) and the writing fiber (true), which
  // may be two fibers at once: atomic, and relaxed because the last store
  // wins either way (a read and a write racing have no order to keep; a
  // full-duplex stream has no message boundary to find).
  std::atomic<bool> answered_{true};
  // Set by whichever direction timed out (see timed_out()); relaxed: a flag
  // read after the handler returned, nothing published with it.
  std::atomic<bool> timed_out_{false};
  absl::Duration read_timeout_ = absl::InfiniteDuration();
  absl::Duration write_timeout_ = absl::InfiniteDuration();
  absl::Time deadline_ = absl::InfiniteFuture();
  internal::DrainControl* drain_ = nullptr;
};

}  // namespace weft::net
