#include "weft/core/this_fiber.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "weft/core/internal/clock.h"
#include "weft/core/internal/fiber_api.h"
#include "weft/core/private/worker.h"

namespace weft {
namespace {

void sleep_until_ns(int64_t deadline, const char* who) {
  internal::FiberControl* self = internal::require_fiber(who);
  if (deadline <= internal::monotonic_now_ns()) {
    yield();
    return;
  }
  for (;;) {
    internal::throw_if_killed(self);
    if (self->kill_requested.load(std::memory_order_relaxed)) return;  // unwinding: stop waiting
    internal::set_wait_site(self, internal::WaitKind::kSleep, static_cast<uint64_t>(deadline));
    internal::park_current(deadline, nullptr, nullptr);
    internal::throw_if_killed(self);
    if (internal::monotonic_now_ns() >= deadline) return;
  }
}

}  // namespace

void yield() {
  internal::FiberControl* self = internal::require_fiber("weft::yield");
  internal::throw_if_killed(self);
  internal::Worker::current()->yield_current();
  internal::throw_if_killed(self);
}

void sleep_for(absl::Duration d) { sleep_until_ns(internal::deadline_after(d), "weft::sleep_for"); }

void sleep_until(absl::Time t) { sleep_until_ns(internal::deadline_at(t), "weft::sleep_until"); }

bool in_fiber() {
  internal::Worker* w = internal::Worker::current();
  return w != nullptr && w->current_fiber() != nullptr;
}

FiberInfo current() {
  internal::FiberControl* self = internal::require_fiber("weft::current");
  return {self->id, std::string(self->name), internal::Worker::current()->index()};
}

void set_name(std::string_view name) {
  internal::FiberControl* self = internal::require_fiber("weft::set_name");
  std::size_t n = std::min(name.size(), sizeof self->name - 1);
  std::memcpy(self->name, name.data(), n);
  self->name[n] = '\0';
}

std::string FiberInfo::to_string() const {
  std::ostringstream os;
  os << *this;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const FiberInfo& info) {
  os << "<Fiber " << info.id;
  if (!info.name.empty()) os << " \"" << info.name << "\"";
  return os << " on worker " << info.worker << ">";
}

}  // namespace weft
