#include "datapath/tcp/siphash.h"

#include <algorithm>
#include <bit>

namespace braid::tcp {
namespace {

// SipHash works on little-endian 64-bit words whatever the host's byte order.
constexpr uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

constexpr void StoreLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

struct SipState {
  uint64_t v0, v1, v2, v3;

  // One SipRound: the ARX network of the paper's §2.
  void Round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  // Compression of one message word with c = 2 rounds.
  void Absorb(uint64_t m) {
    v3 ^= m;
    Round();
    Round();
    v0 ^= m;
  }
};

}  // namespace

SipKey SipKey::FromBytes(std::span<const uint8_t, kSipKeyLen> bytes) {
  return SipKey{LoadLe64(bytes.data()), LoadLe64(bytes.data() + 8)};
}

std::array<uint8_t, kSipKeyLen> SipKey::ToBytes() const {
  std::array<uint8_t, kSipKeyLen> out;
  StoreLe64(out.data(), k0);
  StoreLe64(out.data() + 8, k1);
  return out;
}

uint64_t SipHash24(const SipKey& key, std::span<const uint8_t> message) {
  // Initialization: the key XORed with the ASCII of "somepseudorandomlygeneratedbytes".
  SipState s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
             key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};

  const uint8_t* p = message.data();
  const size_t len = message.size();
  const size_t whole = len & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) s.Absorb(LoadLe64(p + i));

  // The last word holds the 0..7 remaining bytes and, in its top byte, the length mod 256.
  uint64_t last = uint64_t{len & 0xff} << 56;
  for (size_t i = 0; i < (len & 7); ++i) last |= uint64_t{p[whole + i]} << (8 * i);
  s.Absorb(last);

  // Finalization with d = 4 rounds.
  s.v2 ^= 0xff;
  s.Round();
  s.Round();
  s.Round();
  s.Round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

SipKey DeriveSipKey(const SipKey& secret, std::string_view label) {
  std::array<uint8_t, kMaxSipLabelLen + 1> msg;
  const size_t n = std::min(label.size(), kMaxSipLabelLen);
  std::copy_n(label.begin(), n, msg.begin());
  const std::span<const uint8_t> m(msg.data(), n + 1);
  msg[n] = 0x00;
  const uint64_t k0 = SipHash24(secret, m);
  msg[n] = 0x01;
  const uint64_t k1 = SipHash24(secret, m);
  return SipKey{k0, k1};
}

}  // namespace braid::tcp
