// TlsStream: OpenSSL driven over a non-blocking socket by parking fibers.
//
// The loop. Every operation (handshake, read, write, shutdown) is a loop
// around one non-blocking OpenSSL call. The call reads and writes the socket
// through socket_bio until it is done or the socket says EAGAIN; then
// SSL_get_error says WANT_READ or WANT_WRITE and the fiber waits for that
// readiness with io::wait_readable / wait_writable (edge-triggered; the
// poller keeps an edge that arrives between the EAGAIN and the wait, see
// io/fd_wait.h), and calls again. OpenSSL keeps the state of a half-done
// record or handshake inside the SSL object between the calls.
//
// One call at a time. An SSL object must not be used by two threads at once,
// and a reader and a writer fiber may run on two workers. So every call is
// made under TlsSession::mu, held for that call only: the calls never block
// (the socket is non-blocking), writes go in 16 KiB slices (one record), and
// the fiber waits for the fd only after releasing the lock. A weft::Mutex
// would park instead of blocking a thread, but it is fiber-only, and
// TlsStream works on plain threads too, as TcpStream does; the longest a
// thread waits here is one record's cipher work.
//
// The error queue. OpenSSL's error queue and errno are per thread, and a
// fiber can resume on another worker after any wait. Each call therefore
// clears the queue first, and reads SSL_get_error, errno, the verify result
// and the queued reasons right after, all under the lock and before the
// fiber can switch (see Outcome and call()).
//
// Rejected: a memory BIO pair with the socket I/O done by TcpStream (one copy
// more per record, and the same loop); SSL_set_fd with OpenSSL's socket BIO
// (it writes with write(2), and a reset peer would raise SIGPIPE).
#include "weft/io/net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "weft/io/fd_wait.h"
#include "weft/io/net/internal/read_exact.h"
#include "weft/io/net/internal/socket_bio.h"
#include "weft/io/net/internal/tls_context_state.h"
#include "weft/io/net/internal/tls_error.h"

namespace weft::net {
namespace internal {

struct TlsSession {
  TlsSession(TcpStream t, std::shared_ptr<const TlsContextState> c)
      : tcp(std::move(t)), ctx(std::move(c)) {}
  ~TlsSession() { SSL_free(ssl); }  // frees the BIO too; tcp then closes the fd

  TcpStream tcp;
  // Keeps the SSL_CTX and what its callbacks read alive (SSL_new takes a
  // reference on the SSL_CTX, but not on TlsContextState).
  std::shared_ptr<const TlsContextState> ctx;
  // Serializes every OpenSSL call on `ssl` (see the top of this file). The
  // pointer itself is set once, before the stream is shared. A std::mutex,
  // not absl::Mutex: Debian's Abseil is built with deadlock detection on,
  // which took a global lock on every acquisition (a profile of
  // https_hello showed it).
  std::mutex mu;
  SSL* ssl = nullptr;
  // Set while a fiber is in read_some / in write_all or shutdown; they
  // reject a second reader or writer, as TcpStream does. `mu` orders the
  // SSL state; the acquire exchange and release store of `writing` order
  // `shut_down` from one writer to the next (on another worker, maybe).
  std::atomic<bool> reading{false};
  std::atomic<bool> writing{false};
  // Written and read with `writing` held: close_notify sent; a write_all
  // failed, maybe with part of a record still inside OpenSSL (a write with
  // other bytes would then send a corrupt stream).
  bool shut_down = false;
  bool write_failed = false;
  // Set by the handshake, read-only after it.
  std::string alpn;
  std::string server_name;
  std::string peer_subject;
  std::string version;
  // The defaults and the graceful-stop state, as in StreamSocket (see
  // stream_socket.h for why each atomic is relaxed). Set by the owner
  // between calls.
  absl::Duration read_timeout = absl::InfiniteDuration();
  absl::Time deadline = absl::InfiniteFuture();
  std::atomic<bool> timed_out{false};
  std::atomic<bool> answered{true};
  DrainControl* drain = nullptr;
};

}  // namespace internal

namespace {

using internal::TlsSession;

// A slice of write_all per SSL_write: one TLS record (the largest). It
// bounds how long `mu` is held; the socket BIO writes a record per send(2)
// anyway, so the slicing costs no syscall.
constexpr std::size_t kWriteSlice = 16 * 1024;

// What one OpenSSL call left behind, read on the thread that made it.
struct Outcome {
  bool ok = false;
  int error = SSL_ERROR_NONE;  // SSL_get_error
  int sys_errno = 0;
  unsigned long first_error = 0;  // the oldest queued error, 0 if none
  long verify_result = X509_V_OK;
  std::string reasons;
};

// Makes `f(ssl)`, which returns > 0 on success, under the session's lock,
// and collects its outcome before anything can switch the fiber.
template <typename F>
Outcome call(TlsSession& s, F&& f) {
  std::lock_guard<std::mutex> lock(s.mu);
  ERR_clear_error();
  errno = 0;
  int ret = f(s.ssl);
  Outcome o;
  o.sys_errno = errno;
  o.ok = ret > 0;
  if (o.ok) return o;
  o.error = SSL_get_error(s.ssl, ret);
  if (o.error == SSL_ERROR_SSL || o.error == SSL_ERROR_SYSCALL) {
    o.first_error = ERR_peek_error();
    o.verify_result = SSL_get_verify_result(s.ssl);
    o.reasons = internal::take_ssl_errors();
  } else {
    ERR_clear_error();
  }
  return o;
}

bool wants_io(const Outcome& o) {
  return o.error == SSL_ERROR_WANT_READ || o.error == SSL_ERROR_WANT_WRITE;
}

// Waits for the readiness OpenSSL asked for. `op` names a timeout.
absl::Status wait_for(const Outcome& o, int fd, absl::Time deadline, absl::string_view op) {
  absl::Status s = o.error == SSL_ERROR_WANT_READ ? io::wait_readable_until(fd, deadline)
                                                  : io::wait_writable_until(fd, deadline);
  if (absl::IsDeadlineExceeded(s)) {
    return absl::DeadlineExceededError(absl::StrCat("weft::net: TLS ", op, ": timed out"));
  }
  return s;
}

// The Status for a failed call (see the error list in tls.h).
absl::Status failure(const Outcome& o, absl::string_view op) {
  const bool unexpected_eof = (o.error == SSL_ERROR_SYSCALL && o.sys_errno == 0) ||
                              (o.error == SSL_ERROR_SSL &&
                               ERR_GET_REASON(o.first_error) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
  if (unexpected_eof && op == "handshake") {
    return absl::UnavailableError(
        "weft::net: TLS handshake: the peer closed the connection during the handshake");
  }
  if (unexpected_eof) {
    return absl::DataLossError(absl::StrCat(
        "weft::net: TLS ", op, ": the peer closed the connection without close_notify"));
  }
  if (o.error == SSL_ERROR_SYSCALL)
    return internal::errno_status(o.sys_errno, absl::StrCat("TLS ", op));
  if (o.error == SSL_ERROR_ZERO_RETURN) {
    return absl::UnavailableError(
        absl::StrCat("weft::net: TLS ", op, ": the peer closed the TLS session"));
  }
  if (ERR_GET_REASON(o.first_error) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    return absl::UnauthenticatedError(
        absl::StrCat("weft::net: TLS ", op, ": certificate verification failed: ",
                     X509_verify_cert_error_string(o.verify_result), " (", o.reasons, ")"));
  }
  return absl::UnavailableError(absl::StrCat("weft::net: TLS ", op, ": ", o.reasons));
}

absl::Status closed_error(absl::string_view op) {
  return absl::FailedPreconditionError(absl::StrCat("weft::net: TLS ", op, " on a closed stream"));
}

absl::Status busy_error(absl::string_view op, absl::string_view who) {
  return absl::FailedPreconditionError(
      absl::StrCat("weft::net: TLS ", op, ": another fiber is already ", who, " this stream"));
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

std::string subject_of(X509* cert) {
  if (cert == nullptr) return "";
  BIO* out = BIO_new(BIO_s_mem());
  if (out == nullptr) return "";
  X509_NAME_print_ex(out, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string s(data, static_cast<std::size_t>(std::max(len, 0L)));
  BIO_free(out);
  return s;
}

// A fresh session on `tcp`: its SSL with the weft socket BIO.
absl::StatusOr<std::unique_ptr<TlsSession>> new_session(
    TcpStream tcp, std::shared_ptr<const internal::TlsContextState> state) {
  if (state == nullptr) return absl::InvalidArgumentError("weft::net: TLS: an empty TlsContext");
  if (!tcp.is_open()) return closed_error("handshake");
  auto s = std::make_unique<TlsSession>(std::move(tcp), std::move(state));
  ERR_clear_error();
  s->ssl = SSL_new(s->ctx->ctx);
  if (s->ssl == nullptr)
    return internal::ssl_error(absl::StatusCode::kResourceExhausted, "SSL_new");
  BIO* bio = internal::new_socket_bio(s->tcp.fd());
  if (bio == nullptr) return internal::ssl_error(absl::StatusCode::kResourceExhausted, "BIO_new");
  SSL_set_bio(s->ssl, bio, bio);  // the SSL owns the BIO (one reference for both directions)
  return s;
}

const std::string& empty_string() {
  static const std::string* const empty = new std::string();
  return *empty;
}

}  // namespace

TlsStream::TlsStream() = default;
TlsStream::TlsStream(std::unique_ptr<TlsSession> session) : session_(std::move(session)) {}
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;
TlsStream::~TlsStream() = default;

absl::StatusOr<TlsStream> TlsStream::client_until(TcpStream tcp, const TlsContext& ctx,
                                                  std::string_view server_name,
                                                  absl::Time deadline) {
  const internal::TlsContextState* state = ctx.state_.get();
  if (state != nullptr && state->server) {
    return absl::InvalidArgumentError("weft::net: TLS client: given a server TlsContext");
  }
  if (state != nullptr && state->verify_peer && server_name.empty()) {
    return absl::InvalidArgumentError(
        "weft::net: TLS client: a server name is needed to verify the server's certificate "
        "(or build the context with verify_peer = false)");
  }
  absl::StatusOr<std::unique_ptr<TlsSession>> s = new_session(std::move(tcp), ctx.state_);
  if (!s.ok()) return s.status();
  TlsSession& session = **s;
  session.server_name = std::string(server_name);
  ERR_clear_error();
  SSL_set_connect_state(session.ssl);
  const bool ip = is_ip_literal(session.server_name);
  // SNI carries DNS names only (RFC 6066, 3).
  if (!ip && !session.server_name.empty() &&
      SSL_set_tlsext_host_name(session.ssl, session.server_name.c_str()) != 1) {
    return internal::ssl_error(absl::StatusCode::kInvalidArgument,
                               absl::StrCat("client: server name \"", session.server_name, "\""));
  }
  if (state->verify_peer) {
    X509_VERIFY_PARAM* param = SSL_get0_param(session.ssl);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, session.server_name.c_str())
                : SSL_set1_host(session.ssl, session.server_name.c_str());
    if (ok != 1) {
      return internal::ssl_error(absl::StatusCode::kInvalidArgument,
                                 absl::StrCat("client: server name \"", session.server_name, "\""));
    }
  }
  return handshake(std::move(*s), deadline);
}

absl::StatusOr<TlsStream> TlsStream::server_until(TcpStream tcp, const TlsContext& ctx,
                                                  absl::Time deadline) {
  const internal::TlsContextState* state = ctx.state_.get();
  if (state != nullptr && !state->server) {
    return absl::InvalidArgumentError("weft::net: TLS server: given a client TlsContext");
  }
  absl::StatusOr<std::unique_ptr<TlsSession>> s = new_session(std::move(tcp), ctx.state_);
  if (!s.ok()) return s.status();
  SSL_set_accept_state((*s)->ssl);
  return handshake(std::move(*s), deadline);
}

absl::StatusOr<TlsStream> TlsStream::handshake(std::unique_ptr<TlsSession> session,
                                               absl::Time deadline) {
  TlsSession& s = *session;
  for (;;) {
    Outcome o = call(s, [](SSL* ssl) { return SSL_do_handshake(ssl); });
    if (o.ok) break;
    if (!wants_io(o)) return failure(o, "handshake");
    if (absl::Status w = wait_for(o, s.tcp.fd(), deadline, "handshake"); !w.ok()) return w;
  }
  // Nobody else can see the session yet: no lock needed.
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(s.ssl, &alpn, &alpn_len);
  s.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (SSL_is_server(s.ssl)) {
    const char* name = SSL_get_servername(s.ssl, TLSEXT_NAMETYPE_host_name);
    s.server_name = name != nullptr ? name : "";
  }
  s.peer_subject = subject_of(SSL_get0_peer_certificate(s.ssl));
  s.version = SSL_get_version(s.ssl);
  return TlsStream(std::move(session));
}

absl::StatusOr<std::size_t> TlsStream::read_some_until(std::span<char> buf, absl::Time deadline) {
  if (session_ == nullptr || !session_->tcp.is_open()) return closed_error("read_some");
  if (buf.empty()) return 0;
  TlsSession& s = *session_;
  // Pairs with the release store below (see `reading`).
  if (s.reading.exchange(true, std::memory_order_acquire))
    return busy_error("read_some", "reading");
  absl::Cleanup done = [&s] { s.reading.store(false, std::memory_order_release); };
  // The idle timeout counts from the start of the call (as in StreamSocket);
  // no clock read without one.
  const absl::Time own = deadline;
  deadline = std::min(deadline, s.deadline);
  if (s.read_timeout != absl::InfiniteDuration()) {
    deadline = std::min(deadline, absl::Now() + s.read_timeout);
  }
  const bool from_default = deadline < own;
  for (;;) {
    std::size_t n = 0;
    bool pending = false;
    Outcome o = call(s, [&](SSL* ssl) {
      int r = SSL_read_ex(ssl, buf.data(), buf.size(), &n);
      // Part of a record already in OpenSSL: a message has begun.
      if (r <= 0) pending = SSL_has_pending(ssl) == 1;
      return r;
    });
    if (o.ok) {
      s.answered.store(false, std::memory_order_relaxed);
      return n;
    }
    if (o.error == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify: a clean end
    if (!wants_io(o)) return failure(o, "read");
    const bool idle = s.drain != nullptr && o.error == SSL_ERROR_WANT_READ && !pending &&
                      s.answered.load(std::memory_order_relaxed);
    if (idle) {
      // Acquire: pairs with the release in Server::stop.
      if (s.drain->draining.load(std::memory_order_acquire)) return 0;
      s.drain->idle_wait.store(true, std::memory_order_relaxed);
    }
    absl::Status w = wait_for(o, s.tcp.fd(), deadline, "read");
    if (idle) s.drain->idle_wait.store(false, std::memory_order_relaxed);
    if (w.ok()) continue;
    // A stopping Server wakes idle readers by forgetting the fd (Cancelled);
    // the next round sees `draining` or reads what came.
    if (absl::IsCancelled(w) && s.drain != nullptr &&
        s.drain->draining.load(std::memory_order_acquire)) {
      continue;
    }
    if (absl::IsDeadlineExceeded(w) && from_default) {
      s.timed_out.store(true, std::memory_order_relaxed);
      return absl::DeadlineExceededError(
          absl::StrCat("weft::net: TLS read: the stream's ",
                       deadline == s.deadline ? "deadline" : "read timeout", " (",
                       absl::FormatDuration(s.read_timeout), " a call, deadline ",
                       absl::FormatTime(s.deadline), ") passed"));
    }
    return w;
  }
}

absl::Status TlsStream::read_exact_until(std::span<char> buf, absl::Time deadline) {
  return internal::read_exact_with(buf, "TLS read_exact",
                                   [&](std::span<char> b) { return read_some_until(b, deadline); });
}

absl::Status TlsStream::write_all_until(std::string_view data, absl::Time deadline) {
  if (session_ == nullptr || !session_->tcp.is_open()) return closed_error("write_all");
  TlsSession& s = *session_;
  // Pairs with the release store below (see `writing`).
  if (s.writing.exchange(true, std::memory_order_acquire))
    return busy_error("write_all", "writing");
  absl::Cleanup done = [&s] { s.writing.store(false, std::memory_order_release); };
  if (s.shut_down) return absl::FailedPreconditionError("weft::net: TLS write_all after shutdown");
  if (s.write_failed) {
    return absl::FailedPreconditionError(
        "weft::net: TLS write_all after an earlier write failed (the stream may hold part of a "
        "record): close the stream");
  }
  absl::Cleanup failed = [&s] { s.write_failed = true; };  // cancelled on success
  const absl::Time own = deadline;
  deadline = std::min(deadline, s.deadline);
  while (!data.empty()) {
    // A retry after WANT_WRITE passes the same slice again, as OpenSSL
    // requires (the same length; the address may move:
    // SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, set in tls_context.cc).
    std::size_t slice = std::min(data.size(), kWriteSlice);
    std::size_t n = 0;
    Outcome o = call(s, [&](SSL* ssl) { return SSL_write_ex(ssl, data.data(), slice, &n); });
    if (o.ok) {
      data.remove_prefix(n);
      continue;
    }
    if (!wants_io(o)) return failure(o, "write");
    absl::Status w = wait_for(o, s.tcp.fd(), deadline, "write");
    if (w.ok()) continue;
    // Woken by a stopping Server poking this stream's reader: an answer
    // being written is what a graceful stop waits for.
    if (absl::IsCancelled(w) && s.drain != nullptr &&
        s.drain->draining.load(std::memory_order_acquire)) {
      continue;
    }
    if (absl::IsDeadlineExceeded(w) && deadline < own) {
      s.timed_out.store(true, std::memory_order_relaxed);
      return absl::DeadlineExceededError(
          absl::StrCat("weft::net: TLS write: the stream's deadline (",
                       absl::FormatTime(s.deadline), ") passed"));
    }
    return w;
  }
  std::move(failed).Cancel();
  s.answered.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status TlsStream::shutdown_until(absl::Time deadline) {
  if (session_ == nullptr || !session_->tcp.is_open()) return closed_error("shutdown");
  TlsSession& s = *session_;
  // Pairs with the release store below (see `writing`).
  if (s.writing.exchange(true, std::memory_order_acquire)) return busy_error("shutdown", "writing");
  absl::Cleanup done = [&s] { s.writing.store(false, std::memory_order_release); };
  if (s.shut_down) return absl::OkStatus();
  for (;;) {
    // 0: close_notify sent, the peer's not yet read; 1: both sent. Either
    // is done for us: waiting for the peer's would let it hold us.
    Outcome o = call(s, [](SSL* ssl) {
      int r = SSL_shutdown(ssl);
      return r >= 0 ? 1 : r;
    });
    if (o.ok) break;
    if (!wants_io(o)) return failure(o, "shutdown");
    if (absl::Status w = wait_for(o, s.tcp.fd(), deadline, "shutdown"); !w.ok()) return w;
  }
  s.shut_down = true;
  // The peer may have gone already (ENOTCONN): close_notify was still sent.
  s.tcp.shutdown_write().IgnoreError();
  return absl::OkStatus();
}

void TlsStream::close() {
  if (session_ != nullptr) session_->tcp.close();
}

void TlsStream::set_read_timeout(absl::Duration d) {
  if (session_ != nullptr) session_->read_timeout = d;
}
void TlsStream::set_deadline(absl::Time t) {
  if (session_ != nullptr) session_->deadline = t;
}
bool TlsStream::timed_out() const {
  return session_ != nullptr && session_->timed_out.load(std::memory_order_relaxed);
}
void TlsStream::mark_unanswered() {
  if (session_ != nullptr) session_->answered.store(false, std::memory_order_relaxed);
}
void TlsStream::set_drain_control(internal::DrainControl* d) {
  if (session_ != nullptr) session_->drain = d;
}

bool TlsStream::is_open() const { return session_ != nullptr && session_->tcp.is_open(); }
int TlsStream::fd() const { return session_ != nullptr ? session_->tcp.fd() : -1; }

const std::string& TlsStream::alpn_protocol() const {
  return session_ != nullptr ? session_->alpn : empty_string();
}
const std::string& TlsStream::server_name() const {
  return session_ != nullptr ? session_->server_name : empty_string();
}
const std::string& TlsStream::peer_certificate_subject() const {
  return session_ != nullptr ? session_->peer_subject : empty_string();
}
const std::string& TlsStream::protocol_version() const {
  return session_ != nullptr ? session_->version : empty_string();
}

absl::StatusOr<Address> TlsStream::peer_address() const {
  if (session_ == nullptr) return closed_error("peer_address");
  return session_->tcp.peer_address();
}

}  // namespace weft::net
