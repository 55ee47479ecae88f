#include "datapath/mptcp/crypto.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "datapath/wire/address.h"
#include "datapath/wire/bytes.h"

namespace braid::mptcp {
namespace {

std::span<const uint8_t> Ascii(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

// Keys and nonces shared by the tests below; expectations for them were computed once with
// python3's hashlib/hmac (struct.pack('>QQ', k1, k2) as the HMAC key, struct.pack('>II', ...) as
// the message), independently of this code.
constexpr uint64_t kKeyA = 0x0123456789abcdefULL;
constexpr uint64_t kKeyB = 0xfedcba9876543210ULL;
constexpr uint32_t kNonceA = 0x11223344;
constexpr uint32_t kNonceB = 0xaabbccdd;

// The kernel's crypto self-test (net/mptcp/crypto_test.c) vectors: the 16 ASCII characters of the
// key string are the HMAC key, the 8 ASCII characters of the message string the message.
TEST(HmacSha256Test, KernelSelfTestVectors) {
  struct Vector {
    std::string_view key, msg, digest;
  };
  const Vector vectors[] = {
      {"0b0b0b0b0b0b0b0b", "48692054",
       "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa"},
      {"aaaaaaaaaaaaaaaa", "dddddddd",
       "2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9"},
      {"0102030405060708", "cdcdcdcd",
       "e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d"},
  };
  for (const Vector& v : vectors) {
    EXPECT_EQ(Hex(HmacSha256(Ascii(v.key), Ascii(v.msg))), v.digest) << v.key;
  }
}

// The same vectors through the two-64-bit-key form the MPTCP HMACs use: the kernel's test reads
// the 16 key characters as two big-endian 64-bit keys, which must give the same HMAC key bytes.
TEST(HmacSha256Test, KernelVectorsAsKeyPair) {
  auto key = Ascii("0b0b0b0b0b0b0b0b");
  uint64_t k1 = wire::LoadBe64(key.data());
  uint64_t k2 = wire::LoadBe64(key.data() + 8);
  uint8_t pair[16];
  wire::StoreBe64(pair, k1);
  wire::StoreBe64(pair + 8, k2);
  EXPECT_EQ(Hex(HmacSha256(pair, Ascii("48692054"))),
            "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa");
}

TEST(HmacSha256Test, EmptyKeyAndMessage) {
  // python3: hmac.new(b'', b'', hashlib.sha256).hexdigest()
  EXPECT_EQ(Hex(HmacSha256({}, {})),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// RFC 8684 §3.1/§3.2. Expectations: python3
//   d = hashlib.sha256(struct.pack('>Q', key)).digest()
//   token = struct.unpack('>I', d[:4]); idsn = struct.unpack('>Q', d[-8:])
TEST(DeriveFromKeyTest, TokenAndIdsnOfFixedKeys) {
  EXPECT_EQ(DeriveFromKey(kKeyA), (KeyDerivation{0x55c53f5d, 0x570762cd38be9818ULL}));
  EXPECT_EQ(DeriveFromKey(kKeyB), (KeyDerivation{0x18f9781b, 0x280818bf0fa7e28eULL}));
  EXPECT_EQ(DeriveFromKey(1), (KeyDerivation{0xcd266215, 0x19ec509083d00a50ULL}));
  EXPECT_EQ(DeriveFromKey(0xffffffffffffffffULL),
            (KeyDerivation{0x12a3ae44, 0x57fb595bbbacf0caULL}));
}

// RFC 8684 §3.2: SYN/ACK HMAC = leftmost 64 bits of HMAC(K_B‖K_A, R_B‖R_A). Expectation: python3
// struct.unpack('>Q', hmac.new(pack('>QQ', kb, ka), pack('>II', rb, ra), sha256).digest()[:8]).
TEST(JoinHmacTest, SynAckHmac) {
  EXPECT_EQ(JoinSynAckHmac(/*responder_key_b=*/kKeyB, /*initiator_key_a=*/kKeyA,
                           /*responder_nonce_b=*/kNonceB, /*initiator_nonce_a=*/kNonceA),
            0x3bae5abc810a33c2ULL);
}

TEST(JoinHmacTest, SynAckHmacDependsOnKeyOrder) {
  uint64_t right = JoinSynAckHmac(kKeyB, kKeyA, kNonceB, kNonceA);
  uint64_t keys_swapped = JoinSynAckHmac(kKeyA, kKeyB, kNonceB, kNonceA);
  uint64_t nonces_swapped = JoinSynAckHmac(kKeyB, kKeyA, kNonceA, kNonceB);
  // python3 with the keys in the wrong order (K_A‖K_B, R_B‖R_A):
  EXPECT_EQ(keys_swapped, 0x2579d9ab27cc0b7aULL);
  EXPECT_NE(right, keys_swapped);
  EXPECT_NE(right, nonces_swapped);
}

// RFC 8684 §3.2: third ACK HMAC = leftmost 160 bits of HMAC(K_A‖K_B, R_A‖R_B). Expectation:
// python3 hmac.new(pack('>QQ', ka, kb), pack('>II', ra, rb), sha256).digest()[:20].hex().
TEST(JoinHmacTest, AckHmac) {
  EXPECT_EQ(Hex(JoinAckHmac(/*initiator_key_a=*/kKeyA, /*responder_key_b=*/kKeyB,
                            /*initiator_nonce_a=*/kNonceA, /*responder_nonce_b=*/kNonceB)),
            "f61753d6b8ac227764b9d1b17a6f5ceeec9d1a8a");
}

TEST(JoinHmacTest, AckHmacDependsOnKeyOrder) {
  auto right = JoinAckHmac(kKeyA, kKeyB, kNonceA, kNonceB);
  auto keys_swapped = JoinAckHmac(kKeyB, kKeyA, kNonceA, kNonceB);
  // python3 with key K_B‖K_A and message R_A‖R_B:
  EXPECT_EQ(Hex(keys_swapped), "9c0a17dee81a2610768d740a297fe38d7b6d48da");
  EXPECT_NE(right, keys_swapped);
  EXPECT_NE(right, JoinAckHmac(kKeyA, kKeyB, kNonceB, kNonceA));
}

// The two join HMACs are the same HMAC with roles mirrored: B's SYN/ACK value is the first 8
// bytes of what A would send if A and B swapped places.
TEST(JoinHmacTest, SynAckIsTruncatedMirrorOfAck) {
  auto mirrored = JoinAckHmac(kKeyB, kKeyA, kNonceB, kNonceA);
  EXPECT_EQ(JoinSynAckHmac(kKeyB, kKeyA, kNonceB, kNonceA), wire::LoadBe64(mirrored.data()));
}

// RFC 8684 §3.4.1: rightmost 64 bits of HMAC(sender‖receiver, ID ‖ address ‖ port-or-zero).
// Expectations: python3 struct.unpack('>Q', hmac.new(pack('>QQ', ks, kr), bytes([id]) +
// ipaddress.ip_address(a).packed + pack('>H', port or 0), sha256).digest()[-8:]).
TEST(AddAddrHmacTest, Ipv4WithoutPort) {
  auto addr = *wire::Ipv4Address::Parse("198.51.100.2");
  EXPECT_EQ(AddAddrHmac(/*sender_key=*/kKeyA, /*receiver_key=*/kKeyB, 1, addr, std::nullopt),
            0x8a8ee55b3002abb2ULL);
}

TEST(AddAddrHmacTest, Ipv4WithPort) {
  auto addr = *wire::Ipv4Address::Parse("198.51.100.2");
  EXPECT_EQ(AddAddrHmac(kKeyA, kKeyB, 1, addr, 8080), 0xb90dd646481d1676ULL);
}

TEST(AddAddrHmacTest, Ipv6WithoutPort) {
  auto addr = *wire::Ipv6Address::Parse("2001:db8::2");
  EXPECT_EQ(AddAddrHmac(kKeyA, kKeyB, 2, addr, std::nullopt), 0xdf7ebefa1aeeca20ULL);
}

TEST(AddAddrHmacTest, Ipv6WithPort) {
  auto addr = *wire::Ipv6Address::Parse("2001:db8::2");
  EXPECT_EQ(AddAddrHmac(kKeyA, kKeyB, 2, addr, 443), 0x2c93a3456a63f800ULL);
}

TEST(AddAddrHmacTest, VariantMatchesPerFamilyOverloads) {
  std::variant<wire::Ipv4Address, wire::Ipv6Address> v4 = *wire::Ipv4Address::Parse("198.51.100.2");
  std::variant<wire::Ipv4Address, wire::Ipv6Address> v6 = *wire::Ipv6Address::Parse("2001:db8::2");
  EXPECT_EQ(AddAddrHmac(kKeyA, kKeyB, 1, v4, 8080), 0xb90dd646481d1676ULL);
  EXPECT_EQ(AddAddrHmac(kKeyA, kKeyB, 2, v6, std::nullopt), 0xdf7ebefa1aeeca20ULL);
}

// An absent port is hashed as two zero bytes, so port 0 and no port authenticate alike.
TEST(AddAddrHmacTest, AbsentPortHashesAsZero) {
  auto addr = *wire::Ipv4Address::Parse("198.51.100.2");
  EXPECT_EQ(AddAddrHmac(kKeyA, kKeyB, 1, addr, std::nullopt),
            AddAddrHmac(kKeyA, kKeyB, 1, addr, 0));
}

TEST(AddAddrHmacTest, DependsOnKeyOrderAndId) {
  auto addr = *wire::Ipv4Address::Parse("198.51.100.2");
  // python3 with key K_B‖K_A:
  EXPECT_EQ(AddAddrHmac(kKeyB, kKeyA, 1, addr, std::nullopt), 0x5da76c7ac528c10eULL);
  EXPECT_NE(AddAddrHmac(kKeyA, kKeyB, 1, addr, std::nullopt),
            AddAddrHmac(kKeyA, kKeyB, 2, addr, std::nullopt));
}

// Values two Linux 6.18 kernels put on the wire, captured by tests/oracle/kernel_mptcp_oracle.py
// (IPv4 run: client 192.0.2.1 joins the server's announced 198.51.100.2; IPv6 run: 2001:db8:2::2).
// The kernel is the reference these must match. The IPv4 values were read with tshark 4.0
// (tcp.options.mptcp.sendkey/recvtok/sendrand/sendtrunchmac/sendhmac/rawdataseqno and the
// ADD_ADDR HMAC field), the IPv6 ones from kernel_capture_check's output of the same kind of run.
TEST(KernelCaptureTest, Ipv4Connection) {
  constexpr uint64_t kClientKey = 0x5be8d1bed003e765ULL;  // MP_CAPABLE third ACK, sender key
  constexpr uint64_t kServerKey = 0xcc9c27045406fb21ULL;  // MP_CAPABLE SYN/ACK, sender key
  // The join SYN's receiver token; IDSN + 1 is the first DSS mapping's DSN each side sent.
  EXPECT_EQ(DeriveFromKey(kServerKey).token, 0xd59d531cu);
  EXPECT_EQ(DeriveFromKey(kClientKey).idsn + 1, 17907144431342499752ULL);
  EXPECT_EQ(DeriveFromKey(kServerKey).idsn + 1, 14772482144632847662ULL);
  constexpr uint32_t kClientNonce = 0x21d69cc0;  // MP_JOIN SYN
  constexpr uint32_t kServerNonce = 0x94f12bf3;  // MP_JOIN SYN/ACK
  EXPECT_EQ(JoinSynAckHmac(kServerKey, kClientKey, kServerNonce, kClientNonce),
            0xa26fa8d86414f3d3ULL);
  EXPECT_EQ(Hex(JoinAckHmac(kClientKey, kServerKey, kClientNonce, kServerNonce)),
            "9a920253d0b34b827b896cdd94bc2735a23f7bbc");
  // The server's signal endpoint, announced with address ID 1 and no port.
  EXPECT_EQ(AddAddrHmac(kServerKey, kClientKey, 1, *wire::Ipv4Address::Parse("198.51.100.2"),
                        std::nullopt),
            0xac1c5e5bec1317f2ULL);
}

TEST(KernelCaptureTest, Ipv6Connection) {
  constexpr uint64_t kClientKey = 0xf772a4745a8dde8dULL;
  constexpr uint64_t kServerKey = 0xa2b63d2c515a2659ULL;
  EXPECT_EQ(DeriveFromKey(kServerKey).token, 0xf3575014u);
  EXPECT_EQ(DeriveFromKey(kClientKey).idsn + 1, 395798021391987025ULL);
  EXPECT_EQ(DeriveFromKey(kServerKey).idsn + 1, 8898828705127185289ULL);
  constexpr uint32_t kClientNonce = 0x82e02e6c;
  constexpr uint32_t kServerNonce = 0x59908b11;
  EXPECT_EQ(JoinSynAckHmac(kServerKey, kClientKey, kServerNonce, kClientNonce),
            0xe302b477d92e01dcULL);
  EXPECT_EQ(Hex(JoinAckHmac(kClientKey, kServerKey, kClientNonce, kServerNonce)),
            "c31a60398cedb58abff4de528cb0876a2aefb3e3");
  EXPECT_EQ(AddAddrHmac(kServerKey, kClientKey, 1, *wire::Ipv6Address::Parse("2001:db8:2::2"),
                        std::nullopt),
            0x2d6020436bc9f7dbULL);
}

TEST(RandomTest, KeysAndNoncesAreNonZeroAndVary) {
  std::set<uint64_t> keys;
  std::set<uint32_t> nonces;
  for (int i = 0; i < 64; ++i) {
    uint64_t key = GenerateKey();
    uint32_t nonce = GenerateNonce();
    EXPECT_NE(key, 0u);
    EXPECT_NE(nonce, 0u);
    keys.insert(key);
    nonces.insert(nonce);
  }
  // 64 draws from 2^64 (2^32) values: a repeat means the generator is broken, not unlucky
  // (collision odds ~1e-16 and ~5e-7).
  EXPECT_EQ(keys.size(), 64u);
  EXPECT_EQ(nonces.size(), 64u);
}

}  // namespace
}  // namespace braid::mptcp
