#include "weft/io/net/unix.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "weft/io/fd_wait.h"

namespace weft::net {
namespace {

using internal::errno_status;

// Fills `sa` for `path`; '@' at the start names an abstract socket (a
// leading NUL byte in sun_path, no file).
absl::StatusOr<socklen_t> make_sockaddr(std::string_view path, sockaddr_un* sa) {
  std::memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (path.empty()) return absl::InvalidArgumentError("weft::net: empty Unix socket path");
  if (path.size() >= sizeof sa->sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("weft::net: Unix socket path longer than ",
                                                   sizeof sa->sun_path - 1,
                                                   " bytes: ", std::string(path)));
  }
  std::memcpy(sa->sun_path, path.data(), path.size());
  if (path[0] == '@') sa->sun_path[0] = '\0';
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                (path[0] == '@' ? 0 : 1));
}

}  // namespace

absl::StatusOr<UnixListener> UnixListener::bind(std::string_view path, Options options) {
  sockaddr_un sa;
  absl::StatusOr<socklen_t> len = make_sockaddr(path, &sa);
  if (!len.ok()) return len.status();
  absl::StatusOr<Socket> s = Socket::open(AF_UNIX, SOCK_STREAM);
  if (!s.ok()) return s.status();
  std::string p(path);
  if (options.remove_existing && p[0] != '@') ::unlink(p.c_str());  // ENOENT is fine
  if (::bind(s->fd(), reinterpret_cast<sockaddr*>(&sa), *len) != 0) {
    return errno_status(errno, absl::StrCat("bind ", p));
  }
  if (::listen(s->fd(), options.backlog) != 0) return errno_status(errno, "listen");
  return UnixListener(std::move(*s), std::move(p));
}

UnixListener::~UnixListener() {
  if (is_open() && !path_.empty() && path_[0] != '@') ::unlink(path_.c_str());
}

absl::StatusOr<UnixStream> UnixListener::accept_until(absl::Time deadline) {
  if (fd_ < 0) return absl::FailedPreconditionError("weft::net: accept on a closed socket");
  absl::StatusOr<Socket> s = internal::accept_socket(fd_, deadline);
  if (!s.ok()) return s.status();
  return UnixStream(std::move(*s));
}

absl::StatusOr<UnixStream> dial_unix_until(std::string_view path, absl::Time deadline) {
  sockaddr_un sa;
  absl::StatusOr<socklen_t> len = make_sockaddr(path, &sa);
  if (!len.ok()) return len.status();
  absl::StatusOr<Socket> s = Socket::open(AF_UNIX, SOCK_STREAM);
  if (!s.ok()) return s.status();
  UnixStream conn(std::move(*s));
  // A non-blocking connect to a Unix socket whose backlog is full says
  // EAGAIN; it completes when the socket turns writable.
  if (::connect(conn.fd(), reinterpret_cast<sockaddr*>(&sa), *len) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) {
      return errno_status(errno, absl::StrCat("connect ", std::string(path)));
    }
    for (;;) {
      if (absl::Status w = io::wait_writable_until(conn.fd(), deadline); !w.ok()) {
        if (absl::IsDeadlineExceeded(w)) {
          return absl::DeadlineExceededError(
              absl::StrCat("weft::net: connect ", std::string(path), ": timed out"));
        }
        return w;
      }
      int err = 0;
      socklen_t elen = sizeof err;
      getsockopt(conn.fd(), SOL_SOCKET, SO_ERROR, &err, &elen);
      if (err != 0) return errno_status(err, absl::StrCat("connect ", std::string(path)));
      // EAGAIN earlier: retry the connect now that there may be room.
      if (::connect(conn.fd(), reinterpret_cast<sockaddr*>(&sa), *len) == 0 || errno == EISCONN) {
        break;
      }
      if (errno != EAGAIN && errno != EINPROGRESS && errno != EALREADY) {
        return errno_status(errno, absl::StrCat("connect ", std::string(path)));
      }
    }
  }
  return conn;
}

}  // namespace weft::net
