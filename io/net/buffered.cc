#include "weft/io/net/buffered.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace weft::net::internal {

ReadBuffer::ReadBuffer(std::size_t capacity)
    : buf_(new char[std::max<std::size_t>(capacity, 64)]),
      capacity_(std::max<std::size_t>(capacity, 64)) {}

void ReadBuffer::consume(std::size_t n) {
  begin_ += n;
  // Empty: start again at the front, so the next read gets the whole
  // buffer. The bytes stay where they are, so a view handed out just
  // before (read_until's result) stays valid until the next read.
  if (begin_ == end_) begin_ = end_ = 0;
}

std::span<char> ReadBuffer::prepare(std::size_t max_size) {
  if (end_ == capacity_ && begin_ > 0) {
    // Out of room at the end: move the data to the front (it is usually a
    // partial line, much smaller than the buffer).
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity_ && capacity_ < max_size) {
    // Full of one record: grow, at most to what the caller allows.
    std::size_t grown = std::min(std::max(capacity_ * 2, end_ + 1), max_size);
    std::unique_ptr<char[]> bigger(new char[grown]);
    std::memcpy(bigger.get(), buf_.get(), end_);
    buf_ = std::move(bigger);
    capacity_ = grown;
  }
  return {buf_.get() + end_, capacity_ - end_};
}

std::size_t ReadBuffer::find(std::string_view delim, std::size_t from) const {
  return data().find(delim, from);
}

absl::Status too_long_error(const char* op, std::string_view delim, std::size_t max) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "weft::net: ", op, ": no \"", absl::CHexEscape(absl::string_view(delim.data(), delim.size())),
      "\" within ", max, " bytes"));
}

absl::Status eof_error(const char* op, std::size_t got) {
  return absl::OutOfRangeError(
      absl::StrCat("weft::net: ", op, ": EOF after ", got, " bytes of an unfinished record"));
}

}  // namespace weft::net::internal
