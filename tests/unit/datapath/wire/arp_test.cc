#include "datapath/wire/arp.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace braid::wire {
namespace {

// RFC 826: who-has 10.0.0.2 tell 10.0.0.1.
constexpr std::array<uint8_t, 28> kRequest = {
    0x00, 0x01,                          // hardware type: Ethernet
    0x08, 0x00,                          // protocol type: IPv4
    0x06,                                // hardware address length
    0x04,                                // protocol address length
    0x00, 0x01,                          // operation: request
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // sender MAC
    0x0a, 0x00, 0x00, 0x01,              // sender IP 10.0.0.1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target MAC (unknown)
    0x0a, 0x00, 0x00, 0x02,              // target IP 10.0.0.2
};

constexpr std::array<uint8_t, 28> kReply = {
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04,  // Ethernet/IPv4
    0x00, 0x02,                          // operation: reply
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  // sender MAC
    0x0a, 0x00, 0x00, 0x02,              // sender IP 10.0.0.2
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // target MAC
    0x0a, 0x00, 0x00, 0x01,              // target IP 10.0.0.1
};

MacAddress Mac(uint8_t last) { return {{0x02, 0, 0, 0, 0, last}}; }
Ipv4Address Ip(uint8_t last) { return {{10, 0, 0, last}}; }

TEST(ArpTest, ViewReadsEveryField) {
  auto packet = ArpPacket::Check(kRequest);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->hardware_type(), 1);
  EXPECT_EQ(packet->protocol_type(), 0x0800);
  EXPECT_EQ(packet->hardware_len(), 6);
  EXPECT_EQ(packet->protocol_len(), 4);
  EXPECT_EQ(packet->operation(), 1);
  EXPECT_EQ(packet->sender_hardware_address(), Mac(1));
  EXPECT_EQ(packet->sender_protocol_address(), Ip(1));
  EXPECT_EQ(packet->target_hardware_address(), MacAddress{});
  EXPECT_EQ(packet->target_protocol_address(), Ip(2));
  EXPECT_EQ(packet->bytes().size(), kArpPacketLen);
}

TEST(ArpTest, ParseRequestAndReply) {
  auto request = ArpRepr::Parse(*ArpPacket::Check(kRequest));
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(*request, (ArpRepr{ArpOperation::kRequest, Mac(1), Ip(1), MacAddress{}, Ip(2)}));
  auto reply = ArpRepr::Parse(*ArpPacket::Check(kReply));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(*reply, (ArpRepr{ArpOperation::kReply, Mac(2), Ip(2), Mac(1), Ip(1)}));
}

TEST(ArpTest, EthernetPaddingIsNotPartOfThePacket) {
  std::vector<uint8_t> padded(kRequest.begin(), kRequest.end());
  padded.resize(46, 0xee);  // 60-byte minimum frame minus the 14-byte Ethernet header
  auto packet = ArpPacket::Check(padded);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->bytes().size(), kArpPacketLen);
  EXPECT_EQ(packet->target_protocol_address(), Ip(2));
}

TEST(ArpTest, TruncatedAtEveryLength) {
  for (size_t n = 0; n < kArpPacketLen; ++n) {
    auto packet = ArpPacket::Check(std::span(kRequest).first(n));
    ASSERT_FALSE(packet.ok()) << n;
    EXPECT_EQ(packet.error(), WireError::kTruncated) << n;
  }
}

TEST(ArpTest, RejectsOtherHardwareOrProtocol) {
  for (size_t byte : {0, 1, 2, 3, 4, 5}) {
    auto bad = kRequest;
    bad[byte] ^= 0x10;
    auto packet = ArpPacket::Check(bad);
    ASSERT_FALSE(packet.ok()) << byte;
    EXPECT_EQ(packet.error(), WireError::kBadHardwareType) << byte;
  }
}

TEST(ArpTest, UnknownOperationIsUnsupported) {
  for (uint8_t op : {0, 3, 4, 8, 9, 0xff}) {
    auto bad = kRequest;
    bad[7] = op;
    auto packet = ArpPacket::Check(bad);
    ASSERT_TRUE(packet.ok());
    EXPECT_EQ(packet->operation(), op);
    auto repr = ArpRepr::Parse(*packet);
    ASSERT_FALSE(repr.ok());
    EXPECT_EQ(repr.error(), WireError::kUnsupported);
  }
}

TEST(ArpTest, EmitOverFilledBufferMatchesGolden) {
  for (const auto& golden : {kRequest, kReply}) {
    auto repr = ArpRepr::Parse(*ArpPacket::Check(golden));
    ASSERT_TRUE(repr.ok());
    std::array<uint8_t, 28> out;
    out.fill(0xa5);
    ASSERT_EQ(repr->BufferLen(), 28u);
    ASSERT_TRUE(repr->Emit(out));
    EXPECT_EQ(out, golden);
  }
}

TEST(ArpTest, EmitTooSmallWritesNothing) {
  ArpRepr repr{ArpOperation::kReply, Mac(2), Ip(2), Mac(1), Ip(1)};
  std::array<uint8_t, 27> out;
  out.fill(0xa5);
  EXPECT_FALSE(repr.Emit(out));
  for (uint8_t b : out) EXPECT_EQ(b, 0xa5);
}

TEST(ArpTest, EmitRefusesUnknownOperation) {
  ArpRepr repr{static_cast<ArpOperation>(3), Mac(2), Ip(2), Mac(1), Ip(1)};
  std::array<uint8_t, 28> out;
  out.fill(0xa5);
  EXPECT_FALSE(repr.Emit(out));
  for (uint8_t b : out) EXPECT_EQ(b, 0xa5);
}

TEST(ArpTest, RoundTrip) {
  const ArpRepr reprs[] = {
      {ArpOperation::kRequest, Mac(7), Ip(7), MacAddress{}, Ip(9)},
      {ArpOperation::kReply,
       MacAddress::Broadcast(),
       {{192, 168, 1, 1}},
       Mac(0xfe),
       {{0, 0, 0, 0}}},
      // Gratuitous ARP (RFC 5227 §3): sender and target IP the same.
      {ArpOperation::kRequest, Mac(3), Ip(3), MacAddress{}, Ip(3)},
  };
  for (const ArpRepr& repr : reprs) {
    std::array<uint8_t, 28> out{};
    ASSERT_TRUE(repr.Emit(out));
    auto packet = ArpPacket::Check(out);
    ASSERT_TRUE(packet.ok());
    auto parsed = ArpRepr::Parse(*packet);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, repr);
  }
}

}  // namespace
}  // namespace braid::wire
