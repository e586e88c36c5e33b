// The canned HTTP/1.1 answers of the hello-world servers (http_hello,
// https_hello), and the most a request head may take before it is refused.
//
//   if (head.size() > examples::kMaxRequest) out.append(examples::kBadRequest);
//   else out.append(keep_alive ? examples::kHello : examples::kHelloClose);
#pragma once

#include <cstddef>
#include <string_view>

namespace examples {

inline constexpr std::size_t kMaxRequest = 8192;
inline constexpr std::string_view kHello =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n";
inline constexpr std::string_view kHelloClose =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: "
    "close\r\n\r\nhello world\n";
inline constexpr std::string_view kBadRequest =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: "
    "close\r\n\r\nbad request\n";

}  // namespace examples
