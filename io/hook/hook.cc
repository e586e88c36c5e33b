// weft::hook::enabled and Disable. They live in weft_io, not in
// libweft_hook.so, so that a program that links weft without the hook can
// call them (enabled() is then false and Disable does nothing visible).
#include "weft/io/hook/hook.h"

#include "weft/core/internal/fiber_api.h"

namespace weft::hook {
namespace {

// This thread's copy of libweft_hook.so's gate, or null if the library is
// not loaded; looked up once a thread (dlsym may allocate).
int* gate() {
  thread_local int* const g = internal::hook_gate_of_this_thread();
  return g;
}

}  // namespace

bool enabled() {
  int* g = gate();
  return g != nullptr && *g != 0;
}

// The gate is per thread: see the scope rule in hook.h.
Disable::Disable() {
  int* g = gate();
  saved_ = g != nullptr ? *g : 0;
  if (g != nullptr) *g = 0;
}

Disable::~Disable() {
  if (int* g = gate()) *g = saved_;
}

}  // namespace weft::hook
