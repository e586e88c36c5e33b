// libweft_hook.so's costs (io/hook/). A binary of its own, weft_hook_bench:
// linking the hook into weft_bench would route every other benchmark's
// syscalls through it.
//
// BM_HookedReadWrite: 64-byte ping-pong between two fibers on one worker
//   over a blocking AF_UNIX socketpair, with plain read(2)/write(2): each
//   read that finds nothing parks its fiber through the hook. One iteration =
//   one round trip. Baseline: BM_NetReadWrite, the same round trips on
//   weft::net (TcpStream over a non-blocking socketpair: read, EAGAIN,
//   weft::io::wait_readable; recv/send underneath). BM_HookedRecvSend is
//   BM_HookedReadWrite with recv/send: the same syscalls as weft::net, so
//   it isolates the hook's own cost (read/write on a socket cost the kernel
//   more than recv/send here). In this binary the baseline's calls pass
//   through the hook too (a non-blocking fd: straight to libc after one
//   table load), as they would in any program that links it.
// BM_HookedCallOutsideFiber: write(2) of one byte to /dev/null from a plain
//   thread, through the hook (outside a fiber: libc's write after one TLS
//   load). Baseline: BM_RawSyscallWrite, syscall(SYS_write, ...), which
//   bypasses both the hook and libc's wrapper.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "benchmark/benchmark.h"
#include "weft/io/hook/hook.h"
#include "weft/weft.h"

namespace {

constexpr std::size_t kMessage = 64;
constexpr int64_t kBatch = 1 << 14;

// The ping-pong with `Io`'s calls: read/write, or recv/send (the syscalls
// weft::net makes, so the comparison with BM_NetReadWrite is call for call).
template <typename Io>
void HookedPingPong(benchmark::State& state) {
  weft::Runtime rt({.workers = 1});
  while (state.KeepRunningBatch(kBatch)) {
    rt.spawn([] {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return;
        auto echo = weft::spawn([fd = sv[1]] {
          char buf[kMessage];
          for (;;) {
            ssize_t n = Io::read(fd, buf, sizeof buf);
            if (n <= 0 || Io::write(fd, buf, n) != n) return;
          }
        });
        char msg[kMessage] = {};
        for (int64_t i = 0; i < kBatch; ++i) {
          if (Io::write(sv[0], msg, sizeof msg) != kMessage) break;
          std::size_t got = 0;
          while (got < kMessage) {
            ssize_t n = Io::read(sv[0], msg + got, sizeof msg - got);
            if (n <= 0) break;
            got += n;
          }
        }
        close(sv[0]);  // the echo reads EOF
        echo.join();
        close(sv[1]);
      }).join();
  }
  state.SetItemsProcessed(state.iterations());
}
struct ReadWrite {
  static ssize_t read(int fd, void* b, size_t n) { return ::read(fd, b, n); }
  static ssize_t write(int fd, const void* b, size_t n) { return ::write(fd, b, n); }
};
struct RecvSend {
  static ssize_t read(int fd, void* b, size_t n) { return ::recv(fd, b, n, 0); }
  static ssize_t write(int fd, const void* b, size_t n) { return ::send(fd, b, n, MSG_NOSIGNAL); }
};

void BM_HookedReadWrite(benchmark::State& state) { HookedPingPong<ReadWrite>(state); }
BENCHMARK(BM_HookedReadWrite)->UseRealTime();

void BM_HookedRecvSend(benchmark::State& state) { HookedPingPong<RecvSend>(state); }
BENCHMARK(BM_HookedRecvSend)->UseRealTime();

void BM_NetReadWrite(benchmark::State& state) {
  weft::Runtime rt({.workers = 1});
  while (state.KeepRunningBatch(kBatch)) {
    rt.spawn([] {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return;
        weft::net::TcpStream a{weft::net::Socket(sv[0])};
        auto echo = weft::spawn([fd = sv[1]] {
          weft::net::TcpStream b{weft::net::Socket(fd)};
          char buf[kMessage];
          for (;;) {
            absl::StatusOr<std::size_t> n = b.read_some(buf);
            if (!n.ok() || *n == 0 || !b.write_all({buf, *n}).ok()) return;
          }
        });
        char msg[kMessage] = {};
        for (int64_t i = 0; i < kBatch; ++i) {
          if (!a.write_all({msg, sizeof msg}).ok() || !a.read_exact(msg).ok()) break;
        }
        a.close();
        echo.join();
      }).join();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NetReadWrite)->UseRealTime();

void BM_HookedCallOutsideFiber(benchmark::State& state) {
  int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  char c = 'x';
  for (auto _ : state) benchmark::DoNotOptimize(write(fd, &c, 1));
  close(fd);
}
BENCHMARK(BM_HookedCallOutsideFiber);

void BM_RawSyscallWrite(benchmark::State& state) {
  int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  char c = 'x';
  for (auto _ : state) benchmark::DoNotOptimize(syscall(SYS_write, fd, &c, 1));
  close(fd);
}
BENCHMARK(BM_RawSyscallWrite);

}  // namespace
