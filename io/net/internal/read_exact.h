// The read_exact loop shared by StreamSocket and TlsStream: read_some until
// `buf` is full, OutOfRange (naming how many bytes came) if the peer closes
// first. Bytes read before an error stay in buf.
#pragma once

#include <cstddef>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace weft::net::internal {

// `read_some(std::span<char>)` returns StatusOr<size_t>, 0 meaning EOF;
// `what` names the call in the EOF message.
template <typename ReadSome>
absl::Status read_exact_with(std::span<char> buf, const char* what, ReadSome read_some) {
  std::size_t got = 0;
  while (got < buf.size()) {
    absl::StatusOr<std::size_t> n = read_some(buf.subspan(got));
    if (!n.ok()) return n.status();
    if (*n == 0) {
      return absl::OutOfRangeError(
          absl::StrCat("weft::net: ", what, ": EOF after ", got, " of ", buf.size(), " bytes"));
    }
    got += *n;
  }
  return absl::OkStatus();
}

}  // namespace weft::net::internal
