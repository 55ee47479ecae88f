// IPv6 fixed headers (RFC 8200 §3) and a bounded walk over the extension-header chain (§4) to the
// upper-layer header. Extension headers are skipped, never acted on: the datapath does not
// process options, routing headers or reassembly; a fragment is reported so the net layer can
// count and drop it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "datapath/wire/address.h"
#include "datapath/wire/error.h"
#include "datapath/wire/ipv4.h"

namespace braid::wire {

inline constexpr size_t kIpv6HeaderLen = 40;
inline constexpr size_t kIpv6FragmentHeaderLen = 8;
// Longest chain the walk follows. Real traffic carries at most a few (RFC 8200 §4.1 lists six
// kinds, each once except Destination Options); a longer chain is refused, not followed.
inline constexpr size_t kIpv6MaxExtensionHeaders = 8;
inline constexpr uint32_t kIpv6MaxFlowLabel = 0xfffff;

// RFC 8200 §4.5.
struct Ipv6FragmentHeader {
  IpProtocol next_header = IpProtocol::kTcp;
  uint16_t offset = 0;  // bytes (the 13-bit field counts 8-octet units)
  bool more_fragments = false;
  uint32_t ident = 0;
  friend bool operator==(const Ipv6FragmentHeader&, const Ipv6FragmentHeader&) = default;
};

// Where the extension-header chain ends.
struct Ipv6ExtensionWalk {
  // The first Next Header value that is not an extension header this walk follows: the
  // upper-layer protocol (TCP, ICMPv6, ...), or ESP / No Next Header, which end the chain, or the
  // Fragment header's next header when the walk stopped at a fragment.
  IpProtocol upper_layer_protocol = IpProtocol::kIpv6NoNextHeader;
  size_t upper_layer_offset = 0;         // from the start of the IPv6 header
  std::span<const uint8_t> upper_layer;  // from there to the end of the payload
  size_t extension_count = 0;            // extension headers walked over
  // The Fragment header that ended the walk, else the first (atomic) one seen.
  std::optional<Ipv6FragmentHeader> fragment;

  // A real fragment, not an atomic one (offset 0 and M clear, RFC 6946), which is processed as a
  // whole packet.
  bool is_fragment() const {
    return fragment && (fragment->offset != 0 || fragment->more_fragments);
  }
};

// A checked view over an IPv6 packet. Check() proves the 40-byte header, version 6, and that the
// payload length fits the buffer; a longer buffer (Ethernet padding) is cut to the payload length.
// A Jumbo Payload (payload length 0 with a Hop-by-Hop option, RFC 2675) is not supported: it reads
// as an empty payload.
class Ipv6Packet {
 public:
  static WireResult<Ipv6Packet> Check(std::span<const uint8_t> bytes);

  uint8_t version() const { return bytes_[0] >> 4; }
  uint8_t traffic_class() const { return static_cast<uint8_t>(bytes_[0] << 4 | bytes_[1] >> 4); }
  uint8_t dscp() const { return traffic_class() >> 2; }
  uint8_t ecn() const { return traffic_class() & 0x03; }
  uint32_t flow_label() const;
  uint16_t payload_len() const;
  IpProtocol next_header() const { return static_cast<IpProtocol>(bytes_[6]); }
  uint8_t hop_limit() const { return bytes_[7]; }
  Ipv6Address source() const { return Ipv6Address::FromBytes(bytes_.data() + 8); }
  Ipv6Address destination() const { return Ipv6Address::FromBytes(bytes_.data() + 24); }
  std::span<const uint8_t> header() const { return bytes_.first(kIpv6HeaderLen); }
  std::span<const uint8_t> payload() const { return bytes_.subspan(kIpv6HeaderLen); }
  std::span<const uint8_t> bytes() const { return bytes_; }  // 40 + payload_len() bytes

  // Follows Hop-by-Hop (0), Routing (43), Fragment (44), Destination Options (60) and AH (51)
  // headers to the upper layer. Errors: kBadExtensionHeader when a header does not fit the
  // payload or a Hop-by-Hop header is not first (RFC 8200 §4.1); kTooManyExtensionHeaders past
  // kIpv6MaxExtensionHeaders. The walk stops after a Fragment header unless it is atomic: what
  // follows is the fragmentable part, of which a fragment holds only a piece.
  WireResult<Ipv6ExtensionWalk> WalkExtensionHeaders() const;

 private:
  explicit Ipv6Packet(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  std::span<const uint8_t> bytes_;  // cut to 40 + payload length
};

// The fixed header. Emit writes those 40 bytes only; extension headers and payload are the
// caller's.
struct Ipv6Repr {
  Ipv6Address source;
  Ipv6Address destination;
  IpProtocol next_header = IpProtocol::kTcp;
  uint8_t hop_limit = 64;
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;  // 20 bits
  uint16_t payload_len = 0;

  static Ipv6Repr Parse(const Ipv6Packet& packet);
  size_t HeaderLen() const { return kIpv6HeaderLen; }
  size_t BufferLen() const { return kIpv6HeaderLen + payload_len; }
  // Writes HeaderLen() bytes; false (nothing written) when `out` is smaller or the flow label
  // does not fit 20 bits.
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const Ipv6Repr&, const Ipv6Repr&) = default;
};

}  // namespace braid::wire
