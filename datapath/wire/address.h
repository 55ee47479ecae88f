// Link- and network-layer address value types. Plain byte arrays in network order, comparable and
// hashable, printed in their usual textual forms.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

namespace braid::wire {

struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  static constexpr MacAddress Broadcast() { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  constexpr bool IsBroadcast() const { return *this == Broadcast(); }
  constexpr bool IsMulticast() const { return (bytes[0] & 0x01) != 0; }
  constexpr bool IsZero() const { return *this == MacAddress{}; }
  static MacAddress FromBytes(const uint8_t* p) {
    MacAddress m;
    std::memcpy(m.bytes.data(), p, 6);
    return m;
  }
  static std::optional<MacAddress> Parse(std::string_view text);  // "aa:bb:cc:dd:ee:ff"
  std::string ToString() const;
  friend constexpr bool operator==(const MacAddress&, const MacAddress&) = default;
  friend constexpr auto operator<=>(const MacAddress&, const MacAddress&) = default;
};

struct Ipv4Address {
  std::array<uint8_t, 4> bytes{};

  static constexpr Ipv4Address FromU32(uint32_t host_order) {
    return {{static_cast<uint8_t>(host_order >> 24), static_cast<uint8_t>(host_order >> 16),
             static_cast<uint8_t>(host_order >> 8), static_cast<uint8_t>(host_order)}};
  }
  constexpr uint32_t ToU32() const {
    return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
           bytes[3];
  }
  static Ipv4Address FromBytes(const uint8_t* p) {
    Ipv4Address a;
    std::memcpy(a.bytes.data(), p, 4);
    return a;
  }
  constexpr bool IsUnspecified() const { return ToU32() == 0; }
  constexpr bool IsBroadcast() const { return ToU32() == 0xffffffffu; }
  constexpr bool IsMulticast() const { return (bytes[0] & 0xf0) == 0xe0; }
  constexpr bool IsLoopback() const { return bytes[0] == 127; }
  static std::optional<Ipv4Address> Parse(std::string_view text);  // dotted quad
  std::string ToString() const;
  friend constexpr bool operator==(const Ipv4Address&, const Ipv4Address&) = default;
  friend constexpr auto operator<=>(const Ipv4Address&, const Ipv4Address&) = default;
};

struct Ipv6Address {
  std::array<uint8_t, 16> bytes{};

  static Ipv6Address FromBytes(const uint8_t* p) {
    Ipv6Address a;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
  }
  constexpr bool IsUnspecified() const { return *this == Ipv6Address{}; }
  constexpr bool IsMulticast() const { return bytes[0] == 0xff; }
  constexpr bool IsLinkLocal() const { return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }
  // ff02::1:ffXX:XXXX for this address (RFC 4291 §2.7.1), the target of neighbour solicitations.
  Ipv6Address SolicitedNodeMulticast() const;
  // 33:33:xx:xx:xx:xx, the Ethernet address of an IPv6 multicast group (RFC 2464 §7).
  MacAddress MulticastMac() const;
  static std::optional<Ipv6Address> Parse(std::string_view text);  // RFC 5952 text forms
  std::string ToString() const;                                    // RFC 5952 canonical form
  friend constexpr bool operator==(const Ipv6Address&, const Ipv6Address&) = default;
  friend constexpr auto operator<=>(const Ipv6Address&, const Ipv6Address&) = default;
};

// An IPv4 or an IPv6 address. IPv4 stays IPv4 (never v4-mapped), so the family is the
// alternative held.
using IpAddress = std::variant<Ipv4Address, Ipv6Address>;

inline bool IsIpv4(const IpAddress& a) { return std::holds_alternative<Ipv4Address>(a); }
std::string ToString(const IpAddress& a);
// Dotted quad or RFC 5952 text.
std::optional<IpAddress> ParseIpAddress(std::string_view text);

inline std::ostream& operator<<(std::ostream& os, const MacAddress& a) {
  return os << a.ToString();
}
inline std::ostream& operator<<(std::ostream& os, const Ipv4Address& a) {
  return os << a.ToString();
}
inline std::ostream& operator<<(std::ostream& os, const Ipv6Address& a) {
  return os << a.ToString();
}
inline std::ostream& operator<<(std::ostream& os, const IpAddress& a) { return os << ToString(a); }

}  // namespace braid::wire
