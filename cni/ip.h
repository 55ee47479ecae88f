// IP addresses and prefixes as CNI writes them ("10.10.0.2", "10.10.0.0/24", "fd00::2/64"): what
// braid-cni needs to check the network configuration and to tell which path an address of
// host-local's belongs to.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace braid::cni {

struct IpAddress {
  int family = 4;                      // 4 or 6
  std::array<uint8_t, 16> bytes = {};  // IPv4 in the first 4

  // Dotted quad or IPv6 text (inet_pton's forms); no zone, no brackets.
  static std::optional<IpAddress> Parse(std::string_view text);
  std::string ToString() const;
  size_t size() const { return family == 4 ? 4 : 16; }
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

// An address with a prefix length: a subnet ("10.10.0.0/24") or an interface address
// ("10.10.0.2/24"), which keeps its host bits.
struct IpPrefix {
  IpAddress address;
  int length = 0;

  static std::optional<IpPrefix> Parse(std::string_view text);
  std::string ToString() const;
  // The prefix with its host bits cleared.
  IpAddress Network() const;
  bool HostBitsClear() const { return Network() == address; }
  bool Contains(const IpAddress& other) const;
  bool Overlaps(const IpPrefix& other) const;
};

// 4 or 6 from the text alone ("fd00::/64" has a ':'): for results the plugin writes itself.
int FamilyOfText(std::string_view text);

}  // namespace braid::cni
