// The TCP header (RFC 9293 §3.1): a checked view over a segment, its flags, checksum checks over
// the IPv4 and IPv6 pseudo-headers, and a repr that emits the header with its options
// (datapath/wire/tcp_options.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>

#include "datapath/wire/address.h"
#include "datapath/wire/error.h"
#include "datapath/wire/seq.h"
#include "datapath/wire/tcp_options.h"

namespace braid::wire {

inline constexpr size_t kTcpHeaderLen = 20;  // without options
inline constexpr size_t kTcpMaxHeaderLen = kTcpHeaderLen + kTcpMaxOptionsLen;

// The control bits (RFC 9293 §3.1; ECE and CWR from RFC 3168 §6.1).
enum class TcpFlag : uint8_t {
  kFin = 0x01,
  kSyn = 0x02,
  kRst = 0x04,
  kPsh = 0x08,
  kAck = 0x10,
  kUrg = 0x20,
  kEce = 0x40,
  kCwr = 0x80,
};

// A set of control bits: `TcpFlags(TcpFlag::kSyn) | TcpFlag::kAck`, printed "SYN,ACK".
class TcpFlags {
 public:
  constexpr TcpFlags() = default;
  constexpr TcpFlags(TcpFlag flag) : bits_(static_cast<uint8_t>(flag)) {}  // NOLINT: implicit
  static constexpr TcpFlags FromBits(uint8_t bits) {
    TcpFlags f;
    f.bits_ = bits;
    return f;
  }
  constexpr uint8_t bits() const { return bits_; }

  // True when every flag of `flags` is set.
  constexpr bool Has(TcpFlags flags) const { return (bits_ & flags.bits_) == flags.bits_; }
  constexpr bool fin() const { return Has(TcpFlag::kFin); }
  constexpr bool syn() const { return Has(TcpFlag::kSyn); }
  constexpr bool rst() const { return Has(TcpFlag::kRst); }
  constexpr bool psh() const { return Has(TcpFlag::kPsh); }
  constexpr bool ack() const { return Has(TcpFlag::kAck); }
  constexpr bool urg() const { return Has(TcpFlag::kUrg); }
  constexpr bool ece() const { return Has(TcpFlag::kEce); }
  constexpr bool cwr() const { return Has(TcpFlag::kCwr); }

  constexpr TcpFlags& operator|=(TcpFlags other) {
    bits_ |= other.bits_;
    return *this;
  }
  constexpr TcpFlags& operator&=(TcpFlags other) {
    bits_ &= other.bits_;
    return *this;
  }
  friend constexpr TcpFlags operator|(TcpFlags a, TcpFlags b) { return a |= b; }
  friend constexpr TcpFlags operator&(TcpFlags a, TcpFlags b) { return a &= b; }
  friend constexpr bool operator==(TcpFlags, TcpFlags) = default;

  // "SYN,ACK" (bits in order FIN SYN RST PSH ACK URG ECE CWR); "none" when empty.
  std::string ToString() const;

 private:
  uint8_t bits_ = 0;
};

constexpr TcpFlags operator|(TcpFlag a, TcpFlag b) { return TcpFlags(a) | TcpFlags(b); }

inline std::ostream& operator<<(std::ostream& os, TcpFlags f) { return os << f.ToString(); }

// A checked view over a TCP segment (header, options and payload; the whole IP payload, so that
// checksums cover it). Constructed only by Check(), which proves the header and its options are
// present, so the accessors cannot fail.
class TcpSegment {
 public:
  // kTruncated below 20 bytes; kBadHeaderLength when the data offset is below 5 or points past
  // the buffer.
  static WireResult<TcpSegment> Check(std::span<const uint8_t> segment);

  uint16_t src_port() const;
  uint16_t dst_port() const;
  TcpSeq seq() const;
  TcpSeq ack() const;  // meaningful only with the ACK flag
  uint8_t data_offset() const { return static_cast<uint8_t>(bytes_[12] >> 4); }  // 32-bit words
  size_t header_len() const { return size_t{data_offset()} * 4; }
  // The four bits between data offset and CWR (RFC 9293 §3.1: ignored on receipt).
  uint8_t reserved() const { return bytes_[12] & 0x0f; }
  TcpFlags flags() const { return TcpFlags::FromBits(bytes_[13]); }
  uint16_t window() const;  // as sent: not yet shifted by the window scale
  uint16_t checksum() const;
  uint16_t urgent_pointer() const;
  std::span<const uint8_t> options() const {
    return bytes_.subspan(kTcpHeaderLen, header_len() - kTcpHeaderLen);
  }
  std::span<const uint8_t> payload() const { return bytes_.subspan(header_len()); }
  std::span<const uint8_t> bytes() const { return bytes_; }

  // True when the checksum field verifies over the pseudo-header (RFC 9293 §3.1) and the whole
  // segment. IPv4's pseudo-header length is 16 bits: a longer segment never verifies.
  bool VerifyChecksumV4(const Ipv4Address& src, const Ipv4Address& dst) const;
  bool VerifyChecksumV6(const Ipv6Address& src, const Ipv6Address& dst) const;

 private:
  explicit TcpSegment(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  std::span<const uint8_t> bytes_;
};

struct TcpRepr {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  TcpSeq seq;
  TcpSeq ack;
  TcpFlags flags;
  uint16_t window = 0;  // as sent: already shifted right by our window scale
  uint16_t urgent_pointer = 0;
  TcpOptionsRepr options;
  size_t payload_len = 0;

  // Reserved bits are dropped (RFC 9293 §3.1: ignored on receipt, zero when sent).
  static TcpRepr Parse(const TcpSegment& segment);

  // 20 + the options' encoded length (a multiple of 4). Emit fails when the options do not fit in
  // 40 bytes, i.e. HeaderLen() > kTcpMaxHeaderLen.
  size_t HeaderLen() const { return kTcpHeaderLen + options.EncodedLen(); }
  size_t BufferLen() const { return HeaderLen() + payload_len; }
  // Writes HeaderLen() bytes (header and options, checksum field zero; the payload is the
  // caller's); false (nothing written) when `out` is smaller or the options cannot be emitted
  // (TcpOptionsRepr::Emit).
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;

  // Computes the checksum over the pseudo-header and `segment` (header and payload, as Emit
  // wrote it and the payload after it) and writes it into the header's checksum field. False
  // (nothing written) when `segment` is shorter than a header, or longer than 65535 bytes for
  // IPv4.
  [[nodiscard]] static bool FillChecksumV4(std::span<uint8_t> segment, const Ipv4Address& src,
                                           const Ipv4Address& dst);
  [[nodiscard]] static bool FillChecksumV6(std::span<uint8_t> segment, const Ipv6Address& src,
                                           const Ipv6Address& dst);

  friend bool operator==(const TcpRepr&, const TcpRepr&) = default;
};

std::ostream& operator<<(std::ostream& os, const TcpRepr& repr);

}  // namespace braid::wire
