// The seeds' crawler: fetching slow URLs one after another, then all at once.
//
// It starts a small HTTP server of its own (fibers on weft::net) whose
// /slow/N pages each answer after --delay, fetches --urls of them in a row,
// then again with one fiber per URL, and prints every fetch and both times:
//
//   crawler --urls=3 --delay=1s
//   Serving 3 slow URLs on 127.0.0.1:PORT, each answering after 1s
//   GET http://127.0.0.1:PORT/slow/1: 200, 31 bytes
//   ...
//   sequential: 3 fetches in 3.004 s
//   ...
//   concurrent: 3 fetches in 1.002 s
//
// Mirrors examples/seeds/crawler.py, gevent's
//   jobs = [gevent.spawn(fetch, url) for url in urls]
//   gevent.joinall(jobs)
// where a fiber blocked on its socket costs nothing, so N slow fetches take
// about as long as one.
//
// The HTTP on both sides is the least that is correct for this demo: one
// GET per connection (Connection: close), a Content-Length body; no
// keep-alive, chunked encoding, redirects or TLS.
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "weft/weft.h"

namespace {

// --delay: an absl duration ("300ms", "1.5s") or plain seconds ("0.3").
struct Delay {
  absl::Duration value;
};

bool AbslParseFlag(absl::string_view text, Delay* out, std::string* error) {
  absl::Duration d;
  double seconds = 0;
  if (absl::ParseDuration(text, &d)) {
    out->value = d;
  } else if (absl::SimpleAtod(text, &seconds)) {
    out->value = absl::Seconds(seconds);
  } else {
    *error = "not a duration (300ms, 1.5s) or a number of seconds";
    return false;
  }
  if (out->value < absl::ZeroDuration() || out->value == absl::InfiniteDuration()) {
    *error = "must be finite and not negative";
    return false;
  }
  return true;
}

std::string AbslUnparseFlag(Delay d) { return absl::FormatDuration(d.value); }

}  // namespace

ABSL_FLAG(int, urls, 3, "how many slow URLs to fetch (1 .. 1000)");
ABSL_FLAG(Delay, delay, Delay{absl::Seconds(1)},
          "how long each slow URL takes to answer: a duration (300ms, 1.5s) or seconds (0.3)");
ABSL_FLAG(int, workers, 0, "worker threads (0: one per core)");

namespace {

constexpr std::size_t kMaxHead = 16 * 1024;               // request or response headers
constexpr std::size_t kMaxBody = 16 * 1024 * 1024;        // response body
constexpr absl::Duration kIoTimeout = absl::Seconds(10);  // beyond --delay, per fetch

// Reads from `conn`, appending to `*buf`, until it holds the blank line
// that ends the headers; returns where the body starts (past "\r\n\r\n").
absl::StatusOr<std::size_t> read_head(weft::net::TcpStream& conn, std::string* buf,
                                      absl::Time deadline) {
  char chunk[4096];
  for (;;) {
    if (std::size_t end = buf->find("\r\n\r\n"); end != std::string::npos) return end + 4;
    if (buf->size() > kMaxHead) return absl::ResourceExhaustedError("headers over 16 KiB");
    absl::StatusOr<std::size_t> n = conn.read_some(chunk, deadline);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::UnavailableError("connection closed before the end of the headers");
    buf->append(chunk, *n);
  }
}

// ---- The server: GET /slow/N answers after `delay`; anything else 404/400.

void reply(weft::net::TcpStream& conn, int status, absl::string_view reason,
           absl::string_view body) {
  std::string msg = absl::StrCat("HTTP/1.1 ", status, " ", reason,
                                 "\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
                                 "\r\nConnection: close\r\n\r\n", body);
  // The client may have gone; nothing to do about it but close.
  (void)conn.write_all(msg, absl::Now() + kIoTimeout);
}

void serve_one(weft::net::TcpStream conn, absl::Duration delay, int pages) {
  std::string request;
  absl::StatusOr<std::size_t> head = read_head(conn, &request, absl::Now() + kIoTimeout);
  if (!head.ok()) {
    if (absl::IsResourceExhausted(head.status())) {
      reply(conn, 431, "Request Header Fields Too Large", "headers too large\n");
    }
    return;  // closed, silent or too slow: just close
  }
  // "GET /slow/3 HTTP/1.1"
  absl::string_view line = absl::string_view(request).substr(0, request.find("\r\n"));
  std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
    reply(conn, 400, "Bad Request", "bad request line\n");
    return;
  }
  if (parts[0] != "GET") {
    reply(conn, 405, "Method Not Allowed", "only GET\n");
    return;
  }
  absl::string_view path = parts[1];
  int page = 0;
  if (!absl::ConsumePrefix(&path, "/slow/") || !absl::SimpleAtoi(path, &page) || page < 1 ||
      page > pages) {
    reply(conn, 404, "Not Found", "no such page\n");
    return;
  }
  weft::sleep_for(delay);  // the slow part: parks this fiber only
  reply(conn, 200, "OK",
        absl::StrCat("slow page ", page, ", answered after ", absl::FormatDuration(delay), "\n"));
}

void serve(weft::net::TcpListener listener, absl::Duration delay, int pages) {
  for (;;) {
    absl::StatusOr<weft::net::TcpStream> conn = listener.accept();
    if (!conn.ok()) {
      std::fprintf(stderr, "crawler: accept: %s\n", std::string(conn.status().message()).c_str());
      continue;
    }
    weft::spawn(serve_one, std::move(*conn), delay, pages).detach();
  }
}

// ---- The client: a minimal HTTP/1.1 GET.

struct Response {
  int status = 0;
  std::string body;
};

absl::StatusOr<Response> http_get(absl::string_view url, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("only http:// URLs: ", url));
  }
  std::size_t slash = rest.find('/');
  std::string host_port(rest.substr(0, slash));
  std::string path(slash == absl::string_view::npos ? "/" : rest.substr(slash));
  std::size_t bracket = host_port.rfind(']');  // an IPv6 literal has colons of its own
  if (host_port.find(':', bracket == std::string::npos ? 0 : bracket) == std::string::npos) {
    host_port += ":80";
  }

  absl::StatusOr<weft::net::TcpStream> conn = weft::net::dial(host_port, timeout);
  if (!conn.ok()) return conn.status();
  std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", host_port,
                                     "\r\nUser-Agent: weft-crawler\r\nConnection: close\r\n\r\n");
  if (absl::Status s = conn->write_all(request, deadline); !s.ok()) return s;

  std::string buf;
  absl::StatusOr<std::size_t> body_start = read_head(*conn, &buf, deadline);
  if (!body_start.ok()) return body_start.status();
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(buf).substr(0, *body_start - 4), "\r\n");

  // "HTTP/1.1 200 OK": after "HTTP/1.", a digit, a space, three digits and
  // then the end or a space before the reason.
  Response r;
  absl::string_view status_line = lines[0];
  if (!absl::ConsumePrefix(&status_line, "HTTP/1.") || status_line.size() < 5 ||
      status_line[1] != ' ' || (status_line.size() > 5 && status_line[5] != ' ') ||
      !absl::SimpleAtoi(status_line.substr(2, 3), &r.status) || r.status < 100 || r.status > 599) {
    return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
  }
  std::size_t content_length = 0;
  bool has_length = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(kv.first), "Content-Length")) continue;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(kv.second), &content_length) ||
        content_length > kMaxBody) {
      return absl::DataLossError(absl::StrCat("bad Content-Length: ", kv.second));
    }
    has_length = true;
  }

  r.body = buf.substr(*body_start);
  if (has_length) {
    std::size_t have = r.body.size();
    if (have > content_length) return absl::DataLossError("more body than Content-Length");
    r.body.resize(content_length);
    std::span<char> missing(r.body.data() + have, content_length - have);
    if (absl::Status s = conn->read_exact(missing, deadline); !s.ok()) return s;
  } else {  // no length: the body ends when the server closes
    char chunk[4096];
    for (;;) {
      absl::StatusOr<std::size_t> n = conn->read_some(chunk, deadline);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      if (r.body.size() + *n > kMaxBody) return absl::ResourceExhaustedError("body over 16 MiB");
      r.body.append(chunk, *n);
    }
  }
  return r;
}

// Fetches one URL and prints the outcome; true if it got a 200.
bool fetch(const std::string& url, absl::Duration timeout) {
  absl::StatusOr<Response> r = http_get(url, timeout);
  if (!r.ok()) {
    std::printf("GET %s: error: %s\n", url.c_str(), std::string(r.status().message()).c_str());
    return false;
  }
  std::printf("GET %s: %d, %zu bytes\n", url.c_str(), r->status, r->body.size());
  return r->status == 200;
}

double seconds_since(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Fetches slow URLs from a local HTTP server one after another, then one fiber per URL, "
      "and prints both times.");
  absl::ParseCommandLine(argc, argv);
  const int urls = absl::GetFlag(FLAGS_urls);
  const absl::Duration delay = absl::GetFlag(FLAGS_delay).value;
  if (urls < 1 || urls > 1000) {
    std::fprintf(stderr, "crawler: --urls must be between 1 and 1000, got %d\n", urls);
    return 2;
  }
  weft::RuntimeOptions options{.workers = absl::GetFlag(FLAGS_workers)};
  if (absl::Status s = options.validate(); !s.ok()) {
    std::fprintf(stderr, "crawler: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a line at a time, even into a pipe

  return weft::run(options, [&]() -> int {
    absl::StatusOr<weft::net::TcpListener> listener = weft::net::TcpListener::bind("127.0.0.1:0");
    if (!listener.ok()) {
      std::fprintf(stderr, "crawler: %s\n", std::string(listener.status().message()).c_str());
      return 1;
    }
    const std::string where = listener->local_address()->to_string();
    std::printf("Serving %d slow URLs on %s, each answering after %s\n", urls, where.c_str(),
                absl::FormatDuration(delay).c_str());
    weft::Fiber<void> server = weft::spawn(serve, std::move(*listener), delay, urls);

    std::vector<std::string> targets;
    for (int i = 1; i <= urls; ++i) targets.push_back(absl::StrCat("http://", where, "/slow/", i));
    const absl::Duration timeout = delay + kIoTimeout;
    int failed = 0;

    // One after another: each fetch waits for the one before.
    absl::Time start = absl::Now();
    for (const std::string& url : targets) failed += !fetch(url, timeout);
    std::printf("sequential: %d fetches in %.3f s\n", urls, seconds_since(start));

    // One fiber per URL: every fetch waits at the same time.
    start = absl::Now();
    std::vector<weft::Fiber<bool>> jobs;
    for (const std::string& url : targets) jobs.push_back(weft::spawn(fetch, url, timeout));
    weft::join_all(jobs);
    for (auto& job : jobs) failed += !job.get();
    std::printf("concurrent: %d fetches in %.3f s\n", urls, seconds_since(start));

    server.kill_and_join();
    if (failed > 0) std::fprintf(stderr, "crawler: %d fetches failed\n", failed);
    return failed == 0 ? 0 : 1;
  });
}
