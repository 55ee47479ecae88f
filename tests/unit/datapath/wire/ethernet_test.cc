#include "datapath/wire/ethernet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace braid::wire {
namespace {

constexpr std::array<uint8_t, 18> kUntagged = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // destination: broadcast
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // source
    0x08, 0x06,                          // ethertype: ARP
    0xde, 0xad, 0xbe, 0xef,              // payload
};

constexpr std::array<uint8_t, 20> kTagged = {
    0x33, 0x33, 0x00, 0x00, 0x00, 0x01,  // destination: IPv6 all-nodes
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // source
    0x81, 0x00,                          // TPID: 802.1Q
    0xb0, 0x64,                          // TCI: PCP 5, DEI 1, VID 100
    0x86, 0xdd,                          // ethertype: IPv6
    0x60, 0x00,                          // payload
};

const MacAddress kSource{{0x02, 0, 0, 0, 0, 0x01}};

TEST(EthernetTest, UntaggedReadsEveryField) {
  auto frame = EthernetFrame::Check(kUntagged);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->destination(), MacAddress::Broadcast());
  EXPECT_EQ(frame->source(), kSource);
  EXPECT_FALSE(frame->has_vlan());
  EXPECT_EQ(frame->vlan_tpid(), 0);
  EXPECT_EQ(frame->vlan_tci(), 0);
  EXPECT_EQ(frame->ethertype(), kEtherTypeArp);
  EXPECT_EQ(frame->header_len(), kEthernetHeaderLen);
  EXPECT_EQ(frame->payload().size(), 4u);
  EXPECT_EQ(frame->payload().data(), kUntagged.data() + 14);
  EXPECT_EQ(frame->bytes().size(), kUntagged.size());

  EthernetRepr repr = EthernetRepr::Parse(*frame);
  EXPECT_EQ(repr, (EthernetRepr{MacAddress::Broadcast(), kSource, std::nullopt, kEtherTypeArp}));
  EXPECT_EQ(repr.HeaderLen(), 14u);
}

TEST(EthernetTest, TaggedReadsEveryField) {
  auto frame = EthernetFrame::Check(kTagged);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->destination(), (MacAddress{{0x33, 0x33, 0, 0, 0, 1}}));
  EXPECT_EQ(frame->source(), kSource);
  EXPECT_TRUE(frame->has_vlan());
  EXPECT_EQ(frame->vlan_tpid(), kEtherTypeVlan);
  EXPECT_EQ(frame->vlan_tci(), 0xb064);
  EXPECT_EQ(frame->ethertype(), kEtherTypeIpv6);
  EXPECT_EQ(frame->header_len(), 18u);
  EXPECT_EQ(frame->payload().size(), 2u);
  EXPECT_EQ(frame->payload().data(), kTagged.data() + 18);

  EthernetRepr repr = EthernetRepr::Parse(*frame);
  ASSERT_TRUE(repr.vlan.has_value());
  EXPECT_EQ(*repr.vlan, (VlanTag{kEtherTypeVlan, 5, true, 100}));
  EXPECT_EQ(repr.ethertype, kEtherTypeIpv6);
  EXPECT_EQ(repr.HeaderLen(), 18u);
}

TEST(EthernetTest, ServiceTag8021ad) {
  auto bytes = kTagged;
  bytes[12] = 0x88;
  bytes[13] = 0xa8;
  bytes[14] = 0x0f;  // PCP 0, DEI 0, VID 4095
  bytes[15] = 0xff;
  auto frame = EthernetFrame::Check(bytes);
  ASSERT_TRUE(frame.ok());
  EXPECT_TRUE(frame->has_vlan());
  EXPECT_EQ(frame->vlan_tpid(), kEtherTypeQinQ);
  EXPECT_EQ(frame->ethertype(), kEtherTypeIpv6);
  EXPECT_EQ(*EthernetRepr::Parse(*frame).vlan, (VlanTag{kEtherTypeQinQ, 0, false, 4095}));
}

TEST(EthernetTest, InnerTagIsNotUnwrapped) {
  // 802.1ad outer tag, then an 802.1Q inner tag: the frame's ethertype reads 0x8100.
  const std::vector<uint8_t> bytes = {0x02, 0,    0, 0,  0,    2, 0x02, 0,  0,    0,    0,    1,
                                      0x88, 0xa8, 0, 10, 0x81, 0, 0,    20, 0x08, 0x00, 0x45, 0x00};
  auto frame = EthernetFrame::Check(bytes);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->ethertype(), kEtherTypeVlan);
  EXPECT_EQ(frame->header_len(), 18u);
}

TEST(EthernetTest, TruncatedAtEveryLength) {
  for (size_t n = 0; n < kEthernetHeaderLen; ++n) {
    auto frame = EthernetFrame::Check(std::span(kUntagged).first(n));
    ASSERT_FALSE(frame.ok()) << n;
    EXPECT_EQ(frame.error(), WireError::kTruncated);
  }
  // A tag announced but cut short.
  for (size_t n = 0; n < kEthernetHeaderLen + kVlanTagLen; ++n) {
    auto frame = EthernetFrame::Check(std::span(kTagged).first(n));
    ASSERT_FALSE(frame.ok()) << n;
    EXPECT_EQ(frame.error(), WireError::kTruncated);
  }
  // Headers with no payload are complete.
  EXPECT_TRUE(EthernetFrame::Check(std::span(kUntagged).first(14)).ok());
  EXPECT_TRUE(EthernetFrame::Check(std::span(kTagged).first(18)).ok());
}

TEST(EthernetTest, EmitOverFilledBufferMatchesGolden) {
  EthernetRepr untagged{MacAddress::Broadcast(), kSource, std::nullopt, kEtherTypeArp};
  std::array<uint8_t, 14> out14;
  out14.fill(0xa5);
  ASSERT_TRUE(untagged.Emit(out14));
  EXPECT_TRUE(std::equal(out14.begin(), out14.end(), kUntagged.begin()));

  EthernetRepr tagged{
      {{0x33, 0x33, 0, 0, 0, 1}}, kSource, VlanTag{kEtherTypeVlan, 5, true, 100}, kEtherTypeIpv6};
  std::array<uint8_t, 18> out18;
  out18.fill(0xa5);
  ASSERT_TRUE(tagged.Emit(out18));
  EXPECT_TRUE(std::equal(out18.begin(), out18.end(), kTagged.begin()));
}

TEST(EthernetTest, EmitTooSmallOrBadTagWritesNothing) {
  auto refuses = [](const EthernetRepr& r, size_t size) {
    std::vector<uint8_t> out(size, 0xa5);
    bool ok = r.Emit(out);
    for (uint8_t b : out) EXPECT_EQ(b, 0xa5);
    return !ok;
  };
  EthernetRepr untagged{MacAddress::Broadcast(), kSource, std::nullopt, kEtherTypeArp};
  EXPECT_TRUE(refuses(untagged, 13));
  EthernetRepr tagged{MacAddress::Broadcast(), kSource, VlanTag{}, kEtherTypeIpv4};
  EXPECT_TRUE(refuses(tagged, 17));
  EXPECT_TRUE(refuses(tagged, 14));
  tagged.vlan->vid = 4096;  // 12 bits
  EXPECT_TRUE(refuses(tagged, 18));
  tagged.vlan->vid = 0xffff;
  EXPECT_TRUE(refuses(tagged, 18));
  tagged.vlan = VlanTag{kEtherTypeVlan, 8, false, 1};  // PCP is 3 bits
  EXPECT_TRUE(refuses(tagged, 18));
  tagged.vlan = VlanTag{kEtherTypeIpv4, 0, false, 1};  // not a tag TPID
  EXPECT_TRUE(refuses(tagged, 18));
}

TEST(EthernetTest, RoundTrip) {
  const EthernetRepr reprs[] = {
      {MacAddress::Broadcast(), kSource, std::nullopt, kEtherTypeIpv4},
      {kSource, MacAddress{}, VlanTag{kEtherTypeVlan, 7, true, 4095}, kEtherTypeArp},
      {kSource, kSource, VlanTag{kEtherTypeQinQ, 0, false, 0}, 0x1234},
      {kSource, kSource, std::nullopt, 0x05dc},  // an 802.3 length, not an ethertype
  };
  for (const EthernetRepr& repr : reprs) {
    std::vector<uint8_t> buf(repr.HeaderLen(), 0);
    ASSERT_TRUE(repr.Emit(buf));
    auto frame = EthernetFrame::Check(buf);
    ASSERT_TRUE(frame.ok());
    EXPECT_EQ(EthernetRepr::Parse(*frame), repr);
  }
}

}  // namespace
}  // namespace braid::wire
