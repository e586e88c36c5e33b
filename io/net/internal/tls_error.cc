#include "weft/io/net/internal/tls_error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace weft::net::internal {

std::string take_ssl_errors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out.empty() ? "no OpenSSL reason queued" : out;
}

absl::Status ssl_error(absl::StatusCode code, absl::string_view op) {
  return absl::Status(code, absl::StrCat("weft::net: TLS ", op, ": ", take_ssl_errors()));
}

}  // namespace weft::net::internal
