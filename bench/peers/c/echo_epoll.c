/*
 * Peer: a hand-written single-thread TCP echo server on epoll, the baseline
 * weft's echo server is measured against (tools/run_io_peers.sh).
 *
 * usage: echo_epoll [--port N] [--host ADDR]   (defaults: 7788, 127.0.0.1)
 *
 * Written to be as fast as a plain C server reasonably gets, so the ratio is
 * honest:
 *   - level-triggered epoll: a readable connection costs one epoll_wait
 *     entry, one read and one write (edge-triggered would add a read that
 *     returns EAGAIN to every wake-up);
 *   - the read goes straight back out with send(); only when the socket
 *     buffer is full is the rest copied to a per-connection buffer, the
 *     connection switched to EPOLLOUT, and reading paused until it drains
 *     (back-pressure instead of unbounded buffering);
 *   - TCP_NODELAY on every connection, as a latency-minded server sets it;
 *   - accept4 in a loop with SOCK_NONBLOCK; on EMFILE/ENFILE a spare fd is
 *     given up to accept and close the connection, so the listener does not
 *     spin;
 *   - EOF or an error closes the connection; nothing is printed per
 *     connection. SIGPIPE cannot happen (MSG_NOSIGNAL).
 * SIGINT/SIGTERM end it (the default action).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kMaxEvents = 256, kBufSize = 64 * 1024 };

/* Output that did not fit into the socket buffer; indexed by fd. */
struct pending {
  char *data;
  size_t len;
  size_t off;
};

static struct pending *pend;
static size_t npend;
static int epfd;
static int listen_fd;
static int spare_fd = -1;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static struct pending *pending_of(int fd) {
  if ((size_t)fd >= npend) {
    size_t n = npend ? npend : 1024;
    while (n <= (size_t)fd) n *= 2;
    struct pending *p = realloc(pend, n * sizeof *p);
    if (p == NULL) die("realloc");
    memset(p + npend, 0, (n - npend) * sizeof *p);
    pend = p;
    npend = n;
  }
  return &pend[fd];
}

static void close_conn(int fd) {
  if ((size_t)fd < npend) {
    free(pend[fd].data);
    memset(&pend[fd], 0, sizeof pend[fd]);
  }
  close(fd); /* also removes it from the epoll set */
}

static int set_interest(int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

/* Writes as much of buf as the socket takes; keeps the rest. 0, or -1 on error. */
static int send_or_keep(int fd, const char *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return -1;
  }
  if (off == len) return 0;
  struct pending *p = pending_of(fd);
  p->data = malloc(len - off);
  if (p->data == NULL) return -1;
  memcpy(p->data, buf + off, len - off);
  p->len = len - off;
  p->off = 0;
  /* Stop reading until the peer has taken what we owe it. */
  return set_interest(fd, EPOLLOUT);
}

static void on_readable(int fd, char *buf) {
  ssize_t n = read(fd, buf, kBufSize);
  if (n > 0) {
    if (send_or_keep(fd, buf, (size_t)n) < 0) close_conn(fd);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  close_conn(fd); /* EOF or error */
}

static void on_writable(int fd) {
  struct pending *p = pending_of(fd);
  while (p->off < p->len) {
    ssize_t n = send(fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL);
    if (n > 0) {
      p->off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_conn(fd);
    return;
  }
  free(p->data);
  memset(p, 0, sizeof *p);
  if (set_interest(fd, EPOLLIN) < 0) close_conn(fd);
}

static void on_acceptable(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && spare_fd >= 0) {
        /* Out of fds: free the spare, turn the connection away, take it back. */
        close(spare_fd);
        int c = accept(listen_fd, NULL, NULL);
        if (c >= 0) close(c);
        spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        continue;
      }
      return; /* EAGAIN, or an error that the next event retries */
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) close(fd);
  }
}

int main(int argc, char **argv) {
  int port = 7788;
  const char *host = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    if ((strcmp(argv[i], "--port") == 0 || strcmp(argv[i], "-port") == 0) && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if ((strcmp(argv[i], "--host") == 0 || strcmp(argv[i], "-host") == 0) && i + 1 < argc) {
      host = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--port N] [--host IPV4ADDR]\n", argv[0]);
      return 2;
    }
  }

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "echo_epoll: bad IPv4 address %s\n", host);
    return 2;
  }
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) die("socket");
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(listen_fd, 4096) < 0) die("listen");
  spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data.fd = listen_fd};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &lev) < 0) die("epoll_ctl");
  fprintf(stderr, "echo_epoll: listening on %s:%d\n", host, port);

  static char buf[kBufSize];
  struct epoll_event events[kMaxEvents];
  for (;;) {
    int n = epoll_wait(epfd, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      uint32_t ev = events[i].events;
      if (fd == listen_fd) {
        on_acceptable();
      } else if ((size_t)fd < npend && pend[fd].data != NULL) {
        /* Owing output (reading is paused): EPOLLOUT, or a hang-up or error
           that the next send reports. */
        on_writable(fd);
      } else if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        on_readable(fd, buf); /* a hang-up or error shows as EOF/error from read */
      }
    }
  }
}
