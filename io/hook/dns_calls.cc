// Name look-ups from a fiber run on weft's offload pool (io/blocking.h): the
// fiber parks, its worker runs others. errno and h_errno, which libc sets on
// the offload thread, are copied back to the fiber.
#include <netdb.h>

#include <cerrno>
#include <exception>

#include "weft/io/blocking.h"
#include "weft/io/hook/hooked_wait.h"
#include "weft/io/hook/real_calls.h"

// Weak, as the runtime's functions in hooked_wait.h.
namespace weft {
[[gnu::weak]] bool in_fiber();
namespace internal {
[[gnu::weak]] void run_offloaded(OffloadJob* job);
}  // namespace internal
}  // namespace weft

namespace hk = weft::hook::internal;

namespace {

// Out of line for the same reason as hk::set_errno: __h_errno_location() is
// const, and the fiber may have moved threads since it was last called.
[[gnu::noinline]] void set_h_errno(int e) {
  asm volatile("" ::: "memory");
  h_errno = e;
}

// Runs fn on the offload pool, carrying errno and h_errno back. False if the
// fiber was killed (or its weft::Timeout expired) before fn could run.
template <typename F>
bool offload(const F& fn) {
  if (&weft::internal::run_offloaded == nullptr) {
    // A program that never used weft::blocking may lack the offload pool
    // (the linker took only what it used): the look-up blocks the worker.
    fn();
    return true;
  }
  int err = 0;
  int herr = 0;
  try {
    weft::blocking([&] {
      fn();
      err = errno;
      herr = h_errno;
    });
  } catch (...) {
    return false;
  }
  hk::set_errno(err);
  set_h_errno(herr);
  return true;
}

int hooked_getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                       addrinfo** res) noexcept {
  if (hk::hooked_fiber() == nullptr) return WEFT_REAL(getaddrinfo)(node, service, hints, res);
  int r = EAI_SYSTEM;
  if (!offload([&] { r = WEFT_REAL(getaddrinfo)(node, service, hints, res); })) {
    hk::set_errno(EINTR);
    return EAI_SYSTEM;
  }
  return r;
}

// Its result lives in libc's one static buffer, as on any thread.
hostent* hooked_gethostbyname(const char* name) noexcept {
  if (hk::hooked_fiber() == nullptr) return WEFT_REAL(gethostbyname)(name);
  hostent* r = nullptr;
  if (!offload([&] { r = WEFT_REAL(gethostbyname)(name); })) {
    set_h_errno(TRY_AGAIN);
    return nullptr;
  }
  return r;
}

int hooked_gethostbyname_r(const char* name, hostent* ret, char* buf, size_t len, hostent** result,
                           int* h_errnop) noexcept {
  if (hk::hooked_fiber() == nullptr) {
    return WEFT_REAL(gethostbyname_r)(name, ret, buf, len, result, h_errnop);
  }
  int r = EINTR;
  if (!offload([&] { r = WEFT_REAL(gethostbyname_r)(name, ret, buf, len, result, h_errnop); })) {
    *result = nullptr;
    *h_errnop = TRY_AGAIN;
    return EINTR;
  }
  return r;
}

}  // namespace

// <netdb.h> declares these three without an exception specification (they
// are cancellation points), so the interposed definitions must not add one
// (clang rejects the mismatch); the noexcept bodies above keep exceptions
// from ever unwinding into the C caller.
extern "C" {

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
  return hooked_getaddrinfo(node, service, hints, res);
}

hostent* gethostbyname(const char* name) { return hooked_gethostbyname(name); }

int gethostbyname_r(const char* name, hostent* ret, char* buf, size_t len, hostent** result,
                    int* h_errnop) {
  return hooked_gethostbyname_r(name, ret, buf, len, result, h_errnop);
}

}  // extern "C"
