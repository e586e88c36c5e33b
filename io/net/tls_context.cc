// Building an SSL_CTX from TlsClientOptions / TlsServerOptions, and the two
// server callbacks that run during a handshake (SNI and ALPN).
//
// A server with `sni` entries gets one SSL_CTX per certificate, all
// configured by the same function; the servername callback moves the
// handshake's SSL onto the matching one (SSL_set_SSL_CTX). The ALPN and
// verification settings are per SSL_CTX in OpenSSL, which is why every one
// of them is configured alike rather than only the default one.
#include "weft/io/net/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "absl/strings/string_view.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "weft/io/net/internal/tls_context_state.h"
#include "weft/io/net/internal/tls_error.h"

namespace weft::net {
namespace internal {

TlsContextState::~TlsContextState() {
  for (auto& [name, sub] : sni) SSL_CTX_free(sub);
  SSL_CTX_free(ctx);
}

}  // namespace internal

namespace {

using internal::ssl_error;
using internal::TlsContextState;

absl::Status invalid(absl::string_view what) {
  return ssl_error(absl::StatusCode::kInvalidArgument, what);
}

// ALPN names in wire form: each one's length as a byte, then the name.
absl::StatusOr<std::string> alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("weft::net: TLS ALPN protocol \"", p, "\" must be 1 to 255 bytes"));
    }
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

// A BIO over PEM text in memory (read-only, not copied: `pem` outlives it).
struct MemBio {
  explicit MemBio(const std::string& pem)
      : bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))) {}
  ~MemBio() { BIO_free(bio); }
  BIO* bio;
};

// A key OpenSSL refused; says so plainly when it belongs to another
// certificate (OpenSSL checks that as it takes the key).
absl::Status key_error(absl::string_view what) {
  if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
    return invalid(absl::StrCat(what, ": the key does not match the certificate"));
  }
  return invalid(what);
}

absl::Status use_certificate(SSL_CTX* ctx, const TlsCertificate& c, absl::string_view who) {
  ERR_clear_error();
  if (!c.cert_file.empty() && !c.cert_pem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("weft::net: TLS ", who, ": set cert_file or cert_pem, not both"));
  }
  if (!c.key_file.empty() && !c.key_pem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("weft::net: TLS ", who, ": set key_file or key_pem, not both"));
  }
  if (!c.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, c.cert_file.c_str()) != 1) {
      return invalid(absl::StrCat(who, " certificate ", c.cert_file));
    }
  } else if (!c.cert_pem.empty()) {
    MemBio in(c.cert_pem);
    X509* leaf = PEM_read_bio_X509(in.bio, nullptr, nullptr, nullptr);
    if (leaf == nullptr) return invalid(absl::StrCat(who, " certificate (cert_pem)"));
    int ok = SSL_CTX_use_certificate(ctx, leaf);
    X509_free(leaf);
    if (ok != 1) return invalid(absl::StrCat(who, " certificate (cert_pem)"));
    // The rest of the text is the chain, up to the last certificate.
    while (X509* next = PEM_read_bio_X509(in.bio, nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add0_chain_cert(ctx, next) != 1) {
        X509_free(next);
        return invalid(absl::StrCat(who, " certificate chain (cert_pem)"));
      }
    }
    ERR_clear_error();  // the read past the last certificate queues "no start line"
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("weft::net: TLS ", who, ": no certificate (cert_file or cert_pem)"));
  }
  if (!c.key_file.empty()) {
    if (SSL_CTX_use_PrivateKey_file(ctx, c.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return key_error(absl::StrCat(who, " private key ", c.key_file));
    }
  } else if (!c.key_pem.empty()) {
    MemBio in(c.key_pem);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(in.bio, nullptr, nullptr, nullptr);
    if (key == nullptr) return invalid(absl::StrCat(who, " private key (key_pem)"));
    int ok = SSL_CTX_use_PrivateKey(ctx, key);
    EVP_PKEY_free(key);
    if (ok != 1) return key_error(absl::StrCat(who, " private key (key_pem)"));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("weft::net: TLS ", who, ": no private key (key_file or key_pem)"));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return invalid(absl::StrCat(who, ": the key does not match the certificate"));
  }
  return absl::OkStatus();
}

absl::Status load_cas(SSL_CTX* ctx, const std::string& ca_file, const std::string& ca_pem,
                      bool system_default) {
  ERR_clear_error();
  if (!ca_file.empty() && SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    return invalid(absl::StrCat("CA bundle ", ca_file));
  }
  if (!ca_pem.empty()) {
    MemBio in(ca_pem);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int added = 0;
    while (X509* ca = PEM_read_bio_X509(in.bio, nullptr, nullptr, nullptr)) {
      int ok = X509_STORE_add_cert(store, ca);
      X509_free(ca);
      if (ok != 1) return invalid("CA bundle (ca_pem)");
      ++added;
    }
    if (added == 0) return invalid("CA bundle (ca_pem): no certificate in it");
    ERR_clear_error();  // the read past the last certificate
  }
  if (ca_file.empty() && ca_pem.empty() && system_default &&
      SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return invalid("the system's default CA store");
  }
  return absl::OkStatus();
}

// The server's ALPN choice: its first protocol the client offers. `arg` is
// the TlsContextState (see its comment for why it is alive).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* state = static_cast<const TlsContextState*>(arg);
  if (state->alpn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  const auto* server = reinterpret_cast<const unsigned char*>(state->alpn_wire.data());
  if (SSL_select_next_proto(&chosen, outlen, server,
                            static_cast<unsigned int>(state->alpn_wire.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol (RFC 7301, 3.2)
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

bool sni_matches(absl::string_view pattern, absl::string_view name) {
  if (absl::StartsWith(pattern, "*.")) {
    absl::string_view suffix = pattern.substr(1);  // ".example.com"
    if (!absl::EndsWithIgnoreCase(name, suffix) || name.size() == suffix.size()) return false;
    return name.substr(0, name.size() - suffix.size()).find('.') == absl::string_view::npos;
  }
  return absl::EqualsIgnoreCase(pattern, name);
}

// Moves a handshake onto the SSL_CTX holding the certificate for the name
// the client asked for; an unknown or missing name keeps the default one.
int select_sni(SSL* ssl, int*, void* arg) {
  const auto* state = static_cast<const TlsContextState*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  for (const auto& [pattern, sub] : state->sni) {
    if (sni_matches(pattern, name)) {
      SSL_set_SSL_CTX(ssl, sub);
      break;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

// What every SSL_CTX of weft gets, client or server.
absl::StatusOr<SSL_CTX*> new_ctx(bool server) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) return ssl_error(absl::StatusCode::kInternal, "SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  // Partial writes: write_all retries with what is left, after a wait.
  // Moving buffer: a retried write may pass a different address for the
  // same bytes. Release buffers: an idle connection holds no 16 KiB record
  // buffers (a server with many idle clients stays small).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Read ahead: one recv(2) takes what the socket holds (up to a record
  // buffer) instead of a header, then a body. Safe with edge-triggered waits:
  // SSL_read is always called again before a wait, and reads from the
  // buffer first, so bytes it holds are never left waiting for an edge.
  SSL_CTX_set_read_ahead(ctx, 1);
  return ctx;
}

absl::Status configure_server(SSL_CTX* ctx, const TlsServerOptions& o, const TlsCertificate& cert,
                              absl::string_view who, TlsContextState* state) {
  if (absl::Status s = use_certificate(ctx, cert, who); !s.ok()) return s;
  if (o.verify_peer) {
    if (o.ca_file.empty() && o.ca_pem.empty()) {
      return absl::InvalidArgumentError(
          "weft::net: TLS server: verify_peer needs the client CAs (ca_file or ca_pem)");
    }
    if (absl::Status s = load_cas(ctx, o.ca_file, o.ca_pem, false); !s.ok()) return s;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  // Resumed sessions must come from this server's settings (and OpenSSL
  // refuses to resume a verified session without a session id context).
  static constexpr unsigned char kSessionContext[] = "weft";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  // Resumption through session tickets only (stateless, TLS 1.2 and 1.3),
  // no cache of sessions in the server: OpenSSL's internal cache holds up
  // to 20,480 sessions and sweeps all of them, under the SSL_CTX's lock,
  // every 255 handshakes (a profile of new connections showed the sweep).
  // nginx's default (ssl_session_cache none) is the same.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, state);
  SSL_CTX_set_tlsext_servername_callback(ctx, select_sni);
  SSL_CTX_set_tlsext_servername_arg(ctx, state);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TlsContext> TlsContext::client(const TlsClientOptions& o) {
  auto state = std::make_shared<TlsContextState>();
  state->verify_peer = o.verify_peer;
  absl::StatusOr<std::string> wire = alpn_wire(o.alpn);
  if (!wire.ok()) return wire.status();
  state->alpn_wire = std::move(*wire);
  absl::StatusOr<SSL_CTX*> ctx = new_ctx(false);
  if (!ctx.ok()) return ctx.status();
  state->ctx = *ctx;
  if (o.verify_peer) {
    if (absl::Status s = load_cas(state->ctx, o.ca_file, o.ca_pem, true); !s.ok()) return s;
    SSL_CTX_set_verify(state->ctx, SSL_VERIFY_PEER, nullptr);
  }
  const TlsCertificate& c = o.certificate;
  if (!c.cert_file.empty() || !c.cert_pem.empty() || !c.key_file.empty() || !c.key_pem.empty()) {
    if (absl::Status s = use_certificate(state->ctx, c, "client"); !s.ok()) return s;
  }
  if (!state->alpn_wire.empty()) {
    const auto* p = reinterpret_cast<const unsigned char*>(state->alpn_wire.data());
    // Note the inverted convention: 0 is success here.
    if (SSL_CTX_set_alpn_protos(state->ctx, p,
                                static_cast<unsigned int>(state->alpn_wire.size())) != 0) {
      return invalid("client ALPN list");
    }
  }
  return TlsContext(std::move(state));
}

absl::StatusOr<TlsContext> TlsContext::server(const TlsServerOptions& o) {
  auto state = std::make_shared<TlsContextState>();
  state->server = true;
  state->verify_peer = o.verify_peer;
  absl::StatusOr<std::string> wire = alpn_wire(o.alpn);
  if (!wire.ok()) return wire.status();
  state->alpn_wire = std::move(*wire);
  absl::StatusOr<SSL_CTX*> ctx = new_ctx(true);
  if (!ctx.ok()) return ctx.status();
  state->ctx = *ctx;
  if (absl::Status s = configure_server(state->ctx, o, o.certificate, "server", state.get());
      !s.ok()) {
    return s;
  }
  for (const auto& [name, cert] : o.sni) {
    absl::StatusOr<SSL_CTX*> sub = new_ctx(true);
    if (!sub.ok()) return sub.status();
    state->sni.emplace_back(absl::AsciiStrToLower(name), *sub);
    if (absl::Status s =
            configure_server(*sub, o, cert, absl::StrCat("server (SNI ", name, ")"), state.get());
        !s.ok()) {
      return s;
    }
  }
  return TlsContext(std::move(state));
}

bool TlsContext::is_server() const { return state_ != nullptr && state_->server; }

}  // namespace weft::net
