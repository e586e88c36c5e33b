#include "weft/io/fd_wait.h"

#include "weft/core/internal/fiber_api.h"

namespace weft::io {

absl::Status watch(int fd) { return internal::watch_fd(fd); }

void forget(int fd) { internal::forget_fd(fd); }

absl::Status wait_readable_until(int fd, absl::Time deadline) {
  return internal::wait_fd(fd, internal::IoDir::kRead, internal::deadline_at(deadline));
}

absl::Status wait_writable_until(int fd, absl::Time deadline) {
  return internal::wait_fd(fd, internal::IoDir::kWrite, internal::deadline_at(deadline));
}

}  // namespace weft::io
