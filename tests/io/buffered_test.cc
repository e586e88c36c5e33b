// weft::net::BufferedReader and BufferedWriter (io/net/buffered.h) over a
// connected pair of Unix stream sockets: lines split across reads, a line
// longer than the maximum, EOF mid-line, multi-byte delimiters, buffer
// growth, peek/consume without copies, read_exact, and the writer's
// buffering, flush and write-through.
#include <sys/socket.h>

#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/io/net/buffered.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using net::BufferedReader;
using net::BufferedWriter;
using net::UnixStream;
using ::testing::HasSubstr;

constexpr absl::Duration kLong = absl::Seconds(30);

std::pair<UnixStream, UnixStream> Pair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  return {UnixStream(net::Socket(fds[0])), UnixStream(net::Socket(fds[1]))};
}

// Writes the pieces with a pause between them (each arrives as its own
// read), then closes.
Fiber<void> SendSlowly(UnixStream& s, std::vector<std::string> pieces) {
  return spawn([&s, pieces = std::move(pieces)] {
    for (const std::string& p : pieces) {
      ASSERT_TRUE(s.write_all(p).ok());
      sleep_for(absl::Milliseconds(5));
    }
    s.close();
  });
}

class BufferedTest : public test::RuntimeTest {};

TEST_P(BufferedTest, LinesAcrossReads) {
  Run([] {
    auto [a, b] = Pair();
    auto sender = SendSlowly(a, {"hel", "lo\nwor", "ld\nlast", " line\n"});
    BufferedReader in(b);
    absl::Time d = absl::Now() + kLong;
    EXPECT_EQ(*in.read_line_until(1024, d), "hello\n");
    EXPECT_EQ(*in.read_line_until(1024, d), "world\n");
    EXPECT_EQ(*in.read_line_until(1024, d), "last line\n");
    absl::StatusOr<std::string_view> eof = in.read_line_until(1024, d);
    ASSERT_TRUE(eof.ok()) << eof.status();
    EXPECT_TRUE(eof->empty());
    sender.join();
  });
}

TEST_P(BufferedTest, LineLongerThanTheMaximum) {
  Run([] {
    auto [a, b] = Pair();
    auto sender = SendSlowly(a, {std::string(60, 'a'), std::string(40, 'a') + "\nok\n"});
    BufferedReader in(b, 64);
    absl::StatusOr<std::string_view> line = in.read_line_for(50, kLong);
    EXPECT_TRUE(absl::IsResourceExhausted(line.status())) << line.status();
    EXPECT_THAT(line.status().message(), HasSubstr("within 50 bytes"));
    EXPECT_GE(in.buffered().size(), 50u);
    // The caller may skip the long line and carry on.
    in.consume(in.buffered().size());
    absl::StatusOr<std::string_view> rest = in.read_line_for(1024, kLong);
    ASSERT_TRUE(rest.ok());
    if (*rest != "ok\n") {  // the skip cut the long line mid-way: its tail comes first
      EXPECT_EQ(rest->back(), '\n');
      EXPECT_EQ(*in.read_line_for(1024, kLong), "ok\n");
    }
    sender.join();
  });
}

TEST_P(BufferedTest, EofMidLine) {
  Run([] {
    auto [a, b] = Pair();
    auto sender = SendSlowly(a, {"one\n", "unfinis", "hed"});
    BufferedReader in(b);
    EXPECT_EQ(*in.read_line_for(1024, kLong), "one\n");
    absl::StatusOr<std::string_view> line = in.read_line_for(1024, kLong);
    EXPECT_TRUE(absl::IsOutOfRange(line.status())) << line.status();
    EXPECT_THAT(line.status().message(), HasSubstr("EOF after 10 bytes"));
    EXPECT_EQ(in.buffered(), "unfinished");  // nothing lost
    sender.join();
  });
}

TEST_P(BufferedTest, ReadUntilAMultiByteDelimiterSplitAcrossReads) {
  Run([] {
    auto [a, b] = Pair();
    auto sender = SendSlowly(a, {"GET / HTTP/1.1\r\nHost: x\r", "\n\r", "\nnext"});
    BufferedReader in(b);
    absl::StatusOr<std::string_view> head = in.read_until("\r\n\r\n", 8192, absl::Now() + kLong);
    ASSERT_TRUE(head.ok()) << head.status();
    EXPECT_EQ(*head, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    sender.join();
    absl::StatusOr<std::string_view> rest = in.peek_for(100, kLong);
    EXPECT_EQ(*rest, "next");  // fewer than asked: EOF
  });
}

TEST_P(BufferedTest, GrowsForALongLineWithinTheMaximum) {
  Run([] {
    auto [a, b] = Pair();
    std::string big(5000, 'x');
    auto sender = SendSlowly(a, {big.substr(0, 2000), big.substr(2000) + "\n"});
    BufferedReader in(b, 64);
    absl::StatusOr<std::string_view> line = in.read_line_for(8192, kLong);
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_EQ(*line, big + "\n");
    sender.join();
  });
}

TEST_P(BufferedTest, PeekConsumeAndReadExactWithoutCopies) {
  Run([] {
    auto [a, b] = Pair();
    auto sender = SendSlowly(a, {"abc", "defgh", "ijkl"});
    BufferedReader in(b);
    absl::StatusOr<std::string_view> p = in.peek_for(5, kLong);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, "abcde");
    EXPECT_EQ(p->data(), in.buffered().data()) << "peek must not copy";
    in.consume(2);
    char out[4];
    ASSERT_TRUE(in.read_exact_for(out, kLong).ok());
    EXPECT_EQ(std::string_view(out, 4), "cdef");
    char small[3];
    absl::StatusOr<std::size_t> n = in.read_some_for(small, kLong);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(std::string_view(small, *n), std::string_view("ghi").substr(0, *n));
    sender.join();
    char tail[100];
    absl::Status s = BufferedReader(b).read_exact_for(tail, kLong);
    EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
  });
}

TEST_P(BufferedTest, WriterBuffersFlushesAndWritesThrough) {
  Run([] {
    auto [a, b] = Pair();
    BufferedWriter out(a, 64);
    ASSERT_TRUE(out.write("hello ").ok());
    ASSERT_TRUE(out.write("world\n").ok());
    EXPECT_EQ(out.buffered(), 12u);
    char buf[256];
    // Nothing reached the peer yet.
    absl::StatusOr<std::size_t> n = b.read_some_for(buf, absl::Milliseconds(20));
    EXPECT_TRUE(absl::IsDeadlineExceeded(n.status())) << n.status();
    ASSERT_TRUE(out.flush().ok());
    EXPECT_EQ(out.buffered(), 0u);
    BufferedReader in(b);
    EXPECT_EQ(*in.read_line_for(1024, kLong), "hello world\n");
    // Larger than the buffer: written through, after what was buffered.
    ASSERT_TRUE(out.write("a").ok());
    std::string big(200, 'z');
    ASSERT_TRUE(out.write(big + "\n").ok());
    EXPECT_EQ(out.buffered(), 0u);
    EXPECT_EQ(*in.read_line_for(1024, kLong), "a" + big + "\n");
  });
}

INSTANTIATE_TEST_SUITE_P(Workers, BufferedTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
