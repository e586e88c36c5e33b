// UDP for fibers: a bound datagram socket.
//
//   auto sock = weft::net::UdpSocket::bind("127.0.0.1:0");
//   sock->send_to(peer, "ping");
//   char buf[1500];
//   auto got = sock->recv_from_for(buf, absl::Seconds(1));  // {bytes, from}
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/io/net/address.h"
#include "weft/io/net/socket.h"

namespace weft::net {

class UdpSocket : public Socket {
 public:
  UdpSocket() = default;

  // A socket bound to a numeric "host:port" (port 0: any free port).
  static absl::StatusOr<UdpSocket> bind(std::string_view host_port);

  // Sends one datagram, waiting for buffer space until `deadline` (_for: at
  // most `timeout`; without either: as long as it takes).
  absl::Status send_to_until(const Address& to, std::string_view data, absl::Time deadline);
  absl::Status send_to_for(const Address& to, std::string_view data, absl::Duration timeout) {
    return send_to_until(to, data, absl::Now() + timeout);
  }
  absl::Status send_to(const Address& to, std::string_view data) {
    return send_to_until(to, data, absl::InfiniteFuture());
  }

  struct Datagram {
    std::size_t size;  // bytes stored in the buffer (a longer datagram is cut)
    Address from;
  };
  // Waits for one datagram until `deadline` (or `timeout`, or as long as it
  // takes).
  absl::StatusOr<Datagram> recv_from_until(std::span<char> buf, absl::Time deadline);
  absl::StatusOr<Datagram> recv_from_for(std::span<char> buf, absl::Duration timeout) {
    return recv_from_until(buf, absl::Now() + timeout);
  }
  absl::StatusOr<Datagram> recv_from(std::span<char> buf) {
    return recv_from_until(buf, absl::InfiniteFuture());
  }

 private:
  explicit UdpSocket(Socket s) : Socket(std::move(s)) {}
};

}  // namespace weft::net
