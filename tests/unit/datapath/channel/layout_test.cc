#include "datapath/channel/layout.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace braid::channel {
namespace {

Geometry SmallGeometry() { return {4, 4096, 8192, 16, 32}; }

SockAddr V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  SockAddr s;
  s.family = AF_INET;
  s.port = port;
  s.address = {a, b, c, d};
  return s;
}

SockAddr V6(uint16_t port, uint32_t scope) {
  SockAddr s;
  s.family = AF_INET6;
  s.port = port;
  s.scope_id = scope;
  s.address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
  return s;
}

// ---------------------------------------------------------------------------------------------
// Geometry and layout.

TEST(Geometry, ValidGeometriesPass) {
  EXPECT_EQ(SmallGeometry().Validate(), "");
  EXPECT_EQ((Geometry{kMaxSlots, kMinFifoBytes, kMinFifoBytes, kMaxRingEntries, kMaxRingEntries})
                .Validate(),
            "");
  EXPECT_EQ(
      (Geometry{1, kMaxFifoBytes, kMaxFifoBytes, kMinRingEntries, kMinRingEntries}).Validate(), "");
}

TEST(Geometry, ValidateRejectsEachFieldOutOfRange) {
  struct Case {
    Geometry geometry;
    std::string expected_start;
  };
  const std::vector<Case> cases = {
      {{0, 4096, 4096, 16, 16}, "slots 0 is not in 1..65536"},
      {{kMaxSlots + 1, 4096, 4096, 16, 16}, "slots 65537"},
      {{1, 4095, 4096, 16, 16}, "tx_fifo_bytes 4095 is not a power of two"},
      {{1, 2048, 4096, 16, 16}, "tx_fifo_bytes 2048"},
      {{1, 32u << 20, 4096, 16, 16}, "tx_fifo_bytes 33554432"},
      {{1, 4096, 6144, 16, 16}, "rx_fifo_bytes 6144"},
      {{1, 4096, 0, 16, 16}, "rx_fifo_bytes 0"},
      {{1, 4096, 4096, 8, 16}, "command_entries 8"},
      {{1, 4096, 4096, 24, 16}, "command_entries 24"},
      {{1, 4096, 4096, 2u << 20, 16}, "command_entries 2097152"},
      {{1, 4096, 4096, 16, 0}, "event_entries 0"},
      {{1, 4096, 4096, 16, 100}, "event_entries 100"},
      {{kMaxSlots, kMaxFifoBytes, kMaxFifoBytes, 16, 16}, "the region would take"},
      {{256, kMaxFifoBytes, kMaxFifoBytes, 16, 16}, "the region would take"},
  };
  for (const Case& c : cases) {
    const std::string error = c.geometry.Validate();
    EXPECT_EQ(error.rfind(c.expected_start, 0), 0u) << error;
  }
}

// Every section is 64-byte aligned, the data page aligned, and no two sections overlap.
TEST(Layout, SectionsAreAlignedInOrderAndDisjoint) {
  const std::vector<Geometry> geometries = {
      SmallGeometry(),
      {1, 4096, 4096, 16, 16},
      {3, 4096, 65536, 1024, 512},
      {1000, 8192, 16384, 4096, 4096},
      {kMaxSlots, 4096, 4096, kMaxRingEntries, kMaxRingEntries},
      {127, kMaxFifoBytes, kMaxFifoBytes, 16, 16},
  };
  for (const Geometry& g : geometries) {
    ASSERT_EQ(g.Validate(), "");
    const Layout l = ComputeLayout(g);
    EXPECT_EQ(l.geometry, g);
    // [start, end) of each section in region order.
    const std::vector<std::pair<uint64_t, uint64_t>> sections = {
        {0, sizeof(RegionHeader)},
        {l.command_ring_offset, l.command_ring_offset + sizeof(RingIndices)},
        {l.command_records_offset,
         l.command_records_offset + uint64_t{g.command_entries} * sizeof(CommandRecord)},
        {l.event_ring_offset, l.event_ring_offset + sizeof(RingIndices)},
        {l.event_records_offset,
         l.event_records_offset + uint64_t{g.event_entries} * sizeof(EventRecord)},
        {l.slots_offset, l.slots_offset + uint64_t{g.slots} * sizeof(SlotShared)},
        {l.data_offset, l.data_offset + uint64_t{g.slots} * l.slot_data_bytes},
    };
    for (size_t i = 0; i < sections.size(); ++i) {
      EXPECT_EQ(sections[i].first % kCacheLineBytes, 0u) << "section " << i;
      if (i > 0) {
        EXPECT_GE(sections[i].first, sections[i - 1].second) << "section " << i;
      }
    }
    EXPECT_EQ(l.data_offset % kDataAlignBytes, 0u);
    EXPECT_EQ(l.slot_data_bytes, uint64_t{g.tx_fifo_bytes} + g.rx_fifo_bytes);
    EXPECT_GE(l.region_bytes, sections.back().second);
    EXPECT_EQ(l.region_bytes % kDataAlignBytes, 0u);
    EXPECT_LE(l.region_bytes, kMaxRegionBytes);
    // Per slot: the TX area, then the RX area, then the next slot's TX area.
    for (uint32_t s : {0u, g.slots / 2, g.slots - 1}) {
      EXPECT_EQ(l.SlotOffset(s), l.slots_offset + s * sizeof(SlotShared));
      EXPECT_EQ(l.RxDataOffset(s), l.TxDataOffset(s) + g.tx_fifo_bytes);
      EXPECT_EQ(l.TxDataOffset(s) % kCacheLineBytes, 0u);
      EXPECT_LE(l.RxDataOffset(s) + g.rx_fifo_bytes, l.region_bytes);
    }
  }
}

TEST(Layout, SharedIndicesSitOnTheirOwnCacheLines) {
  EXPECT_EQ(offsetof(RingIndices, tail) - offsetof(RingIndices, head), kCacheLineBytes);
  EXPECT_EQ(offsetof(FifoIndices, write) - offsetof(FifoIndices, read), kCacheLineBytes);
  EXPECT_EQ(offsetof(RegionHeader, app_sleeping) / kCacheLineBytes,
            offsetof(RegionHeader, service_state) / kCacheLineBytes + 1);
  EXPECT_EQ(offsetof(RegionHeader, service_sleeping) / kCacheLineBytes,
            offsetof(RegionHeader, app_sleeping) / kCacheLineBytes + 1);
  EXPECT_EQ(sizeof(SlotShared) % kCacheLineBytes, 0u);
}

TEST(Layout, MagicSpellsBraidCh) {
  char text[8];
  std::memcpy(text, &kMagic, 8);
  if constexpr (std::endian::native == std::endian::little) {
    EXPECT_EQ(std::string(text, 8), std::string("BRAIDCH\0", 8));
  }
}

// ---------------------------------------------------------------------------------------------
// Handles.

TEST(Handle, PacksIndexAndGeneration) {
  const uint32_t h = MakeHandle(65535, 4095);
  EXPECT_EQ(HandleIndex(h), 65535u);
  EXPECT_EQ(HandleGeneration(h), 4095u);
  EXPECT_EQ(MakeHandle(7, 3), 7u | (3u << 20));
  EXPECT_EQ(HandleIndex(MakeHandle(7, 0)), 7u);
  EXPECT_EQ(HandleGeneration(MakeHandle(0, kMaxHandleGeneration)), kMaxHandleGeneration);
  // An index above the field cannot leak into the generation.
  EXPECT_EQ(HandleGeneration(MakeHandle(0xffffffff, 1)), 1u);
  EXPECT_GE(HandleIndex(kNoHandle), kMaxSlots);
}

// ---------------------------------------------------------------------------------------------
// Record codecs.

std::vector<Command> SampleCommands() {
  SetOptArgs linger;
  linger.level = SOL_SOCKET;
  linger.name = SO_LINGER;
  linger.length = 8;
  linger.value = {1, 0, 0, 0, 5, 0, 0, 0};
  SetOptArgs congestion;
  congestion.level = IPPROTO_TCP;
  congestion.name = TCP_CONGESTION;
  congestion.length = kMaxOptBytes;
  congestion.value.fill('c');
  return {
      {MakeHandle(1, 1), 11, OpenArgs{AF_INET, Protocol::kMptcp}},
      {MakeHandle(2, 1), 12, OpenArgs{AF_INET6, Protocol::kTcp}},
      {MakeHandle(1, 1), 13, BindArgs{V4(0, 0, 0, 0, 8080)}},
      {MakeHandle(1, 1), 14, ListenArgs{128}},
      {MakeHandle(3, 9), 15, ConnectArgs{V4(10, 0, 0, 1, 443)}},
      {MakeHandle(3, 9), 16, ConnectArgs{V6(443, 2)}},
      {MakeHandle(1, 1), 17, AcceptIntoArgs{MakeHandle(65535, 4095)}},
      {MakeHandle(3, 9), 18, SendArgs{}},
      {MakeHandle(3, 9), 19, RxSpaceArgs{}},
      {MakeHandle(3, 9), 20, ShutdownArgs{SHUT_RDWR}},
      {MakeHandle(3, 9), 21, CloseArgs{}},
      {MakeHandle(3, 9), 22, AbortArgs{}},
      {MakeHandle(3, 9), 23, linger},
      {MakeHandle(3, 9), 24, congestion},
      {MakeHandle(3, 9), 25, GetOptArgs{SOL_SOCKET, SO_ERROR, 4}},
      {MakeHandle(3, 9), 26, GetInfoArgs{InfoKind::kConnection}},
      {MakeHandle(3, 9), ~uint64_t{0}, GetInfoArgs{InfoKind::kPeerAddress}},
      {MakeHandle(3, 9), 30, ReleaseArgs{}},
      {MakeHandle(5, 2), 31, AdoptArgs{0x0123456789abcdefULL, MakeHandle(3, 9)}},
  };
}

std::vector<Event> SampleEvents() {
  OptValueArgs value;
  value.length = 4;
  value.value = {0x6f, 0, 0, 0};
  // The first and the last record of a 40-byte value.
  OptValueArgs first;
  first.length = 40;
  first.more = true;
  first.value.fill(0x5a);
  OptValueArgs last;
  last.length = 40;
  last.value = {1, 2, 3, 4};
  ConnectionInfo info;
  info.state = TCP_ESTABLISHED;
  info.mptcp = 1;
  info.subflows = 3;
  info.rtt_us = 1234;
  info.cwnd_bytes = 65536;
  info.mss = 1448;
  info.bytes_sent = 1ull << 40;
  info.bytes_received = 77;
  info.bytes_retransmitted = 5;
  return {
      {MakeHandle(1, 1), 11, 0, DoneArgs{Op::kBind}},
      {MakeHandle(1, 1), 11, EADDRINUSE, DoneArgs{Op::kGetInfo}},
      {MakeHandle(3, 9), 15, 0, ConnectedArgs{V4(10, 0, 0, 2, 40000)}},
      {MakeHandle(4, 2), 17, 0, AcceptedArgs{MakeHandle(1, 1), V6(5555, 0)}},
      {MakeHandle(3, 9), 0, 0, ReadableArgs{}},
      {MakeHandle(3, 9), 0, 0, WritableArgs{}},
      {MakeHandle(3, 9), 0, 0, PeerClosedArgs{}},
      {MakeHandle(3, 9), 0, ECONNRESET, ClosedArgs{}},
      {MakeHandle(3, 9), 0, ETIMEDOUT, ErrorArgs{}},
      {MakeHandle(3, 9), 25, 0, value},
      {MakeHandle(3, 9), 29, 0, first},
      {MakeHandle(3, 9), 29, 0, last},
      {MakeHandle(3, 9), 26, 0, InfoArgs{InfoKind::kConnection, {}, info}},
      {MakeHandle(3, 9), 27, 0, InfoArgs{InfoKind::kLocalAddress, V6(1, 7), {}}},
      {MakeHandle(3, 9), 28, kMaxErrno, InfoArgs{InfoKind::kPeerAddress, V4(1, 2, 3, 4, 5), {}}},
  };
}

TEST(Records, EveryOpRoundTrips) {
  std::vector<bool> seen(kOpCount);
  for (const Command& c : SampleCommands()) {
    const CommandRecord r = EncodeCommand(c);
    EXPECT_EQ(r.op, static_cast<uint16_t>(c.op()));
    EXPECT_EQ(r.flags, 0);
    Command back;
    ASSERT_EQ(DecodeCommand(r, back), RecordError::kOk) << "op " << r.op;
    EXPECT_EQ(back, c) << "op " << r.op;
    const CommandRecord again = EncodeCommand(back);
    EXPECT_EQ(std::memcmp(&again, &r, sizeof(r)), 0) << "op " << r.op;
    seen[r.op] = true;
  }
  for (size_t op = 0; op < seen.size(); ++op) EXPECT_TRUE(seen[op]) << "op " << op;
}

TEST(Records, EveryEventKindRoundTrips) {
  std::vector<bool> seen(kEventKindCount);
  for (const Event& e : SampleEvents()) {
    const EventRecord r = EncodeEvent(e);
    EXPECT_EQ(r.kind, static_cast<uint16_t>(e.kind()));
    Event back;
    ASSERT_EQ(DecodeEvent(r, back), RecordError::kOk) << "kind " << r.kind;
    EXPECT_EQ(back, e) << "kind " << r.kind;
    const EventRecord again = EncodeEvent(back);
    EXPECT_EQ(std::memcmp(&again, &r, sizeof(r)), 0) << "kind " << r.kind;
    seen[r.kind] = true;
  }
  for (size_t kind = 0; kind < seen.size(); ++kind) EXPECT_TRUE(seen[kind]) << "kind " << kind;
}

// The bytes of one record, field by field: the layout both sides compile against.
TEST(Records, ConnectGoldenBytes) {
  if constexpr (std::endian::native != std::endian::little) GTEST_SKIP() << "little-endian host";
  const CommandRecord r =
      EncodeCommand({MakeHandle(5, 2), 0x1122334455667788, ConnectArgs{V4(10, 0, 0, 1, 443)}});
  uint8_t bytes[64];
  std::memcpy(bytes, &r, 64);
  const uint8_t want_head[] = {
      3,    0,    0,    0,    0x05, 0x00, 0x20, 0x00,  // op kConnect, flags, handle 5 | 2<<20
      0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // cookie
      2,    0,    0xbb, 0x01, 0,    0,    0,    0,     // AF_INET, port 443, scope 0
      10,   0,    0,    1,                             // address
  };
  EXPECT_EQ(std::memcmp(bytes, want_head, sizeof(want_head)), 0);
  for (size_t i = sizeof(want_head); i < 64; ++i) EXPECT_EQ(bytes[i], 0) << "byte " << i;
}

CommandRecord Encoded(const Command& c) { return EncodeCommand(c); }

RecordError Decode(const CommandRecord& r) {
  Command out;
  return DecodeCommand(r, out);
}

RecordError Decode(const EventRecord& r) {
  Event out;
  return DecodeEvent(r, out);
}

TEST(Records, DecodeCommandRejectsEachMalformedField) {
  CommandRecord r = Encoded({1, 0, SendArgs{}});
  r.op = kOpCount;
  EXPECT_EQ(Decode(r), RecordError::kUnknownOp);
  r.op = 0xffff;
  EXPECT_EQ(Decode(r), RecordError::kUnknownOp);

  for (uint16_t bit = 0; bit < 16; ++bit) {
    r = Encoded({1, 0, SendArgs{}});
    r.flags = static_cast<uint16_t>(1u << bit);
    EXPECT_EQ(Decode(r), RecordError::kReservedFlags) << "bit " << bit;
  }

  r = Encoded({MakeHandle(kMaxSlots, 0), 0, CloseArgs{}});
  EXPECT_EQ(Decode(r), RecordError::kBadHandle);
  r = Encoded({kNoHandle, 0, CloseArgs{}});
  EXPECT_EQ(Decode(r), RecordError::kBadHandle);

  EXPECT_EQ(Decode(Encoded({1, 0, OpenArgs{AF_UNIX, Protocol::kTcp}})), RecordError::kBadFamily);
  EXPECT_EQ(Decode(Encoded({1, 0, OpenArgs{AF_INET, static_cast<Protocol>(IPPROTO_UDP)}})),
            RecordError::kBadProtocol);

  SockAddr bad = V4(1, 2, 3, 4, 5);
  bad.family = AF_UNIX;
  EXPECT_EQ(Decode(Encoded({1, 0, BindArgs{bad}})), RecordError::kBadFamily);
  EXPECT_EQ(Decode(Encoded({1, 0, ConnectArgs{SockAddr{}}})), RecordError::kBadFamily);
  bad = V4(1, 2, 3, 4, 5);
  bad.address[4] = 1;  // IPv4 padding
  EXPECT_EQ(Decode(Encoded({1, 0, ConnectArgs{bad}})), RecordError::kBadAddress);
  bad = V4(1, 2, 3, 4, 5);
  bad.scope_id = 1;
  EXPECT_EQ(Decode(Encoded({1, 0, BindArgs{bad}})), RecordError::kBadAddress);

  EXPECT_EQ(Decode(Encoded({1, 0, AcceptIntoArgs{MakeHandle(kMaxSlots, 1)}})),
            RecordError::kBadHandle);
  EXPECT_EQ(Decode(Encoded({1, 0, AdoptArgs{7, kNoHandle}})), RecordError::kBadHandle);
  EXPECT_EQ(Decode(Encoded({1, 0, ShutdownArgs{3}})), RecordError::kBadValue);
  EXPECT_EQ(Decode(Encoded({1, 0, GetInfoArgs{static_cast<InfoKind>(kInfoKindCount)}})),
            RecordError::kBadValue);

  SetOptArgs opt;
  opt.length = kMaxOptBytes + 1;
  EXPECT_EQ(Decode(Encoded({1, 0, opt})), RecordError::kBadLength);
  opt.length = 0xffffffff;
  EXPECT_EQ(Decode(Encoded({1, 0, opt})), RecordError::kBadLength);
  opt.length = 4;
  opt.value[4] = 1;  // past the length
  EXPECT_EQ(Decode(Encoded({1, 0, opt})), RecordError::kReservedBytes);
  EXPECT_EQ(Decode(Encoded({1, 0, GetOptArgs{0, 0, kMaxOptBytes + 1}})), RecordError::kBadLength);
}

// For every op, a byte its arguments do not use must be zero.
TEST(Records, DecodeCommandRejectsReservedPayloadBytes) {
  for (const Command& c : SampleCommands()) {
    CommandRecord r = EncodeCommand(c);
    // The last byte is unused by every op but kSetOpt, where it is value bytes past `length`
    // (the 36-byte sample uses it all, so skip that one).
    if (const auto* set = std::get_if<SetOptArgs>(&c.args); set && set->length == kMaxOptBytes) {
      continue;
    }
    r.payload[sizeof(r.payload) - 1] = 0x80;
    EXPECT_EQ(Decode(r), RecordError::kReservedBytes) << "op " << r.op;
  }
  // The reserved bytes right after each op's arguments.
  CommandRecord r = Encoded({1, 0, OpenArgs{}});
  r.payload[4] = 1;
  EXPECT_EQ(Decode(r), RecordError::kReservedBytes);
  r = Encoded({1, 0, ConnectArgs{V4(1, 1, 1, 1, 1)}});
  r.payload[kSockAddrBytes] = 1;
  EXPECT_EQ(Decode(r), RecordError::kReservedBytes);
  r = Encoded({1, 0, GetOptArgs{}});
  r.payload[12] = 1;
  EXPECT_EQ(Decode(r), RecordError::kReservedBytes);
  r = Encoded({1, 0, GetInfoArgs{}});
  r.payload[2] = 1;
  EXPECT_EQ(Decode(r), RecordError::kReservedBytes);
  r = Encoded({1, 0, SendArgs{}});
  r.payload[0] = 1;
  EXPECT_EQ(Decode(r), RecordError::kReservedBytes);
}

TEST(Records, DecodeEventRejectsEachMalformedField) {
  EventRecord r = EncodeEvent({1, 0, 0, ReadableArgs{}});
  r.kind = kEventKindCount;
  EXPECT_EQ(Decode(r), RecordError::kUnknownOp);
  r = EncodeEvent({1, 0, 0, ReadableArgs{}});
  r.flags = 0x8000;
  EXPECT_EQ(Decode(r), RecordError::kReservedFlags);
  EXPECT_EQ(Decode(EncodeEvent({kNoHandle, 0, 0, ReadableArgs{}})), RecordError::kBadHandle);
  EXPECT_EQ(Decode(EncodeEvent({1, 0, -1, ErrorArgs{}})), RecordError::kBadError);
  EXPECT_EQ(Decode(EncodeEvent({1, 0, kMaxErrno + 1, ErrorArgs{}})), RecordError::kBadError);

  r = EncodeEvent({1, 0, 0, DoneArgs{}});
  r.aux = kOpCount;
  EXPECT_EQ(Decode(r), RecordError::kBadValue);
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, AcceptedArgs{kNoHandle, V4(1, 2, 3, 4, 5)}})),
            RecordError::kBadHandle);
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, AcceptedArgs{1, SockAddr{}}})), RecordError::kBadFamily);
  SockAddr padded = V4(1, 2, 3, 4, 5);
  padded.address[15] = 9;
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, ConnectedArgs{padded}})), RecordError::kBadAddress);

  OptValueArgs value;
  value.length = kMaxOptValueBytes + 1;
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, value})), RecordError::kBadLength);
  value.length = kMaxOptBytes;
  value.more = true;  // a value that fits one record never spans several
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, value})), RecordError::kBadLength);
  value.more = false;
  value.length = 1;
  value.value[1] = 1;
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, value})), RecordError::kReservedBytes);
  // The last record of a 2 * 36 + 5 byte value carries 5 bytes.
  value.length = 2 * kMaxOptBytes + 5;
  value.value = {};
  value.value[4] = 1;
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, value})), RecordError::kOk);
  value.value[5] = 1;
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, value})), RecordError::kReservedBytes);
  // Only kOptValue has a flag, and only bit 0.
  r = EncodeEvent({1, 0, 0, OptValueArgs{}});
  r.flags = 2;
  EXPECT_EQ(Decode(r), RecordError::kReservedFlags);
  r = EncodeEvent({1, 0, 0, ReadableArgs{}});
  r.flags = kOptValueMore;
  EXPECT_EQ(Decode(r), RecordError::kReservedFlags);

  r = EncodeEvent({1, 0, 0, InfoArgs{}});
  r.aux = kInfoKindCount;
  EXPECT_EQ(Decode(r), RecordError::kBadValue);
  InfoArgs info{InfoKind::kConnection, {}, {}};
  info.connection.state = 0;
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, info})), RecordError::kBadValue);
  info.connection.state = TCP_CLOSING + 1;
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, info})), RecordError::kBadValue);
  info.connection.state = TCP_ESTABLISHED;
  info.connection.mptcp = 2;
  EXPECT_EQ(Decode(EncodeEvent({1, 0, 0, info})), RecordError::kBadValue);

  // aux is reserved for kinds that do not define it.
  for (const Event& e : SampleEvents()) {
    const EventKind k = e.kind();
    if (k == EventKind::kDone || k == EventKind::kAccepted || k == EventKind::kOptValue ||
        k == EventKind::kInfo) {
      continue;
    }
    r = EncodeEvent(e);
    r.aux = 1;
    EXPECT_EQ(Decode(r), RecordError::kReservedBytes) << "kind " << r.kind;
  }
}

TEST(Records, DecodeEventRejectsReservedPayloadBytes) {
  for (const Event& e : SampleEvents()) {
    const auto* info = std::get_if<InfoArgs>(&e.args);
    if (info != nullptr && info->what == InfoKind::kConnection) continue;  // uses all 40 bytes
    EventRecord r = EncodeEvent(e);
    r.payload[sizeof(r.payload) - 1] = 1;
    EXPECT_EQ(Decode(r), RecordError::kReservedBytes) << "kind " << r.kind;
  }
}

TEST(Records, ErrorsHaveNames) {
  for (int e = 0; e <= static_cast<int>(RecordError::kReservedBytes); ++e) {
    EXPECT_STRNE(RecordErrorName(static_cast<RecordError>(e)), "?");
  }
}

// ---------------------------------------------------------------------------------------------
// Socket addresses.

TEST(SockAddr, ConvertsFromAndToSockaddr) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(8080);
  ASSERT_EQ(inet_pton(AF_INET, "192.0.2.7", &in.sin_addr), 1);
  auto a = FromSockaddr(reinterpret_cast<const sockaddr*>(&in), sizeof(in));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, V4(192, 0, 2, 7, 8080));
  sockaddr_storage out;
  ASSERT_EQ(ToSockaddr(*a, &out), sizeof(sockaddr_in));
  EXPECT_EQ(std::memcmp(&out, &in, sizeof(in)), 0);

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(443);
  in6.sin6_scope_id = 2;
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::42", &in6.sin6_addr), 1);
  auto b = FromSockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof(in6));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*b, V6(443, 2));
  ASSERT_EQ(ToSockaddr(*b, &out), sizeof(sockaddr_in6));
  EXPECT_EQ(std::memcmp(&out, &in6, sizeof(in6)), 0);

  // Too short for its family, or another family.
  EXPECT_FALSE(FromSockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof(in)).has_value());
  EXPECT_FALSE(FromSockaddr(reinterpret_cast<const sockaddr*>(&in), 1).has_value());
  EXPECT_FALSE(FromSockaddr(nullptr, sizeof(in)).has_value());
  sockaddr un{};
  un.sa_family = AF_UNIX;
  EXPECT_FALSE(FromSockaddr(&un, sizeof(un)).has_value());
  EXPECT_EQ(ToSockaddr(SockAddr{}, &out), 0u);
}

}  // namespace
}  // namespace braid::channel
