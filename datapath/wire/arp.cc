#include "datapath/wire/arp.h"

#include <algorithm>

#include "datapath/wire/bytes.h"
#include "datapath/wire/ethernet.h"

namespace braid::wire {
namespace {

constexpr uint8_t kMacLen = 6;
constexpr uint8_t kIpv4Len = 4;

bool IsKnownOperation(uint16_t op) {
  return op == static_cast<uint16_t>(ArpOperation::kRequest) ||
         op == static_cast<uint16_t>(ArpOperation::kReply);
}

}  // namespace

WireResult<ArpPacket> ArpPacket::Check(std::span<const uint8_t> bytes) {
  if (bytes.size() < kArpPacketLen) return WireError::kTruncated;
  const uint8_t* p = bytes.data();
  if (LoadBe16(p) != kArpHardwareEthernet || LoadBe16(p + 2) != kEtherTypeIpv4 || p[4] != kMacLen ||
      p[5] != kIpv4Len) {
    return WireError::kBadHardwareType;
  }
  return ArpPacket(bytes.first(kArpPacketLen));
}

uint16_t ArpPacket::hardware_type() const { return LoadBe16(bytes_.data()); }
uint16_t ArpPacket::protocol_type() const { return LoadBe16(bytes_.data() + 2); }
uint16_t ArpPacket::operation() const { return LoadBe16(bytes_.data() + 6); }

WireResult<ArpRepr> ArpRepr::Parse(const ArpPacket& packet) {
  if (!IsKnownOperation(packet.operation())) return WireError::kUnsupported;
  ArpRepr r;
  r.operation = static_cast<ArpOperation>(packet.operation());
  r.sender_mac = packet.sender_hardware_address();
  r.sender_ip = packet.sender_protocol_address();
  r.target_mac = packet.target_hardware_address();
  r.target_ip = packet.target_protocol_address();
  return r;
}

bool ArpRepr::Emit(std::span<uint8_t> out) const {
  if (out.size() < BufferLen()) return false;
  if (!IsKnownOperation(static_cast<uint16_t>(operation))) return false;
  uint8_t* p = out.data();
  StoreBe16(p, kArpHardwareEthernet);
  StoreBe16(p + 2, kEtherTypeIpv4);
  p[4] = kMacLen;
  p[5] = kIpv4Len;
  StoreBe16(p + 6, static_cast<uint16_t>(operation));
  std::copy(sender_mac.bytes.begin(), sender_mac.bytes.end(), p + 8);
  std::copy(sender_ip.bytes.begin(), sender_ip.bytes.end(), p + 14);
  std::copy(target_mac.bytes.begin(), target_mac.bytes.end(), p + 18);
  std::copy(target_ip.bytes.begin(), target_ip.bytes.end(), p + 24);
  return true;
}

}  // namespace braid::wire
