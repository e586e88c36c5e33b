#include "weft/io/net/address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "weft/io/blocking.h"

namespace weft::net {
namespace {

absl::Status bad(std::string_view input, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("weft::net: bad address \"", std::string(input), "\": ", std::string(why)));
}

}  // namespace

absl::Status split_host_port(std::string_view host_port, std::string* host, std::string* port) {
  size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos) return bad(host_port, "no port (want host:port)");
  std::string_view h = host_port.substr(0, colon);
  if (!h.empty() && h.front() == '[') {
    if (h.back() != ']') return bad(host_port, "unclosed '['");
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string_view::npos) {
    return bad(host_port, "an IPv6 host must be in brackets, as in [::1]:80");
  }
  *host = std::string(h);
  *port = std::string(host_port.substr(colon + 1));
  return absl::OkStatus();
}

absl::StatusOr<Address> Address::parse(std::string_view host_port) {
  std::string host, port_text;
  if (absl::Status s = split_host_port(host_port, &host, &port_text); !s.ok()) return s;
  uint32_t port;
  if (!absl::SimpleAtoi(port_text, &port) || port > 65535) return bad(host_port, "bad port");
  Address a;
  if (host.empty() || host == "*") host = "0.0.0.0";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    a.len_ = sizeof(sockaddr_in);
    return a;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    a.len_ = sizeof(sockaddr_in6);
    return a;
  }
  return bad(host_port, "not a numeric IPv4 or IPv6 address (use resolve() for names)");
}

Address Address::from_sockaddr(const sockaddr* sa, socklen_t len) {
  Address a;
  len = std::min<socklen_t>(len, sizeof a.storage_);
  std::memcpy(&a.storage_, sa, len);
  a.len_ = len;
  return a;
}

uint16_t Address::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

std::string Address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
    return absl::StrCat(buf, ":", port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof buf);
    return absl::StrCat("[", buf, "]:", port());
  }
  return "(unspecified)";
}

absl::StatusOr<std::vector<Address>> resolve(std::string_view host_port) {
  if (absl::StatusOr<Address> numeric = Address::parse(host_port); numeric.ok()) {
    return std::vector<Address>{*numeric};
  }
  std::string host, port;
  if (absl::Status s = split_host_port(host_port, &host, &port); !s.ok()) return s;
  if (host.empty()) return bad(host_port, "empty host");
  // getaddrinfo takes a numeric service modulo 65536 ("70000" is port 4464)
  // and an empty one as port 0: refuse both here. Service names ("http")
  // pass through.
  if (port.empty()) return bad(host_port, "no port (want host:port)");
  if (std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    uint32_t n;
    if (!absl::SimpleAtoi(port, &n) || n > 65535) return bad(host_port, "bad port");
  }
  return weft::blocking([&]() -> absl::StatusOr<std::vector<Address>> {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
      return absl::NotFoundError(absl::StrCat("weft::net: cannot resolve \"",
                                              std::string(host_port), "\": ", gai_strerror(rc)));
    }
    std::vector<Address> out;
    for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
      out.push_back(Address::from_sockaddr(p->ai_addr, p->ai_addrlen));
    }
    freeaddrinfo(res);
    return out;
  });
}

}  // namespace weft::net
