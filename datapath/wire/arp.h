// ARP (RFC 826) for Ethernet hardware addresses and IPv4 protocol addresses, the only form the
// datapath resolves. Any other hardware/protocol type or address size is rejected by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/wire/address.h"
#include "datapath/wire/error.h"

namespace braid::wire {

inline constexpr size_t kArpPacketLen = 28;  // 8-byte fixed part + 2 * (6 + 4) addresses
inline constexpr uint16_t kArpHardwareEthernet = 1;

enum class ArpOperation : uint16_t {
  kRequest = 1,
  kReply = 2,
};

// A checked view over an ARP packet. Check() proves the 28 bytes are there and that the packet
// is Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4); the buffer may be longer (Ethernet
// padding to the 60-byte minimum frame), the extra bytes are not part of the packet.
class ArpPacket {
 public:
  static WireResult<ArpPacket> Check(std::span<const uint8_t> bytes);

  uint16_t hardware_type() const;
  uint16_t protocol_type() const;
  uint8_t hardware_len() const { return bytes_[4]; }
  uint8_t protocol_len() const { return bytes_[5]; }
  uint16_t operation() const;  // raw: RFC 5494 defines more than request/reply
  MacAddress sender_hardware_address() const { return MacAddress::FromBytes(bytes_.data() + 8); }
  Ipv4Address sender_protocol_address() const { return Ipv4Address::FromBytes(bytes_.data() + 14); }
  MacAddress target_hardware_address() const { return MacAddress::FromBytes(bytes_.data() + 18); }
  Ipv4Address target_protocol_address() const { return Ipv4Address::FromBytes(bytes_.data() + 24); }
  std::span<const uint8_t> bytes() const { return bytes_; }  // exactly kArpPacketLen bytes

 private:
  explicit ArpPacket(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  std::span<const uint8_t> bytes_;
};

struct ArpRepr {
  ArpOperation operation = ArpOperation::kRequest;
  MacAddress sender_mac;
  Ipv4Address sender_ip;
  MacAddress target_mac;  // zero in a request (RFC 826 leaves it unspecified)
  Ipv4Address target_ip;

  // kUnsupported for an operation other than request or reply (RARP, InARP).
  static WireResult<ArpRepr> Parse(const ArpPacket& packet);
  size_t BufferLen() const { return kArpPacketLen; }
  // Writes BufferLen() bytes; false (nothing written) when `out` is smaller or the operation is
  // not request/reply.
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const ArpRepr&, const ArpRepr&) = default;
};

}  // namespace braid::wire
