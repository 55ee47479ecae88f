#include "datapath/wire/icmpv6.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <ranges>
#include <span>
#include <string_view>
#include <vector>

#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/ipv4.h"

namespace braid::wire {
namespace {

static_assert(std::forward_iterator<NdOptionIterator>);
static_assert(std::ranges::forward_range<NdOptionList>);

Ipv6Address Addr(std::string_view text) { return *Ipv6Address::Parse(text); }
MacAddress Mac(uint8_t last) { return {{0x02, 0, 0, 0, 0, last}}; }

using Bytes = std::vector<uint8_t>;

Bytes Cat(std::initializer_list<std::span<const uint8_t>> pieces) {
  Bytes out;
  for (auto piece : pieces) out.insert(out.end(), piece.begin(), piece.end());
  return out;
}

const Bytes kFe80_1 = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
const Bytes kFe80_2 = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

// The checksums below were computed independently of the codec (a few lines of Python summing
// the RFC 8200 §8.1 pseudo-header and the message).

// fe80::1 -> fe80::2.
const Bytes kEchoRequest = {
    0x80,                  // type: echo request
    0x00,                  // code
    0xab, 0xb8,            // checksum
    0x12, 0x34,            // identifier
    0x00, 0x01,            // sequence number
    'a',  'b',  'c', 'd',  // data
};

// fe80::1 -> ff02::1:ff00:2: who has fe80::2?
const Bytes kNeighborSolicit = Cat({
    Bytes{
        0x87,                    // type: neighbor solicitation
        0x00,                    // code
        0x7a, 0x97,              // checksum
        0x00, 0x00, 0x00, 0x00,  // reserved
    },
    kFe80_2,  // target address
    Bytes{
        0x01, 0x01,                          // source link-layer address, 1 unit
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // 02:00:00:00:00:01
    },
});

// fe80::2 -> fe80::1: solicited, override.
const Bytes kNeighborAdvert = Cat({
    Bytes{
        0x88,                    // type: neighbor advertisement
        0x00,                    // code
        0x18, 0x1a,              // checksum
        0x60, 0x00, 0x00, 0x00,  // R=0 S=1 O=1, reserved
    },
    kFe80_2,  // target address
    Bytes{
        0x02, 0x01,                          // target link-layer address, 1 unit
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  // 02:00:00:00:00:02
    },
});

// fe80::1 -> ff02::2.
const Bytes kRouterSolicit = {
    0x85,                                // type: router solicitation
    0x00,                                // code
    0x7a, 0x2c,                          // checksum
    0x00, 0x00, 0x00, 0x00,              // reserved
    0x01, 0x01,                          // source link-layer address, 1 unit
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // 02:00:00:00:00:01
};

// fe80::ff -> ff02::1.
const Bytes kRouterAdvert = {
    0x86,                                // type: router advertisement
    0x00,                                // code
    0xb0, 0x84,                          // checksum
    0x40,                                // cur hop limit 64
    0x40,                                // M=0 O=1
    0x07, 0x08,                          // router lifetime 1800 s
    0x00, 0x00, 0x75, 0x30,              // reachable time 30000 ms
    0x00, 0x00, 0x03, 0xe8,              // retrans timer 1000 ms
    0x01, 0x01,                          // source link-layer address, 1 unit
    0x02, 0x00, 0x00, 0x00, 0x00, 0xff,  // 02:00:00:00:00:ff
    0x05, 0x01,                          // MTU, 1 unit
    0x00, 0x00,                          // reserved
    0x00, 0x00, 0x05, 0xdc,              // 1500
    0x03, 0x04,                          // prefix information, 4 units
    0x40,                                // prefix length 64
    0xc0,                                // L=1 A=1
    0x00, 0x01, 0x51, 0x80,              // valid lifetime 86400 s
    0x00, 0x00, 0x38, 0x40,              // preferred lifetime 14400 s
    0x00, 0x00, 0x00, 0x00,              // reserved2
    0x20, 0x01, 0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 2001:db8::
};

// An IPv6 header (2001:db8::1 -> 2001:db8::2, TCP, 1480-byte payload) + 8 bytes of TCP.
const Bytes kInvoking = Cat({
    Bytes{0x60, 0x00, 0x00, 0x00, 0x05, 0xc8, 0x06, 0x40},
    Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01},
    Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02},
    Bytes{0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01},
});

// 2001:db8::ff -> 2001:db8::1: RFC 4443 §3.2, MTU 1280.
const Bytes kPacketTooBig = Cat({
    Bytes{
        0x02,                    // type: packet too big
        0x00,                    // code
        0x38, 0x0c,              // checksum
        0x00, 0x00, 0x05, 0x00,  // MTU 1280
    },
    kInvoking,
});

void FixChecksum(Bytes& m, const Ipv6Address& src, const Ipv6Address& dst) {
  StoreBe16(m.data() + 2, 0);
  StoreBe16(m.data() + 2, Ipv6UpperLayerChecksum(src, dst, 58, m));
}

bool Same(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// Parses `m` sent from `src` to `dst` (checksum fixed first).
WireResult<Icmpv6Repr> ParseFixed(Bytes& m, const Ipv6Address& src, const Ipv6Address& dst) {
  FixChecksum(m, src, dst);
  auto packet = Icmpv6Packet::Check(m);
  if (!packet.ok()) return packet.error();
  return Icmpv6Repr::Parse(*packet, src, dst);
}

void ExpectEmitsGolden(const Icmpv6Repr& repr, const Bytes& golden, const Ipv6Address& src,
                       const Ipv6Address& dst) {
  ASSERT_EQ(repr.BufferLen(), golden.size());
  Bytes out(golden.size(), 0xa5);
  ASSERT_TRUE(repr.Emit(out, src, dst));
  EXPECT_EQ(out, golden);
}

TEST(Icmpv6Test, EchoRequestReadsEveryField) {
  auto packet = Icmpv6Packet::Check(kEchoRequest);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->type(), Icmpv6Type::kEchoRequest);
  EXPECT_EQ(packet->code(), 0);
  EXPECT_EQ(packet->checksum(), 0xabb8);
  EXPECT_TRUE(packet->checksum_ok(Addr("fe80::1"), Addr("fe80::2")));
  EXPECT_FALSE(packet->checksum_ok(Addr("fe80::1"), Addr("fe80::3")));
  EXPECT_EQ(packet->echo_ident(), 0x1234);
  EXPECT_EQ(packet->echo_seq(), 1);
  EXPECT_EQ(packet->mtu(), 0u);
  EXPECT_EQ(packet->pointer(), 0u);
  EXPECT_TRUE(Same(packet->data(), std::span(kEchoRequest).subspan(8)));
  // ND accessors of another type read nothing.
  EXPECT_EQ(packet->ra_cur_hop_limit(), 0);
  EXPECT_FALSE(packet->ra_managed());
  EXPECT_FALSE(packet->ra_other_config());
  EXPECT_EQ(packet->ra_router_lifetime(), 0);
  EXPECT_EQ(packet->ra_reachable_time(), 0u);
  EXPECT_EQ(packet->ra_retrans_timer(), 0u);
  EXPECT_EQ(packet->nd_target(), Ipv6Address{});
  EXPECT_FALSE(packet->na_router());
  EXPECT_FALSE(packet->na_solicited());
  EXPECT_FALSE(packet->na_override());
  EXPECT_TRUE(packet->nd_options().empty());
  EXPECT_EQ(packet->bytes().size(), 12u);

  auto repr = Icmpv6Repr::Parse(*packet, Addr("fe80::1"), Addr("fe80::2"));
  ASSERT_TRUE(repr.ok());
  Icmpv6Repr expected;
  expected.type = Icmpv6Type::kEchoRequest;
  expected.echo_ident = 0x1234;
  expected.echo_seq = 1;
  expected.data = std::span(kEchoRequest).subspan(8);
  EXPECT_TRUE(*repr == expected);
  EXPECT_EQ(repr->data.data(), kEchoRequest.data() + 8);  // no copy
  ExpectEmitsGolden(expected, kEchoRequest, Addr("fe80::1"), Addr("fe80::2"));

  auto wrong = Icmpv6Repr::Parse(*packet, Addr("fe80::2"), Addr("fe80::2"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error(), WireError::kBadChecksum);
}

TEST(Icmpv6Test, EchoReplyInPlace) {
  Bytes buf = kEchoRequest;
  auto repr = *Icmpv6Repr::Parse(*Icmpv6Packet::Check(buf), Addr("fe80::1"), Addr("fe80::2"));
  repr.type = Icmpv6Type::kEchoReply;
  ASSERT_TRUE(repr.Emit(buf, Addr("fe80::2"), Addr("fe80::1")));
  const Bytes golden = {0x81, 0x00, 0xaa, 0xb8, 0x12, 0x34, 0x00, 0x01, 'a', 'b', 'c', 'd'};
  EXPECT_EQ(buf, golden);
}

TEST(Icmpv6Test, NeighborSolicitation) {
  const Ipv6Address src = Addr("fe80::1");
  const Ipv6Address dst = Addr("fe80::2").SolicitedNodeMulticast();
  auto packet = Icmpv6Packet::Check(kNeighborSolicit);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->type(), Icmpv6Type::kNeighborSolicitation);
  EXPECT_TRUE(packet->checksum_ok(src, dst));
  EXPECT_EQ(packet->nd_target(), Addr("fe80::2"));
  EXPECT_TRUE(packet->data().empty());
  EXPECT_EQ(packet->echo_ident(), 0);
  int options = 0;
  for (NdOption opt : packet->nd_options()) {
    ++options;
    EXPECT_EQ(opt.type(), kNdOptionSourceLinkLayerAddress);
    EXPECT_EQ(opt.length_units(), 1);
    EXPECT_EQ(opt.bytes.size(), 8u);
    EXPECT_EQ(opt.body().size(), 6u);
  }
  EXPECT_EQ(options, 1);

  auto repr = Icmpv6Repr::Parse(*packet, src, dst);
  ASSERT_TRUE(repr.ok());
  Icmpv6Repr expected;
  expected.type = Icmpv6Type::kNeighborSolicitation;
  expected.target = Addr("fe80::2");
  expected.source_link_address = Mac(1);
  EXPECT_TRUE(*repr == expected);
  EXPECT_EQ(repr->nd_options_ignored, 0u);
  ExpectEmitsGolden(expected, kNeighborSolicit, src, dst);
}

TEST(Icmpv6Test, NeighborAdvertisement) {
  const Ipv6Address src = Addr("fe80::2");
  const Ipv6Address dst = Addr("fe80::1");
  auto packet = Icmpv6Packet::Check(kNeighborAdvert);
  ASSERT_TRUE(packet.ok());
  EXPECT_TRUE(packet->checksum_ok(src, dst));
  EXPECT_EQ(packet->nd_target(), Addr("fe80::2"));
  EXPECT_FALSE(packet->na_router());
  EXPECT_TRUE(packet->na_solicited());
  EXPECT_TRUE(packet->na_override());

  auto repr = Icmpv6Repr::Parse(*packet, src, dst);
  ASSERT_TRUE(repr.ok());
  Icmpv6Repr expected;
  expected.type = Icmpv6Type::kNeighborAdvertisement;
  expected.target = Addr("fe80::2");
  expected.solicited_flag = true;
  expected.override_flag = true;
  expected.target_link_address = Mac(2);
  EXPECT_TRUE(*repr == expected);
  ExpectEmitsGolden(expected, kNeighborAdvert, src, dst);

  // Each flag on its own.
  for (uint8_t flags : {0x80, 0x40, 0x20, 0xe0, 0x00, 0x1f}) {
    Bytes m = kNeighborAdvert;
    m[4] = flags;
    auto r = ParseFixed(m, src, dst);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->router_flag, (flags & 0x80) != 0);
    EXPECT_EQ(r->solicited_flag, (flags & 0x40) != 0);
    EXPECT_EQ(r->override_flag, (flags & 0x20) != 0);
  }
}

TEST(Icmpv6Test, RouterSolicitation) {
  const Ipv6Address src = Addr("fe80::1");
  const Ipv6Address dst = Addr("ff02::2");
  auto packet = Icmpv6Packet::Check(kRouterSolicit);
  ASSERT_TRUE(packet.ok());
  EXPECT_TRUE(packet->checksum_ok(src, dst));
  auto repr = Icmpv6Repr::Parse(*packet, src, dst);
  ASSERT_TRUE(repr.ok());
  Icmpv6Repr expected;
  expected.type = Icmpv6Type::kRouterSolicitation;
  expected.source_link_address = Mac(1);
  EXPECT_TRUE(*repr == expected);
  ExpectEmitsGolden(expected, kRouterSolicit, src, dst);

  // Without options (from the unspecified address, RFC 4861 §4.1).
  expected.source_link_address.reset();
  Bytes bare(8, 0);
  ASSERT_TRUE(expected.Emit(bare, Addr("::"), dst));
  auto parsed = Icmpv6Repr::Parse(*Icmpv6Packet::Check(bare), Addr("::"), dst);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(*parsed == expected);
}

TEST(Icmpv6Test, RouterAdvertisement) {
  const Ipv6Address src = Addr("fe80::ff");
  const Ipv6Address dst = Addr("ff02::1");
  auto packet = Icmpv6Packet::Check(kRouterAdvert);
  ASSERT_TRUE(packet.ok());
  EXPECT_TRUE(packet->checksum_ok(src, dst));
  EXPECT_EQ(packet->ra_cur_hop_limit(), 64);
  EXPECT_FALSE(packet->ra_managed());
  EXPECT_TRUE(packet->ra_other_config());
  EXPECT_EQ(packet->ra_router_lifetime(), 1800);
  EXPECT_EQ(packet->ra_reachable_time(), 30000u);
  EXPECT_EQ(packet->ra_retrans_timer(), 1000u);
  EXPECT_EQ(packet->nd_target(), Ipv6Address{});
  std::vector<uint8_t> types;
  for (NdOption opt : packet->nd_options()) types.push_back(opt.type());
  EXPECT_EQ(types, (std::vector<uint8_t>{1, 5, 3}));

  auto repr = Icmpv6Repr::Parse(*packet, src, dst);
  ASSERT_TRUE(repr.ok());
  Icmpv6Repr expected;
  expected.type = Icmpv6Type::kRouterAdvertisement;
  expected.cur_hop_limit = 64;
  expected.other_config = true;
  expected.router_lifetime = 1800;
  expected.reachable_time = 30000;
  expected.retrans_timer = 1000;
  expected.source_link_address = Mac(0xff);
  expected.nd_mtu = 1500;
  expected.prefixes[0] = {64, true, true, 86400, 14400, Addr("2001:db8::")};
  expected.prefix_count = 1;
  EXPECT_TRUE(*repr == expected);
  ExpectEmitsGolden(expected, kRouterAdvert, src, dst);

  Bytes managed = kRouterAdvert;
  managed[5] = 0x80;
  auto r = ParseFixed(managed, src, dst);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->managed);
  EXPECT_FALSE(r->other_config);
}

TEST(Icmpv6Test, UnknownOptionsAreSkipped) {
  const Ipv6Address src = Addr("fe80::ff");
  const Ipv6Address dst = Addr("ff02::1");
  // RFC 8106 RDNSS (type 25, 3 units) and a made-up type 200 ahead of the known ones.
  Bytes m(kRouterAdvert.begin(), kRouterAdvert.begin() + 16);
  const Bytes rdnss = {25, 3, 0, 0, 0, 0, 0x0e, 0x10, 0x20, 0x01, 0x0d, 0xb8,
                       0,  0, 0, 0, 0, 0, 0,    0,    0,    0,    0,    0x53};
  const Bytes odd = {200, 1, 1, 2, 3, 4, 5, 6};
  m.insert(m.end(), rdnss.begin(), rdnss.end());
  m.insert(m.end(), odd.begin(), odd.end());
  m.insert(m.end(), kRouterAdvert.begin() + 16, kRouterAdvert.end());
  auto r = ParseFixed(m, src, dst);
  ASSERT_TRUE(r.ok()) << WireErrorName(r.error());
  EXPECT_EQ(r->source_link_address, Mac(0xff));
  EXPECT_EQ(r->nd_mtu, 1500u);
  EXPECT_EQ(r->prefix_count, 1u);
  EXPECT_EQ(r->nd_options_ignored, 0u);
  // The iterator still shows them, in order.
  std::vector<uint8_t> types;
  for (NdOption opt : Icmpv6Packet::Check(m)->nd_options()) types.push_back(opt.type());
  EXPECT_EQ(types, (std::vector<uint8_t>{25, 200, 1, 5, 3}));
}

TEST(Icmpv6Test, OptionsOutsideTheirMessageAreSkipped) {
  // A target link-layer address and an MTU option in a solicitation: not defined there.
  Bytes m = kNeighborSolicit;
  const Bytes extra = {2, 1, 2, 0, 0, 0, 0, 9, 5, 1, 0, 0, 0, 0, 5, 0xdc};
  m.insert(m.end(), extra.begin(), extra.end());
  auto r = ParseFixed(m, Addr("fe80::1"), Addr("ff02::1:ff00:2"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->target_link_address.has_value());
  EXPECT_FALSE(r->nd_mtu.has_value());
  EXPECT_EQ(r->source_link_address, Mac(1));
  EXPECT_EQ(r->nd_options_ignored, 0u);
}

TEST(Icmpv6Test, MalformedKnownOptionsAreIgnoredAndCounted) {
  const Ipv6Address src = Addr("fe80::ff");
  const Ipv6Address dst = Addr("ff02::1");
  Bytes m(kRouterAdvert.begin(), kRouterAdvert.begin() + 16);
  auto add = [&m](const Bytes& opt) { m.insert(m.end(), opt.begin(), opt.end()); };
  add({1, 2, 2, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0});     // link-layer address, 2 units: ignored
  add({1, 1, 2, 0, 0, 0, 0, 8});                             // kept
  add({1, 1, 2, 0, 0, 0, 0, 9});                             // repeat: ignored
  add({5, 2, 0, 0, 0, 0, 5, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0});  // MTU, 2 units: ignored
  Bytes prefix(kRouterAdvert.end() - 32, kRouterAdvert.end());
  Bytes bad_len_prefix = prefix;
  bad_len_prefix[2] = 129;  // prefix length over 128: ignored
  add(bad_len_prefix);
  for (size_t i = 0; i < kMaxNdPrefixes + 1; ++i) {  // the fifth is ignored
    prefix[16 + 15] = static_cast<uint8_t>(i);
    add(prefix);
  }
  Bytes short_prefix(prefix.begin(), prefix.begin() + 24);  // 3 units: ignored
  short_prefix[1] = 3;
  add(short_prefix);
  auto r = ParseFixed(m, src, dst);
  ASSERT_TRUE(r.ok()) << WireErrorName(r.error());
  EXPECT_EQ(r->source_link_address, Mac(8));
  EXPECT_FALSE(r->nd_mtu.has_value());
  ASSERT_EQ(r->prefix_count, kMaxNdPrefixes);
  for (size_t i = 0; i < kMaxNdPrefixes; ++i) EXPECT_EQ(r->prefixes[i].prefix.bytes[15], i);
  EXPECT_EQ(r->nd_options_ignored, 6u);
}

TEST(Icmpv6Test, ZeroOrOverlongOptionLengthRejectsTheMessage) {
  struct Case {
    const char* name;
    Bytes tail;
  };
  const Case cases[] = {
      {"length 0", {1, 0, 2, 0, 0, 0, 0, 1}},
      {"length 0 after a good option", {1, 1, 2, 0, 0, 0, 0, 1, 200, 0, 0, 0, 0, 0, 0, 0}},
      {"beyond the message", {1, 2, 2, 0, 0, 0, 0, 1}},
      {"one stray byte", {1}},
      {"type and length, no body", {1, 1}},
  };
  for (const Case& c : cases) {
    for (const Bytes* base :
         {&kNeighborSolicit, &kNeighborAdvert, &kRouterSolicit, &kRouterAdvert}) {
      size_t fixed = (*base)[0] == 0x85 ? 8 : (*base)[0] == 0x86 ? 16 : 24;
      Bytes m(base->begin(), base->begin() + fixed);
      m.insert(m.end(), c.tail.begin(), c.tail.end());
      auto packet = Icmpv6Packet::Check(m);
      ASSERT_FALSE(packet.ok()) << c.name << " type " << int{m[0]};
      EXPECT_EQ(packet.error(), WireError::kBadOptionLength) << c.name;
    }
  }
}

TEST(Icmpv6Test, TruncatedAtEveryLength) {
  for (const Bytes* m : {&kEchoRequest, &kNeighborSolicit, &kNeighborAdvert, &kRouterSolicit,
                         &kRouterAdvert, &kPacketTooBig}) {
    size_t minimum = 8;
    switch ((*m)[0]) {
      case 0x86:
        minimum = 16;
        break;
      case 0x87:
      case 0x88:
        minimum = 24;
        break;
    }
    for (size_t n = 0; n < minimum; ++n) {
      auto packet = Icmpv6Packet::Check(std::span(*m).first(n));
      ASSERT_FALSE(packet.ok()) << int{(*m)[0]} << " at " << n;
      EXPECT_EQ(packet.error(), WireError::kTruncated);
    }
  }
}

TEST(Icmpv6Test, PacketTooBig) {
  const Ipv6Address src = Addr("2001:db8::ff");
  const Ipv6Address dst = Addr("2001:db8::1");
  auto packet = Icmpv6Packet::Check(kPacketTooBig);
  ASSERT_TRUE(packet.ok());
  EXPECT_TRUE(packet->checksum_ok(src, dst));
  EXPECT_EQ(packet->mtu(), 1280u);
  EXPECT_EQ(packet->pointer(), 0u);
  EXPECT_TRUE(Same(packet->data(), kInvoking));
  auto repr = Icmpv6Repr::Parse(*packet, src, dst);
  ASSERT_TRUE(repr.ok());
  Icmpv6Repr expected;
  expected.type = Icmpv6Type::kPacketTooBig;
  expected.mtu = 1280;
  expected.data = kInvoking;
  EXPECT_TRUE(*repr == expected);
  ExpectEmitsGolden(expected, kPacketTooBig, src, dst);
}

TEST(Icmpv6Test, OtherErrors) {
  const Ipv6Address src = Addr("2001:db8::ff");
  const Ipv6Address dst = Addr("2001:db8::1");
  struct Case {
    uint8_t type, code;
    uint32_t field;
  };
  for (Case c : {Case{1, kIcmpv6PortUnreachable, 0}, Case{1, kIcmpv6AddressUnreachable, 0},
                 Case{3, kIcmpv6HopLimitExceeded, 0}, Case{4, kIcmpv6UnrecognizedNextHeader, 6}}) {
    Bytes m = kPacketTooBig;
    m[0] = c.type;
    m[1] = c.code;
    StoreBe32(m.data() + 4, c.field);
    auto r = ParseFixed(m, src, dst);
    ASSERT_TRUE(r.ok()) << int{c.type};
    EXPECT_EQ(r->type, static_cast<Icmpv6Type>(c.type));
    EXPECT_EQ(r->code, c.code);
    EXPECT_EQ(r->pointer, c.type == 4 ? c.field : 0);
    EXPECT_EQ(r->mtu, 0u);
    EXPECT_TRUE(Same(r->data, kInvoking));
    Bytes out(r->BufferLen(), 0xa5);
    ASSERT_TRUE(r->Emit(out, src, dst));
    EXPECT_EQ(out, m);
  }
}

TEST(Icmpv6Test, ErrorsMustQuoteAnIpv6Header) {
  const Ipv6Address src = Addr("2001:db8::ff");
  const Ipv6Address dst = Addr("2001:db8::1");
  for (uint8_t type : {1, 2, 3, 4}) {
    Bytes short_quote(kPacketTooBig.begin(), kPacketTooBig.begin() + 8 + 39);
    short_quote[0] = type;
    auto r = ParseFixed(short_quote, src, dst);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), WireError::kTruncated);

    Bytes v4 = kPacketTooBig;
    v4[0] = type;
    v4[8] = 0x45;
    r = ParseFixed(v4, src, dst);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), WireError::kBadVersion);

    // A bare IPv6 header is enough: extensions may push the transport header out.
    Bytes bare(kPacketTooBig.begin(), kPacketTooBig.begin() + 48);
    bare[0] = type;
    EXPECT_TRUE(ParseFixed(bare, src, dst).ok());
  }
}

TEST(Icmpv6Test, NdCodeMustBeZero) {
  for (const Bytes* base : {&kNeighborSolicit, &kNeighborAdvert, &kRouterSolicit, &kRouterAdvert}) {
    Bytes m = *base;
    m[1] = 1;
    auto r = ParseFixed(m, Addr("fe80::1"), Addr("fe80::2"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), WireError::kBadCode);
  }
}

TEST(Icmpv6Test, OtherTypesAreUnsupported) {
  // Redirect: its option list is still checked and its target readable.
  Bytes redirect(40, 0);
  redirect[0] = 137;
  redirect[8] = 0xfe;
  redirect[9] = 0x80;
  redirect[23] = 7;
  const Bytes opt = {1, 1, 2, 0, 0, 0, 0, 1};
  redirect.insert(redirect.end(), opt.begin(), opt.end());
  auto packet = Icmpv6Packet::Check(redirect);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->nd_target(), Addr("fe80::7"));
  EXPECT_FALSE(packet->nd_options().empty());
  auto r = ParseFixed(redirect, Addr("fe80::1"), Addr("fe80::2"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), WireError::kUnsupported);
  redirect.resize(39);
  EXPECT_EQ(Icmpv6Packet::Check(redirect).error(), WireError::kTruncated);

  for (uint8_t type : {0, 5, 127, 130, 131, 143, 200, 255}) {
    Bytes m = kEchoRequest;
    m[0] = type;
    r = ParseFixed(m, Addr("fe80::1"), Addr("fe80::2"));
    ASSERT_FALSE(r.ok()) << int{type};
    EXPECT_EQ(r.error(), WireError::kUnsupported);
  }
}

TEST(Icmpv6Test, BadChecksum) {
  for (const Bytes* base : {&kEchoRequest, &kNeighborSolicit, &kRouterAdvert}) {
    for (size_t byte = 0; byte < base->size(); byte += 3) {
      Bytes m = *base;
      m[byte] ^= 0x04;
      auto packet = Icmpv6Packet::Check(m);
      if (!packet.ok()) continue;  // the flip broke an option length
      auto r = Icmpv6Repr::Parse(*packet, Addr("fe80::1"), Addr("fe80::2"));
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error(), WireError::kBadChecksum);
    }
  }
}

TEST(Icmpv6Test, EmitTooSmallOrInvalidWritesNothing) {
  const Ipv6Address src = Addr("fe80::ff");
  const Ipv6Address dst = Addr("ff02::1");
  auto ra = *Icmpv6Repr::Parse(*Icmpv6Packet::Check(kRouterAdvert), src, dst);
  auto refuses = [&](const Icmpv6Repr& r, size_t size) {
    Bytes out(size, 0xa5);
    bool ok = r.Emit(out, src, dst);
    for (uint8_t b : out) EXPECT_EQ(b, 0xa5);
    return !ok;
  };
  EXPECT_TRUE(refuses(ra, ra.BufferLen() - 1));
  EXPECT_TRUE(refuses(ra, 0));

  auto r = ra;
  r.code = 1;
  EXPECT_TRUE(refuses(r, 200));
  r = ra;
  r.target = Addr("fe80::1");  // not an RA field
  EXPECT_TRUE(refuses(r, 200));
  r = ra;
  r.target_link_address = Mac(1);  // not an RA option
  EXPECT_TRUE(refuses(r, 200));
  r = ra;
  r.data = kEchoRequest;
  EXPECT_TRUE(refuses(r, 200));
  r = ra;
  r.prefix_count = kMaxNdPrefixes + 1;
  EXPECT_TRUE(refuses(r, 400));
  r = ra;
  r.prefixes[0].prefix_len = 129;
  EXPECT_TRUE(refuses(r, 200));
  r = ra;
  r.type = Icmpv6Type::kRedirect;
  EXPECT_TRUE(refuses(r, 200));

  Icmpv6Repr ptb;
  ptb.type = Icmpv6Type::kPacketTooBig;
  ptb.mtu = 1280;
  ptb.data = std::span(kInvoking).first(39);
  EXPECT_TRUE(refuses(ptb, 200));
  ptb.data = kInvoking;
  ptb.echo_ident = 1;
  EXPECT_TRUE(refuses(ptb, 200));
  ptb.echo_ident = 0;
  ptb.pointer = 1;
  EXPECT_TRUE(refuses(ptb, 200));

  Icmpv6Repr echo;
  echo.mtu = 1;
  EXPECT_TRUE(refuses(echo, 200));
}

TEST(Icmpv6Test, RoundTrip) {
  const Ipv6Address src = Addr("2001:db8::1");
  const Ipv6Address dst = Addr("2001:db8::2");
  Bytes odd_data(101);
  for (size_t i = 0; i < odd_data.size(); ++i) odd_data[i] = static_cast<uint8_t>(i * 13);

  std::vector<Icmpv6Repr> reprs(8);
  reprs[0].type = Icmpv6Type::kEchoReply;
  reprs[0].echo_ident = 0xffff;
  reprs[0].echo_seq = 0x8000;
  reprs[0].data = odd_data;
  reprs[1].type = Icmpv6Type::kParameterProblem;
  reprs[1].code = kIcmpv6ErroneousHeaderField;
  reprs[1].pointer = 0xffffffff;
  reprs[1].data = kInvoking;
  reprs[2].type = Icmpv6Type::kTimeExceeded;
  reprs[2].code = kIcmpv6ReassemblyTimeExceeded;
  reprs[2].data = kInvoking;
  reprs[3].type = Icmpv6Type::kRouterAdvertisement;
  reprs[3].cur_hop_limit = 255;
  reprs[3].managed = true;
  reprs[3].other_config = true;
  reprs[3].router_lifetime = 0xffff;
  reprs[3].reachable_time = 0xffffffff;
  reprs[3].retrans_timer = 1;
  reprs[3].nd_mtu = 9000;
  for (size_t i = 0; i < kMaxNdPrefixes; ++i) {
    reprs[3].prefixes[i] = {
        static_cast<uint8_t>(i * 32), i % 2 == 0,          i % 3 == 0, 0xffffffff,
        static_cast<uint32_t>(i),     Addr("2001:db8:1::")};
  }
  reprs[3].prefix_count = kMaxNdPrefixes;
  reprs[4].type = Icmpv6Type::kRouterAdvertisement;  // no options at all
  reprs[5].type = Icmpv6Type::kNeighborAdvertisement;
  reprs[5].router_flag = true;
  reprs[5].target = Addr("2001:db8::2");
  reprs[6].type = Icmpv6Type::kNeighborSolicitation;
  reprs[6].target = Addr("2001:db8::2");
  reprs[7].type = Icmpv6Type::kDestinationUnreachable;
  reprs[7].code = kIcmpv6NoRoute;
  reprs[7].data = kPacketTooBig;  // an ICMPv6 error quoting an IPv6 packet of any content
  reprs[7].data = reprs[7].data.subspan(8);
  for (const Icmpv6Repr& repr : reprs) {
    Bytes buf(repr.BufferLen(), 0);
    ASSERT_TRUE(repr.Emit(buf, src, dst)) << int(repr.type);
    auto packet = Icmpv6Packet::Check(buf);
    ASSERT_TRUE(packet.ok()) << int(repr.type);
    EXPECT_TRUE(packet->checksum_ok(src, dst));
    auto parsed = Icmpv6Repr::Parse(*packet, src, dst);
    ASSERT_TRUE(parsed.ok()) << int(repr.type);
    EXPECT_TRUE(*parsed == repr) << int(repr.type);
  }
}

}  // namespace
}  // namespace braid::wire
