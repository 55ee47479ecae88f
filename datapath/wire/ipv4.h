// IPv4 headers (RFC 791). Options are bounded and exposed as bytes, never interpreted: the
// datapath neither needs nor honours them. Fragments are recognised (is_fragment()) so the net
// layer can count and drop them; there is no reassembly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/wire/address.h"
#include "datapath/wire/error.h"

namespace braid::wire {

// IANA "Assigned Internet Protocol Numbers": the IPv4 protocol field and the IPv6 next header
// field share the registry. An enum class over uint8_t holds any of the 256 values, so an unknown
// protocol read off the wire is representable and compares unequal to every named one.
enum class IpProtocol : uint8_t {
  kHopByHop = 0,  // IPv6 Hop-by-Hop Options (RFC 8200 §4.3)
  kIcmp = 1,
  kTcp = 6,
  kUdp = 17,
  kIpv6Routing = 43,
  kIpv6Fragment = 44,
  kEsp = 50,
  kAh = 51,
  kIcmpv6 = 58,
  kIpv6NoNextHeader = 59,
  kIpv6DestinationOptions = 60,
};

inline constexpr size_t kIpv4MinHeaderLen = 20;
inline constexpr size_t kIpv4MaxHeaderLen = 60;
inline constexpr uint16_t kIpv4MaxFragmentOffset = 0x1fff * 8;  // 13 bits of 8-octet units

// A checked view over an IPv4 packet. Check() proves: version 4; 20 <= IHL*4 <= buffer;
// IHL*4 <= total length <= buffer. The buffer may be longer than the total length (Ethernet pads
// short frames to 60 bytes): payload() stops at the total length.
class Ipv4Packet {
 public:
  static WireResult<Ipv4Packet> Check(std::span<const uint8_t> bytes);

  uint8_t version() const { return bytes_[0] >> 4; }
  size_t header_len() const { return size_t{bytes_[0] & 0x0fu} * 4; }
  uint8_t dscp() const { return bytes_[1] >> 2; }
  uint8_t ecn() const { return bytes_[1] & 0x03; }
  uint16_t total_len() const;
  uint16_t ident() const;
  bool reserved_flag() const { return (bytes_[6] & 0x80) != 0; }  // RFC 791: must be zero
  bool dont_fragment() const { return (bytes_[6] & 0x40) != 0; }
  bool more_fragments() const { return (bytes_[6] & 0x20) != 0; }
  // In bytes (the 13-bit field counts 8-octet units).
  uint16_t fragment_offset() const;
  // RFC 791 §2.3: a fragment has MF set or a non-zero offset; the net layer drops these.
  bool is_fragment() const { return more_fragments() || fragment_offset() != 0; }
  uint8_t ttl() const { return bytes_[8]; }
  IpProtocol protocol() const { return static_cast<IpProtocol>(bytes_[9]); }
  uint16_t header_checksum() const;
  // RFC 791 §3.1: the ones' complement sum over the header, checksum included, is all ones.
  bool checksum_ok() const;
  Ipv4Address source() const { return Ipv4Address::FromBytes(bytes_.data() + 12); }
  Ipv4Address destination() const { return Ipv4Address::FromBytes(bytes_.data() + 16); }
  std::span<const uint8_t> options() const;  // the header past byte 20, possibly empty
  std::span<const uint8_t> header() const { return bytes_.first(header_len()); }
  std::span<const uint8_t> payload() const { return bytes_.subspan(header_len()); }
  std::span<const uint8_t> bytes() const { return bytes_; }  // total_len() bytes

 private:
  explicit Ipv4Packet(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  std::span<const uint8_t> bytes_;  // cut to the total length
};

// The fields the datapath reads and writes. Emit writes a 20-byte header without options; a
// parsed packet's options are dropped (payload_len excludes them).
struct Ipv4Repr {
  Ipv4Address source;
  Ipv4Address destination;
  IpProtocol protocol = IpProtocol::kTcp;
  uint8_t dscp = 0;  // 6 bits
  uint8_t ecn = 0;   // 2 bits (RFC 3168)
  uint16_t ident = 0;
  bool dont_fragment = false;
  bool more_fragments = false;
  uint16_t fragment_offset = 0;  // bytes, a multiple of 8
  uint8_t ttl = 64;
  uint16_t payload_len = 0;  // bytes after the header

  // kBadChecksum when the header checksum does not verify.
  static WireResult<Ipv4Repr> Parse(const Ipv4Packet& packet);
  bool is_fragment() const { return more_fragments || fragment_offset != 0; }
  size_t HeaderLen() const { return kIpv4MinHeaderLen; }
  size_t BufferLen() const { return kIpv4MinHeaderLen + payload_len; }
  // Writes HeaderLen() bytes, header checksum included; the payload is the caller's. False
  // (nothing written) when `out` is smaller or a field does not fit: DSCP > 63, ECN > 3, an
  // offset not a multiple of 8 or beyond 13 bits, a total length beyond 65535.
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const Ipv4Repr&, const Ipv4Repr&) = default;
};

}  // namespace braid::wire
