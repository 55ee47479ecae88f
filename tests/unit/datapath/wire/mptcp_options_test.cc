#include "datapath/wire/mptcp_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace braid::wire {
namespace {

using Bytes = std::vector<uint8_t>;
using ::testing::ElementsAreArray;

constexpr MptcpSegmentContext kSyn{.syn = true};
constexpr MptcpSegmentContext kSynAck{.syn = true, .ack = true};
constexpr MptcpSegmentContext kAck{.ack = true};
constexpr MptcpSegmentContext kRst{.ack = true, .rst = true};

// Parses and expects success.
MptcpOption MustParse(const Bytes& b, MptcpSegmentContext ctx) {
  auto r = ParseMptcpOption(b, ctx);
  EXPECT_TRUE(r.ok()) << "dropped: " << MptcpOptionDropName(r.drop());
  return r.ok() ? *r : MptcpOption{};
}

template <typename T>
T MustParseAs(const Bytes& b, MptcpSegmentContext ctx) {
  auto r = ParseMptcpOption(b, ctx);
  EXPECT_TRUE(r.ok()) << "dropped: " << MptcpOptionDropName(r.drop());
  const T* t = r.get_if<T>();
  EXPECT_NE(t, nullptr);
  return t ? *t : T{};
}

std::optional<MptcpOptionDrop> DropOf(const Bytes& b, MptcpSegmentContext ctx) {
  auto r = ParseMptcpOption(b, ctx);
  if (r.ok()) return std::nullopt;
  return r.drop();
}

// Emits into a buffer pre-filled with 0xA5, exactly as long as the option claims to be, so that
// an unwritten byte shows.
Bytes EmitA5(const MptcpOption& opt) {
  Bytes out(MptcpOptionLen(opt), 0xA5);
  EXPECT_TRUE(EmitMptcpOption(opt, out));
  return out;
}

// `b` with its length byte set to `len` and its bytes cut or padded (with 0x00) to match. A fresh
// vector of exactly `len` bytes, so that ASan sees any read past the end.
Bytes Resized(const Bytes& b, size_t len) {
  Bytes out(len, 0x00);
  std::copy_n(b.begin(), std::min(len, b.size()), out.begin());
  if (len >= 2) out[1] = static_cast<uint8_t>(len);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Golden bytes, written from the figures of RFC 8684 §3.

// Figure 4, MP_CAPABLE on a SYN.
const Bytes kMpCapableSyn = {
    30,    // kind: MPTCP
    4,     // length
    0x01,  // subtype 0x0 (MP_CAPABLE) | version 1
    0x81,  // flags: A (checksum required) | H (HMAC-SHA256)
};

// Figure 4, MP_CAPABLE on a SYN/ACK.
const Bytes kMpCapableSynAck = {
    30,                                              // kind
    12,                                              // length
    0x01,                                            // subtype 0x0 | version 1
    0x21,                                            // flags: C (no join to initial address) | H
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // option sender's key
};

// Figure 4, MP_CAPABLE on the third ACK.
const Bytes kMpCapableAck = {
    30,                                              // kind
    20,                                              // length
    0x01,                                            // subtype 0x0 | version 1
    0x01,                                            // flags: H
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // option sender's key
    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,  // option receiver's key
};

// Figure 4, MP_CAPABLE on the first data segment, no checksum.
const Bytes kMpCapableAckData = {
    30,                                              // kind
    22,                                              // length
    0x01,                                            // subtype 0x0 | version 1
    0x01,                                            // flags: H
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // option sender's key
    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,  // option receiver's key
    0x05, 0xdc,                                      // data-level length: 1500
};

// Figure 4, MP_CAPABLE on the first data segment, with checksum.
const Bytes kMpCapableAckDataChecksum = {
    30,                                              // kind
    24,                                              // length
    0x01,                                            // subtype 0x0 | version 1
    0x81,                                            // flags: A | H
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // option sender's key
    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,  // option receiver's key
    0x00, 0x64,                                      // data-level length: 100
    0xbe, 0xef,                                      // checksum
};

// Figure 5, MP_JOIN on a SYN.
const Bytes kMpJoinSyn = {
    30,                      // kind
    12,                      // length
    0x11,                    // subtype 0x1 (MP_JOIN) | reserved 000 | B (backup)
    0x05,                    // address ID
    0xde, 0xad, 0xbe, 0xef,  // receiver's token
    0x01, 0x02, 0x03, 0x04,  // sender's random number (nonce)
};

// Figure 6, MP_JOIN on a SYN/ACK.
const Bytes kMpJoinSynAck = {
    30,                                              // kind
    16,                                              // length
    0x10,                                            // subtype 0x1 | reserved | B clear
    0x02,                                            // address ID
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,  // sender's truncated HMAC (64 bits)
    0xca, 0xfe, 0xf0, 0x0d,                          // sender's random number
};

// Figure 7, MP_JOIN on the third ACK.
const Bytes kMpJoinAck = {
    30,                                                          // kind
    24,                                                          // length
    0x10,                                                        // subtype 0x1 | reserved
    0x00,                                                        // reserved
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,  // sender's HMAC (160 bits)
    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,  //
};

// Figure 9, DSS with only a 64-bit data ACK.
const Bytes kDssAck64 = {
    30,                                              // kind
    12,                                              // length
    0x20,                                            // subtype 0x2 (DSS) | reserved
    0x03,                                            // flags: a (8-byte data ACK) | A
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x10, 0x00,  // data ACK
};

// Figure 9, DSS with a 32-bit data ACK and a 32-bit mapping, no checksum.
const Bytes kDssAck32Map32 = {
    30,                      // kind
    18,                      // length
    0x20,                    // subtype 0x2 | reserved
    0x05,                    // flags: M (mapping) | A (data ACK), both 4 bytes
    0xff, 0xff, 0xff, 0xf0,  // data ACK (low 32 bits)
    0x00, 0x00, 0x00, 0x10,  // data sequence number (low 32 bits)
    0x00, 0x00, 0x00, 0x01,  // subflow sequence number (relative)
    0x02, 0x00,              // data-level length: 512
};

// Figure 9, every field: DATA_FIN, 64-bit data ACK, 64-bit mapping, checksum.
const Bytes kDssFull = {
    30,                                              // kind
    28,                                              // length
    0x20,                                            // subtype 0x2 | reserved
    0x1f,                                            // flags: F | m | M | a | A
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // data ACK (64 bits)
    0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80,  // data sequence number (64 bits)
    0x00, 0x00, 0x05, 0xdd,                          // subflow sequence number: 1501
    0x00, 0x0a,                                      // data-level length: 10 (incl. DATA_FIN)
    0x12, 0x34,                                      // checksum
};

// §3.3.3: DATA_FIN on a segment without payload: DSN of the DATA_FIN, SSN 0, length 1.
const Bytes kDssDataFinOnly = {
    30,                                              // kind
    18,                                              // length
    0x20,                                            // subtype 0x2 | reserved
    0x1c,                                            // flags: F | m | M
    0x00, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,  // data sequence number of the DATA_FIN
    0x00, 0x00, 0x00, 0x00,                          // subflow sequence number: 0
    0x00, 0x01,                                      // data-level length: 1
};

// Figure 9 with no flag at all: the 4-byte base alone.
const Bytes kDssEmpty = {
    30,    // kind
    4,     // length
    0x20,  // subtype 0x2 | reserved
    0x00,  // flags: none
};

// Figure 12, ADD_ADDR, IPv4, with HMAC.
const Bytes kAddAddr4 = {
    30,                                              // kind
    16,                                              // length
    0x30,                                            // subtype 0x3 (ADD_ADDR) | reserved | E clear
    0x01,                                            // address ID
    192,  0,    2,    1,                             // address: 192.0.2.1
    0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,  // truncated HMAC (rightmost 64 bits)
};

// Figure 12, ADD_ADDR, IPv4 with port, with HMAC.
const Bytes kAddAddr4Port = {
    30,                                              // kind
    18,                                              // length
    0x30,                                            // subtype 0x3 | E clear
    0x02,                                            // address ID
    198,  51,   100,  7,                             // address: 198.51.100.7
    0x1f, 0x90,                                      // port: 8080
    0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8,  // truncated HMAC
};

// Figure 12, ADD_ADDR, IPv6, with HMAC.
const Bytes kAddAddr6 = {
    30,                                              // kind
    28,                                              // length
    0x30,                                            // subtype 0x3 | E clear
    0x03,                                            // address ID
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,  // address: 2001:db8::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,  // truncated HMAC
};

// Figure 12, ADD_ADDR, IPv6 with port, with HMAC.
const Bytes kAddAddr6Port = {
    30,                                              // kind
    30,                                              // length
    0x30,                                            // subtype 0x3 | E clear
    0x04,                                            // address ID
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,  // address: 2001:db8::2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0x01, 0xbb,                                      // port: 443
    0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,  // truncated HMAC
};

// Figure 12, ADD_ADDR echo, IPv4: no HMAC.
const Bytes kAddAddrEcho4 = {
    30,             // kind
    8,              // length
    0x31,           // subtype 0x3 | reserved | E (echo)
    0x01,           // address ID
    192,  0, 2, 1,  // address: 192.0.2.1
};

// Figure 12, ADD_ADDR echo, IPv4 with port.
const Bytes kAddAddrEcho4Port = {
    30,                  // kind
    10,                  // length
    0x31,                // subtype 0x3 | E
    0x02,                // address ID
    198,  51,   100, 7,  // address: 198.51.100.7
    0x1f, 0x90,          // port: 8080
};

// Figure 12, ADD_ADDR echo, IPv6.
const Bytes kAddAddrEcho6 = {
    30,                                              // kind
    20,                                              // length
    0x31,                                            // subtype 0x3 | E
    0x03,                                            // address ID
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,  // address: 2001:db8::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
};

// Figure 12, ADD_ADDR echo, IPv6 with port.
const Bytes kAddAddrEcho6Port = {
    30,                                              // kind
    22,                                              // length
    0x31,                                            // subtype 0x3 | E
    0x04,                                            // address ID
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,  // address: 2001:db8::2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0x01, 0xbb,                                      // port: 443
};

// Figure 13, REMOVE_ADDR with one address ID.
const Bytes kRemoveAddr1 = {
    30,    // kind
    4,     // length: 3 + 1 ID
    0x40,  // subtype 0x4 (REMOVE_ADDR) | reserved
    0x07,  // address ID
};

// Figure 13, REMOVE_ADDR with the most IDs the kernel takes (8).
const Bytes kRemoveAddr8 = {
    30,                                              // kind
    11,                                              // length: 3 + 8 IDs
    0x40,                                            // subtype 0x4 | reserved
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // address IDs
};

// Figure 11, MP_PRIO.
const Bytes kMpPrio = {
    30,    // kind
    3,     // length
    0x51,  // subtype 0x5 (MP_PRIO) | reserved | B (backup)
};

// Figure 16, MP_FAIL.
const Bytes kMpFail = {
    30,                                              // kind
    12,                                              // length
    0x60,                                            // subtype 0x6 (MP_FAIL) | reserved
    0x00,                                            // reserved
    0x00, 0x00, 0x00, 0x02, 0x80, 0x00, 0x00, 0x01,  // data sequence number (64 bits)
};

// Figure 14, MP_FASTCLOSE.
const Bytes kMpFastclose = {
    30,                                              // kind
    12,                                              // length
    0x70,                                            // subtype 0x7 (MP_FASTCLOSE) | reserved
    0x00,                                            // reserved
    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,  // option receiver's key
};

// Figure 15, MP_TCPRST.
const Bytes kMpTcpRst = {
    30,    // kind
    4,     // length
    0x81,  // subtype 0x8 (MP_TCPRST) | U 0 | V 0 | W 0 | T 1 (transient)
    0x04,  // reason: too much outstanding data
};

// ---------------------------------------------------------------------------------------------
// Every field of every form, read from the golden bytes.

TEST(MpCapableTest, SynFields) {
  auto m = MustParseAs<MpCapable>(kMpCapableSyn, kSyn);
  EXPECT_EQ(m.form, MpCapableForm::kSyn);
  EXPECT_EQ(m.version, 1);
  EXPECT_TRUE(m.checksum_required);
  EXPECT_FALSE(m.extensibility);
  EXPECT_FALSE(m.no_join_to_initial_address);
  EXPECT_TRUE(m.hmac_sha256);
  EXPECT_EQ(m.sender_key, 0u);
  EXPECT_EQ(m.receiver_key, 0u);
  EXPECT_EQ(m.data_level_length, 0);
  EXPECT_EQ(m.checksum, std::nullopt);
  EXPECT_EQ(m.Len(), 4u);
}

TEST(MpCapableTest, SynAckFields) {
  auto m = MustParseAs<MpCapable>(kMpCapableSynAck, kSynAck);
  EXPECT_EQ(m.form, MpCapableForm::kSynAck);
  EXPECT_EQ(m.version, 1);
  EXPECT_FALSE(m.checksum_required);
  EXPECT_FALSE(m.extensibility);
  EXPECT_TRUE(m.no_join_to_initial_address);
  EXPECT_TRUE(m.hmac_sha256);
  EXPECT_EQ(m.sender_key, 0x0102030405060708u);
  EXPECT_EQ(m.receiver_key, 0u);
  EXPECT_EQ(m.data_level_length, 0);
  EXPECT_EQ(m.checksum, std::nullopt);
  EXPECT_EQ(m.Len(), 12u);
}

TEST(MpCapableTest, AckFields) {
  auto m = MustParseAs<MpCapable>(kMpCapableAck, kAck);
  EXPECT_EQ(m.form, MpCapableForm::kAck);
  EXPECT_EQ(m.version, 1);
  EXPECT_FALSE(m.checksum_required);
  EXPECT_FALSE(m.no_join_to_initial_address);
  EXPECT_TRUE(m.hmac_sha256);
  EXPECT_EQ(m.sender_key, 0x1122334455667788u);
  EXPECT_EQ(m.receiver_key, 0x99aabbccddeeff00u);
  EXPECT_EQ(m.data_level_length, 0);
  EXPECT_EQ(m.checksum, std::nullopt);
  EXPECT_EQ(m.Len(), 20u);
}

TEST(MpCapableTest, AckDataFields) {
  auto m = MustParseAs<MpCapable>(kMpCapableAckData, kAck);
  EXPECT_EQ(m.form, MpCapableForm::kAckData);
  EXPECT_EQ(m.sender_key, 0x1122334455667788u);
  EXPECT_EQ(m.receiver_key, 0x99aabbccddeeff00u);
  EXPECT_EQ(m.data_level_length, 1500);
  EXPECT_EQ(m.checksum, std::nullopt);
  EXPECT_FALSE(m.checksum_required);
  EXPECT_EQ(m.Len(), 22u);
}

TEST(MpCapableTest, AckDataChecksumFields) {
  auto m = MustParseAs<MpCapable>(kMpCapableAckDataChecksum, kAck);
  EXPECT_EQ(m.form, MpCapableForm::kAckData);
  EXPECT_TRUE(m.checksum_required);
  EXPECT_EQ(m.sender_key, 0x1122334455667788u);
  EXPECT_EQ(m.receiver_key, 0x99aabbccddeeff00u);
  EXPECT_EQ(m.data_level_length, 100);
  EXPECT_EQ(m.checksum, std::optional<uint16_t>(0xbeef));
  EXPECT_EQ(m.Len(), 24u);
}

TEST(MpJoinTest, SynFields) {
  auto j = MustParseAs<MpJoin>(kMpJoinSyn, kSyn);
  EXPECT_EQ(j.form, MpJoinForm::kSyn);
  EXPECT_TRUE(j.backup);
  EXPECT_EQ(j.address_id, 5);
  EXPECT_EQ(j.receiver_token, 0xdeadbeefu);
  EXPECT_EQ(j.sender_nonce, 0x01020304u);
  EXPECT_EQ(j.sender_truncated_hmac, 0u);
  EXPECT_EQ(j.sender_hmac, (std::array<uint8_t, 20>{}));
  EXPECT_EQ(j.Len(), 12u);
}

TEST(MpJoinTest, SynAckFields) {
  auto j = MustParseAs<MpJoin>(kMpJoinSynAck, kSynAck);
  EXPECT_EQ(j.form, MpJoinForm::kSynAck);
  EXPECT_FALSE(j.backup);
  EXPECT_EQ(j.address_id, 2);
  EXPECT_EQ(j.receiver_token, 0u);
  EXPECT_EQ(j.sender_truncated_hmac, 0x0011223344556677u);
  EXPECT_EQ(j.sender_nonce, 0xcafef00du);
  EXPECT_EQ(j.sender_hmac, (std::array<uint8_t, 20>{}));
  EXPECT_EQ(j.Len(), 16u);
}

TEST(MpJoinTest, AckFields) {
  auto j = MustParseAs<MpJoin>(kMpJoinAck, kAck);
  EXPECT_EQ(j.form, MpJoinForm::kAck);
  EXPECT_FALSE(j.backup);
  EXPECT_EQ(j.address_id, 0);
  EXPECT_EQ(j.receiver_token, 0u);
  EXPECT_EQ(j.sender_nonce, 0u);
  EXPECT_EQ(j.sender_truncated_hmac, 0u);
  std::array<uint8_t, 20> hmac;
  for (size_t i = 0; i < hmac.size(); ++i) hmac[i] = static_cast<uint8_t>(i + 1);
  EXPECT_EQ(j.sender_hmac, hmac);
  EXPECT_EQ(j.Len(), 24u);
}

TEST(MpJoinTest, ReservedBitsOfTheAckAreIgnored) {
  Bytes b = kMpJoinAck;
  b[2] |= 0x0f;
  b[3] = 0xff;
  EXPECT_EQ(MustParse(b, kAck), MustParse(kMpJoinAck, kAck));
}

TEST(DssTest, Ack64Fields) {
  auto d = MustParseAs<Dss>(kDssAck64, kAck);
  EXPECT_FALSE(d.data_fin);
  ASSERT_TRUE(d.data_ack.has_value());
  EXPECT_FALSE(d.data_ack->is_32bit);
  EXPECT_EQ(d.data_ack->value, 0x0000000100001000u);
  EXPECT_EQ(d.data_ack->Expand(DataSeq(5)), DataSeq(0x0000000100001000u));
  EXPECT_FALSE(d.mapping.has_value());
  EXPECT_EQ(d.Flags(), kDssFlagDataAck | kDssFlagDataAck64);
  EXPECT_EQ(d.Len(), 12u);
}

TEST(DssTest, Ack32Map32Fields) {
  auto d = MustParseAs<Dss>(kDssAck32Map32, kAck);
  EXPECT_FALSE(d.data_fin);
  ASSERT_TRUE(d.data_ack.has_value());
  EXPECT_TRUE(d.data_ack->is_32bit);
  EXPECT_EQ(d.data_ack->value, 0xfffffff0u);
  ASSERT_TRUE(d.mapping.has_value());
  EXPECT_TRUE(d.mapping->data_seq.is_32bit);
  EXPECT_EQ(d.mapping->data_seq.value, 0x10u);
  EXPECT_EQ(d.mapping->subflow_seq, 1u);
  EXPECT_EQ(d.mapping->data_level_length, 512);
  EXPECT_EQ(d.mapping->checksum, std::nullopt);
  EXPECT_EQ(d.Flags(), kDssFlagDataAck | kDssFlagMapping);
  EXPECT_EQ(d.Len(), 18u);
  // The connection expands the 32-bit values next to where it stands (seq.h); across the wrap
  // of the low 32 bits both ways.
  EXPECT_EQ(d.data_ack->Expand(DataSeq(0x00000002'00000010u)), DataSeq(0x00000001'fffffff0u));
  EXPECT_EQ(d.mapping->data_seq.Expand(DataSeq(0x00000001'fffffff0u)),
            DataSeq(0x00000002'00000010u));
}

TEST(DssTest, FullFields) {
  auto d = MustParseAs<Dss>(kDssFull, kAck);
  EXPECT_TRUE(d.data_fin);
  ASSERT_TRUE(d.data_ack.has_value());
  EXPECT_EQ(*d.data_ack, DssSequence::Full(DataSeq(0x0102030405060708u)));
  ASSERT_TRUE(d.mapping.has_value());
  EXPECT_EQ(d.mapping->data_seq, DssSequence::Full(DataSeq(0x1020304050607080u)));
  EXPECT_EQ(d.mapping->subflow_seq, 1501u);
  EXPECT_EQ(d.mapping->data_level_length, 10);
  EXPECT_EQ(d.mapping->checksum, std::optional<uint16_t>(0x1234));
  EXPECT_EQ(d.Flags(), 0x1f);
  EXPECT_EQ(d.Len(), 28u);
}

TEST(DssTest, DataFinWithoutPayload) {
  auto d = MustParseAs<Dss>(kDssDataFinOnly, kAck);
  EXPECT_TRUE(d.data_fin);
  EXPECT_FALSE(d.data_ack.has_value());
  ASSERT_TRUE(d.mapping.has_value());
  EXPECT_EQ(d.mapping->data_seq, DssSequence::Full(DataSeq(0xdeadbeef)));
  EXPECT_EQ(d.mapping->subflow_seq, 0u);
  EXPECT_EQ(d.mapping->data_level_length, 1);
  EXPECT_EQ(d.mapping->checksum, std::nullopt);
  EXPECT_EQ(d, Dss::DataFinWithoutPayload(DataSeq(0xdeadbeef)));
  EXPECT_THAT(EmitA5(Dss::DataFinWithoutPayload(DataSeq(0xdeadbeef))),
              ElementsAreArray(kDssDataFinOnly));
}

TEST(DssTest, EmptyFields) {
  auto d = MustParseAs<Dss>(kDssEmpty, kAck);
  EXPECT_EQ(d, Dss{});
  EXPECT_EQ(d.Flags(), 0);
  EXPECT_EQ(d.Len(), 4u);
}

TEST(DssTest, ThreeBytesHaveNoFlagsByte) {
  const Bytes b = {30, 3, 0x20};
  EXPECT_EQ(DropOf(b, kAck), MptcpOptionDrop::kDssBadLength);
}

TEST(DssTest, ReservedBitsAreIgnored) {
  Bytes b = kDssFull;
  b[2] |= 0x0f;  // reserved nibble after the subtype
  b[3] |= 0xe0;  // reserved bits above F
  EXPECT_EQ(MustParse(b, kAck), MustParse(kDssFull, kAck));
}

TEST(AddAddrTest, Ipv4Fields) {
  auto a = MustParseAs<AddAddr>(kAddAddr4, kAck);
  EXPECT_FALSE(a.echo);
  EXPECT_EQ(a.address_id, 1);
  EXPECT_FALSE(a.is_ipv6());
  EXPECT_EQ(std::get<Ipv4Address>(a.address), *Ipv4Address::Parse("192.0.2.1"));
  EXPECT_EQ(a.port, std::nullopt);
  EXPECT_EQ(a.truncated_hmac, std::optional<uint64_t>(0xa1a2a3a4a5a6a7a8u));
  EXPECT_EQ(a.Len(), 16u);
}

TEST(AddAddrTest, Ipv4PortFields) {
  auto a = MustParseAs<AddAddr>(kAddAddr4Port, kAck);
  EXPECT_FALSE(a.echo);
  EXPECT_EQ(a.address_id, 2);
  EXPECT_EQ(std::get<Ipv4Address>(a.address), *Ipv4Address::Parse("198.51.100.7"));
  EXPECT_EQ(a.port, std::optional<uint16_t>(8080));
  EXPECT_EQ(a.truncated_hmac, std::optional<uint64_t>(0xb1b2b3b4b5b6b7b8u));
  EXPECT_EQ(a.Len(), 18u);
}

TEST(AddAddrTest, Ipv6Fields) {
  auto a = MustParseAs<AddAddr>(kAddAddr6, kAck);
  EXPECT_FALSE(a.echo);
  EXPECT_EQ(a.address_id, 3);
  EXPECT_TRUE(a.is_ipv6());
  EXPECT_EQ(std::get<Ipv6Address>(a.address), *Ipv6Address::Parse("2001:db8::1"));
  EXPECT_EQ(a.port, std::nullopt);
  EXPECT_EQ(a.truncated_hmac, std::optional<uint64_t>(0xc1c2c3c4c5c6c7c8u));
  EXPECT_EQ(a.Len(), 28u);
}

TEST(AddAddrTest, Ipv6PortFields) {
  auto a = MustParseAs<AddAddr>(kAddAddr6Port, kAck);
  EXPECT_FALSE(a.echo);
  EXPECT_EQ(a.address_id, 4);
  EXPECT_EQ(std::get<Ipv6Address>(a.address), *Ipv6Address::Parse("2001:db8::2"));
  EXPECT_EQ(a.port, std::optional<uint16_t>(443));
  EXPECT_EQ(a.truncated_hmac, std::optional<uint64_t>(0xd1d2d3d4d5d6d7d8u));
  EXPECT_EQ(a.Len(), 30u);
}

TEST(AddAddrTest, EchoFields) {
  auto a = MustParseAs<AddAddr>(kAddAddrEcho4, kAck);
  EXPECT_TRUE(a.echo);
  EXPECT_EQ(a.address_id, 1);
  EXPECT_EQ(std::get<Ipv4Address>(a.address), *Ipv4Address::Parse("192.0.2.1"));
  EXPECT_EQ(a.port, std::nullopt);
  EXPECT_EQ(a.truncated_hmac, std::nullopt);
  EXPECT_EQ(a.Len(), 8u);

  a = MustParseAs<AddAddr>(kAddAddrEcho4Port, kAck);
  EXPECT_TRUE(a.echo);
  EXPECT_EQ(a.address_id, 2);
  EXPECT_EQ(std::get<Ipv4Address>(a.address), *Ipv4Address::Parse("198.51.100.7"));
  EXPECT_EQ(a.port, std::optional<uint16_t>(8080));
  EXPECT_EQ(a.truncated_hmac, std::nullopt);
  EXPECT_EQ(a.Len(), 10u);

  a = MustParseAs<AddAddr>(kAddAddrEcho6, kAck);
  EXPECT_TRUE(a.echo);
  EXPECT_EQ(a.address_id, 3);
  EXPECT_EQ(std::get<Ipv6Address>(a.address), *Ipv6Address::Parse("2001:db8::1"));
  EXPECT_EQ(a.port, std::nullopt);
  EXPECT_EQ(a.truncated_hmac, std::nullopt);
  EXPECT_EQ(a.Len(), 20u);

  a = MustParseAs<AddAddr>(kAddAddrEcho6Port, kAck);
  EXPECT_TRUE(a.echo);
  EXPECT_EQ(a.address_id, 4);
  EXPECT_EQ(std::get<Ipv6Address>(a.address), *Ipv6Address::Parse("2001:db8::2"));
  EXPECT_EQ(a.port, std::optional<uint16_t>(443));
  EXPECT_EQ(a.truncated_hmac, std::nullopt);
  EXPECT_EQ(a.Len(), 22u);
}

TEST(AddAddrTest, FamilyComesFromTheLengthNotTheEchoBytes) {
  // An echo of an IPv6 address is 20 bytes, like nothing in the IPv4 announcement set; the same
  // 20 bytes without E are no valid announcement (16/18/28/30) and are ignored.
  Bytes b = kAddAddrEcho6;
  b[2] &= 0xfe;  // clear E
  EXPECT_EQ(DropOf(b, kAck), MptcpOptionDrop::kAddAddrBadLength);
  // And a 16-byte option with E set is no echo form (8/10/20/22).
  b = kAddAddr4;
  b[2] |= 0x01;  // E
  EXPECT_EQ(DropOf(b, kAck), MptcpOptionDrop::kAddAddrBadLength);
}

TEST(RemoveAddrTest, Fields) {
  auto r = MustParseAs<RemoveAddr>(kRemoveAddr1, kAck);
  EXPECT_EQ(r.count, 1);
  EXPECT_THAT(r.address_ids(), ElementsAreArray({7}));
  EXPECT_EQ(r.Len(), 4u);

  r = MustParseAs<RemoveAddr>(kRemoveAddr8, kAck);
  EXPECT_EQ(r.count, 8);
  EXPECT_THAT(r.address_ids(), ElementsAreArray({1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(r.Len(), 11u);
}

TEST(RemoveAddrTest, ZeroAndNineIdsAreRejected) {
  const Bytes zero = {30, 3, 0x40};
  EXPECT_EQ(DropOf(zero, kAck), MptcpOptionDrop::kRemoveAddrBadLength);
  const Bytes nine = {30, 12, 0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(DropOf(nine, kAck), MptcpOptionDrop::kRemoveAddrBadLength);

  uint8_t buf[16];
  std::fill(std::begin(buf), std::end(buf), 0xA5);
  EXPECT_FALSE(RemoveAddr{}.Emit(buf));  // no ID
  RemoveAddr too_many;
  too_many.count = 9;
  EXPECT_FALSE(too_many.Emit(buf));
  EXPECT_TRUE(std::all_of(std::begin(buf), std::end(buf), [](uint8_t b) { return b == 0xA5; }));
}

TEST(RemoveAddrTest, OfKeepsAtMostEightAndEqualityIgnoresUnusedSlots) {
  const uint8_t ids[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
  auto r = RemoveAddr::Of(ids);
  EXPECT_EQ(r.count, 8);
  EXPECT_THAT(r.address_ids(), ElementsAreArray({9, 8, 7, 6, 5, 4, 3, 2}));

  RemoveAddr a = RemoveAddr::Of(std::span<const uint8_t>(ids, 2));
  RemoveAddr b = a;
  b.ids[5] = 0x55;  // not on the wire
  EXPECT_EQ(a, b);
  b.ids[1] = 0x55;
  EXPECT_NE(a, b);
}

TEST(MpPrioTest, Fields) {
  EXPECT_TRUE(MustParseAs<MpPrio>(kMpPrio, kAck).backup);
  EXPECT_FALSE(MustParseAs<MpPrio>(Bytes{30, 3, 0x50}, kAck).backup);
  EXPECT_EQ(MpPrio{}.Len(), 3u);
  // RFC 6824's 4-byte form (with an address ID) is no longer valid.
  EXPECT_EQ(DropOf(Bytes{30, 4, 0x51, 0x01}, kAck), MptcpOptionDrop::kMpPrioBadLength);
}

TEST(MpFailTest, Fields) {
  auto f = MustParseAs<MpFail>(kMpFail, kAck);
  EXPECT_EQ(f.data_seq, DataSeq(0x0000000280000001u));
  EXPECT_EQ(f.Len(), 12u);
}

TEST(MpFastcloseTest, Fields) {
  auto f = MustParseAs<MpFastclose>(kMpFastclose, kAck);
  EXPECT_EQ(f.receiver_key, 0x99aabbccddeeff00u);
  EXPECT_EQ(f.Len(), 12u);
}

TEST(MpTcpRstTest, Fields) {
  auto r = MustParseAs<MpTcpRst>(kMpTcpRst, kRst);
  EXPECT_FALSE(r.flag_u);
  EXPECT_FALSE(r.flag_v);
  EXPECT_FALSE(r.flag_w);
  EXPECT_TRUE(r.transient);
  EXPECT_EQ(r.reason, MpTcpRstReason::kTooMuchOutstandingData);
  EXPECT_EQ(MpTcpRstReasonName(r.reason), "too_much_outstanding_data");
  EXPECT_EQ(r.Len(), 4u);
}

TEST(MpTcpRstTest, AllFlagsAndUnknownReasonKeptAsNumber) {
  const Bytes b = {30, 4, 0x8e /* U V W, T clear */, 42 /* unassigned reason */};
  auto r = MustParseAs<MpTcpRst>(b, kRst);
  EXPECT_TRUE(r.flag_u);
  EXPECT_TRUE(r.flag_v);
  EXPECT_TRUE(r.flag_w);
  EXPECT_FALSE(r.transient);
  EXPECT_EQ(static_cast<uint8_t>(r.reason), 42);
  EXPECT_EQ(MpTcpRstReasonName(r.reason), "unknown");
  EXPECT_THAT(EmitA5(r), ElementsAreArray(b));
}

TEST(MpTcpRstTest, ReasonNames) {
  EXPECT_EQ(MpTcpRstReasonName(MpTcpRstReason::kUnspecified), "unspecified");
  EXPECT_EQ(MpTcpRstReasonName(MpTcpRstReason::kMptcpSpecific), "mptcp_specific");
  EXPECT_EQ(MpTcpRstReasonName(MpTcpRstReason::kLackOfResources), "lack_of_resources");
  EXPECT_EQ(MpTcpRstReasonName(MpTcpRstReason::kAdministrativelyProhibited),
            "administratively_prohibited");
  EXPECT_EQ(MpTcpRstReasonName(MpTcpRstReason::kUnacceptablePerformance),
            "unacceptable_performance");
  EXPECT_EQ(MpTcpRstReasonName(MpTcpRstReason::kMiddleboxInterference), "middlebox_interference");
  EXPECT_EQ(MpTcpRstReasonName(MpTcpRstReason{7}), "unknown");
}

TEST(MpTcpRstTest, WithoutRstIsRejected) {
  EXPECT_EQ(DropOf(kMpTcpRst, kAck), MptcpOptionDrop::kMpTcpRstWithoutRst);
  EXPECT_EQ(DropOf(kMpTcpRst, kSyn), MptcpOptionDrop::kMpTcpRstWithoutRst);
  EXPECT_EQ(DropOf(kMpTcpRst, MptcpSegmentContext{.rst = true}), std::nullopt);
  // The length is checked first, as the kernel does.
  EXPECT_EQ(DropOf(Resized(kMpTcpRst, 5), kAck), MptcpOptionDrop::kMpTcpRstBadLength);
}

// ---------------------------------------------------------------------------------------------
// Table of every golden form: emit, round trip, truncation, one byte short and long.

struct GoldenCase {
  const char* name;
  const Bytes* bytes;
  MptcpSegmentContext ctx;
  MptcpSubtype subtype;
  std::optional<MptcpOptionDrop> one_short;  // nullopt: the shorter option is valid
  std::optional<MptcpOptionDrop> one_long;   // nullopt: the longer option is valid
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

const GoldenCase kGolden[] = {
    {"MpCapableSyn", &kMpCapableSyn, kSyn, MptcpSubtype::kMpCapable,
     MptcpOptionDrop::kMpCapableBadLength, MptcpOptionDrop::kMpCapableBadLength},
    {"MpCapableSynAck", &kMpCapableSynAck, kSynAck, MptcpSubtype::kMpCapable,
     MptcpOptionDrop::kMpCapableBadLength, MptcpOptionDrop::kMpCapableBadLength},
    {"MpCapableAck", &kMpCapableAck, kAck, MptcpSubtype::kMpCapable,
     MptcpOptionDrop::kMpCapableBadLength, MptcpOptionDrop::kMpCapableBadLength},
    {"MpCapableAckData", &kMpCapableAckData, kAck, MptcpSubtype::kMpCapable,
     MptcpOptionDrop::kMpCapableBadLength, MptcpOptionDrop::kMpCapableBadLength},
    {"MpCapableAckDataChecksum", &kMpCapableAckDataChecksum, kAck, MptcpSubtype::kMpCapable,
     MptcpOptionDrop::kMpCapableBadLength, MptcpOptionDrop::kMpCapableBadLength},
    {"MpJoinSyn", &kMpJoinSyn, kSyn, MptcpSubtype::kMpJoin, MptcpOptionDrop::kMpJoinBadLength,
     MptcpOptionDrop::kMpJoinBadLength},
    {"MpJoinSynAck", &kMpJoinSynAck, kSynAck, MptcpSubtype::kMpJoin,
     MptcpOptionDrop::kMpJoinBadLength, MptcpOptionDrop::kMpJoinBadLength},
    {"MpJoinAck", &kMpJoinAck, kAck, MptcpSubtype::kMpJoin, MptcpOptionDrop::kMpJoinBadLength,
     MptcpOptionDrop::kMpJoinBadLength},
    {"DssAck64", &kDssAck64, kAck, MptcpSubtype::kDss, MptcpOptionDrop::kDssBadLength,
     MptcpOptionDrop::kDssBadLength},
    {"DssAck32Map32", &kDssAck32Map32, kAck, MptcpSubtype::kDss, MptcpOptionDrop::kDssBadLength,
     MptcpOptionDrop::kDssBadLength},
    {"DssFull", &kDssFull, kAck, MptcpSubtype::kDss, MptcpOptionDrop::kDssBadLength,
     MptcpOptionDrop::kDssBadLength},
    {"DssDataFinOnly", &kDssDataFinOnly, kAck, MptcpSubtype::kDss, MptcpOptionDrop::kDssBadLength,
     MptcpOptionDrop::kDssBadLength},
    {"DssEmpty", &kDssEmpty, kAck, MptcpSubtype::kDss, MptcpOptionDrop::kDssBadLength,
     MptcpOptionDrop::kDssBadLength},
    {"AddAddr4", &kAddAddr4, kAck, MptcpSubtype::kAddAddr, MptcpOptionDrop::kAddAddrBadLength,
     MptcpOptionDrop::kAddAddrBadLength},
    {"AddAddr4Port", &kAddAddr4Port, kAck, MptcpSubtype::kAddAddr,
     MptcpOptionDrop::kAddAddrBadLength, MptcpOptionDrop::kAddAddrBadLength},
    {"AddAddr6", &kAddAddr6, kAck, MptcpSubtype::kAddAddr, MptcpOptionDrop::kAddAddrBadLength,
     MptcpOptionDrop::kAddAddrBadLength},
    {"AddAddr6Port", &kAddAddr6Port, kAck, MptcpSubtype::kAddAddr,
     MptcpOptionDrop::kAddAddrBadLength, MptcpOptionDrop::kAddAddrBadLength},
    {"AddAddrEcho4", &kAddAddrEcho4, kAck, MptcpSubtype::kAddAddr,
     MptcpOptionDrop::kAddAddrBadLength, MptcpOptionDrop::kAddAddrBadLength},
    {"AddAddrEcho4Port", &kAddAddrEcho4Port, kAck, MptcpSubtype::kAddAddr,
     MptcpOptionDrop::kAddAddrBadLength, MptcpOptionDrop::kAddAddrBadLength},
    {"AddAddrEcho6", &kAddAddrEcho6, kAck, MptcpSubtype::kAddAddr,
     MptcpOptionDrop::kAddAddrBadLength, MptcpOptionDrop::kAddAddrBadLength},
    {"AddAddrEcho6Port", &kAddAddrEcho6Port, kAck, MptcpSubtype::kAddAddr,
     MptcpOptionDrop::kAddAddrBadLength, MptcpOptionDrop::kAddAddrBadLength},
    {"RemoveAddr1", &kRemoveAddr1, kAck, MptcpSubtype::kRemoveAddr,
     MptcpOptionDrop::kRemoveAddrBadLength, std::nullopt},
    {"RemoveAddr8", &kRemoveAddr8, kAck, MptcpSubtype::kRemoveAddr, std::nullopt,
     MptcpOptionDrop::kRemoveAddrBadLength},
    // Two bytes leave no subtype byte at all.
    {"MpPrio", &kMpPrio, kAck, MptcpSubtype::kMpPrio, MptcpOptionDrop::kTooShort,
     MptcpOptionDrop::kMpPrioBadLength},
    {"MpFail", &kMpFail, kAck, MptcpSubtype::kMpFail, MptcpOptionDrop::kMpFailBadLength,
     MptcpOptionDrop::kMpFailBadLength},
    {"MpFastclose", &kMpFastclose, kAck, MptcpSubtype::kMpFastclose,
     MptcpOptionDrop::kMpFastcloseBadLength, MptcpOptionDrop::kMpFastcloseBadLength},
    {"MpTcpRst", &kMpTcpRst, kRst, MptcpSubtype::kMpTcpRst, MptcpOptionDrop::kMpTcpRstBadLength,
     MptcpOptionDrop::kMpTcpRstBadLength},
};

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

INSTANTIATE_TEST_SUITE_P(AllForms, GoldenTest, ::testing::ValuesIn(kGolden),
                         [](const auto& p) { return std::string(p.param.name); });

TEST_P(GoldenTest, ParsesToTheRightSubtypeAndLength) {
  const auto& c = GetParam();
  auto opt = MustParse(*c.bytes, c.ctx);
  EXPECT_EQ(MptcpOptionSubtype(opt), c.subtype);
  EXPECT_EQ(MptcpOptionLen(opt), c.bytes->size());
}

TEST_P(GoldenTest, EmitOverA5EqualsGolden) {
  const auto& c = GetParam();
  EXPECT_THAT(EmitA5(MustParse(*c.bytes, c.ctx)), ElementsAreArray(*c.bytes));
}

TEST_P(GoldenTest, EmitIntoALargerBufferWritesOnlyLen) {
  const auto& c = GetParam();
  Bytes out(c.bytes->size() + 8, 0xA5);
  ASSERT_TRUE(EmitMptcpOption(MustParse(*c.bytes, c.ctx), out));
  EXPECT_TRUE(std::equal(c.bytes->begin(), c.bytes->end(), out.begin()));
  EXPECT_TRUE(
      std::all_of(out.begin() + c.bytes->size(), out.end(), [](uint8_t b) { return b == 0xA5; }));
}

TEST_P(GoldenTest, RoundTrip) {
  const auto& c = GetParam();
  auto x = MustParse(*c.bytes, c.ctx);
  auto again = ParseMptcpOption(EmitA5(x), c.ctx);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, x);
}

TEST_P(GoldenTest, EmitIntoTooSmallBufferWritesNothing) {
  const auto& c = GetParam();
  auto x = MustParse(*c.bytes, c.ctx);
  for (size_t n = 0; n < c.bytes->size(); ++n) {
    Bytes out(n, 0xA5);
    EXPECT_FALSE(EmitMptcpOption(x, out)) << n;
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](uint8_t b) { return b == 0xA5; })) << n;
  }
}

TEST_P(GoldenTest, TruncatedAtEveryLength) {
  const auto& c = GetParam();
  for (size_t n = 0; n < c.bytes->size(); ++n) {
    Bytes cut(c.bytes->begin(), c.bytes->begin() + static_cast<ptrdiff_t>(n));
    EXPECT_EQ(DropOf(cut, c.ctx), MptcpOptionDrop::kTooShort) << n;
  }
}

TEST_P(GoldenTest, OneByteShortAndOneByteLong) {
  const auto& c = GetParam();
  const size_t len = c.bytes->size();
  EXPECT_EQ(DropOf(Resized(*c.bytes, len - 1), c.ctx), c.one_short);
  EXPECT_EQ(DropOf(Resized(*c.bytes, len + 1), c.ctx), c.one_long);
}

TEST_P(GoldenTest, ExtraBytesAfterTheLengthAreRejected) {
  const auto& c = GetParam();
  Bytes b = *c.bytes;
  b.push_back(0x01);  // a NOP that the caller should not have handed over
  EXPECT_EQ(DropOf(b, c.ctx), MptcpOptionDrop::kLengthMismatch);
}

TEST_P(GoldenTest, WrongKindIsRejected) {
  const auto& c = GetParam();
  Bytes b = *c.bytes;
  b[0] = 31;
  EXPECT_EQ(DropOf(b, c.ctx), MptcpOptionDrop::kNotMptcp);
}

// ---------------------------------------------------------------------------------------------
// MP_CAPABLE and MP_JOIN: the segment's flags pick the form.

TEST(MpCapableTest, LengthMustMatchTheSegmentFlags) {
  EXPECT_EQ(DropOf(kMpCapableSyn, kSynAck), MptcpOptionDrop::kMpCapableBadLength);
  EXPECT_EQ(DropOf(kMpCapableSyn, kAck), MptcpOptionDrop::kMpCapableBadLength);
  EXPECT_EQ(DropOf(kMpCapableSynAck, kSyn), MptcpOptionDrop::kMpCapableBadLength);
  EXPECT_EQ(DropOf(kMpCapableSynAck, kAck), MptcpOptionDrop::kMpCapableBadLength);
  EXPECT_EQ(DropOf(kMpCapableAck, kSyn), MptcpOptionDrop::kMpCapableBadLength);
  EXPECT_EQ(DropOf(kMpCapableAck, kSynAck), MptcpOptionDrop::kMpCapableBadLength);
  EXPECT_EQ(DropOf(kMpCapableAckData, kSynAck), MptcpOptionDrop::kMpCapableBadLength);
  EXPECT_EQ(DropOf(kMpCapableAckDataChecksum, kSyn), MptcpOptionDrop::kMpCapableBadLength);
  // Without SYN, an ACK flag is not needed to choose the form.
  EXPECT_EQ(DropOf(kMpCapableAck, MptcpSegmentContext{}), std::nullopt);
}

TEST(MpCapableTest, VersionRules) {
  Bytes b = kMpCapableSyn;
  b[2] = 0x00;  // version 0 (RFC 6824)
  EXPECT_EQ(DropOf(b, kSyn), MptcpOptionDrop::kMpCapableBadVersion);
  b[2] = 0x02;  // version 2 on a SYN: tolerated, the answer will say 1
  auto m = MustParseAs<MpCapable>(b, kSyn);
  EXPECT_EQ(m.version, 2);
  EXPECT_THAT(EmitA5(m), ElementsAreArray(b));
  b[2] = 0x0f;
  EXPECT_EQ(MustParseAs<MpCapable>(b, kSyn).version, 15);

  for (const Bytes* later : {&kMpCapableSynAck, &kMpCapableAck, &kMpCapableAckData}) {
    const MptcpSegmentContext ctx = later == &kMpCapableSynAck ? kSynAck : kAck;
    Bytes v = *later;
    v[2] = 0x00;
    EXPECT_EQ(DropOf(v, ctx), MptcpOptionDrop::kMpCapableBadVersion);
    v[2] = 0x02;
    EXPECT_EQ(DropOf(v, ctx), MptcpOptionDrop::kMpCapableBadVersion);
  }
}

TEST(MpCapableTest, FlagRules) {
  Bytes b = kMpCapableSyn;
  b[3] = 0x80;  // H clear
  EXPECT_EQ(DropOf(b, kSyn), MptcpOptionDrop::kMpCapableNoHmacSha256);
  b[3] = 0x41;  // B set
  EXPECT_EQ(DropOf(b, kSyn), MptcpOptionDrop::kMpCapableExtensibility);
  for (uint8_t d_to_g : {0x10, 0x08, 0x04, 0x02}) {  // an unassigned flag next to H
    b[3] = static_cast<uint8_t>(0x01 | d_to_g);
    EXPECT_EQ(DropOf(b, kSyn), MptcpOptionDrop::kMpCapableNoHmacSha256) << int{d_to_g};
  }
  b[3] = 0xa1;  // A C H: all fine
  auto m = MustParseAs<MpCapable>(b, kSyn);
  EXPECT_TRUE(m.checksum_required);
  EXPECT_TRUE(m.no_join_to_initial_address);

  // The same rules on the later forms.
  Bytes ack = kMpCapableAck;
  ack[3] = 0x00;
  EXPECT_EQ(DropOf(ack, kAck), MptcpOptionDrop::kMpCapableNoHmacSha256);
  ack[3] = 0x41;
  EXPECT_EQ(DropOf(ack, kAck), MptcpOptionDrop::kMpCapableExtensibility);

  // Emit writes what it is given, so tests can build what a peer must not send.
  MpCapable bad;
  bad.extensibility = true;
  bad.hmac_sha256 = false;
  EXPECT_THAT(EmitA5(bad), ElementsAreArray({30, 4, 0x01, 0x40}));
}

TEST(MpCapableTest, EmitRefusesFieldsTheFormCannotCarry) {
  uint8_t buf[32];
  MpCapable m;
  m.version = 16;
  EXPECT_FALSE(m.Emit(buf));
  m = MpCapable{};
  m.sender_key = 1;  // SYN carries no key in v1
  EXPECT_FALSE(m.Emit(buf));
  m = MpCapable{.form = MpCapableForm::kSynAck, .receiver_key = 1};
  EXPECT_FALSE(m.Emit(buf));
  m = MpCapable{.form = MpCapableForm::kAck, .data_level_length = 1};
  EXPECT_FALSE(m.Emit(buf));
  m = MpCapable{.form = MpCapableForm::kAck, .checksum = 0};
  EXPECT_FALSE(m.Emit(buf));
  m = MpCapable{.form = MpCapableForm::kAckData, .checksum = 0};
  EXPECT_TRUE(m.Emit(buf));
}

TEST(MpCapableTest, BuiltValuesRoundTrip) {
  const MpCapable values[] = {
      {.form = MpCapableForm::kSyn},
      {.form = MpCapableForm::kSyn, .version = 3, .checksum_required = true},
      {.form = MpCapableForm::kSynAck, .no_join_to_initial_address = true, .sender_key = ~0ull},
      {.form = MpCapableForm::kAck, .sender_key = 1, .receiver_key = 2},
      {.form = MpCapableForm::kAckData,
       .sender_key = 3,
       .receiver_key = 4,
       .data_level_length = 0xffff},
      {.form = MpCapableForm::kAckData,
       .checksum_required = true,
       .sender_key = 5,
       .receiver_key = 6,
       .data_level_length = 7,
       .checksum = 0xffff},
  };
  for (const auto& m : values) {
    const MptcpSegmentContext ctx = m.form == MpCapableForm::kSyn      ? kSyn
                                    : m.form == MpCapableForm::kSynAck ? kSynAck
                                                                       : kAck;
    auto r = ParseMptcpOption(EmitA5(m), ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, MptcpOption{m});
  }
}

TEST(MpJoinTest, LengthMustMatchTheSegmentFlags) {
  EXPECT_EQ(DropOf(kMpJoinSyn, kSynAck), MptcpOptionDrop::kMpJoinBadLength);
  EXPECT_EQ(DropOf(kMpJoinSyn, kAck), MptcpOptionDrop::kMpJoinBadLength);
  EXPECT_EQ(DropOf(kMpJoinSynAck, kSyn), MptcpOptionDrop::kMpJoinBadLength);
  EXPECT_EQ(DropOf(kMpJoinSynAck, kAck), MptcpOptionDrop::kMpJoinBadLength);
  EXPECT_EQ(DropOf(kMpJoinAck, kSyn), MptcpOptionDrop::kMpJoinBadLength);
  EXPECT_EQ(DropOf(kMpJoinAck, kSynAck), MptcpOptionDrop::kMpJoinBadLength);
}

TEST(MpJoinTest, EmitRefusesFieldsTheFormCannotCarry) {
  uint8_t buf[32];
  EXPECT_FALSE((MpJoin{.form = MpJoinForm::kSyn, .sender_truncated_hmac = 1}.Emit(buf)));
  EXPECT_FALSE((MpJoin{.form = MpJoinForm::kSynAck, .receiver_token = 1}.Emit(buf)));
  EXPECT_FALSE((MpJoin{.form = MpJoinForm::kAck, .backup = true}.Emit(buf)));
  EXPECT_FALSE((MpJoin{.form = MpJoinForm::kAck, .address_id = 1}.Emit(buf)));
  EXPECT_FALSE((MpJoin{.form = MpJoinForm::kAck, .sender_nonce = 1}.Emit(buf)));
  MpJoin syn{.form = MpJoinForm::kSyn};
  syn.sender_hmac[0] = 1;
  EXPECT_FALSE(syn.Emit(buf));
}

// ---------------------------------------------------------------------------------------------
// DSS: every combination of F m M a A, with and without checksum.

// Builds a DSS option for `flags` with distinct field values, as the RFC lays it out, and the
// value the parser must return for it.
struct DssCase {
  Bytes bytes;
  Dss expected;
};

DssCase BuildDss(uint8_t flags, bool with_checksum) {
  const bool ack = flags & kDssFlagDataAck, ack64 = flags & kDssFlagDataAck64;
  const bool map = flags & kDssFlagMapping, dsn64 = flags & kDssFlagDsn64;
  DssCase c;
  c.bytes = {30, 0 /* length, below */, 0x20, flags};
  c.expected.data_fin = flags & kDssFlagDataFin;
  auto put = [&c](uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) c.bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  if (ack) {
    if (ack64) {
      put(0xa0a1a2a3a4a5a6a7u, 8);
      c.expected.data_ack = DssSequence{0xa0a1a2a3a4a5a6a7u, false};
    } else {
      put(0xa4a5a6a7u, 4);
      c.expected.data_ack = DssSequence{0xa4a5a6a7u, true};
    }
  }
  if (map) {
    DssMapping m;
    if (dsn64) {
      put(0xd0d1d2d3d4d5d6d7u, 8);
      m.data_seq = DssSequence{0xd0d1d2d3d4d5d6d7u, false};
    } else {
      put(0xd4d5d6d7u, 4);
      m.data_seq = DssSequence{0xd4d5d6d7u, true};
    }
    put(0x51525354u, 4);  // subflow sequence number
    m.subflow_seq = 0x51525354u;
    put(0x0102, 2);  // data-level length
    m.data_level_length = 0x0102;
    if (with_checksum) {
      put(0xc1c2, 2);
      m.checksum = 0xc1c2;
    }
    c.expected.mapping = m;
  } else if (with_checksum) {
    put(0xc1c2, 2);  // accepted and ignored without a mapping, as the kernel does
  }
  c.bytes[1] = static_cast<uint8_t>(c.bytes.size());
  return c;
}

TEST(DssTest, EveryFlagCombinationWithAndWithoutChecksum) {
  for (int flags = 0; flags < 32; ++flags) {
    for (bool with_checksum : {false, true}) {
      SCOPED_TRACE(testing::Message()
                   << "flags 0x" << std::hex << flags << " checksum " << with_checksum);
      const DssCase c = BuildDss(static_cast<uint8_t>(flags), with_checksum);
      auto r = ParseMptcpOption(c.bytes, kAck);
      ASSERT_TRUE(r.ok()) << MptcpOptionDropName(r.drop());
      const Dss* d = r.get_if<Dss>();
      ASSERT_NE(d, nullptr);
      EXPECT_EQ(*d, c.expected);

      // 'a' without 'A' and 'm' without 'M' mean nothing and are not re-emitted; a checksum
      // without a mapping is not either. Everything else comes back byte for byte.
      const bool canonical = !((flags & kDssFlagDataAck64) && !(flags & kDssFlagDataAck)) &&
                             !((flags & kDssFlagDsn64) && !(flags & kDssFlagMapping)) &&
                             !(with_checksum && !(flags & kDssFlagMapping));
      const Bytes emitted = EmitA5(*d);
      if (canonical) {
        EXPECT_THAT(emitted, ElementsAreArray(c.bytes));
      } else {
        EXPECT_EQ(emitted[3], d->Flags());
      }
      auto again = ParseMptcpOption(emitted, kAck);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(*again, *r);

      // One byte off either way never parses.
      EXPECT_EQ(DropOf(Resized(c.bytes, c.bytes.size() + 1), kAck), MptcpOptionDrop::kDssBadLength);
      EXPECT_EQ(DropOf(Resized(c.bytes, c.bytes.size() - 1), kAck), MptcpOptionDrop::kDssBadLength);
    }
  }
}

TEST(DssTest, EveryMeaningfulValueRoundTrips) {
  const std::optional<DssSequence> acks[] = {std::nullopt, DssSequence::Low32(0xffffffffu),
                                             DssSequence::Full(DataSeq(~0ull))};
  const std::optional<DssSequence> dsns[] = {std::nullopt, DssSequence::Low32(0),
                                             DssSequence::Full(DataSeq(1ull << 40))};
  for (bool fin : {false, true}) {
    for (const auto& ack : acks) {
      for (const auto& dsn : dsns) {
        for (bool csum : {false, true}) {
          if (csum && !dsn) continue;
          Dss d;
          d.data_fin = fin;
          d.data_ack = ack;
          if (dsn) {
            d.mapping =
                DssMapping{*dsn, 0xfffffffeu, 0, csum ? std::optional<uint16_t>(0) : std::nullopt};
          }
          auto r = ParseMptcpOption(EmitA5(d), kAck);
          ASSERT_TRUE(r.ok());
          EXPECT_EQ(*r, MptcpOption{d});
        }
      }
    }
  }
}

TEST(DssTest, ChecksumWithoutMappingIsIgnoredLikeTheKernel) {
  const Bytes b = {30, 14, 0x20, 0x03, 0, 0, 0, 0, 0, 0, 0, 9, 0xc1, 0xc2};
  auto d = MustParseAs<Dss>(b, kAck);
  EXPECT_EQ(d.data_ack, DssSequence::Full(DataSeq(9)));
  EXPECT_FALSE(d.mapping.has_value());
  EXPECT_EQ(d.Len(), 12u);
}

TEST(DssTest, EmitRefuses32BitValuesThatDoNotFit) {
  uint8_t buf[32];
  std::fill(std::begin(buf), std::end(buf), 0xA5);
  Dss d;
  d.data_ack = DssSequence{1ull << 32, true};
  EXPECT_FALSE(d.Emit(buf));
  d.data_ack.reset();
  d.mapping = DssMapping{DssSequence{1ull << 32, true}, 0, 0, std::nullopt};
  EXPECT_FALSE(d.Emit(buf));
  EXPECT_TRUE(std::all_of(std::begin(buf), std::end(buf), [](uint8_t b) { return b == 0xA5; }));
}

// ---------------------------------------------------------------------------------------------
// ADD_ADDR emit rules, built values.

TEST(AddAddrTest, EchoAndHmacGoTogether) {
  uint8_t buf[32];
  AddAddr a;
  a.address = *Ipv4Address::Parse("10.0.0.1");
  EXPECT_FALSE(a.Emit(buf));  // an announcement without HMAC
  a.echo = true;
  a.truncated_hmac = 1;
  EXPECT_FALSE(a.Emit(buf));  // an echo with HMAC
  a.truncated_hmac.reset();
  EXPECT_TRUE(a.Emit(buf));
}

TEST(AddAddrTest, BuiltValuesRoundTrip) {
  for (bool echo : {false, true}) {
    for (bool v6 : {false, true}) {
      for (bool port : {false, true}) {
        AddAddr a;
        a.echo = echo;
        a.address_id = 255;
        if (v6) {
          a.address = *Ipv6Address::Parse("fe80::1234");
        } else {
          a.address = *Ipv4Address::Parse("10.1.2.3");
        }
        if (port) a.port = 0;  // a zero port is still a port field on the wire
        if (!echo) a.truncated_hmac = ~0ull;
        const Bytes b = EmitA5(a);
        EXPECT_EQ(b.size(), size_t{4} + (v6 ? 16 : 4) + (port ? 2 : 0) + (echo ? 0 : 8));
        auto r = ParseMptcpOption(b, kAck);
        ASSERT_TRUE(r.ok()) << MptcpOptionDropName(r.drop());
        EXPECT_EQ(*r, MptcpOption{a});
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Other subtypes, built values.

TEST(MptcpOptionsTest, SmallOptionsRoundTrip) {
  const MptcpOption values[] = {
      MpPrio{false},
      MpPrio{true},
      MpFail{DataSeq(0)},
      MpFail{DataSeq(~0ull)},
      MpFastclose{0x0123456789abcdefu},
      MpTcpRst{},
      MpTcpRst{true, true, true, true, MpTcpRstReason::kMiddleboxInterference},
      MpTcpRst{false, false, false, false, MpTcpRstReason{0xff}},
      RemoveAddr::Of(std::vector<uint8_t>{0, 255}),
  };
  for (const auto& x : values) {
    auto r = ParseMptcpOption(EmitA5(x), kRst);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, x);
  }
}

TEST(MptcpOptionsTest, UnknownSubtypesAreReported) {
  for (uint8_t subtype = 0x9; subtype <= 0xf; ++subtype) {
    for (size_t len : {3, 4, 12, 40}) {
      Bytes b(len, 0x00);
      b[0] = 30;
      b[1] = static_cast<uint8_t>(len);
      b[2] = static_cast<uint8_t>(subtype << 4);
      for (auto ctx : {kSyn, kSynAck, kAck, kRst}) {
        EXPECT_EQ(DropOf(b, ctx), MptcpOptionDrop::kUnknownSubtype) << int{subtype};
      }
    }
  }
}

TEST(MptcpOptionsTest, TinyOrInconsistentInputs) {
  EXPECT_EQ(DropOf(Bytes{}, kAck), MptcpOptionDrop::kTooShort);
  EXPECT_EQ(DropOf(Bytes{30}, kAck), MptcpOptionDrop::kTooShort);
  EXPECT_EQ(DropOf(Bytes{30, 2}, kAck), MptcpOptionDrop::kTooShort);
  EXPECT_EQ(DropOf(Bytes{30, 2, 0x50}, kAck), MptcpOptionDrop::kTooShort);
  EXPECT_EQ(DropOf(Bytes{30, 0, 0x50}, kAck), MptcpOptionDrop::kTooShort);
  EXPECT_EQ(DropOf(Bytes{30, 255, 0x50}, kAck), MptcpOptionDrop::kTooShort);
  EXPECT_EQ(DropOf(Bytes{30, 3, 0x50, 0x01}, kAck), MptcpOptionDrop::kLengthMismatch);
  EXPECT_EQ(DropOf(Bytes{2, 3, 0x50}, kAck), MptcpOptionDrop::kNotMptcp);
}

TEST(MptcpOptionsTest, ParseResultAccessors) {
  auto ok = ParseMptcpOption(kMpPrio, kAck);
  EXPECT_TRUE(ok.ok());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_NE(ok.get_if<MpPrio>(), nullptr);
  EXPECT_EQ(ok.get_if<Dss>(), nullptr);
  EXPECT_EQ(ok->index(), 5u);
  EXPECT_EQ(ok.value(), MptcpOption{MpPrio{true}});

  auto bad = ParseMptcpOption(Bytes{30, 4, 0x51, 0}, kAck);
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(bad.drop(), MptcpOptionDrop::kMpPrioBadLength);
  EXPECT_EQ(bad.get_if<MpPrio>(), nullptr);
}

TEST(MptcpOptionsTest, SubtypeNames) {
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kMpCapable), "MP_CAPABLE");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kMpJoin), "MP_JOIN");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kDss), "DSS");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kAddAddr), "ADD_ADDR");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kRemoveAddr), "REMOVE_ADDR");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kMpPrio), "MP_PRIO");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kMpFail), "MP_FAIL");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kMpFastclose), "MP_FASTCLOSE");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kMpTcpRst), "MP_TCPRST");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype::kMpExperimental), "MP_EXPERIMENTAL");
  EXPECT_EQ(MptcpSubtypeName(MptcpSubtype{0x9}), "unknown");
}

// ---------------------------------------------------------------------------------------------
// Drop reasons and their counters.

TEST(MptcpOptionDropTest, NamesAreUniqueSnakeCaseAndCountersPrefixed) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kMptcpOptionDropCount; ++i) {
    const auto d = static_cast<MptcpOptionDrop>(i);
    const std::string_view name = MptcpOptionDropName(d);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(std::all_of(name.begin(), name.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    })) << name;
    EXPECT_EQ(MptcpOptionDropCounterName(d), "mptcp_option_drop_" + std::string(name));
    EXPECT_FALSE(MptcpOptionDropDescription(d).empty());
  }
  EXPECT_EQ(MptcpOptionDropName(MptcpOptionDrop::kDssBadLength), "dss_bad_length");
  EXPECT_EQ(MptcpOptionDropCounterName(MptcpOptionDrop::kMpTcpRstWithoutRst),
            "mptcp_option_drop_mp_tcprst_without_rst");
  EXPECT_EQ(MptcpOptionDropName(MptcpOptionDrop::kCount), "invalid");
}

TEST(MptcpOptionDropTest, Counts) {
  MptcpOptionDropCounts counts;
  EXPECT_EQ(counts.Total(), 0u);
  for (const Bytes& b : {Bytes{30, 4, 0x51, 0}, Bytes{30, 4, 0x51, 0}, Bytes{30, 3, 0x90}}) {
    auto r = ParseMptcpOption(b, kAck);
    ASSERT_FALSE(r.ok());
    counts.Increment(r.drop());
  }
  EXPECT_EQ(counts[MptcpOptionDrop::kMpPrioBadLength], 2u);
  EXPECT_EQ(counts[MptcpOptionDrop::kUnknownSubtype], 1u);
  EXPECT_EQ(counts[MptcpOptionDrop::kDssBadLength], 0u);
  EXPECT_EQ(counts.Total(), 3u);
  counts.Increment(MptcpOptionDrop::kCount);  // out of range: ignored, not a crash
  EXPECT_EQ(counts.Total(), 3u);

  MptcpOptionDropCounts sum;
  sum += counts;
  sum += counts;
  EXPECT_EQ(sum[MptcpOptionDrop::kMpPrioBadLength], 4u);
  EXPECT_EQ(sum.Total(), 6u);
}

// ---------------------------------------------------------------------------------------------
// All the MPTCP options of a TCP option list.

TEST(ParseMptcpOptionsTest, ParsesEveryKind30OptionInOrderAndCountsDrops) {
  Bytes list = {2, 4, 0x05, 0xb4,  // MSS 1460
                1, 1};             // NOP NOP
  list.insert(list.end(), kDssAck64.begin(), kDssAck64.end());
  list.insert(list.end(), kMpPrio.begin(), kMpPrio.end());
  list.insert(list.end(), {30, 3, 0x90});                         // unknown subtype
  list.insert(list.end(), {30, 2});                               // no subtype byte
  list.insert(list.end(), {253, 4, 0x12, 0x34});                  // an experimental non-MPTCP kind
  list.insert(list.end(), kMpFail.begin(), kMpFail.begin() + 4);  // length 12 past the end
  const TcpOptionsRepr tcp = TcpOptionsRepr::Parse(list);
  ASSERT_EQ(tcp.mss, std::optional<uint16_t>(1460));

  MptcpOptionDropCounts drops;
  const MptcpOptionList mptcp = ParseMptcpOptions(tcp, kAck, drops);
  ASSERT_EQ(mptcp.size(), 2u);
  EXPECT_EQ(mptcp[0], MustParse(kDssAck64, kAck));
  EXPECT_EQ(mptcp[1], MptcpOption{MpPrio{true}});
  EXPECT_EQ(drops[MptcpOptionDrop::kUnknownSubtype], 1u);
  EXPECT_EQ(drops[MptcpOptionDrop::kTooShort], 1u);
  EXPECT_EQ(drops.Total(), 2u);  // the partial option ended the TCP walk: not ours to count
}

TEST(ParseMptcpOptionsTest, TheSegmentFlagsReachEveryOption) {
  TcpOptionsRepr tcp;
  ASSERT_TRUE(tcp.AppendRaw(kMpTcpRst));
  ASSERT_TRUE(tcp.AppendRaw(kMpFastclose));
  MptcpOptionDropCounts drops;
  EXPECT_EQ(ParseMptcpOptions(tcp, kRst, drops).size(), 2u);
  EXPECT_EQ(drops.Total(), 0u);
  const MptcpOptionList without_rst = ParseMptcpOptions(tcp, kAck, drops);
  ASSERT_EQ(without_rst.size(), 1u);
  EXPECT_EQ(without_rst[0], MustParse(kMpFastclose, kAck));
  EXPECT_EQ(drops[MptcpOptionDrop::kMpTcpRstWithoutRst], 1u);
}

TEST(ParseMptcpOptionsTest, EmittedOptionsSurviveTheTcpOptionList) {
  // What the TCP engine does on output: emit each MPTCP option, append it raw, emit the list.
  const MptcpOption sent[] = {Dss::DataFinWithoutPayload(DataSeq(77)),
                              AddAddr{.echo = true,
                                      .address_id = 1,
                                      .address = *Ipv4Address::Parse("192.0.2.1"),
                                      .port = std::nullopt,
                                      .truncated_hmac = std::nullopt}};
  TcpOptionsRepr tcp;
  for (const auto& opt : sent) {
    uint8_t buf[kMptcpOptionMaxLen];
    ASSERT_TRUE(EmitMptcpOption(opt, buf));
    ASSERT_TRUE(tcp.AppendRaw(std::span<const uint8_t>(buf, MptcpOptionLen(opt))));
  }
  Bytes wire(tcp.EncodedLen());
  ASSERT_TRUE(tcp.Emit(wire));
  MptcpOptionDropCounts drops;
  const MptcpOptionList got = ParseMptcpOptions(TcpOptionsRepr::Parse(wire), kAck, drops);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], sent[0]);
  EXPECT_EQ(got[1], sent[1]);
  EXPECT_EQ(drops.Total(), 0u);
}

// ---------------------------------------------------------------------------------------------
// The fuzz target's seeds are what their names say (byte 0: 0x01 SYN, 0x02 ACK, 0x04 RST).

TEST(MptcpOptionsCorpusTest, SeedsParseAsNamed) {
  const std::filesystem::path dir =
      std::filesystem::path(BRAID_SOURCE_DIR) / "tests/fuzz/corpus/mptcp_options";
  size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(b.empty()) << entry.path();
    const MptcpSegmentContext ctx{
        .syn = (b[0] & 0x01) != 0, .ack = (b[0] & 0x02) != 0, .rst = (b[0] & 0x04) != 0};
    const std::string name = entry.path().filename().string();
    const bool ok = ParseMptcpOption(std::span<const uint8_t>(b).subspan(1), ctx).ok();
    EXPECT_EQ(ok, name.rfind("bad_", 0) != 0) << name;
    ++seeds;
  }
  EXPECT_GE(seeds, 27u);  // one per golden form, at least
}

}  // namespace
}  // namespace braid::wire