#include "weft/io/net/internal/socket_bio.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

namespace weft::net::internal {
namespace {

int fd_of(BIO* b) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b))); }

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

int bio_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t n = ::send(fd_of(b), data, static_cast<size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && would_block(errno)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t n = ::recv(fd_of(b), data, static_cast<size_t>(len), 0);
  if (n < 0 && would_block(errno)) BIO_set_retry_read(b);
  return static_cast<int>(n);  // 0: EOF, which OpenSSL reports as such
}

long bio_ctrl(BIO*, int cmd, long, void*) {
  // Writes go straight to the socket: nothing to flush, nothing pending.
  // Every other query (kTLS, datagram, ...) answers "not supported".
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_create(BIO*) { return 1; }
int bio_destroy(BIO*) { return 1; }  // the fd belongs to the TcpStream

BIO_METHOD* make_method() {
  BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weft socket");
  if (m == nullptr) return nullptr;
  BIO_meth_set_write(m, bio_write);
  BIO_meth_set_read(m, bio_read);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  BIO_meth_set_destroy(m, bio_destroy);
  return m;
}

}  // namespace

BIO* new_socket_bio(int fd) {
  // Built once (thread-safe static initialisation), kept for the process.
  static BIO_METHOD* const method = make_method();
  if (method == nullptr) return nullptr;
  BIO* b = BIO_new(method);
  if (b == nullptr) return nullptr;
  BIO_set_data(b, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(b, 1);
  return b;
}

}  // namespace weft::net::internal
