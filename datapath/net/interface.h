// Interfaces: one per path (architecture.md §7), i.e. one uplink port, optionally one VLAN on it.
// An interface carries the addresses the stack answers ARP/ND for (the node's and every pod's on
// that path), its gateways, its MTU, and the IPv6 link-local address derived from its MAC.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "datapath/wire/address.h"

namespace braid::net {

// Index into the stack's interface table, stable for the stack's life.
using InterfaceId = uint32_t;

inline constexpr uint16_t kMinIpv4Mtu = 576;   // RFC 791: every host must accept 576 bytes
inline constexpr uint16_t kMinIpv6Mtu = 1280;  // RFC 8200 §5

// An address with the length of its on-link prefix ("192.0.2.10/24").
struct Ipv4Cidr {
  wire::Ipv4Address address;
  uint8_t prefix_len = 32;

  bool Contains(const wire::Ipv4Address& other) const;
  friend bool operator==(const Ipv4Cidr&, const Ipv4Cidr&) = default;
};

struct Ipv6Cidr {
  wire::Ipv6Address address;
  uint8_t prefix_len = 128;

  bool Contains(const wire::Ipv6Address& other) const;
  friend bool operator==(const Ipv6Cidr&, const Ipv6Cidr&) = default;
};

// True when the first `prefix_len` bits of `a` and `b` agree (prefix_len beyond the address
// length compares the whole address).
bool PrefixMatch(const wire::IpAddress& a, const wire::IpAddress& b, uint8_t prefix_len);
// `address` with every bit past `prefix_len` cleared.
wire::IpAddress PrefixOf(const wire::IpAddress& address, uint8_t prefix_len);

// fe80::/64 with the modified EUI-64 interface identifier of `mac`: ff:fe inserted in the middle
// and the universal/local bit inverted (RFC 4291 §2.5.1 and Appendix A, RFC 2464 §4-5).
wire::Ipv6Address LinkLocalFromMac(const wire::MacAddress& mac);

struct InterfaceConfig {
  std::string name;   // for debug output ("path0")
  uint16_t port = 0;  // the io layer's port id
  wire::MacAddress mac;
  // 802.1Q VLAN id (1..4094) the interface lives on; nullopt: untagged frames (or VID 0, a
  // priority tag). Several interfaces may share a port on different VLANs.
  std::optional<uint16_t> vlan;
  uint16_t mtu = 1500;  // IP MTU: largest IP packet sent or expected
  std::vector<Ipv4Cidr> ipv4;
  // Global/ULA addresses; the link-local address is derived from `mac` and always present.
  std::vector<Ipv6Cidr> ipv6;
  std::optional<wire::Ipv4Address> ipv4_gateway;  // becomes this path's IPv4 default route
  std::optional<wire::Ipv6Address> ipv6_gateway;  // becomes this path's IPv6 default route
  // The device completes TCP checksums (TxOffload::tcp_checksum). The io layer sets this when
  // the port reports the offload.
  bool tx_tcp_checksum_offload = false;
};

// An interface as the stack keeps it.
struct Interface {
  InterfaceConfig config;
  wire::Ipv6Address link_local;
  bool up = false;

  uint16_t port() const { return config.port; }
  const wire::MacAddress& mac() const { return config.mac; }
  // Link-layer header length of the frames it sends: 14, or 18 with a tag.
  size_t l2_len() const;
  bool HasAddress(const wire::Ipv4Address& a) const;
  bool HasAddress(const wire::Ipv6Address& a) const;  // link-local included
  bool HasAddress(const wire::IpAddress& a) const;
  // ff02::1:ffXX:XXXX of one of its IPv6 addresses (link-local included).
  bool HasSolicitedNodeGroup(const wire::Ipv6Address& group) const;
  // The source for packets to `destination` sent on this interface when no source is given: an
  // address whose prefix contains it, else the first address of the family (IPv6: the link-local
  // address for a link-local destination, never for another). nullopt: no usable address.
  std::optional<wire::IpAddress> SourceFor(const wire::IpAddress& destination) const;
};

}  // namespace braid::net
