#include "datapath/util/stream_check.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace braid::util {
namespace {

TEST(StreamCheck, PatternStreamIsTheSameWhateverTheChunking) {
  std::vector<uint8_t> whole(1000), pieces(1000);
  PatternStream(5, 1).Fill(whole);
  PatternStream p(5, 1);
  size_t at = 0;
  for (size_t n : {1, 3, 8, 13, 7, 100, 868}) {
    p.Fill(std::span<uint8_t>(pieces).subspan(at, n));
    at += n;
  }
  EXPECT_EQ(whole, pieces);
  std::vector<uint8_t> other(1000);
  PatternStream(5, 2).Fill(other);
  EXPECT_NE(whole, other);
}

// The stream's bytes are SplitMix64 words in little-endian order, whatever the host: a transfer's
// digest must not depend on where it was generated.
TEST(StreamCheck, PatternStreamBytesAreLittleEndianSplitMix64Words) {
  std::vector<uint8_t> first(16);
  PatternStream(5, 1).Fill(first);
  const std::vector<uint8_t> want = {0x50, 0x69, 0xe0, 0x99, 0xe9, 0x08, 0x1a, 0xa5,
                                     0x50, 0x77, 0x9b, 0xc8, 0x60, 0x69, 0xca, 0x0e};
  EXPECT_EQ(first, want);
}

TEST(StreamCheck, Sha256MatchesAKnownVector) {
  Sha256 h;
  const std::string abc = "abc";
  h.Update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(abc.data()), abc.size()));
  EXPECT_EQ(ToHex(h.Digest()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
}

}  // namespace
}  // namespace braid::util
