// The Internet checksum (RFC 1071) with IPv4 and IPv6 pseudo-headers (RFC 9293 §3.1,
// RFC 8200 §8.1), incremental update (RFC 1624) and MPTCP's DSS checksum (RFC 8684 §3.3.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/wire/address.h"

namespace braid::wire {

// Accumulates a ones'-complement sum over pieces of any length and alignment: a piece that starts
// at an odd offset of the whole is byte-swapped into place, so pieces can come from several
// buffers (pseudo-header, header, payload segments).
class InternetChecksum {
 public:
  void Add(std::span<const uint8_t> bytes);
  void AddBe16(uint16_t v);
  void AddBe32(uint32_t v) {
    AddBe16(static_cast<uint16_t>(v >> 16));
    AddBe16(static_cast<uint16_t>(v));
  }
  void AddBe64(uint64_t v) {
    AddBe32(static_cast<uint32_t>(v >> 32));
    AddBe32(static_cast<uint32_t>(v));
  }
  // The folded 16-bit ones'-complement sum, not yet complemented.
  uint16_t Sum() const;
  // The value to put in a checksum field (the complement of the sum). A receiver that sums a
  // block including a correct checksum field gets Sum() == 0xffff, i.e. Finish() == 0.
  uint16_t Finish() const { return static_cast<uint16_t>(~Sum()); }

 private:
  uint64_t acc_ = 0;  // sum of big-endian 16-bit words, folded at the end
  bool odd_ = false;  // bytes added so far is odd: the next byte is a low-order byte
};

// Checksum of a standalone block (IPv4 header, ICMPv4 message).
uint16_t ComputeChecksum(std::span<const uint8_t> bytes);

// Pseudo-header sums for TCP/UDP/ICMPv6 checksums. `length` is the upper-layer length.
void AddIpv4PseudoHeader(InternetChecksum& c, const Ipv4Address& src, const Ipv4Address& dst,
                         uint8_t protocol, uint16_t length);
void AddIpv6PseudoHeader(InternetChecksum& c, const Ipv6Address& src, const Ipv6Address& dst,
                         uint8_t next_header, uint32_t length);

// Checksum over pseudo-header + `segment` (whose checksum field must be zero when computing, or
// hold the received value when verifying: then the result is 0 for a correct segment).
uint16_t Ipv4UpperLayerChecksum(const Ipv4Address& src, const Ipv4Address& dst, uint8_t protocol,
                                std::span<const uint8_t> segment);
uint16_t Ipv6UpperLayerChecksum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t next_header,
                                std::span<const uint8_t> segment);

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), the new checksum after one 16-bit word of the covered
// data changes from `old_word` to `new_word`; 32-bit fields are two words.
uint16_t ChecksumUpdate16(uint16_t checksum, uint16_t old_word, uint16_t new_word);
uint16_t ChecksumUpdate32(uint16_t checksum, uint32_t old_value, uint32_t new_value);

// RFC 8684 §3.3.1: DSS checksum over the pseudo-header (64-bit DSN, 32-bit relative subflow
// sequence number, 16-bit data-level length, 16-bit zero) followed by the mapped payload.
// `payload` may be given in pieces through the InternetChecksum form.
void AddDssPseudoHeader(InternetChecksum& c, uint64_t data_seq, uint32_t subflow_seq,
                        uint16_t data_level_length);
uint16_t DssChecksum(uint64_t data_seq, uint32_t subflow_seq, uint16_t data_level_length,
                     std::span<const uint8_t> payload);

}  // namespace braid::wire
