// Buffered stream I/O (gevent's socket.makefile): BufferedReader reads
// lines, delimited records and exact sizes out of a buffer it refills from
// the stream; BufferedWriter gathers small writes into one.
//
//   void handle(weft::net::TcpStream& conn) {
//     weft::net::BufferedReader in(conn);
//     weft::net::BufferedWriter out(conn);
//     for (;;) {
//       absl::StatusOr<std::string_view> line = in.read_line(8192);
//       if (!line.ok() || line->empty()) return;   // error, or EOF
//       if (!out.write(*line).ok() || !out.flush().ok()) return;
//     }
//   }
//
// Both are templates over the stream interface TcpStream, UnixStream and
// TlsStream share: read_some_until(std::span<char>, absl::Time) and
// write_all_until(std::string_view, absl::Time). They hold a reference to the
// stream, which must outlive them, and are for one fiber at a time (one
// reader and one writer may run in two fibers, as on the stream).
//
// No copy when the data is already buffered: read_line, read_until and peek
// return a std::string_view into the reader's buffer, valid until the next
// call on the reader. Every call that would block parks the calling fiber
// (on a plain thread it blocks the thread). Each comes three ways, like the
// stream's: `read_line()` without a limit, `read_line_for(max, timeout)`,
// `read_line_until(max, deadline)`; the stream's own default timeouts apply
// too. The one exception is read_until, whose "until" is its delimiter: it
// keeps the deadline as an optional last parameter (read_until_until would
// read worse). Errors are the stream's, or:
// ResourceExhausted when no delimiter comes within the maximum length (the
// bytes stay buffered: consume() skips them), OutOfRange at an EOF in the
// middle of a line, record or read_exact (what came stays buffered).
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace weft::net {

namespace internal {

// The reader's byte buffer: [begin, end) holds data not yet consumed. Not a
// template, so the stream-independent work (growing, compacting, searching)
// lives in buffered.cc once.
class ReadBuffer {
 public:
  explicit ReadBuffer(std::size_t capacity);

  std::string_view data() const { return {buf_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  void consume(std::size_t n);
  // Room to read into: at least one byte, without growing the data past
  // `max_size` bytes (the caller ensures size() < max_size). Compacts or
  // grows as needed.
  std::span<char> prepare(std::size_t max_size);
  void commit(std::size_t n) { end_ += n; }
  // The offset of `delim` in data(), searching from `from`; npos if absent.
  std::size_t find(std::string_view delim, std::size_t from) const;

 private:
  std::unique_ptr<char[]> buf_;
  std::size_t capacity_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

absl::Status too_long_error(const char* op, std::string_view delim, std::size_t max);
absl::Status eof_error(const char* op, std::size_t got);

}  // namespace internal

template <typename Stream>
class BufferedReader {
 public:
  // `capacity`: the initial buffer; it grows as a long line or a large
  // read_exact needs.
  explicit BufferedReader(Stream& stream, std::size_t capacity = 16 * 1024)
      : stream_(stream), buf_(capacity) {}

  // The next line, '\n' included. An empty view at EOF before any byte;
  // ResourceExhausted if there is no '\n' within `max_length` bytes;
  // OutOfRange at an EOF after part of a line.
  absl::StatusOr<std::string_view> read_line_until(std::size_t max_length, absl::Time deadline) {
    return read_until("\n", max_length, deadline);
  }
  absl::StatusOr<std::string_view> read_line_for(std::size_t max_length, absl::Duration timeout) {
    return read_line_until(max_length, absl::Now() + timeout);
  }
  absl::StatusOr<std::string_view> read_line(std::size_t max_length = 64 * 1024) {
    return read_line_until(max_length, absl::InfiniteFuture());
  }

  // The bytes up to and including the next `delimiter` (not empty), like
  // read_line; `deadline` as read_line_until's (see the top of this file).
  absl::StatusOr<std::string_view> read_until(std::string_view delimiter,
                                              std::size_t max_length = 64 * 1024,
                                              absl::Time deadline = absl::InfiniteFuture()) {
    std::size_t from = 0;  // where the search resumes: bytes before it were searched
    for (;;) {
      std::size_t at = buf_.find(delimiter, from);
      if (at != std::string_view::npos && at + delimiter.size() <= max_length) {
        std::string_view record = buf_.data().substr(0, at + delimiter.size());
        buf_.consume(record.size());  // the view stays valid: consume moves nothing
        return record;
      }
      if (buf_.size() >= max_length) {
        return internal::too_long_error("read_until", delimiter, max_length);
      }
      from = buf_.size() >= delimiter.size() ? buf_.size() - delimiter.size() + 1 : 0;
      absl::StatusOr<std::size_t> n = fill(max_length, deadline);
      if (!n.ok()) return n.status();
      if (*n == 0) {
        if (buf_.size() == 0) return std::string_view();
        return internal::eof_error("read_until", buf_.size());
      }
    }
  }

  // Fills `out` completely, first from the buffer. OutOfRange at an EOF
  // first (the bytes that came stay in the buffer, not in `out`).
  absl::Status read_exact_until(std::span<char> out, absl::Time deadline) {
    absl::StatusOr<std::string_view> have = peek_until(out.size(), deadline);
    if (!have.ok()) return have.status();
    if (have->size() < out.size()) return internal::eof_error("read_exact", have->size());
    std::copy(have->begin(), have->end(), out.begin());
    buf_.consume(out.size());
    return absl::OkStatus();
  }
  absl::Status read_exact_for(std::span<char> out, absl::Duration timeout) {
    return read_exact_until(out, absl::Now() + timeout);
  }
  absl::Status read_exact(std::span<char> out) {
    return read_exact_until(out, absl::InfiniteFuture());
  }

  // Waits until `n` bytes are buffered (or EOF) and returns a view of the
  // first min(n, buffered) of them without consuming anything: fewer than
  // `n` only at EOF.
  absl::StatusOr<std::string_view> peek_until(std::size_t n, absl::Time deadline) {
    while (buf_.size() < n) {
      absl::StatusOr<std::size_t> got = fill(n, deadline);
      if (!got.ok()) return got.status();
      if (*got == 0) break;
    }
    return buf_.data().substr(0, n);
  }
  absl::StatusOr<std::string_view> peek_for(std::size_t n, absl::Duration timeout) {
    return peek_until(n, absl::Now() + timeout);
  }
  absl::StatusOr<std::string_view> peek(std::size_t n) {
    return peek_until(n, absl::InfiniteFuture());
  }

  // Drops the first n buffered bytes (at most what is buffered). Blocks
  // nothing.
  void consume(std::size_t n) { buf_.consume(std::min(n, buf_.size())); }

  // What is buffered now. Blocks nothing.
  std::string_view buffered() const { return buf_.data(); }

  // Reads like the stream's read_some, from the buffer first: the reader is
  // itself a stream.
  absl::StatusOr<std::size_t> read_some_until(std::span<char> out, absl::Time deadline) {
    if (buf_.size() == 0) {
      // A large read goes straight to the caller's memory.
      if (out.size() >= kDirectRead) return stream_.read_some_until(out, deadline);
      absl::StatusOr<std::size_t> n = fill(out.size(), deadline);
      if (!n.ok() || *n == 0) return n;
    }
    std::size_t k = std::min(out.size(), buf_.size());
    std::copy_n(buf_.data().begin(), k, out.begin());
    buf_.consume(k);
    return k;
  }
  absl::StatusOr<std::size_t> read_some_for(std::span<char> out, absl::Duration timeout) {
    return read_some_until(out, absl::Now() + timeout);
  }
  absl::StatusOr<std::size_t> read_some(std::span<char> out) {
    return read_some_until(out, absl::InfiniteFuture());
  }

 private:
  static constexpr std::size_t kDirectRead = 16 * 1024;

  // One read from the stream into the buffer, the buffer not growing past
  // `max_size` (or the current size plus one byte). 0 at EOF.
  absl::StatusOr<std::size_t> fill(std::size_t max_size, absl::Time deadline) {
    // Part of a message is buffered: tell a stream that tracks message
    // boundaries (StreamSocket, for Server's graceful stop) that the read
    // which follows is not an idle one.
    if constexpr (requires(Stream & s) { s.mark_unanswered(); }) {
      if (buf_.size() != 0) stream_.mark_unanswered();
    }
    std::span<char> room = buf_.prepare(std::max(max_size, buf_.size() + 1));
    absl::StatusOr<std::size_t> n = stream_.read_some_until(room, deadline);
    if (n.ok()) buf_.commit(*n);
    return n;
  }

  Stream& stream_;
  internal::ReadBuffer buf_;
};

template <typename Stream>
class BufferedWriter {
 public:
  explicit BufferedWriter(Stream& stream, std::size_t capacity = 16 * 1024)
      : stream_(stream), capacity_(capacity), buf_(new char[capacity]) {}
  // Does not flush: a destructor can report no error. Call flush().
  ~BufferedWriter() = default;
  BufferedWriter(const BufferedWriter&) = delete;
  BufferedWriter& operator=(const BufferedWriter&) = delete;

  // Appends `data`; writes the buffer out when it fills. Data at least as
  // large as the buffer is written through (after what is buffered),
  // without a copy. Blocks only when it writes.
  absl::Status write_until(std::string_view data, absl::Time deadline) {
    if (size_ + data.size() <= capacity_) {
      std::copy(data.begin(), data.end(), buf_.get() + size_);
      size_ += data.size();
      return absl::OkStatus();
    }
    if (absl::Status s = flush_until(deadline); !s.ok()) return s;
    if (data.size() >= capacity_) return stream_.write_all_until(data, deadline);
    std::copy(data.begin(), data.end(), buf_.get());
    size_ = data.size();
    return absl::OkStatus();
  }
  absl::Status write_for(std::string_view data, absl::Duration timeout) {
    return write_until(data, absl::Now() + timeout);
  }
  absl::Status write(std::string_view data) { return write_until(data, absl::InfiniteFuture()); }

  // Writes out everything buffered. On an error the buffer is dropped (how
  // much the peer got is unknown; the stream is unusable anyway).
  absl::Status flush_until(absl::Time deadline) {
    if (size_ == 0) return absl::OkStatus();
    std::size_t n = std::exchange(size_, 0);
    return stream_.write_all_until({buf_.get(), n}, deadline);
  }
  absl::Status flush_for(absl::Duration timeout) { return flush_until(absl::Now() + timeout); }
  absl::Status flush() { return flush_until(absl::InfiniteFuture()); }

  std::size_t buffered() const { return size_; }

 private:
  Stream& stream_;
  std::size_t capacity_;
  std::unique_ptr<char[]> buf_;
  std::size_t size_ = 0;
};

}  // namespace weft::net
