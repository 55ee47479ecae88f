// An Ethernet MAC address, parsed from and printed as "02:00:5e:10:00:01".
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace braid::sriov {

struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  // Six colon-separated pairs of hex digits, either case; anything else is nullopt.
  static std::optional<MacAddress> Parse(std::string_view text);
  std::string ToString() const;  // lower case
  bool IsZero() const;
  // Bit 0 of the first octet: a group address, which no VF may be given as its own (IEEE 802).
  bool IsMulticast() const { return (bytes[0] & 0x01) != 0; }

  friend auto operator<=>(const MacAddress&, const MacAddress&) = default;
};

}  // namespace braid::sriov
