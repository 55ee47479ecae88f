#include "datapath/tcp/siphash.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <set>
#include <span>

namespace braid::tcp {
namespace {

// The 64 SipHash-2-4 vectors of the reference implementation (vectors.h, "vectors_sip64") and the
// paper's appendix: key 00 01 .. 0f, message i = the i bytes 00 01 .. (i-1). Each 8-byte output is
// written here as the little-endian 64-bit value, i.e. byte 0 of the output is the low byte.
constexpr std::array<uint64_t, 64> kVectors = {
    0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
    0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
    0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
    0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
    0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL, 0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL,
    0xbed65cf21aa2ee98ULL, 0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
    0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL, 0x2f2e6163076bcfadULL,
    0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL, 0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL,
    0x7127512f72f27cceULL, 0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
    0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL, 0x9abfd8766a33735cULL,
    0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL, 0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL,
    0xf935451de4f21df2ULL, 0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
    0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL, 0xa192d576b245165aULL,
    0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL, 0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL,
    0xb78dbfaf3a8d83bdULL, 0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
    0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL, 0x958a324ceb064572ULL,
};

std::array<uint8_t, kSipKeyLen> ReferenceKeyBytes() {
  std::array<uint8_t, kSipKeyLen> k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return k;
}

TEST(SipHash24, ReferenceVectors) {
  const SipKey key = SipKey::FromBytes(ReferenceKeyBytes());
  std::array<uint8_t, 64> message;
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<uint8_t>(i);
  for (size_t len = 0; len < kVectors.size(); ++len) {
    EXPECT_EQ(SipHash24(key, std::span<const uint8_t>(message.data(), len)), kVectors[len])
        << "message length " << len;
  }
}

// The paper's worked example (appendix A): the 15-byte message 00..0e under key 00..0f.
TEST(SipHash24, PaperExample) {
  const SipKey key = SipKey::FromBytes(ReferenceKeyBytes());
  EXPECT_EQ(key.k0, 0x0706050403020100ULL);
  EXPECT_EQ(key.k1, 0x0f0e0d0c0b0a0908ULL);
  std::array<uint8_t, 15> message;
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(SipHash24(key, message), 0xa129ca6149be45e5ULL);
}

TEST(SipKey, BytesRoundTrip) {
  const auto bytes = ReferenceKeyBytes();
  EXPECT_EQ(SipKey::FromBytes(bytes).ToBytes(), bytes);
}

TEST(SipHash24, KeySensitive) {
  const SipKey a{1, 2};
  const SipKey b{1, 3};
  const std::array<uint8_t, 4> message = {1, 2, 3, 4};
  EXPECT_NE(SipHash24(a, message), SipHash24(b, message));
}

TEST(DeriveSipKey, LabelsGiveDistinctKeys) {
  const SipKey secret = SipKey::FromBytes(ReferenceKeyBytes());
  const SipKey a = DeriveSipKey(secret, "a");
  const SipKey b = DeriveSipKey(secret, "b");
  EXPECT_NE(a, b);
  EXPECT_NE(a, secret);
  EXPECT_EQ(a, DeriveSipKey(secret, "a"));  // deterministic
  EXPECT_NE(a, DeriveSipKey(SipKey{1, 1}, "a"));
  // Defined from SipHash itself: k0 and k1 are the hashes of label ‖ 00 and label ‖ 01.
  const std::array<uint8_t, 2> m0 = {'a', 0x00};
  const std::array<uint8_t, 2> m1 = {'a', 0x01};
  EXPECT_EQ(a.k0, SipHash24(secret, m0));
  EXPECT_EQ(a.k1, SipHash24(secret, m1));
}

}  // namespace
}  // namespace braid::tcp
