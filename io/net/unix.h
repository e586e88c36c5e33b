// Unix domain stream sockets for fibers: UnixListener, UnixStream and
// dial_unix().
//
//   auto listener = weft::net::UnixListener::bind("/run/myapp.sock");
//   weft::spawn([&] {
//     auto conn = weft::net::dial_unix("/run/myapp.sock");
//     conn->write_all("ping\n");
//   });
//   absl::StatusOr<weft::net::UnixStream> c = listener->accept();
//   char buf[64];
//   absl::StatusOr<std::size_t> n = c->read_some(buf);   // "ping\n"
//
// The same stream interface as TcpStream (read_some, read_exact, write_all,
// shutdown, default timeouts: see stream_socket.h), so code written against
// it — a weft::net::Server handler, a BufferedReader — serves both. Every
// call that would block parks the calling fiber, or blocks a plain thread.
// Paths are filesystem paths (at most 107 bytes); a path starting with '@'
// names a Linux abstract socket (no file).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/io/net/socket.h"
#include "weft/io/net/stream_socket.h"

namespace weft::net {

class UnixStream : public StreamSocket {
 public:
  UnixStream() = default;
  explicit UnixStream(Socket s) : StreamSocket(std::move(s)) {}
};

class UnixListener : public Socket {
 public:
  struct Options {
    int backlog = 1024;
    // Removes a file already at the path before binding (a socket left by a
    // previous run); otherwise bind fails with AlreadyExists.
    bool remove_existing = true;
  };

  // Binds and listens on `path`. InvalidArgument for an empty or too long
  // path; the errno's status (naming the path) if bind fails.
  static absl::StatusOr<UnixListener> bind(std::string_view path, Options options);
  static absl::StatusOr<UnixListener> bind(std::string_view path) { return bind(path, Options()); }

  // Waits for the next connection, like TcpListener::accept (same back-off
  // when out of fds; the same _for and _until forms).
  absl::StatusOr<UnixStream> accept_until(absl::Time deadline);
  absl::StatusOr<UnixStream> accept_for(absl::Duration timeout) {
    return accept_until(absl::Now() + timeout);
  }
  absl::StatusOr<UnixStream> accept() { return accept_until(absl::InfiniteFuture()); }

  // The path it listens on.
  const std::string& path() const { return path_; }

  UnixListener(UnixListener&&) noexcept = default;
  UnixListener& operator=(UnixListener&&) noexcept = default;
  // Closes the socket and removes its file (not for an abstract socket).
  ~UnixListener();

 private:
  UnixListener(Socket s, std::string path) : Socket(std::move(s)), path_(std::move(path)) {}
  std::string path_;
};

// Connects to the Unix socket at `path`. NotFound if nothing is there,
// Unavailable (ECONNREFUSED) if nobody listens, DeadlineExceeded at the
// deadline (a full backlog makes connect wait).
absl::StatusOr<UnixStream> dial_unix_until(std::string_view path, absl::Time deadline);
inline absl::StatusOr<UnixStream> dial_unix_for(std::string_view path, absl::Duration timeout) {
  return dial_unix_until(path, absl::Now() + timeout);
}
inline absl::StatusOr<UnixStream> dial_unix(std::string_view path) {
  return dial_unix_until(path, absl::InfiniteFuture());
}

}  // namespace weft::net
