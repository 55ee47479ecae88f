#include "datapath/wire/icmpv4.h"

#include <algorithm>
#include <cstring>

#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/ipv4.h"

namespace braid::wire {
namespace {

bool IsEcho(Icmpv4Type t) { return t == Icmpv4Type::kEchoRequest || t == Icmpv4Type::kEchoReply; }
bool IsSupportedError(Icmpv4Type t) {
  return t == Icmpv4Type::kDestinationUnreachable || t == Icmpv4Type::kTimeExceeded;
}
bool CarriesMtu(Icmpv4Type t, uint8_t code) {
  return t == Icmpv4Type::kDestinationUnreachable && code == kIcmpv4FragmentationNeeded;
}

// RFC 792: an error quotes "the internet header + 64 bits of original data datagram". The quoted
// header's total length is the original packet's, not what was quoted, so only the header's own
// length is checked.
WireError CheckInvokingPacket(std::span<const uint8_t> data) {
  if (data.size() < kIpv4MinHeaderLen + 8) return WireError::kTruncated;
  if ((data[0] >> 4) != 4) return WireError::kBadVersion;
  size_t header_len = size_t{data[0] & 0x0fu} * 4;
  if (header_len < kIpv4MinHeaderLen) return WireError::kBadHeaderLength;
  if (data.size() < header_len + 8) return WireError::kTruncated;
  return WireError::kNone;
}

}  // namespace

WireResult<Icmpv4Packet> Icmpv4Packet::Check(std::span<const uint8_t> bytes) {
  if (bytes.size() < kIcmpv4HeaderLen) return WireError::kTruncated;
  return Icmpv4Packet(bytes);
}

uint16_t Icmpv4Packet::checksum() const { return LoadBe16(bytes_.data() + 2); }
bool Icmpv4Packet::checksum_ok() const { return ComputeChecksum(bytes_) == 0; }
uint16_t Icmpv4Packet::echo_ident() const { return LoadBe16(bytes_.data() + 4); }
uint16_t Icmpv4Packet::echo_seq() const { return LoadBe16(bytes_.data() + 6); }
uint16_t Icmpv4Packet::next_hop_mtu() const { return LoadBe16(bytes_.data() + 6); }

WireResult<Icmpv4Repr> Icmpv4Repr::Parse(const Icmpv4Packet& packet) {
  if (!packet.checksum_ok()) return WireError::kBadChecksum;
  Icmpv4Repr r;
  r.type = packet.type();
  r.code = packet.code();
  r.data = packet.data();
  if (IsEcho(r.type)) {
    r.echo_ident = packet.echo_ident();
    r.echo_seq = packet.echo_seq();
  } else if (IsSupportedError(r.type)) {
    if (WireError e = CheckInvokingPacket(r.data); e != WireError::kNone) return e;
    if (CarriesMtu(r.type, r.code)) r.next_hop_mtu = packet.next_hop_mtu();
  } else {
    return WireError::kUnsupported;
  }
  return r;
}

bool Icmpv4Repr::Emit(std::span<uint8_t> out) const {
  if (out.size() < BufferLen()) return false;
  if (IsEcho(type)) {
    if (next_hop_mtu != 0) return false;
  } else if (IsSupportedError(type)) {
    if (echo_ident != 0 || echo_seq != 0) return false;
    if (next_hop_mtu != 0 && !CarriesMtu(type, code)) return false;
    if (CheckInvokingPacket(data) != WireError::kNone) return false;
  } else {
    return false;
  }
  uint8_t* p = out.data();
  // Data first: it may overlap the output (a reply built in the request's buffer).
  if (!data.empty()) std::memmove(p + kIcmpv4HeaderLen, data.data(), data.size());
  p[0] = static_cast<uint8_t>(type);
  p[1] = code;
  StoreBe16(p + 2, 0);
  if (IsEcho(type)) {
    StoreBe16(p + 4, echo_ident);
    StoreBe16(p + 6, echo_seq);
  } else {
    StoreBe16(p + 4, 0);  // unused (RFC 1191 §4: the high half stays zero)
    StoreBe16(p + 6, next_hop_mtu);
  }
  StoreBe16(p + 2, ComputeChecksum(out.first(BufferLen())));
  return true;
}

bool operator==(const Icmpv4Repr& a, const Icmpv4Repr& b) {
  return a.type == b.type && a.code == b.code && a.echo_ident == b.echo_ident &&
         a.echo_seq == b.echo_seq && a.next_hop_mtu == b.next_hop_mtu &&
         std::equal(a.data.begin(), a.data.end(), b.data.begin(), b.data.end());
}

}  // namespace braid::wire
