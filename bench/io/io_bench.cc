// I/O benchmarks: TCP echo over loopback, and the poller's wake-up path.
//
// BM_EchoRoundTrip: a client and a server inside one Runtime, over
//   127.0.0.1: a server fiber per connection echoes, a client fiber per
//   connection does 64-byte ping-pong. One iteration = one round trip (all
//   connections together); args are the worker count and the number of
//   connections. Baseline: BM_EchoRoundTripThreads, the same over blocking
//   sockets with a thread on each end of every connection.
// BM_PollerWake*: readiness to fiber resumed. Two pipes and a ping-pong: a
//   fiber waits in weft::io::wait_readable until the other side's byte
//   arrives, then answers on the second pipe. One iteration = one round trip
//   = two write -> resume wake-ups. FiberToFiber: both ends are fibers;
//   ThreadToFiber: a plain thread (blocking read) drives one fiber.
//   Baseline: BM_PipePingPongThreads, the same ping-pong between two plain
//   threads blocking in read(2).
//
// All timed in real time (the benchmark thread mostly waits), so Time is ns
// per round trip and items_per_second is round trips per second. With
// several connections that is their total throughput: each connection's own
// round trip takes `connections` times as long.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "weft/weft.h"

namespace {

constexpr std::size_t kMessage = 64;  // bytes per echo message

// ---- Echo over loopback.

// Echoes until the peer closes (or the stream fails).
void echo_serve(weft::net::TcpStream conn) {
  char buf[4096];
  for (;;) {
    absl::StatusOr<std::size_t> n = conn.read_some(buf);
    if (!n.ok() || *n == 0 || !conn.write_all({buf, *n}).ok()) return;
  }
}

void accept_loop(weft::net::TcpListener* listener) {
  for (;;) {
    absl::StatusOr<weft::net::TcpStream> conn = listener->accept();
    if (conn.ok()) weft::spawn(echo_serve, std::move(*conn)).detach();
  }
}

// `n` 64-byte round trips on `conn`.
absl::Status ping_pong(weft::net::TcpStream* conn, int64_t n) {
  std::string out(kMessage, 'x');
  std::string in(kMessage, '\0');
  for (int64_t i = 0; i < n; ++i) {
    if (absl::Status s = conn->write_all(out); !s.ok()) return s;
    if (absl::Status s = conn->read_exact(in); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Dials `clients.size()` connections to `where`.
absl::Status dial_all(std::vector<weft::net::TcpStream>* clients, weft::net::Address where) {
  for (auto& c : *clients) {
    absl::StatusOr<weft::net::TcpStream> s = weft::net::dial_for(where, absl::Seconds(5));
    if (!s.ok()) return s.status();
    c = std::move(*s);
  }
  return absl::OkStatus();
}

// `n` round trips on every client at once; the first error, if any.
absl::Status ping_pong_all(std::vector<weft::net::TcpStream>* clients, int64_t n) {
  std::vector<weft::Fiber<absl::Status>> fs;
  for (auto& c : *clients) fs.push_back(weft::spawn(ping_pong, &c, n));
  absl::Status first;
  for (auto& f : fs) first.Update(f.get());
  return first;
}

// Args: workers, connections.
void BM_EchoRoundTrip(benchmark::State& state) {
  const int connections = static_cast<int>(state.range(1));
  weft::Runtime rt({.workers = static_cast<int>(state.range(0))});
  absl::StatusOr<weft::net::TcpListener> listener = weft::net::TcpListener::bind("127.0.0.1:0");
  if (!listener.ok()) {
    state.SkipWithError(std::string(listener.status().message()).c_str());
    return;
  }
  weft::Fiber<void> acceptor = rt.spawn(accept_loop, &*listener);
  std::vector<weft::net::TcpStream> clients(static_cast<std::size_t>(connections));
  absl::Status status = rt.spawn(dial_all, &clients, *listener->local_address()).get();

  // Every connection does its share of a batch at the same time.
  const int64_t batch = 256 * connections;
  while (status.ok() && state.KeepRunningBatch(batch)) {
    status = rt.spawn(ping_pong_all, &clients, batch / connections).get();
  }
  if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());

  rt.spawn([&] {
      clients.clear();  // the server fibers read EOF and end
      acceptor.kill_and_join();
    }).join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EchoRoundTrip)
    ->ArgNames({"workers", "connections"})
    ->Args({1, 1})
    ->Args({2, 1})
    ->Args({1, 16})
    ->Args({2, 16})
    ->UseRealTime();

// The baseline: blocking sockets, a thread on each end of every connection.
bool write_full(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

bool read_full(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::read(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Arg: connections.
void BM_EchoRoundTripThreads(benchmark::State& state) {
  const int connections = static_cast<int>(state.range(0));
  int listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd < 0 || ::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd, 128) != 0 ||
      ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    state.SkipWithError("cannot listen on 127.0.0.1");
    if (listen_fd >= 0) ::close(listen_fd);
    return;
  }
  std::vector<int> clients;
  std::vector<std::thread> servers;
  for (int i = 0; i < connections; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      if (c >= 0) ::close(c);
      state.SkipWithError("cannot connect to 127.0.0.1");
      break;
    }
    int s = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) {
      ::close(c);
      state.SkipWithError("accept failed");
      break;
    }
    set_nodelay(c);
    set_nodelay(s);
    clients.push_back(c);
    servers.emplace_back([s] {
      char buf[4096];
      for (ssize_t n; (n = ::read(s, buf, sizeof(buf))) > 0;) {
        if (!write_full(s, buf, static_cast<std::size_t>(n))) break;
      }
      ::close(s);
    });
  }

  const int64_t batch = 256 * connections;
  std::atomic<bool> failed{false};
  while (!failed.load() && clients.size() == static_cast<std::size_t>(connections) &&
         state.KeepRunningBatch(batch)) {
    std::vector<std::thread> threads;
    for (int c : clients) {
      threads.emplace_back([c, n = batch / connections, &failed] {
        char out[kMessage] = {}, in[kMessage];
        for (int64_t i = 0; i < n; ++i) {
          if (!write_full(c, out, kMessage) || !read_full(c, in, kMessage)) {
            failed.store(true);
            return;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  if (failed.load()) state.SkipWithError("echo over blocking sockets failed");

  for (int c : clients) ::shutdown(c, SHUT_WR);  // the server threads read EOF
  for (auto& t : servers) t.join();
  for (int c : clients) ::close(c);
  ::close(listen_fd);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EchoRoundTripThreads)->ArgName("connections")->Arg(1)->Arg(16)->UseRealTime();

// ---- Poller wake-ups: ping-pong over two pipes.

// Two pipes: `ping` carries bytes to the fiber under test, `pong` back.
struct Pipes {
  int ping[2] = {-1, -1};  // [0] read end, [1] write end
  int pong[2] = {-1, -1};
  bool ok = false;

  // A read end a fiber reads is non-blocking (the fiber waits in the
  // poller); one a plain thread reads stays blocking.
  struct Readers {
    bool ping_fiber;
    bool pong_fiber;
  };
  explicit Pipes(Readers readers) {
    ok = ::pipe2(ping, O_CLOEXEC) == 0 && ::pipe2(pong, O_CLOEXEC) == 0 &&
         (!readers.ping_fiber || ::fcntl(ping[0], F_SETFL, O_NONBLOCK) == 0) &&
         (!readers.pong_fiber || ::fcntl(pong[0], F_SETFL, O_NONBLOCK) == 0);
  }
  ~Pipes() {
    for (int fd : {ping[0], ping[1], pong[0], pong[1]}) {
      if (fd < 0) continue;
      weft::io::forget(fd);  // before close, always
      ::close(fd);
    }
  }
};

constexpr char kStop = 'q';  // the byte that ends the answering side

// Reads one byte from a non-blocking fd, waiting for it in the poller.
// Every byte is answered before the next is sent, so the fd is empty when
// the wait starts; an edge that came early is kept by the poller.
bool fiber_read_byte(int fd, char* c) {
  for (;;) {
    if (!weft::io::wait_readable(fd).ok()) return false;
    ssize_t n = ::read(fd, c, 1);
    if (n == 1) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;  // else a stale edge
  }
}

// Reads bytes from `in` and answers each on `out`, until kStop.
bool answer(int in, int out) {
  for (char c;;) {
    if (!fiber_read_byte(in, &c) || !write_full(out, &c, 1)) return false;
    if (c == kStop) return true;
  }
}

// `n` round trips from this fiber to an answering fiber; the last byte sent
// is kStop, which ends the answerer.
bool ping_pong_fibers(const Pipes* p, int64_t n) {
  weft::Fiber<bool> answerer = weft::spawn(answer, p->ping[0], p->pong[1]);
  char c = 'x';
  for (int64_t i = 0; i < n; ++i) {
    if (i == n - 1) c = kStop;
    if (!write_full(p->ping[1], &c, 1) || !fiber_read_byte(p->pong[0], &c)) {
      answerer.kill_and_join();
      return false;
    }
  }
  return answerer.get();
}

// Both ends are fibers. Arg: workers.
void BM_PollerWakeFiberToFiber(benchmark::State& state) {
  weft::Runtime rt({.workers = static_cast<int>(state.range(0))});
  Pipes p({.ping_fiber = true, .pong_fiber = true});
  if (!p.ok) {
    state.SkipWithError("pipe2 failed");
    return;
  }
  constexpr int64_t kBatch = 4096;
  bool ok = true;
  while (ok && state.KeepRunningBatch(kBatch)) ok = rt.spawn(ping_pong_fibers, &p, kBatch).get();
  if (!ok) state.SkipWithError("pipe ping-pong between fibers failed");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PollerWakeFiberToFiber)->ArgName("workers")->Arg(1)->Arg(2)->UseRealTime();

// A plain thread (the benchmark's own, blocking in read) drives a fiber.
// Arg: workers.
void BM_PollerWakeThreadToFiber(benchmark::State& state) {
  weft::Runtime rt({.workers = static_cast<int>(state.range(0))});
  Pipes p({.ping_fiber = true, .pong_fiber = false});
  if (!p.ok) {
    state.SkipWithError("pipe2 failed");
    return;
  }
  weft::Fiber<bool> answerer = rt.spawn(answer, p.ping[0], p.pong[1]);
  char c = 'x';
  for (auto _ : state) {
    if (!write_full(p.ping[1], &c, 1) || !read_full(p.pong[0], &c, 1)) {
      state.SkipWithError("pipe ping-pong between a thread and a fiber failed");
      break;
    }
  }
  c = kStop;
  if (!write_full(p.ping[1], &c, 1)) {
    answerer.kill();  // ~Runtime would too
  } else if (!answerer.get()) {
    state.SkipWithError("the answering fiber failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PollerWakeThreadToFiber)->ArgName("workers")->Arg(1)->Arg(2)->UseRealTime();

// The baseline: the same ping-pong between two plain threads, both blocking
// in read(2).
void BM_PipePingPongThreads(benchmark::State& state) {
  Pipes p({.ping_fiber = false, .pong_fiber = false});
  if (!p.ok) {
    state.SkipWithError("pipe2 failed");
    return;
  }
  std::thread answerer([&p] {
    for (char c;;) {
      if (!read_full(p.ping[0], &c, 1) || !write_full(p.pong[1], &c, 1) || c == kStop) return;
    }
  });
  char c = 'x';
  for (auto _ : state) {
    if (!write_full(p.ping[1], &c, 1) || !read_full(p.pong[0], &c, 1)) {
      state.SkipWithError("pipe ping-pong between threads failed");
      break;
    }
  }
  c = kStop;
  write_full(p.ping[1], &c, 1);
  answerer.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PipePingPongThreads)->UseRealTime();

}  // namespace
