#include "weft/io/fd_wait.h"

#include "weft/core/internal/clock.h"
#include "weft/core/internal/poller.h"
#include "weft/core/internal/runtime_core.h"

namespace weft::io {
namespace {

absl::Status wait(int fd, internal::IoDir dir, absl::Time deadline) {
  internal::RuntimeCore* rt = internal::RuntimeCore::current();
  int64_t deadline_ns = internal::deadline_at(deadline);
  if (rt == nullptr) return internal::Poller::wait_thread(fd, dir, deadline_ns);
  return rt->poller().wait(fd, dir, deadline_ns);
}

}  // namespace

absl::Status watch(int fd) {
  internal::RuntimeCore* rt = internal::RuntimeCore::current();
  if (rt == nullptr) return absl::OkStatus();
  return rt->poller().watch(fd);
}

void forget(int fd) { internal::Poller::forget(fd); }

absl::Status wait_readable(int fd, absl::Time deadline) {
  return wait(fd, internal::IoDir::kRead, deadline);
}

absl::Status wait_writable(int fd, absl::Time deadline) {
  return wait(fd, internal::IoDir::kWrite, deadline);
}

}  // namespace weft::io
