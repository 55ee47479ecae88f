#include "datapath/wire/ipv4.h"

#include <algorithm>

#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"

namespace braid::wire {

WireResult<Ipv4Packet> Ipv4Packet::Check(std::span<const uint8_t> bytes) {
  if (bytes.size() < kIpv4MinHeaderLen) return WireError::kTruncated;
  if ((bytes[0] >> 4) != 4) return WireError::kBadVersion;
  size_t header_len = size_t{bytes[0] & 0x0fu} * 4;
  if (header_len < kIpv4MinHeaderLen || header_len > bytes.size()) {
    return WireError::kBadHeaderLength;
  }
  size_t total_len = LoadBe16(bytes.data() + 2);
  if (total_len < header_len || total_len > bytes.size()) return WireError::kBadTotalLength;
  return Ipv4Packet(bytes.first(total_len));
}

uint16_t Ipv4Packet::total_len() const { return LoadBe16(bytes_.data() + 2); }
uint16_t Ipv4Packet::ident() const { return LoadBe16(bytes_.data() + 4); }
uint16_t Ipv4Packet::fragment_offset() const {
  return static_cast<uint16_t>((LoadBe16(bytes_.data() + 6) & 0x1fff) * 8);
}
uint16_t Ipv4Packet::header_checksum() const { return LoadBe16(bytes_.data() + 10); }
bool Ipv4Packet::checksum_ok() const { return ComputeChecksum(header()) == 0; }
std::span<const uint8_t> Ipv4Packet::options() const {
  return bytes_.subspan(kIpv4MinHeaderLen, header_len() - kIpv4MinHeaderLen);
}

WireResult<Ipv4Repr> Ipv4Repr::Parse(const Ipv4Packet& packet) {
  if (!packet.checksum_ok()) return WireError::kBadChecksum;
  Ipv4Repr r;
  r.source = packet.source();
  r.destination = packet.destination();
  r.protocol = packet.protocol();
  r.dscp = packet.dscp();
  r.ecn = packet.ecn();
  r.ident = packet.ident();
  r.dont_fragment = packet.dont_fragment();
  r.more_fragments = packet.more_fragments();
  r.fragment_offset = packet.fragment_offset();
  r.ttl = packet.ttl();
  r.payload_len = static_cast<uint16_t>(packet.total_len() - packet.header_len());
  return r;
}

bool Ipv4Repr::Emit(std::span<uint8_t> out) const {
  if (out.size() < HeaderLen()) return false;
  if (dscp > 63 || ecn > 3 || fragment_offset % 8 != 0 ||
      fragment_offset > kIpv4MaxFragmentOffset || BufferLen() > 0xffff) {
    return false;
  }
  uint8_t* p = out.data();
  p[0] = 0x45;  // version 4, IHL 5
  p[1] = static_cast<uint8_t>(dscp << 2 | ecn);
  StoreBe16(p + 2, static_cast<uint16_t>(BufferLen()));
  StoreBe16(p + 4, ident);
  StoreBe16(p + 6, static_cast<uint16_t>((dont_fragment ? 0x4000 : 0) |
                                         (more_fragments ? 0x2000 : 0) | fragment_offset / 8));
  p[8] = ttl;
  p[9] = static_cast<uint8_t>(protocol);
  StoreBe16(p + 10, 0);
  std::copy(source.bytes.begin(), source.bytes.end(), p + 12);
  std::copy(destination.bytes.begin(), destination.bytes.end(), p + 16);
  StoreBe16(p + 10, ComputeChecksum(out.first(kIpv4MinHeaderLen)));
  return true;
}

}  // namespace braid::wire
