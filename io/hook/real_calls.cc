#include "weft/io/hook/real_calls.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace weft::hook::internal {

RealCalls g_real;

void resolve_real_calls() {
  RealCalls r;
#define WEFT_HOOK_RESOLVE(name, ret, params)                                    \
  r.name = reinterpret_cast<ret(*) params>(dlsym(RTLD_NEXT, #name));            \
  if (r.name == nullptr) {                                                      \
    std::fprintf(stderr, "weft::hook: libc has no %s: %s\n", #name, dlerror()); \
    std::abort();                                                               \
  }
  WEFT_HOOK_REAL_CALLS(WEFT_HOOK_RESOLVE)
#undef WEFT_HOOK_RESOLVE
  // Idempotent: two threads racing here store the same addresses.
  g_real = r;
}

namespace {
// Before main and before the runtime starts any worker.
[[gnu::constructor(101)]] void resolve_at_load() { resolve_real_calls(); }
}  // namespace

}  // namespace weft::hook::internal
