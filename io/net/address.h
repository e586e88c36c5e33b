// weft::net::Address — an IPv4 or IPv6 socket address.
//
//   absl::StatusOr<Address> a = Address::parse("127.0.0.1:8080");  // or "[::1]:80", ":80"
//   absl::StatusOr<std::vector<Address>> r = resolve("example.com:80");  // getaddrinfo
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace weft::net {

class Address {
 public:
  Address() = default;  // unspecified (family AF_UNSPEC)

  // Parses a numeric "host:port": "1.2.3.4:80", "[::1]:80", or ":80" / "*:80"
  // for every IPv4 interface ("[::]:80" for IPv6). No name lookup (see
  // resolve()). InvalidArgument, naming the input, if it does not parse.
  static absl::StatusOr<Address> parse(std::string_view host_port);
  // From a sockaddr the kernel filled in (accept, getsockname, recvfrom).
  static Address from_sockaddr(const sockaddr* sa, socklen_t len);

  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  // "1.2.3.4:80" or "[::1]:80".
  std::string to_string() const;

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t size() const { return len_; }

  friend bool operator==(const Address& a, const Address& b) {
    return a.to_string() == b.to_string();
  }

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

// Splits "host:port" (host may be a name, or an IPv6 literal in brackets)
// into its two parts. InvalidArgument if there is no port.
absl::Status split_host_port(std::string_view host_port, std::string* host, std::string* port);

// Resolves "host:port" to the addresses to try, in getaddrinfo's order.
// Numeric hosts need no lookup; names are looked up with getaddrinfo on the
// offload pool (weft::blocking), so a fiber never stalls its worker.
// NotFound (with gai_strerror's words) when the name does not resolve.
absl::StatusOr<std::vector<Address>> resolve(std::string_view host_port);

}  // namespace weft::net
