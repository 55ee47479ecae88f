#include "datapath/wire/ipv6.h"

#include <algorithm>

#include "datapath/wire/bytes.h"

namespace braid::wire {

WireResult<Ipv6Packet> Ipv6Packet::Check(std::span<const uint8_t> bytes) {
  if (bytes.size() < kIpv6HeaderLen) return WireError::kTruncated;
  if ((bytes[0] >> 4) != 6) return WireError::kBadVersion;
  size_t total_len = kIpv6HeaderLen + LoadBe16(bytes.data() + 4);
  if (total_len > bytes.size()) return WireError::kBadTotalLength;
  return Ipv6Packet(bytes.first(total_len));
}

uint32_t Ipv6Packet::flow_label() const { return LoadBe32(bytes_.data()) & kIpv6MaxFlowLabel; }
uint16_t Ipv6Packet::payload_len() const { return LoadBe16(bytes_.data() + 4); }

WireResult<Ipv6ExtensionWalk> Ipv6Packet::WalkExtensionHeaders() const {
  std::span<const uint8_t> payload = this->payload();
  Ipv6ExtensionWalk walk;
  IpProtocol next = next_header();
  size_t offset = 0;  // into the payload
  for (;;) {
    size_t len = 0;
    switch (next) {
      case IpProtocol::kHopByHop:
        // RFC 8200 §4.1: Hop-by-Hop Options only immediately after the IPv6 header.
        if (walk.extension_count != 0) return WireError::kBadExtensionHeader;
        [[fallthrough]];
      case IpProtocol::kIpv6Routing:
      case IpProtocol::kIpv6DestinationOptions:
        // RFC 8200 §4.3-4.6: Hdr Ext Len in 8-octet units, not counting the first 8 octets.
        if (payload.size() - offset < 2) return WireError::kBadExtensionHeader;
        len = (size_t{payload[offset + 1]} + 1) * 8;
        break;
      case IpProtocol::kAh:
        // RFC 4302 §2.2: Payload Len in 4-octet units, minus 2.
        if (payload.size() - offset < 2) return WireError::kBadExtensionHeader;
        len = (size_t{payload[offset + 1]} + 2) * 4;
        break;
      case IpProtocol::kIpv6Fragment:
        len = kIpv6FragmentHeaderLen;
        break;
      default:
        // Upper layer, ESP (its payload is opaque) or No Next Header: the chain ends here.
        walk.upper_layer_protocol = next;
        walk.upper_layer_offset = kIpv6HeaderLen + offset;
        walk.upper_layer = payload.subspan(offset);
        return walk;
    }
    if (walk.extension_count == kIpv6MaxExtensionHeaders) {
      return WireError::kTooManyExtensionHeaders;
    }
    if (len > payload.size() - offset) return WireError::kBadExtensionHeader;
    const uint8_t* h = payload.data() + offset;
    IpProtocol following = static_cast<IpProtocol>(h[0]);
    ++walk.extension_count;
    offset += len;
    if (next == IpProtocol::kIpv6Fragment) {
      Ipv6FragmentHeader frag;
      frag.next_header = following;
      frag.offset = static_cast<uint16_t>(LoadBe16(h + 2) & 0xfff8);
      frag.more_fragments = (h[3] & 0x01) != 0;
      frag.ident = LoadBe32(h + 4);
      bool atomic = frag.offset == 0 && !frag.more_fragments;
      if (!walk.fragment || !atomic) walk.fragment = frag;
      if (!atomic) {
        walk.upper_layer_protocol = following;
        walk.upper_layer_offset = kIpv6HeaderLen + offset;
        walk.upper_layer = payload.subspan(offset);
        return walk;
      }
    }
    next = following;
  }
}

Ipv6Repr Ipv6Repr::Parse(const Ipv6Packet& packet) {
  Ipv6Repr r;
  r.source = packet.source();
  r.destination = packet.destination();
  r.next_header = packet.next_header();
  r.hop_limit = packet.hop_limit();
  r.traffic_class = packet.traffic_class();
  r.flow_label = packet.flow_label();
  r.payload_len = packet.payload_len();
  return r;
}

bool Ipv6Repr::Emit(std::span<uint8_t> out) const {
  if (out.size() < HeaderLen()) return false;
  if (flow_label > kIpv6MaxFlowLabel) return false;
  uint8_t* p = out.data();
  StoreBe32(p, uint32_t{6} << 28 | uint32_t{traffic_class} << 20 | flow_label);
  StoreBe16(p + 4, payload_len);
  p[6] = static_cast<uint8_t>(next_header);
  p[7] = hop_limit;
  std::copy(source.bytes.begin(), source.bytes.end(), p + 8);
  std::copy(destination.bytes.begin(), destination.bytes.end(), p + 24);
  return true;
}

}  // namespace braid::wire
