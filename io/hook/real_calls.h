// libc's own versions of the calls libweft_hook.so replaces, found once with
// dlsym(RTLD_NEXT, ...): the next definition after ours in the lookup order
// (libc's, or a sanitizer's interceptor that then calls libc's).
#pragma once

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

namespace weft::hook::internal {

// X(name, return type, parameter list)
#define WEFT_HOOK_REAL_CALLS(X)                                                       \
  X(read, ssize_t, (int, void*, size_t))                                              \
  X(write, ssize_t, (int, const void*, size_t))                                       \
  X(readv, ssize_t, (int, const iovec*, int))                                         \
  X(writev, ssize_t, (int, const iovec*, int))                                        \
  X(recv, ssize_t, (int, void*, size_t, int))                                         \
  X(recvfrom, ssize_t, (int, void*, size_t, int, sockaddr*, socklen_t*))              \
  X(recvmsg, ssize_t, (int, msghdr*, int))                                            \
  X(send, ssize_t, (int, const void*, size_t, int))                                   \
  X(sendto, ssize_t, (int, const void*, size_t, int, const sockaddr*, socklen_t))     \
  X(sendmsg, ssize_t, (int, const msghdr*, int))                                      \
  X(accept, int, (int, sockaddr*, socklen_t*))                                        \
  X(accept4, int, (int, sockaddr*, socklen_t*, int))                                  \
  X(connect, int, (int, const sockaddr*, socklen_t))                                  \
  X(poll, int, (pollfd*, nfds_t, int))                                                \
  X(ppoll, int, (pollfd*, nfds_t, const timespec*, const sigset_t*))                  \
  X(select, int, (int, fd_set*, fd_set*, fd_set*, timeval*))                          \
  X(pselect, int, (int, fd_set*, fd_set*, fd_set*, const timespec*, const sigset_t*)) \
  X(epoll_wait, int, (int, epoll_event*, int, int))                                   \
  X(nanosleep, int, (const timespec*, timespec*))                                     \
  X(clock_nanosleep, int, (clockid_t, int, const timespec*, timespec*))               \
  X(sleep, unsigned int, (unsigned int))                                              \
  X(usleep, int, (useconds_t))                                                        \
  X(close, int, (int))                                                                \
  X(shutdown, int, (int, int))                                                        \
  X(fcntl, int, (int, int, ...))                                                      \
  X(ioctl, int, (int, unsigned long, ...))                                            \
  X(setsockopt, int, (int, int, int, const void*, socklen_t))                         \
  X(getsockopt, int, (int, int, int, void*, socklen_t*))                              \
  X(socket, int, (int, int, int))                                                     \
  X(socketpair, int, (int, int, int, int*))                                           \
  X(pipe, int, (int*))                                                                \
  X(pipe2, int, (int*, int))                                                          \
  X(dup, int, (int))                                                                  \
  X(dup2, int, (int, int))                                                            \
  X(dup3, int, (int, int, int))                                                       \
  X(getaddrinfo, int, (const char*, const char*, const addrinfo*, addrinfo**))        \
  X(gethostbyname, hostent*, (const char*))                                           \
  X(gethostbyname_r, int, (const char*, hostent*, char*, size_t, hostent**, int*))

struct RealCalls {
#define WEFT_HOOK_FIELD(name, ret, params) ret(*name) params;
  WEFT_HOOK_REAL_CALLS(WEFT_HOOK_FIELD)
#undef WEFT_HOOK_FIELD
};

// Filled by a constructor when the library is loaded (resolve_real_calls),
// or by the first hooked call if another library's constructor gets there
// first. Written before any thread but the loader's can see the library,
// then only read.
extern RealCalls g_real __attribute__((visibility("hidden")));
void resolve_real_calls();

// libc's `name`, resolving the table on the first call only.
#define WEFT_REAL(name)                                                \
  (__builtin_expect(::weft::hook::internal::g_real.name != nullptr, 1) \
       ? ::weft::hook::internal::g_real.name                           \
       : (::weft::hook::internal::resolve_real_calls(), ::weft::hook::internal::g_real.name))

}  // namespace weft::hook::internal
