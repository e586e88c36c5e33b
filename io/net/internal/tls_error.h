// Reading OpenSSL's error queue into absl::Status values, for tls_context.cc
// and tls.cc. Implementation detail of weft::net's TLS.
//
// OpenSSL keeps its error queue per thread, and a fiber may resume on another
// worker after any wait. So every OpenSSL call that can fail is bracketed on
// one thread, with no fiber switch in between: ERR_clear_error() before it,
// then SSL_get_error(), errno and take_ssl_errors() right after it. Nothing
// here waits, so nothing between the call and the read can migrate the fiber.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace weft::net::internal {

// The reasons queued on this thread's OpenSSL error queue, oldest first, as
// "error:0A000086:SSL routines::certificate verify failed; ...", and the
// queue emptied. "no OpenSSL reason queued" if it was empty.
std::string take_ssl_errors();

// `code` with "weft::net: TLS <op>: <queued reasons>", the queue emptied.
absl::Status ssl_error(absl::StatusCode code, absl::string_view op);

}  // namespace weft::net::internal
