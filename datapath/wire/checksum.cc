#include "datapath/wire/checksum.h"

#include "datapath/wire/bytes.h"

namespace braid::wire {
namespace {

// Folds a 64-bit accumulator of 16-bit words to 16 bits with end-around carry.
uint16_t Fold(uint64_t acc) {
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

// Sum of the big-endian 16-bit words of `p` (an odd trailing byte is a high-order byte padded
// with zero, RFC 1071 §4.1), unfolded. Eight bytes per step: each 64-bit load holds four words.
uint64_t SumWords(const uint8_t* p, size_t n) {
  uint64_t acc = 0;
  while (n >= 8) {
    acc += LoadBe16(p) + uint64_t{LoadBe16(p + 2)} + LoadBe16(p + 4) + LoadBe16(p + 6);
    p += 8;
    n -= 8;
  }
  while (n >= 2) {
    acc += LoadBe16(p);
    p += 2;
    n -= 2;
  }
  if (n == 1) acc += uint64_t{p[0]} << 8;
  return acc;
}

}  // namespace

void InternetChecksum::Add(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  if (odd_) {
    // The first byte completes the word begun by the previous piece.
    acc_ += p[0];
    ++p;
    --n;
    odd_ = false;
  }
  acc_ += SumWords(p, n);
  odd_ = (n % 2) == 1;
}

void InternetChecksum::AddBe16(uint16_t v) {
  uint8_t b[2];
  StoreBe16(b, v);
  Add(b);
}

uint16_t InternetChecksum::Sum() const { return Fold(acc_); }

uint16_t ComputeChecksum(std::span<const uint8_t> bytes) {
  InternetChecksum c;
  c.Add(bytes);
  return c.Finish();
}

void AddIpv4PseudoHeader(InternetChecksum& c, const Ipv4Address& src, const Ipv4Address& dst,
                         uint8_t protocol, uint16_t length) {
  c.Add(src.bytes);
  c.Add(dst.bytes);
  c.AddBe16(protocol);
  c.AddBe16(length);
}

void AddIpv6PseudoHeader(InternetChecksum& c, const Ipv6Address& src, const Ipv6Address& dst,
                         uint8_t next_header, uint32_t length) {
  c.Add(src.bytes);
  c.Add(dst.bytes);
  c.AddBe32(length);
  c.AddBe32(next_header);
}

uint16_t Ipv4UpperLayerChecksum(const Ipv4Address& src, const Ipv4Address& dst, uint8_t protocol,
                                std::span<const uint8_t> segment) {
  InternetChecksum c;
  AddIpv4PseudoHeader(c, src, dst, protocol, static_cast<uint16_t>(segment.size()));
  c.Add(segment);
  return c.Finish();
}

uint16_t Ipv6UpperLayerChecksum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t next_header,
                                std::span<const uint8_t> segment) {
  InternetChecksum c;
  AddIpv6PseudoHeader(c, src, dst, next_header, static_cast<uint32_t>(segment.size()));
  c.Add(segment);
  return c.Finish();
}

uint16_t ChecksumUpdate16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  uint64_t acc = static_cast<uint16_t>(~checksum);
  acc += static_cast<uint16_t>(~old_word);
  acc += new_word;
  return static_cast<uint16_t>(~Fold(acc));
}

uint16_t ChecksumUpdate32(uint16_t checksum, uint32_t old_value, uint32_t new_value) {
  checksum = ChecksumUpdate16(checksum, static_cast<uint16_t>(old_value >> 16),
                              static_cast<uint16_t>(new_value >> 16));
  return ChecksumUpdate16(checksum, static_cast<uint16_t>(old_value),
                          static_cast<uint16_t>(new_value));
}

void AddDssPseudoHeader(InternetChecksum& c, uint64_t data_seq, uint32_t subflow_seq,
                        uint16_t data_level_length) {
  c.AddBe64(data_seq);
  c.AddBe32(subflow_seq);
  c.AddBe16(data_level_length);
  c.AddBe16(0);
}

uint16_t DssChecksum(uint64_t data_seq, uint32_t subflow_seq, uint16_t data_level_length,
                     std::span<const uint8_t> payload) {
  InternetChecksum c;
  AddDssPseudoHeader(c, data_seq, subflow_seq, data_level_length);
  c.Add(payload);
  return c.Finish();
}

}  // namespace braid::wire
