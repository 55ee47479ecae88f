#include "datapath/net/interface.h"

#include <algorithm>
#include <span>
#include <variant>

#include "datapath/wire/ethernet.h"

namespace braid::net {
namespace {

bool BitsMatch(std::span<const uint8_t> a, std::span<const uint8_t> b, size_t bits) {
  bits = std::min(bits, a.size() * 8);
  size_t whole = bits / 8;
  if (!std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(whole), b.begin())) {
    return false;
  }
  size_t rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

template <size_t N>
void ClearFrom(std::array<uint8_t, N>& bytes, size_t bits) {
  for (size_t i = 0; i < N; ++i) {
    size_t start = i * 8;
    if (bits >= start + 8) continue;
    bytes[i] = bits <= start ? 0 : static_cast<uint8_t>(bytes[i] & (0xff << (8 - (bits - start))));
  }
}

}  // namespace

bool Ipv4Cidr::Contains(const wire::Ipv4Address& other) const {
  return BitsMatch(address.bytes, other.bytes, prefix_len);
}

bool Ipv6Cidr::Contains(const wire::Ipv6Address& other) const {
  return BitsMatch(address.bytes, other.bytes, prefix_len);
}

bool PrefixMatch(const wire::IpAddress& a, const wire::IpAddress& b, uint8_t prefix_len) {
  if (a.index() != b.index()) return false;
  if (const auto* a4 = std::get_if<wire::Ipv4Address>(&a)) {
    return BitsMatch(a4->bytes, std::get<wire::Ipv4Address>(b).bytes, prefix_len);
  }
  return BitsMatch(std::get<wire::Ipv6Address>(a).bytes, std::get<wire::Ipv6Address>(b).bytes,
                   prefix_len);
}

wire::IpAddress PrefixOf(const wire::IpAddress& address, uint8_t prefix_len) {
  wire::IpAddress out = address;
  std::visit([&](auto& ip) { ClearFrom(ip.bytes, prefix_len); }, out);
  return out;
}

wire::Ipv6Address LinkLocalFromMac(const wire::MacAddress& mac) {
  const auto& m = mac.bytes;
  return {{0xfe, 0x80, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(m[0] ^ 0x02), m[1], m[2], 0xff, 0xfe,
           m[3], m[4], m[5]}};
}

size_t Interface::l2_len() const {
  return wire::kEthernetHeaderLen + (config.vlan ? wire::kVlanTagLen : 0);
}

bool Interface::HasAddress(const wire::Ipv4Address& a) const {
  return std::any_of(config.ipv4.begin(), config.ipv4.end(),
                     [&](const Ipv4Cidr& c) { return c.address == a; });
}

bool Interface::HasAddress(const wire::Ipv6Address& a) const {
  return a == link_local || std::any_of(config.ipv6.begin(), config.ipv6.end(),
                                        [&](const Ipv6Cidr& c) { return c.address == a; });
}

bool Interface::HasAddress(const wire::IpAddress& a) const {
  return std::visit([&](const auto& ip) { return HasAddress(ip); }, a);
}

bool Interface::HasSolicitedNodeGroup(const wire::Ipv6Address& group) const {
  if (group == link_local.SolicitedNodeMulticast()) return true;
  return std::any_of(config.ipv6.begin(), config.ipv6.end(), [&](const Ipv6Cidr& c) {
    return c.address.SolicitedNodeMulticast() == group;
  });
}

std::optional<wire::IpAddress> Interface::SourceFor(const wire::IpAddress& destination) const {
  if (const auto* d4 = std::get_if<wire::Ipv4Address>(&destination)) {
    for (const Ipv4Cidr& c : config.ipv4) {
      if (c.Contains(*d4)) return c.address;
    }
    if (config.ipv4.empty()) return std::nullopt;
    return config.ipv4.front().address;
  }
  const auto& d6 = std::get<wire::Ipv6Address>(destination);
  if (d6.IsLinkLocal()) return link_local;
  for (const Ipv6Cidr& c : config.ipv6) {
    if (c.Contains(d6)) return c.address;
  }
  if (config.ipv6.empty()) return std::nullopt;
  return config.ipv6.front().address;
}

}  // namespace braid::net
