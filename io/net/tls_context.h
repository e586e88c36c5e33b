// weft::net::TlsContext — the TLS settings (certificates, trust, ALPN) that
// many TlsStreams share; built once, then used by every connection.
//
//   // A server: its certificate chain and key, HTTP/1.1 over ALPN.
//   auto server_ctx = weft::net::TlsContext::server(
//       {.certificate = {.cert_file = "server.pem", .key_file = "server.key"},
//        .alpn = {"http/1.1"}});
//   // A client: the system's CAs, the peer's certificate and name checked.
//   auto client_ctx = weft::net::TlsContext::client({.alpn = {"h2", "http/1.1"}});
//
// Certificates, keys and CA bundles come from PEM files or from PEM text in
// memory. A client verifies the server's certificate chain and its name by
// default (TlsStream::client takes the name); `verify_peer = false` turns
// both off, for tests only. TLS 1.2 is the oldest version either side
// accepts; renegotiation is off.
//
// Errors are absl::Status values (InvalidArgument) naming the file or field
// and OpenSSL's reasons. A TlsContext is a cheap, thread-safe handle: copies
// share the same settings, and a TlsStream keeps them alive while it lives.
// Building one blocks nothing but the CPU and, for files, the disk.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace weft::net {

namespace internal {
struct TlsContextState;
}  // namespace internal

// (Every field has an initializer, "{}" at least, so that designated
// initializers may leave any out without -Wmissing-field-initializers.)

// A certificate chain and its private key, from files or from memory. For
// each of the two, set the file or the PEM text, not both. The chain is the
// leaf first, then the intermediates (what nginx's ssl_certificate holds).
struct TlsCertificate {
  std::string cert_file{};
  std::string key_file{};
  std::string cert_pem{};
  std::string key_pem{};
};

struct TlsClientOptions {
  // Trusted CAs, as a PEM bundle file and/or PEM text. With neither, the
  // system's default trust store (OpenSSL's default paths).
  std::string ca_file{};
  std::string ca_pem{};
  // Verify the server's chain and that it was issued for the name given to
  // TlsStream::client. Off: any certificate is accepted (tests only).
  bool verify_peer = true;
  // Optional: a certificate to show a server that asks for one.
  TlsCertificate certificate{};
  // ALPN protocols offered, most wanted first (e.g. {"h2", "http/1.1"}).
  std::vector<std::string> alpn{};
};

struct TlsServerOptions {
  // Required: the certificate served when no `sni` entry matches.
  TlsCertificate certificate{};
  // SNI: a certificate per server name the client asks for (exact names,
  // case-insensitive; "*.example.com" matches one label).
  std::map<std::string, TlsCertificate> sni{};
  // ALPN protocols accepted, the server's preference first. A client that
  // offers ALPN but none of these is refused (no_application_protocol
  // alert, RFC 7301); one that offers none gets no ALPN.
  std::vector<std::string> alpn{};
  // Client certificates: when true, a client must present one signed by a
  // CA of ca_file / ca_pem.
  bool verify_peer = false;
  std::string ca_file{};
  std::string ca_pem{};
};

class TlsContext {
 public:
  // The settings of a client. InvalidArgument for an unreadable or invalid
  // CA bundle, certificate or key, or a bad ALPN name (1 to 255 bytes).
  static absl::StatusOr<TlsContext> client(const TlsClientOptions& options);
  static absl::StatusOr<TlsContext> client() { return client(TlsClientOptions()); }
  // The settings of a server. InvalidArgument as above, or if a key does
  // not match its certificate.
  static absl::StatusOr<TlsContext> server(const TlsServerOptions& options);

  bool is_server() const;

 private:
  friend class TlsStream;
  explicit TlsContext(std::shared_ptr<const internal::TlsContextState> state)
      : state_(std::move(state)) {}

  std::shared_ptr<const internal::TlsContextState> state_;
};

}  // namespace weft::net
