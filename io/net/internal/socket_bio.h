// An OpenSSL BIO over a non-blocking socket fd that never raises SIGPIPE.
// Implementation detail of tls.cc.
//
// OpenSSL's own socket BIO writes with write(2): a peer that reset the
// connection would kill a process that has not ignored SIGPIPE. This one
// sends with MSG_NOSIGNAL, like TcpStream::write_all, so a reset peer is an
// error status. EAGAIN sets the BIO's retry flag, which SSL_get_error turns
// into SSL_ERROR_WANT_READ / WANT_WRITE; the caller then waits on the fd.
#pragma once

#include <openssl/bio.h>

namespace weft::net::internal {

// A new BIO on `fd`, which it neither owns nor closes. nullptr if OpenSSL
// is out of memory (its reason is queued).
BIO* new_socket_bio(int fd);

}  // namespace weft::net::internal
