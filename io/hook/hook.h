// weft::hook — makes unmodified blocking code cooperative (gevent's
// monkey.patch_all()).
//
// Link libweft_hook.so (CMake target weft::hook) into a program that links
// weft, or LD_PRELOAD it into one, and the blocking calls of every library in
// the process — read, recv, connect, poll, sleep, getaddrinfo... (the list is
// in io/hook/README.md) — park only the calling fiber instead of its worker
// thread. Nothing to call: the library's presence turns the hooks on.
//
//   // target_link_libraries(fetcher PRIVATE weft::weft weft::hook CURL::libcurl)
//   weft::run([] {
//     std::vector<weft::Fiber<long>> fs;
//     for (auto& url : urls) fs.push_back(weft::spawn([&] { return fetch_with_curl(url); }));
//     weft::join_all(fs);   // the fetches overlap: curl's poll() and recv() park fibers
//   });
//
// What a caller sees is libc's: a socket made non-blocking by the user still
// returns EAGAIN; a blocking one waits (parking the fiber on weft's poller);
// SO_RCVTIMEO/SO_SNDTIMEO end a wait with EAGAIN; errno is the call's. Outside
// any fiber (plain threads, the offload pool, before the runtime starts) every
// hooked call is exactly libc's.
//
// Interruption: a Fiber::kill or an expired weft::Timeout ends a hooked wait
// with -1/EINTR (the hook never throws through a C library's frames); the
// fiber's next weft suspension point then throws FiberExit / TimeoutError.
#pragma once

namespace weft::hook {

// True if libweft_hook.so is loaded in this process and the calling thread is
// a weft worker not inside a Disable scope: a blocking call made here would
// park the fiber. Blocks nothing.
bool enabled();

// Within its scope the calling worker thread's hooked calls go straight to
// libc, blocking the thread as they would without weft::hook. Nests. The
// scope must not contain a weft suspension point (a wait, a yield): the
// fiber could resume on another worker, whose calls would stay unhooked,
// while this one's came back on only at the end of the scope.
//
//   { weft::hook::Disable raw; ::read(fd, buf, n); }   // blocks the worker
class Disable {
 public:
  Disable();
  ~Disable();
  Disable(const Disable&) = delete;
  Disable& operator=(const Disable&) = delete;

 private:
  int saved_;
};

}  // namespace weft::hook
