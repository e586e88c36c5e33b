// What a weft::net::TlsContext holds: OpenSSL's SSL_CTX and what its
// callbacks read. Implementation detail of tls_context.cc and tls.cc.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <utility>
#include <vector>

namespace weft::net::internal {

// Immutable once built, so any number of threads may handshake with it at
// once (OpenSSL allows concurrent SSL_new on one SSL_CTX). Every TlsStream
// holds a shared_ptr to it: the callbacks below get a raw pointer to it as
// their argument, which is valid while any handshake runs.
struct TlsContextState {
  TlsContextState() = default;
  TlsContextState(const TlsContextState&) = delete;
  TlsContextState& operator=(const TlsContextState&) = delete;
  ~TlsContextState();

  bool server = false;
  bool verify_peer = false;
  SSL_CTX* ctx = nullptr;  // owned
  // ALPN protocols in wire form (length byte, name, ...): offered (client)
  // or accepted in preference order (server).
  std::string alpn_wire;
  // Server only: SNI name (lower case, maybe "*.domain") -> its own SSL_CTX
  // (owned), configured like `ctx` but for its certificate.
  std::vector<std::pair<std::string, SSL_CTX*>> sni;
};

}  // namespace weft::net::internal
