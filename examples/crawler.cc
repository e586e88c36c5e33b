// The seeds' crawler (document 000_…, "爬虫的情况"), ported as written:
// monkey.patch_all(), then an unmodified blocking fetch (there urllib's
// urlopen, here libcurl's easy interface) called for each URL one after
// another, then once per URL in its own fiber, printing both times.
//
//   crawler --urls=10 --delay=200ms
//   GET:http://127.0.0.1:PORT/slow/1
//   37 bytes received from http://127.0.0.1:PORT/slow/1..
//   ...
//   同步耗时： 2.0123...
//   GET:http://127.0.0.1:PORT/slow/1
//   ...
//   异步耗时： 0.2034...
//
// No internet here: the URLs point at a small HTTP server of the example's
// own (fibers on weft::net), whose /slow/N pages each answer after --delay.
// The program links libweft_hook.so (weft::hook), which is all that
// monkey.patch_all() becomes: curl's blocking connect, poll and recv park the
// calling fiber, so the concurrent fetches wait together. examples/seeds/
// crawler.py is the Python original with the same local server;
// tests/examples/check_crawler.sh diffs the two.
//
// The server's HTTP is the least that is correct for this demo: one GET per
// connection (Connection: close), a Content-Length body.
#include <charconv>
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
#include "curl/curl.h"
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
constexpr absl::Duration kIoTimeout = absl::Seconds(10);  // beyond --delay, per fetch

// Reads from `conn`, appending to `*buf`, until it holds the blank line
// that ends the headers; returns where the body starts (past "\r\n\r\n").
absl::StatusOr<std::size_t> read_head(weft::net::TcpStream& conn, std::string* buf,
                                      absl::Time deadline) {
  char chunk[4096];
  for (;;) {
    if (std::size_t end = buf->find("\r\n\r\n"); end != std::string::npos) return end + 4;
    if (buf->size() > kMaxHead) return absl::ResourceExhaustedError("headers over 16 KiB");
    absl::StatusOr<std::size_t> n = conn.read_some_until(chunk, deadline);
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
  (void)conn.write_all_for(msg, kIoTimeout);
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
  // The same text as the Python server's (examples/seeds/crawler.py): the
  // two programs' "N bytes received" lines must agree.
  reply(conn, 200, "OK",
        absl::StrCat("slow page ", page, ", answered after ", absl::ToInt64Milliseconds(delay),
                     " ms\n"));
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

// ---- The client: the seed's spider, unmodified blocking code.
//
// libcurl's easy interface knows nothing of weft: curl_easy_perform connects,
// polls and reads with ordinary blocking libc calls. libweft_hook.so (linked
// into this program) turns those into fiber waits, as gevent's
// monkey.patch_all() does for urllib.

std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// Python: spider(url). urlopen raises on an error; here the error is
// printed (to stderr) and counted.
bool spider(const std::string& url) {
  std::printf("GET:%s\n", url.c_str());
  std::string data;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    std::fprintf(stderr, "crawler: curl_easy_init failed\n");
    return false;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &data);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: the fibers share threads
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    std::fprintf(stderr, "crawler: GET %s: %s\n", url.c_str(), curl_easy_strerror(rc));
    return false;
  }
  std::printf("%zu bytes received from %s..\n", data.size(), url.c_str());
  return true;
}

// Python's print(label, seconds): the label, a space, and the float as
// Python's repr writes it (the shortest text that reads back the same).
void print_seconds(const char* label, double seconds) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, seconds);
  std::printf("%s %.*s\n", label, static_cast<int>(end - buf), buf);
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

  curl_global_init(CURL_GLOBAL_DEFAULT);  // before any thread, as libcurl asks

  int failed = weft::run(options, [&]() -> int {
    absl::StatusOr<weft::net::TcpListener> listener = weft::net::TcpListener::bind("127.0.0.1:0");
    if (!listener.ok()) {
      std::fprintf(stderr, "crawler: %s\n", std::string(listener.status().message()).c_str());
      return 1;
    }
    const std::string where = listener->local_address()->to_string();
    weft::Fiber<void> server = weft::spawn(serve, std::move(*listener), delay, urls);

    // The seed's three sites, here the local server's slow pages.
    std::vector<std::string> url_list;
    for (int i = 1; i <= urls; ++i) url_list.push_back(absl::StrCat("http://", where, "/slow/", i));
    int failed = 0;

    absl::Time start_time = absl::Now();
    for (const std::string& url : url_list) failed += !spider(url);
    print_seconds("同步耗时：", seconds_since(start_time));

    absl::Time async_time_start = absl::Now();
    std::vector<weft::Fiber<bool>> jobs;
    for (const std::string& url : url_list) jobs.push_back(weft::spawn(spider, url));
    weft::join_all(jobs);
    print_seconds("异步耗时：", seconds_since(async_time_start));
    for (auto& job : jobs) failed += !job.get();

    server.kill_and_join();
    return failed;
  });
  curl_global_cleanup();
  if (failed > 0) std::fprintf(stderr, "crawler: %d fetches failed\n", failed);
  return failed == 0 ? 0 : 1;
}
