#include "datapath/wire/icmpv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"

namespace braid::wire {
namespace {

constexpr std::array<uint8_t, 12> kEchoRequest = {
    0x08,                  // type: echo request
    0x00,                  // code
    0x21, 0x04,            // checksum
    0x12, 0x34,            // identifier
    0x00, 0x01,            // sequence number
    'a',  'b',  'c', 'd',  // data
};

// The invoking packet of the errors below: an IPv4 header (10.0.0.1 -> 10.0.0.2, TCP, 1500
// bytes, DF) and the first 8 bytes of its TCP header (ports 40000 -> 80, sequence number 1).
constexpr std::array<uint8_t, 28> kInvoking = {
    0x45, 0x00, 0x05, 0xdc, 0xab, 0xcd, 0x40, 0x00, 0x40, 0x06,
    0x75, 0x4c, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,  // IPv4 header
    0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01,              // TCP ports and sequence number
};

std::vector<uint8_t> Message(std::initializer_list<uint8_t> header, std::span<const uint8_t> data) {
  std::vector<uint8_t> m(header);
  m.insert(m.end(), data.begin(), data.end());
  return m;
}

// RFC 1191 §4: destination unreachable, fragmentation needed, next-hop MTU 1400.
const std::vector<uint8_t> kFragNeeded = Message(
    {
        0x03,        // type: unreachable
        0x04,        // code: fragmentation needed
        0x5a, 0xf2,  // checksum
        0x00, 0x00,  // unused
        0x05, 0x78,  // next-hop MTU 1400
    },
    kInvoking);

const std::vector<uint8_t> kTimeExceeded = Message(
    {
        0x0b,                    // type: time exceeded
        0x00,                    // code: TTL exceeded
        0x58, 0x6e,              // checksum
        0x00, 0x00, 0x00, 0x00,  // unused
    },
    kInvoking);

void FixChecksum(std::span<uint8_t> m) {
  StoreBe16(m.data() + 2, 0);
  StoreBe16(m.data() + 2, ComputeChecksum(m));
}

bool Same(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

TEST(Icmpv4Test, EchoRequestReadsEveryField) {
  auto packet = Icmpv4Packet::Check(kEchoRequest);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->type(), Icmpv4Type::kEchoRequest);
  EXPECT_EQ(packet->code(), 0);
  EXPECT_EQ(packet->checksum(), 0x2104);
  EXPECT_TRUE(packet->checksum_ok());
  EXPECT_EQ(packet->echo_ident(), 0x1234);
  EXPECT_EQ(packet->echo_seq(), 1);
  EXPECT_TRUE(Same(packet->data(), std::span(kEchoRequest).subspan(8)));
  EXPECT_EQ(packet->bytes().size(), 12u);

  auto repr = Icmpv4Repr::Parse(*packet);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->type, Icmpv4Type::kEchoRequest);
  EXPECT_EQ(repr->code, 0);
  EXPECT_EQ(repr->echo_ident, 0x1234);
  EXPECT_EQ(repr->echo_seq, 1);
  EXPECT_EQ(repr->next_hop_mtu, 0);
  EXPECT_EQ(repr->data.data(), kEchoRequest.data() + 8);  // no copy
  EXPECT_EQ(repr->data.size(), 4u);
  EXPECT_EQ(repr->BufferLen(), 12u);
}

TEST(Icmpv4Test, FragmentationNeededCarriesTheMtu) {
  auto packet = Icmpv4Packet::Check(kFragNeeded);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->type(), Icmpv4Type::kDestinationUnreachable);
  EXPECT_EQ(packet->code(), kIcmpv4FragmentationNeeded);
  EXPECT_TRUE(packet->checksum_ok());
  EXPECT_EQ(packet->next_hop_mtu(), 1400);
  EXPECT_TRUE(Same(packet->data(), kInvoking));
  auto repr = Icmpv4Repr::Parse(*packet);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->next_hop_mtu, 1400);
  EXPECT_EQ(repr->echo_ident, 0);
  EXPECT_EQ(repr->echo_seq, 0);
  EXPECT_TRUE(Same(repr->data, kInvoking));
}

TEST(Icmpv4Test, OtherUnreachableCodesHaveNoMtu) {
  auto bytes = kFragNeeded;
  bytes[1] = kIcmpv4PortUnreachable;  // bytes 6-7 still hold 1400: unused for this code
  FixChecksum(bytes);
  auto repr = Icmpv4Repr::Parse(*Icmpv4Packet::Check(bytes));
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->code, kIcmpv4PortUnreachable);
  EXPECT_EQ(repr->next_hop_mtu, 0);
}

TEST(Icmpv4Test, TimeExceeded) {
  auto packet = Icmpv4Packet::Check(kTimeExceeded);
  ASSERT_TRUE(packet.ok());
  EXPECT_TRUE(packet->checksum_ok());
  auto repr = Icmpv4Repr::Parse(*packet);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->type, Icmpv4Type::kTimeExceeded);
  EXPECT_EQ(repr->code, kIcmpv4TtlExceeded);
  EXPECT_TRUE(Same(repr->data, kInvoking));
}

TEST(Icmpv4Test, TruncatedAtEveryLength) {
  for (size_t n = 0; n < kIcmpv4HeaderLen; ++n) {
    auto packet = Icmpv4Packet::Check(std::span(kEchoRequest).first(n));
    ASSERT_FALSE(packet.ok()) << n;
    EXPECT_EQ(packet.error(), WireError::kTruncated);
  }
  // An echo with no data is complete.
  std::vector<uint8_t> empty(kEchoRequest.begin(), kEchoRequest.begin() + 8);
  FixChecksum(empty);
  auto repr = Icmpv4Repr::Parse(*Icmpv4Packet::Check(empty));
  ASSERT_TRUE(repr.ok());
  EXPECT_TRUE(repr->data.empty());
}

TEST(Icmpv4Test, BadChecksum) {
  for (size_t byte = 0; byte < kEchoRequest.size(); ++byte) {
    auto bytes = kEchoRequest;
    bytes[byte] ^= 0x40;
    auto packet = Icmpv4Packet::Check(bytes);
    ASSERT_TRUE(packet.ok());
    EXPECT_FALSE(packet->checksum_ok()) << byte;
    auto repr = Icmpv4Repr::Parse(*packet);
    ASSERT_FALSE(repr.ok());
    EXPECT_EQ(repr.error(), WireError::kBadChecksum);
  }
}

TEST(Icmpv4Test, OtherTypesAreUnsupported) {
  for (uint8_t type : {5, 12, 13, 14, 4, 42, 255}) {
    auto bytes = kTimeExceeded;
    bytes[0] = type;
    FixChecksum(bytes);
    auto repr = Icmpv4Repr::Parse(*Icmpv4Packet::Check(bytes));
    ASSERT_FALSE(repr.ok()) << int{type};
    EXPECT_EQ(repr.error(), WireError::kUnsupported);
  }
}

TEST(Icmpv4Test, ErrorsMustQuoteAnIpv4HeaderAnd8Bytes) {
  struct Case {
    const char* name;
    std::vector<uint8_t> invoking;
    WireError error;
  };
  std::vector<uint8_t> full(kInvoking.begin(), kInvoking.end());
  auto with = [&](size_t index, uint8_t value) {
    auto v = full;
    v[index] = value;
    return v;
  };
  auto longer_header = with(0, 0x46);  // IHL 6: needs 24 + 8 bytes
  const Case cases[] = {
      {"no data", {}, WireError::kTruncated},
      {"header only", std::vector<uint8_t>(full.begin(), full.begin() + 20), WireError::kTruncated},
      {"7 bytes after the header", std::vector<uint8_t>(full.begin(), full.end() - 1),
       WireError::kTruncated},
      {"IPv6 quoted", with(0, 0x65), WireError::kBadVersion},
      {"IHL 4", with(0, 0x44), WireError::kBadHeaderLength},
      {"IHL 6 without 8 bytes after", longer_header, WireError::kTruncated},
  };
  for (const Case& c : cases) {
    for (auto header : {kFragNeeded, kTimeExceeded}) {
      header.resize(8);
      header.insert(header.end(), c.invoking.begin(), c.invoking.end());
      FixChecksum(header);
      auto repr = Icmpv4Repr::Parse(*Icmpv4Packet::Check(header));
      ASSERT_FALSE(repr.ok()) << c.name;
      EXPECT_EQ(repr.error(), c.error) << c.name;
    }
  }
  // More than 8 bytes after the header is fine (RFC 1812 §4.3.2.3 routers quote more).
  auto longer = kTimeExceeded;
  longer.resize(200, 0x33);
  FixChecksum(longer);
  auto repr = Icmpv4Repr::Parse(*Icmpv4Packet::Check(longer));
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->data.size(), 192u);
}

TEST(Icmpv4Test, EmitOverFilledBufferMatchesGolden) {
  for (const std::vector<uint8_t>& golden :
       {std::vector<uint8_t>(kEchoRequest.begin(), kEchoRequest.end()), kFragNeeded,
        kTimeExceeded}) {
    auto repr = Icmpv4Repr::Parse(*Icmpv4Packet::Check(golden));
    ASSERT_TRUE(repr.ok());
    std::vector<uint8_t> out(repr->BufferLen(), 0xa5);
    ASSERT_TRUE(repr->Emit(out));
    EXPECT_EQ(out, golden);
  }
  // Built by hand rather than parsed.
  Icmpv4Repr reply;
  reply.type = Icmpv4Type::kEchoReply;
  reply.echo_ident = 0x1234;
  reply.echo_seq = 1;
  const uint8_t data[] = {'a', 'b', 'c', 'd'};
  reply.data = data;
  std::vector<uint8_t> out(12, 0xa5);
  ASSERT_TRUE(reply.Emit(out));
  const std::vector<uint8_t> golden = {0x00, 0x00, 0x29, 0x04, 0x12, 0x34,
                                       0x00, 0x01, 'a',  'b',  'c',  'd'};
  EXPECT_EQ(out, golden);
}

TEST(Icmpv4Test, EmitInPlaceOverTheRequest) {
  // A reply written into the request's own buffer: data already at out[8...].
  std::vector<uint8_t> buf(kEchoRequest.begin(), kEchoRequest.end());
  auto repr = Icmpv4Repr::Parse(*Icmpv4Packet::Check(buf));
  ASSERT_TRUE(repr.ok());
  repr->type = Icmpv4Type::kEchoReply;
  ASSERT_TRUE(repr->Emit(buf));
  const std::vector<uint8_t> golden = {0x00, 0x00, 0x29, 0x04, 0x12, 0x34,
                                       0x00, 0x01, 'a',  'b',  'c',  'd'};
  EXPECT_EQ(buf, golden);
}

TEST(Icmpv4Test, EmitTooSmallOrInvalidWritesNothing) {
  auto repr = *Icmpv4Repr::Parse(*Icmpv4Packet::Check(kFragNeeded));
  auto refuses = [](const Icmpv4Repr& r, size_t size) {
    std::vector<uint8_t> out(size, 0xa5);
    bool ok = r.Emit(out);
    for (uint8_t b : out) EXPECT_EQ(b, 0xa5);
    return !ok;
  };
  EXPECT_TRUE(refuses(repr, repr.BufferLen() - 1));
  EXPECT_TRUE(refuses(repr, 0));

  auto r = repr;
  r.type = Icmpv4Type::kRedirect;
  EXPECT_TRUE(refuses(r, 64));
  r = repr;
  r.code = kIcmpv4PortUnreachable;  // an MTU only goes with fragmentation needed
  EXPECT_TRUE(refuses(r, 64));
  r = repr;
  r.echo_seq = 1;
  EXPECT_TRUE(refuses(r, 64));
  r = repr;
  r.data = r.data.first(20);  // the invoking packet must be header + 8 bytes
  EXPECT_TRUE(refuses(r, 64));
  Icmpv4Repr echo;
  echo.next_hop_mtu = 1500;
  EXPECT_TRUE(refuses(echo, 64));
}

TEST(Icmpv4Test, RoundTrip) {
  std::vector<uint8_t> odd_data(33);
  for (size_t i = 0; i < odd_data.size(); ++i) odd_data[i] = static_cast<uint8_t>(i * 7);
  std::vector<Icmpv4Repr> reprs(5);
  reprs[0].type = Icmpv4Type::kEchoRequest;
  reprs[0].echo_ident = 0xffff;
  reprs[0].echo_seq = 0xfffe;
  reprs[0].data = odd_data;
  reprs[1].type = Icmpv4Type::kEchoReply;
  reprs[2].type = Icmpv4Type::kDestinationUnreachable;
  reprs[2].code = kIcmpv4FragmentationNeeded;
  reprs[2].next_hop_mtu = 0;  // a pre-RFC 1191 router
  reprs[2].data = kInvoking;
  reprs[3].type = Icmpv4Type::kDestinationUnreachable;
  reprs[3].code = kIcmpv4HostUnreachable;
  reprs[3].data = kInvoking;
  reprs[4].type = Icmpv4Type::kTimeExceeded;
  reprs[4].code = kIcmpv4ReassemblyTimeExceeded;
  reprs[4].data = kInvoking;
  for (const Icmpv4Repr& repr : reprs) {
    std::vector<uint8_t> buf(repr.BufferLen(), 0);
    ASSERT_TRUE(repr.Emit(buf));
    auto packet = Icmpv4Packet::Check(buf);
    ASSERT_TRUE(packet.ok());
    EXPECT_TRUE(packet->checksum_ok());
    auto parsed = Icmpv4Repr::Parse(*packet);
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(*parsed == repr);
  }
}

}  // namespace
}  // namespace braid::wire
