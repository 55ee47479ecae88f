#include "datapath/wire/ipv6.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "datapath/wire/bytes.h"

namespace braid::wire {
namespace {

// fe80::1 -> ff02::1, 8 bytes of ICMPv6 payload.
constexpr std::array<uint8_t, 40> kHeader = {
    0x61, 0x2a, 0xbc, 0xde,  // version 6, traffic class 0x12, flow label 0xabcde
    0x00, 0x08,              // payload length 8
    0x3a,                    // next header: ICMPv6
    0xff,                    // hop limit 255
    0xfe, 0x80, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,  // source fe80::1
    0xff, 0x02, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,  // destination ff02::1
};

Ipv6Address Addr(std::string_view text) { return *Ipv6Address::Parse(text); }

// A packet with the fixed header above, `next` as its next header, and `payload`.
std::vector<uint8_t> Packet(uint8_t next, std::initializer_list<std::vector<uint8_t>> pieces) {
  std::vector<uint8_t> p(kHeader.begin(), kHeader.end());
  p[6] = next;
  for (const auto& piece : pieces) p.insert(p.end(), piece.begin(), piece.end());
  StoreBe16(p.data() + 4, static_cast<uint16_t>(p.size() - 40));
  return p;
}

// An options-type extension header (Hop-by-Hop, Destination Options, Routing) of 8*(len+1)
// bytes: next header, Hdr Ext Len, then PadN filler.
std::vector<uint8_t> Ext(uint8_t next, uint8_t len) {
  std::vector<uint8_t> h((size_t{len} + 1) * 8, 0);
  h[0] = next;
  h[1] = len;
  h[2] = 1;  // PadN
  h[3] = static_cast<uint8_t>(h.size() - 4);
  return h;
}

std::vector<uint8_t> Fragment(uint8_t next, uint16_t offset_bytes, bool more, uint32_t id) {
  std::vector<uint8_t> h(8, 0);
  h[0] = next;
  StoreBe16(h.data() + 2, static_cast<uint16_t>(offset_bytes | (more ? 1 : 0)));
  StoreBe32(h.data() + 4, id);
  return h;
}

// RFC 4302 §2.2: Payload Len = (length in 4-octet units) - 2. 12-byte header + 12-byte ICV.
std::vector<uint8_t> Ah(uint8_t next) {
  std::vector<uint8_t> h(24, 0x77);
  h[0] = next;
  h[1] = 4;
  h[2] = h[3] = 0;
  return h;
}

const std::vector<uint8_t> kTcpHeader(20, 0x11);

TEST(Ipv6Test, ViewReadsEveryField) {
  auto bytes = Packet(58, {{128, 0, 0, 0, 0, 1, 0, 1}});
  auto packet = Ipv6Packet::Check(bytes);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->version(), 6);
  EXPECT_EQ(packet->traffic_class(), 0x12);
  EXPECT_EQ(packet->dscp(), 4);
  EXPECT_EQ(packet->ecn(), 2);
  EXPECT_EQ(packet->flow_label(), 0xabcdeu);
  EXPECT_EQ(packet->payload_len(), 8);
  EXPECT_EQ(packet->next_header(), IpProtocol::kIcmpv6);
  EXPECT_EQ(packet->hop_limit(), 255);
  EXPECT_EQ(packet->source(), Addr("fe80::1"));
  EXPECT_EQ(packet->destination(), Addr("ff02::1"));
  EXPECT_EQ(packet->header().size(), 40u);
  EXPECT_EQ(packet->payload().size(), 8u);
  EXPECT_EQ(packet->payload().data(), bytes.data() + 40);
  EXPECT_EQ(packet->bytes().size(), 48u);

  Ipv6Repr expected{Addr("fe80::1"), Addr("ff02::1"), IpProtocol::kIcmpv6, 255, 0x12, 0xabcde, 8};
  EXPECT_EQ(Ipv6Repr::Parse(*packet), expected);

  auto walk = packet->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  EXPECT_EQ(walk->upper_layer_protocol, IpProtocol::kIcmpv6);
  EXPECT_EQ(walk->upper_layer_offset, 40u);
  EXPECT_EQ(walk->upper_layer.data(), bytes.data() + 40);
  EXPECT_EQ(walk->upper_layer.size(), 8u);
  EXPECT_EQ(walk->extension_count, 0u);
  EXPECT_FALSE(walk->fragment.has_value());
  EXPECT_FALSE(walk->is_fragment());
}

TEST(Ipv6Test, PaddingBeyondPayloadLengthIsCut) {
  auto bytes = Packet(58, {{1, 2, 3, 4, 5, 6, 7, 8}});
  bytes.resize(80, 0xee);
  auto packet = Ipv6Packet::Check(bytes);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->bytes().size(), 48u);
  EXPECT_EQ(packet->payload().size(), 8u);
  EXPECT_EQ(packet->WalkExtensionHeaders()->upper_layer.size(), 8u);
}

TEST(Ipv6Test, TruncatedAtEveryLength) {
  auto bytes = Packet(58, {{1, 2, 3, 4, 5, 6, 7, 8}});
  for (size_t n = 0; n < kIpv6HeaderLen; ++n) {
    auto packet = Ipv6Packet::Check(std::span(bytes).first(n));
    ASSERT_FALSE(packet.ok()) << n;
    EXPECT_EQ(packet.error(), WireError::kTruncated) << n;
  }
  for (size_t n = kIpv6HeaderLen; n < bytes.size(); ++n) {
    auto packet = Ipv6Packet::Check(std::span(bytes).first(n));
    ASSERT_FALSE(packet.ok()) << n;
    EXPECT_EQ(packet.error(), WireError::kBadTotalLength) << n;
  }
}

TEST(Ipv6Test, RejectsOtherVersions) {
  for (uint8_t version : {0, 4, 7, 15}) {
    auto bytes = Packet(58, {});
    bytes[0] = static_cast<uint8_t>(version << 4);
    auto packet = Ipv6Packet::Check(bytes);
    ASSERT_FALSE(packet.ok());
    EXPECT_EQ(packet.error(), WireError::kBadVersion);
  }
}

TEST(Ipv6Test, WalksEveryExtensionKindToTheUpperLayer) {
  // Hop-by-Hop (8) -> Destination Options (16) -> Routing (24) -> AH (24) -> Destination
  // Options (8) -> TCP.
  auto bytes = Packet(0, {Ext(60, 0), Ext(43, 1), Ext(51, 2), Ah(60), Ext(6, 0), kTcpHeader});
  auto packet = Ipv6Packet::Check(bytes);
  ASSERT_TRUE(packet.ok());
  auto walk = packet->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok()) << WireErrorName(walk.error());
  EXPECT_EQ(walk->upper_layer_protocol, IpProtocol::kTcp);
  EXPECT_EQ(walk->upper_layer_offset, 40u + 8 + 16 + 24 + 24 + 8);
  EXPECT_EQ(walk->upper_layer.size(), 20u);
  EXPECT_EQ(walk->upper_layer.data(), bytes.data() + walk->upper_layer_offset);
  EXPECT_EQ(walk->extension_count, 5u);
  EXPECT_FALSE(walk->fragment.has_value());
}

TEST(Ipv6Test, UpperLayerWithNoBytesIsStillFound) {
  auto bytes = Packet(60, {Ext(6, 0)});
  auto walk = Ipv6Packet::Check(bytes)->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  EXPECT_EQ(walk->upper_layer_protocol, IpProtocol::kTcp);
  EXPECT_EQ(walk->upper_layer_offset, 48u);
  EXPECT_TRUE(walk->upper_layer.empty());
}

TEST(Ipv6Test, EspAndNoNextHeaderEndTheWalk) {
  auto esp = Packet(60, {Ext(50, 0), std::vector<uint8_t>(16, 0x3c)});
  auto walk = Ipv6Packet::Check(esp)->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  EXPECT_EQ(walk->upper_layer_protocol, IpProtocol::kEsp);
  EXPECT_EQ(walk->upper_layer_offset, 48u);
  EXPECT_EQ(walk->upper_layer.size(), 16u);

  // Bytes after No Next Header are ignored, never read as a header (RFC 8200 §4.7).
  auto none = Packet(59, {{0, 0xff, 0xff}});
  walk = Ipv6Packet::Check(none)->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  EXPECT_EQ(walk->upper_layer_protocol, IpProtocol::kIpv6NoNextHeader);
  EXPECT_EQ(walk->upper_layer_offset, 40u);
  EXPECT_EQ(walk->extension_count, 0u);
}

TEST(Ipv6Test, FirstFragmentStopsTheWalk) {
  auto bytes = Packet(0, {Ext(44, 0), Fragment(6, 0, true, 0xdeadbeef), kTcpHeader});
  auto walk = Ipv6Packet::Check(bytes)->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  ASSERT_TRUE(walk->fragment.has_value());
  EXPECT_EQ(*walk->fragment, (Ipv6FragmentHeader{IpProtocol::kTcp, 0, true, 0xdeadbeef}));
  EXPECT_TRUE(walk->is_fragment());
  EXPECT_EQ(walk->upper_layer_protocol, IpProtocol::kTcp);
  EXPECT_EQ(walk->upper_layer_offset, 56u);
  EXPECT_EQ(walk->extension_count, 2u);
}

TEST(Ipv6Test, LaterFragmentStopsBeforeItsBytes) {
  // A non-first fragment whose data happens to look like a truncated Destination Options header:
  // it is not walked into.
  auto bytes = Packet(44, {Fragment(60, 1480, false, 7), {0x06, 0xff}});
  auto walk = Ipv6Packet::Check(bytes)->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  EXPECT_EQ(*walk->fragment,
            (Ipv6FragmentHeader{IpProtocol::kIpv6DestinationOptions, 1480, false, 7}));
  EXPECT_TRUE(walk->is_fragment());
  EXPECT_EQ(walk->upper_layer_protocol, IpProtocol::kIpv6DestinationOptions);
  EXPECT_EQ(walk->upper_layer_offset, 48u);
  EXPECT_EQ(walk->upper_layer.size(), 2u);

  // The largest offset: 13 bits of 8-octet units; the reserved bits are not part of it.
  auto max = Packet(44, {Fragment(6, 0xfff8, true, 1)});
  max[40 + 3] |= 0x06;
  max[40 + 1] = 0xff;
  walk = Ipv6Packet::Check(max)->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  EXPECT_EQ(walk->fragment->offset, 0xfff8);
  EXPECT_TRUE(walk->fragment->more_fragments);
}

TEST(Ipv6Test, AtomicFragmentIsWalkedThrough) {
  // RFC 6946: offset 0 and M clear is a whole packet.
  auto bytes = Packet(44, {Fragment(60, 0, false, 9), Ext(6, 0), kTcpHeader});
  auto walk = Ipv6Packet::Check(bytes)->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  ASSERT_TRUE(walk->fragment.has_value());
  EXPECT_FALSE(walk->is_fragment());
  EXPECT_EQ(walk->upper_layer_protocol, IpProtocol::kTcp);
  EXPECT_EQ(walk->upper_layer_offset, 56u);

  // An atomic fragment followed by a real one: the real one is reported.
  auto two = Packet(44, {Fragment(44, 0, false, 1), Fragment(6, 8, false, 2), kTcpHeader});
  walk = Ipv6Packet::Check(two)->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  EXPECT_TRUE(walk->is_fragment());
  EXPECT_EQ(walk->fragment->ident, 2u);
}

TEST(Ipv6Test, HopByHopOnlyFirst) {
  for (uint8_t before : {60, 43, 44}) {
    std::vector<uint8_t> first = before == 44 ? Fragment(0, 0, false, 1) : Ext(0, 0);
    auto bytes = Packet(before, {first, Ext(6, 0), kTcpHeader});
    auto walk = Ipv6Packet::Check(bytes)->WalkExtensionHeaders();
    ASSERT_FALSE(walk.ok()) << int{before};
    EXPECT_EQ(walk.error(), WireError::kBadExtensionHeader);
  }
  // Two Hop-by-Hop headers: the second is not first either.
  auto twice = Packet(0, {Ext(0, 0), Ext(6, 0)});
  auto walk = Ipv6Packet::Check(twice)->WalkExtensionHeaders();
  ASSERT_FALSE(walk.ok());
  EXPECT_EQ(walk.error(), WireError::kBadExtensionHeader);
}

TEST(Ipv6Test, ChainLengthIsBounded) {
  std::vector<uint8_t> eight = Packet(60, {});
  for (size_t i = 0; i < kIpv6MaxExtensionHeaders; ++i) {
    auto h = Ext(i + 1 == kIpv6MaxExtensionHeaders ? 6 : 60, 0);
    eight.insert(eight.end(), h.begin(), h.end());
  }
  StoreBe16(eight.data() + 4, static_cast<uint16_t>(eight.size() - 40));
  auto walk = Ipv6Packet::Check(eight)->WalkExtensionHeaders();
  ASSERT_TRUE(walk.ok());
  EXPECT_EQ(walk->extension_count, kIpv6MaxExtensionHeaders);
  EXPECT_EQ(walk->upper_layer_protocol, IpProtocol::kTcp);

  std::vector<uint8_t> nine = Packet(60, {});
  for (size_t i = 0; i <= kIpv6MaxExtensionHeaders; ++i) {
    auto h = Ext(i == kIpv6MaxExtensionHeaders ? 6 : 60, 0);
    nine.insert(nine.end(), h.begin(), h.end());
  }
  StoreBe16(nine.data() + 4, static_cast<uint16_t>(nine.size() - 40));
  walk = Ipv6Packet::Check(nine)->WalkExtensionHeaders();
  ASSERT_FALSE(walk.ok());
  EXPECT_EQ(walk.error(), WireError::kTooManyExtensionHeaders);

  // A long chain of atomic fragments is bounded the same way.
  std::vector<uint8_t> frags = Packet(44, {});
  for (size_t i = 0; i <= kIpv6MaxExtensionHeaders; ++i) {
    auto h = Fragment(44, 0, false, static_cast<uint32_t>(i));
    frags.insert(frags.end(), h.begin(), h.end());
  }
  StoreBe16(frags.data() + 4, static_cast<uint16_t>(frags.size() - 40));
  walk = Ipv6Packet::Check(frags)->WalkExtensionHeaders();
  ASSERT_FALSE(walk.ok());
  EXPECT_EQ(walk.error(), WireError::kTooManyExtensionHeaders);
}

TEST(Ipv6Test, EveryExtensionLengthIsChecked) {
  struct Case {
    const char* name;
    std::vector<uint8_t> packet;
  };
  auto truncated = [](std::vector<uint8_t> p, size_t drop) {
    p.resize(p.size() - drop);
    StoreBe16(p.data() + 4, static_cast<uint16_t>(p.size() - 40));
    return p;
  };
  const Case cases[] = {
      {"hop-by-hop in an empty payload", Packet(0, {})},
      {"one byte of a header", Packet(60, {{6}})},
      {"options header cut short", truncated(Packet(60, {Ext(6, 1)}), 1)},
      {"routing length beyond payload", Packet(43, {{6, 5, 0, 0, 0, 0, 0, 0}})},
      {"fragment header cut short", truncated(Packet(44, {Fragment(6, 0, false, 1)}), 1)},
      {"AH length beyond payload", truncated(Packet(51, {Ah(6)}), 4)},
      {"AH with only its first byte", Packet(51, {{6}})},
      {"second header beyond payload", Packet(0, {Ext(60, 0), {6, 0xff, 0, 0, 0, 0, 0, 0}})},
      {"largest Hdr Ext Len", Packet(60, {{6, 0xff}})},
  };
  for (const Case& c : cases) {
    auto packet = Ipv6Packet::Check(c.packet);
    ASSERT_TRUE(packet.ok()) << c.name;
    auto walk = packet->WalkExtensionHeaders();
    ASSERT_FALSE(walk.ok()) << c.name;
    EXPECT_EQ(walk.error(), WireError::kBadExtensionHeader) << c.name;
  }
}

TEST(Ipv6Test, EmitOverFilledBufferMatchesGolden) {
  Ipv6Repr repr{Addr("fe80::1"), Addr("ff02::1"), IpProtocol::kIcmpv6, 255, 0x12, 0xabcde, 8};
  EXPECT_EQ(repr.HeaderLen(), 40u);
  EXPECT_EQ(repr.BufferLen(), 48u);
  std::array<uint8_t, 40> out;
  out.fill(0xa5);
  ASSERT_TRUE(repr.Emit(out));
  EXPECT_EQ(out, kHeader);
}

TEST(Ipv6Test, EmitTooSmallOrBadFlowLabelWritesNothing) {
  Ipv6Repr repr;
  std::array<uint8_t, 39> small;
  small.fill(0xa5);
  EXPECT_FALSE(repr.Emit(small));
  for (uint8_t b : small) EXPECT_EQ(b, 0xa5);

  repr.flow_label = kIpv6MaxFlowLabel + 1;
  std::array<uint8_t, 40> out;
  out.fill(0xa5);
  EXPECT_FALSE(repr.Emit(out));
  for (uint8_t b : out) EXPECT_EQ(b, 0xa5);
}

TEST(Ipv6Test, RoundTrip) {
  const Ipv6Repr reprs[] = {
      {Addr("2001:db8::1"), Addr("2001:db8::2"), IpProtocol::kTcp, 64, 0, 0, 0},
      {Addr("::"), Addr("ff02::1:ff00:1"), IpProtocol::kIcmpv6, 255, 0xff, kIpv6MaxFlowLabel, 32},
      {Addr("fe80::1"), Addr("fe80::2"), IpProtocol::kHopByHop, 1, 0xb8, 1, 1000},
      {Addr("::1"), Addr("::1"), static_cast<IpProtocol>(253), 0, 3, 0x80000, 0xffff},
  };
  for (const Ipv6Repr& repr : reprs) {
    std::vector<uint8_t> buf(repr.BufferLen(), 0);
    ASSERT_TRUE(repr.Emit(buf));
    auto packet = Ipv6Packet::Check(buf);
    ASSERT_TRUE(packet.ok());
    EXPECT_EQ(Ipv6Repr::Parse(*packet), repr);
  }
}

}  // namespace
}  // namespace braid::wire
