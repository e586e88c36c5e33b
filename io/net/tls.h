// TLS for fibers: TlsStream, a TcpStream wrapped in OpenSSL, with the same
// read/write interface and deadlines. Settings live in a TlsContext
// (io/net/tls_context.h).
//
//   auto ctx = weft::net::TlsContext::client({.alpn = {"http/1.1"}});
//   auto tcp = weft::net::dial("example.com:443");
//   auto tls = weft::net::TlsStream::client_for(std::move(*tcp), *ctx, "example.com",
//                                               absl::Seconds(5));
//   if (!tls.ok()) return tls.status();  // e.g. Unauthenticated: certificate has expired
//   tls->write_all("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
//   char buf[4096];
//   auto n = tls->read_some(buf);         // StatusOr<size_t>, 0 = clean close
//
// A server accepts a TcpStream, then calls TlsStream::server_for(std::move(conn),
// server_ctx, timeout): the handshake is where a plain-text client, a bad
// certificate or a stalled peer shows up, as a Status for that connection
// alone.
//
// Every call that would block parks the calling fiber on the socket (its
// worker runs other fibers) until the deadline; on a plain thread it blocks
// the thread. Each comes three ways, as on TcpStream: `read_some(buf)`
// without a limit, `read_some_for(buf, timeout)`, `read_some_until(buf,
// deadline)`; likewise read_exact, write_all, shutdown and the handshakes
// client and server. OpenSSL runs over the non-blocking socket: when it needs to
// read or write, the fiber waits for the fd through weft::io, never in a
// busy loop.
//
// Errors: DeadlineExceeded when a deadline passes; Unauthenticated when a
// certificate fails verification (the message says why, e.g. "certificate
// has expired", "hostname mismatch"); Unavailable for other TLS failures
// (the peer spoke something else than TLS, sent an alert, or offered no
// common ALPN protocol); DataLoss when the peer closed the connection
// without TLS's close_notify (a truncation: what was read may be incomplete);
// errno-derived codes from the socket. Each message carries OpenSSL's
// reasons.
//
// Concurrency: like TcpStream, one fiber may read while another writes the
// same stream; two fibers reading (or two writing) at once get
// FailedPrecondition. OpenSSL's SSL object is not thread-safe, so every
// OpenSSL call on it is made under a mutex held only for that one
// non-blocking call (at most one 16 KiB record encrypted or decrypted),
// never across a wait: a reader and a writer on two workers can make one
// another's thread wait microseconds, never for I/O. Unlike
// TcpStream::shutdown, TlsStream::shutdown does not end another fiber's
// blocked read (the peer's close_notify or a deadline does); to stop such a
// fiber from elsewhere, kill it. close() belongs to the stream's owner.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/io/net/tcp.h"
#include "weft/io/net/tls_context.h"

namespace weft::net {

namespace internal {
struct TlsSession;
}  // namespace internal

class TlsStream {
 public:
  // How long shutdown() waits, by default, to send its close_notify.
  static constexpr absl::Duration kShutdownTimeout = absl::Seconds(1);

  TlsStream();
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;
  // Closes the socket without close_notify (call shutdown() first for a
  // clean end). Blocks nothing.
  ~TlsStream();

  // Handshakes as a client over `tcp` (taken, and closed on error). With
  // the context's verify_peer (the default), the server's certificate must
  // chain to a trusted CA and be issued for `server_name` (a DNS name, or
  // an IP address matched against the certificate's IP entries); an empty
  // name is then InvalidArgument. A DNS name is also sent as SNI.
  static absl::StatusOr<TlsStream> client_until(TcpStream tcp, const TlsContext& ctx,
                                                std::string_view server_name, absl::Time deadline);
  static absl::StatusOr<TlsStream> client_for(TcpStream tcp, const TlsContext& ctx,
                                              std::string_view server_name,
                                              absl::Duration timeout) {
    return client_until(std::move(tcp), ctx, server_name, absl::Now() + timeout);
  }
  static absl::StatusOr<TlsStream> client(TcpStream tcp, const TlsContext& ctx,
                                          std::string_view server_name) {
    return client_until(std::move(tcp), ctx, server_name, absl::InfiniteFuture());
  }
  // Handshakes as a server over an accepted `tcp` (taken, and closed on
  // error). Pass a limit: a peer that stalls mid-handshake holds the
  // calling fiber until it.
  static absl::StatusOr<TlsStream> server_until(TcpStream tcp, const TlsContext& ctx,
                                                absl::Time deadline);
  static absl::StatusOr<TlsStream> server_for(TcpStream tcp, const TlsContext& ctx,
                                              absl::Duration timeout) {
    return server_until(std::move(tcp), ctx, absl::Now() + timeout);
  }
  static absl::StatusOr<TlsStream> server(TcpStream tcp, const TlsContext& ctx) {
    return server_until(std::move(tcp), ctx, absl::InfiniteFuture());
  }

  // Reads what is available (decrypted), at most buf.size() bytes, waiting
  // until there is something. 0 means the peer closed cleanly (close_notify);
  // a close without it is DataLoss. DeadlineExceeded if nothing came by
  // `deadline`.
  absl::StatusOr<std::size_t> read_some_until(std::span<char> buf, absl::Time deadline);
  absl::StatusOr<std::size_t> read_some_for(std::span<char> buf, absl::Duration timeout) {
    return read_some_until(buf, absl::Now() + timeout);
  }
  absl::StatusOr<std::size_t> read_some(std::span<char> buf) {
    return read_some_until(buf, absl::InfiniteFuture());
  }
  // Reads exactly buf.size() bytes. OutOfRange (naming how many came) if the
  // peer closes first. Bytes read before an error stay in buf.
  absl::Status read_exact_until(std::span<char> buf, absl::Time deadline);
  absl::Status read_exact_for(std::span<char> buf, absl::Duration timeout) {
    return read_exact_until(buf, absl::Now() + timeout);
  }
  absl::Status read_exact(std::span<char> buf) {
    return read_exact_until(buf, absl::InfiniteFuture());
  }
  // Encrypts and writes all of data, waiting for buffer space as needed.
  // After an error (DeadlineExceeded included) part of a record may be left
  // inside OpenSSL: later writes get FailedPrecondition; close the stream.
  absl::Status write_all_until(std::string_view data, absl::Time deadline);
  absl::Status write_all_for(std::string_view data, absl::Duration timeout) {
    return write_all_until(data, absl::Now() + timeout);
  }
  absl::Status write_all(std::string_view data) {
    return write_all_until(data, absl::InfiniteFuture());
  }

  // Ends this side cleanly: sends close_notify (waiting for buffer space
  // until `deadline`; without a limit of the caller's, kShutdownTimeout),
  // then half-closes the TCP connection. The peer reads 0; this side may go
  // on reading until the peer closes. Counts as a write (FailedPrecondition
  // while another fiber writes). Idempotent.
  absl::Status shutdown_until(absl::Time deadline);
  absl::Status shutdown_for(absl::Duration timeout) {
    return shutdown_until(absl::Now() + timeout);
  }
  absl::Status shutdown() { return shutdown_for(kShutdownTimeout); }
  // Closes the socket (no close_notify). Idempotent; the destructor calls
  // it. Must not race with another fiber's call on this stream.
  void close();

  bool is_open() const;
  int fd() const;
  // The ALPN protocol agreed on ("" if none).
  const std::string& alpn_protocol() const;
  // The SNI name the client sent (on a server; "" if none), or the name
  // given to client().
  const std::string& server_name() const;
  // The peer certificate's subject, RFC 2253 ("CN=example.com,O=..."); ""
  // if the peer showed none (a client, usually).
  const std::string& peer_certificate_subject() const;
  // "TLSv1.3", "TLSv1.2".
  const std::string& protocol_version() const;
  absl::StatusOr<Address> peer_address() const;

  // Default timeouts, as on StreamSocket (see stream_socket.h): each read
  // waits at most read_timeout for its first byte, and no read or write
  // goes past `deadline`; the earliest of these and a call's own deadline
  // wins. timed_out() says one of the defaults ended a call. For the
  // stream's owner, between calls; blocks nothing.
  void set_read_timeout(absl::Duration d);
  void set_deadline(absl::Time t);
  bool timed_out() const;
  // Says a message has begun though its first bytes sit in a buffer above
  // the stream (BufferedReader calls it; see StreamSocket).
  void mark_unanswered();
  // For weft::net::Server: the connection's drain control. A read that
  // would wait at a message boundary (a write_all since the last read that
  // returned data, nothing buffered in OpenSSL) returns 0 once the server
  // is stopping. Handshake and session-ticket writes are no write_all, so
  // they never make a connection look idle. Not for other callers.
  void set_drain_control(internal::DrainControl* d);

 private:
  explicit TlsStream(std::unique_ptr<internal::TlsSession> session);
  static absl::StatusOr<TlsStream> handshake(std::unique_ptr<internal::TlsSession> session,
                                             absl::Time deadline);

  // On the heap so that TlsStream moves while the mutex inside stays put.
  std::unique_ptr<internal::TlsSession> session_;
};

}  // namespace weft::net
