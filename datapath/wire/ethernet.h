// Ethernet II frames with an optional IEEE 802.1Q tag (TPID 0x8100, or 0x88a8 for an 802.1ad
// service tag). A second, inner tag is not unwrapped: the frame's ethertype then reads 0x8100 and
// the net layer drops it by that name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "datapath/wire/address.h"
#include "datapath/wire/error.h"

namespace braid::wire {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr size_t kEthernetHeaderLen = 14;
inline constexpr size_t kVlanTagLen = 4;

// A checked view over a frame: constructed only by Check(), which proves the header (and tag) is
// present, so the accessors cannot fail.
class EthernetFrame {
 public:
  static WireResult<EthernetFrame> Check(std::span<const uint8_t> frame);

  MacAddress destination() const { return MacAddress::FromBytes(bytes_.data()); }
  MacAddress source() const { return MacAddress::FromBytes(bytes_.data() + 6); }
  bool has_vlan() const { return header_len_ != kEthernetHeaderLen; }
  uint16_t vlan_tpid() const;  // 0 without a tag
  uint16_t vlan_tci() const;   // 0 without a tag
  uint16_t ethertype() const;  // after the tag, when there is one
  size_t header_len() const { return header_len_; }
  std::span<const uint8_t> payload() const { return bytes_.subspan(header_len_); }
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  EthernetFrame(std::span<const uint8_t> bytes, size_t header_len)
      : bytes_(bytes), header_len_(header_len) {}
  std::span<const uint8_t> bytes_;
  size_t header_len_;
};

struct VlanTag {
  uint16_t tpid = kEtherTypeVlan;
  uint8_t pcp = 0;  // priority code point, 3 bits
  bool dei = false;
  uint16_t vid = 0;  // 12 bits
  friend bool operator==(const VlanTag&, const VlanTag&) = default;
};

struct EthernetRepr {
  MacAddress destination;
  MacAddress source;
  std::optional<VlanTag> vlan;
  uint16_t ethertype = 0;

  static EthernetRepr Parse(const EthernetFrame& frame);
  size_t HeaderLen() const { return kEthernetHeaderLen + (vlan ? kVlanTagLen : 0); }
  // Writes HeaderLen() bytes; false (nothing written) when `out` is smaller, or when a field does
  // not fit its bits (VID > 4095, PCP > 7).
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const EthernetRepr&, const EthernetRepr&) = default;
};

}  // namespace braid::wire
