// Sequence number types. TcpSeq is the 32-bit TCP sequence space, compared modulo 2^32
// (RFC 9293 §3.4); DataSeq is MPTCP's 64-bit data sequence space (RFC 8684 §3.3). Neither converts
// silently to or from an integer, so a subflow sequence can never be mixed with a data sequence.
#pragma once

#include <compare>
#include <cstdint>
#include <ostream>

namespace braid::wire {

class TcpSeq {
 public:
  constexpr TcpSeq() = default;
  constexpr explicit TcpSeq(uint32_t v) : v_(v) {}
  constexpr uint32_t raw() const { return v_; }

  // Wrap-around order: a < b when b is ahead of a by less than 2^31 (RFC 9293 §3.4, the
  // comparisons "<" and "=<" are modulo 2^32).
  friend constexpr bool operator==(TcpSeq a, TcpSeq b) = default;
  friend constexpr std::strong_ordering operator<=>(TcpSeq a, TcpSeq b) {
    auto d = static_cast<int32_t>(a.v_ - b.v_);
    return d <=> 0;
  }

  constexpr TcpSeq operator+(uint32_t n) const { return TcpSeq(v_ + n); }
  constexpr TcpSeq operator-(uint32_t n) const { return TcpSeq(v_ - n); }
  constexpr TcpSeq& operator+=(uint32_t n) {
    v_ += n;
    return *this;
  }
  // Signed distance a - b (meaningful when the two are within 2^31 of each other).
  friend constexpr int32_t operator-(TcpSeq a, TcpSeq b) {
    return static_cast<int32_t>(a.v_ - b.v_);
  }

  static constexpr TcpSeq Max(TcpSeq a, TcpSeq b) { return a < b ? b : a; }
  static constexpr TcpSeq Min(TcpSeq a, TcpSeq b) { return a < b ? a : b; }

 private:
  uint32_t v_ = 0;
};

// True when lo <= x < hi in sequence space (RFC 9293 acceptability tests).
constexpr bool SeqInWindow(TcpSeq x, TcpSeq lo, TcpSeq hi) { return lo <= x && x < hi; }

class DataSeq {
 public:
  constexpr DataSeq() = default;
  constexpr explicit DataSeq(uint64_t v) : v_(v) {}
  constexpr uint64_t raw() const { return v_; }
  constexpr uint32_t low32() const { return static_cast<uint32_t>(v_); }

  friend constexpr bool operator==(DataSeq a, DataSeq b) = default;
  friend constexpr std::strong_ordering operator<=>(DataSeq a, DataSeq b) {
    auto d = static_cast<int64_t>(a.v_ - b.v_);
    return d <=> 0;
  }

  constexpr DataSeq operator+(uint64_t n) const { return DataSeq(v_ + n); }
  constexpr DataSeq operator-(uint64_t n) const { return DataSeq(v_ - n); }
  constexpr DataSeq& operator+=(uint64_t n) {
    v_ += n;
    return *this;
  }
  friend constexpr int64_t operator-(DataSeq a, DataSeq b) {
    return static_cast<int64_t>(a.v_ - b.v_);
  }

 private:
  uint64_t v_ = 0;
};

// Expands a 32-bit DSN or data ACK (DSS without the 'm'/'a' flag, RFC 8684 §3.3) to the 64-bit
// value whose low 32 bits are `low` and which lies closest to `reference` (the receiver's current
// position in the same space). Correct while the peer stays within 2^31 bytes of the reference,
// which the data-level window guarantees.
constexpr DataSeq ExpandDataSeq32(uint32_t low, DataSeq reference) {
  auto delta = static_cast<int32_t>(low - reference.low32());
  return DataSeq(reference.raw() + static_cast<uint64_t>(static_cast<int64_t>(delta)));
}

inline std::ostream& operator<<(std::ostream& os, TcpSeq s) { return os << s.raw(); }
inline std::ostream& operator<<(std::ostream& os, DataSeq s) { return os << s.raw(); }

}  // namespace braid::wire
