// ICMP for IPv4 (RFC 792): echo, destination unreachable (with RFC 1191's next-hop MTU for
// "fragmentation needed") and time exceeded. Other types are well-formed to the view but the repr
// refuses them (kUnsupported) and the net layer drops them by that name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/wire/error.h"

namespace braid::wire {

inline constexpr size_t kIcmpv4HeaderLen = 8;  // type, code, checksum, 4 type-specific bytes

enum class Icmpv4Type : uint8_t {
  kEchoReply = 0,
  kDestinationUnreachable = 3,
  kRedirect = 5,
  kEchoRequest = 8,
  kTimeExceeded = 11,
  kParameterProblem = 12,
};

// Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1).
inline constexpr uint8_t kIcmpv4NetUnreachable = 0;
inline constexpr uint8_t kIcmpv4HostUnreachable = 1;
inline constexpr uint8_t kIcmpv4ProtocolUnreachable = 2;
inline constexpr uint8_t kIcmpv4PortUnreachable = 3;
inline constexpr uint8_t kIcmpv4FragmentationNeeded = 4;
// Time exceeded codes.
inline constexpr uint8_t kIcmpv4TtlExceeded = 0;
inline constexpr uint8_t kIcmpv4ReassemblyTimeExceeded = 1;

// A checked view over an ICMPv4 message (the IPv4 payload, already cut to the total length).
// Check() proves the 8-byte header; every accessor reads within it whatever the type, so the
// type-specific ones return the raw bytes when asked of another type.
class Icmpv4Packet {
 public:
  static WireResult<Icmpv4Packet> Check(std::span<const uint8_t> bytes);

  Icmpv4Type type() const { return static_cast<Icmpv4Type>(bytes_[0]); }
  uint8_t code() const { return bytes_[1]; }
  uint16_t checksum() const;
  // RFC 792: the checksum covers the whole message; summed with it, the result is all ones.
  bool checksum_ok() const;
  uint16_t echo_ident() const;    // echo: bytes 4-5
  uint16_t echo_seq() const;      // echo: bytes 6-7
  uint16_t next_hop_mtu() const;  // RFC 1191 §4, unreachable code 4: bytes 6-7
  // Echo: the data echoed back. Errors: the invoking packet (its IP header + at least 8 bytes).
  std::span<const uint8_t> data() const { return bytes_.subspan(kIcmpv4HeaderLen); }
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  explicit Icmpv4Packet(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  std::span<const uint8_t> bytes_;
};

// One supported message. Fields not defined for `type` are zero. `data` refers to the parsed
// buffer (no copy): echo data, or for errors the invoking packet, which Parse proves holds an
// IPv4 header and the 8 bytes after it (RFC 792) so the net layer can find the flow.
struct Icmpv4Repr {
  Icmpv4Type type = Icmpv4Type::kEchoRequest;
  uint8_t code = 0;
  uint16_t echo_ident = 0;
  uint16_t echo_seq = 0;
  uint16_t next_hop_mtu = 0;  // unreachable code 4 only; 0 from a pre-RFC 1191 router
  std::span<const uint8_t> data;

  // kBadChecksum; kUnsupported for other types; for errors, kTruncated / kBadVersion /
  // kBadHeaderLength when the invoking packet is not an IPv4 header + 8 bytes.
  static WireResult<Icmpv4Repr> Parse(const Icmpv4Packet& packet);
  size_t BufferLen() const { return kIcmpv4HeaderLen + data.size(); }
  // Writes BufferLen() bytes (header, data, checksum); `data` may already sit at out[8...]. False
  // (nothing written) when `out` is smaller or the fields are not a message Parse accepts.
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  // Field-wise, `data` by content.
  friend bool operator==(const Icmpv4Repr& a, const Icmpv4Repr& b);
};

}  // namespace braid::wire
