// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed
// pseudo-random function with a 128-bit key and a 64-bit output, fast on the short inputs the TCP
// engine hashes (a 4-tuple, a few words). It keys the initial sequence numbers of RFC 6528
// (isn.h), the timestamp offsets and the SYN-cookie MAC (syn_cookies.h), as the Linux kernel's
// secure_seq.c and syncookies.c do.
//
// SipHash is a PRF, not a general-purpose hash: its security rests entirely on the key being
// secret and unpredictable. Callers draw keys from a CSPRNG (tests pass fixed keys). Nothing here
// allocates or reads a clock; all functions are pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace braid::tcp {

inline constexpr size_t kSipKeyLen = 16;

// A 128-bit SipHash key as the two 64-bit words k0, k1 of the specification. The byte form (the
// reference implementation's `k[16]`) is read little-endian: k0 from bytes 0..7, k1 from 8..15.
struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;

  static SipKey FromBytes(std::span<const uint8_t, kSipKeyLen> bytes);
  std::array<uint8_t, kSipKeyLen> ToBytes() const;
  friend constexpr bool operator==(const SipKey&, const SipKey&) = default;
};

// SipHash-2-4 of `message` under `key`: two compression rounds per 8-byte word, four finalization
// rounds, the 64-bit output read as the reference implementation's 8 output bytes in
// little-endian order.
uint64_t SipHash24(const SipKey& key, std::span<const uint8_t> message);

// A subkey for one purpose, derived from a secret with SipHash-2-4 used as a PRF:
// k0 = SipHash(secret, label ‖ 0x00), k1 = SipHash(secret, label ‖ 0x01). Different labels give
// independent keys, so one secret from the CSPRNG can key the ISNs, the timestamp offsets and the
// SYN cookies without one output telling anything about another. `label` is ASCII, at most
// kMaxSipLabelLen bytes (a longer label is cut there).
inline constexpr size_t kMaxSipLabelLen = 47;
SipKey DeriveSipKey(const SipKey& secret, std::string_view label);

}  // namespace braid::tcp
