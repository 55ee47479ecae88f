// NativeTcpBackend's ICMP entry points (TcpBackend::OnPathMtu, OnSoftError): the flow table
// routes a report to its connection, which resends at the new size through the backend's sink;
// flows without a live connection (unknown, TIME-WAIT) are counted and ignored; a soft error is
// still known when the connection times out.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "datapath/tcp/native_backend.h"
#include "tests/unit/datapath/tcp/backend_harness.h"

namespace braid::tcp::backend_test {
namespace {

std::vector<uint8_t> Bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + i / 7);
  return v;
}

// A client connection to a listening server, established, its kAccepted drained.
struct Established {
  Established() {
    EXPECT_EQ(p.server->Listen(&kServerAddr, kServerPort, {}, nullptr, nullptr), TcpError::kOk);
    client = p.Connect(40000, T(0));
    EXPECT_EQ(p.last_error, TcpError::kOk);
    p.Exchange(T(1));
    Drain(*p.client);
    for (const TcpEvent& e : Drain(*p.server)) {
      if (e.kind == TcpEvent::Kind::kAccepted) server = e.connection;
    }
  }
  Pair p;
  ConnectionId client;
  ConnectionId server;
};

TEST(NativeBackendIcmp, PathMtuResendsThroughTheBackendAndTheBytesArrive) {
  Established e;
  const TcpSeq first = e.p.client->Info(e.client)->snd_una;
  const std::vector<uint8_t> data = Bytes(3 * 1448);
  ASSERT_EQ(e.p.client->Send(e.client, data, T(2)).accepted, data.size());
  // A 1280-byte path drops all three segments.
  std::vector<Sent> dropped = e.p.client_out.Take();
  ASSERT_EQ(dropped.size(), 3u);
  for (const Sent& s : dropped) EXPECT_EQ(s.payload.size(), 1448u);

  // Stale: below SND.UNA; then the real report, quoting the second segment.
  e.p.client->OnPathMtu(ClientFlow(40000), 1280, first - 1, T(3));
  EXPECT_TRUE(e.p.client_out.sent.empty());
  e.p.client->OnPathMtu(ClientFlow(40000), 1280, first + 1448, T(3));
  const std::vector<Sent> resent(e.p.client_out.sent.begin(), e.p.client_out.sent.end());
  ASSERT_EQ(resent.size(), 4u);
  for (const Sent& s : resent) EXPECT_LE(s.payload.size(), 1228u);
  EXPECT_EQ(resent[0].header.seq, first);

  e.p.Exchange(T(4));
  std::vector<uint8_t> got(data.size() + 1);
  const ReceiveResult r = e.p.server->Receive(e.server, got, T(4));
  got.resize(r.bytes);
  EXPECT_EQ(got, data);
  const TcpInfo info = *e.p.client->Info(e.client);
  EXPECT_EQ(info.snd_mss, 1228u);
  EXPECT_EQ(info.snd_una, first + static_cast<uint32_t>(data.size()));
  EXPECT_EQ(info.counters[TcpCounter::kPmtuUpdates], 1u);
  EXPECT_EQ(info.counters[TcpCounter::kPmtuIgnored], 1u);
  EXPECT_EQ(info.counters[TcpCounter::kPmtuRetransmits], 4u);
  EXPECT_EQ(e.p.client->counters()[BackendCounter::kIcmpNoConnection], 0u);
}

TEST(NativeBackendIcmp, UnknownFlowsAndTimeWaitEntriesAreCountedAndIgnored) {
  Established e;
  // Another port, and the right port with the addresses of another host.
  e.p.client->OnPathMtu(ClientFlow(40001), 1280, TcpSeq(1), T(2));
  FlowKey stranger = ClientFlow(40000);
  stranger.remote = wire::Ipv4Address::FromU32(0xc0000203);
  e.p.client->OnSoftError(stranger, TcpSeq(1), T(2));
  EXPECT_EQ(e.p.client->counters()[BackendCounter::kIcmpNoConnection], 2u);
  EXPECT_TRUE(e.p.client_out.sent.empty());
  EXPECT_FALSE(e.p.client->Info(e.client)->soft_error);

  // The client closes first and keeps the flow as a TIME-WAIT entry.
  ASSERT_EQ(e.p.client->Close(e.client, T(3)), TcpError::kOk);
  e.p.Exchange(T(3));
  ASSERT_EQ(e.p.server->Close(e.server, T(4)), TcpError::kOk);
  e.p.Exchange(T(4));
  Drain(*e.p.client);
  ASSERT_EQ(e.p.client->time_wait_count(), 1u);
  e.p.client->OnPathMtu(ClientFlow(40000), 1280, TcpSeq(1), T(5));
  e.p.client->OnSoftError(ClientFlow(40000), TcpSeq(1), T(5));
  EXPECT_EQ(e.p.client->counters()[BackendCounter::kIcmpNoConnection], 4u);
  EXPECT_TRUE(e.p.client_out.sent.empty());
}

TEST(NativeBackendIcmp, SoftErrorIsKnownWhenTheConnectionTimesOut) {
  TcpConfig config;
  config.syn_retries = 1;
  Pair p;
  const ConnectionId c = p.Connect(40000, T(0), config);
  ASSERT_EQ(p.last_error, TcpError::kOk);
  const TcpSeq iss = p.client->Info(c)->snd_una;
  // Nobody answers the SYN; a router reports the host unreachable.
  p.client->OnSoftError(ClientFlow(40000), iss, T(10));
  EXPECT_TRUE(p.client->Info(c)->soft_error);
  EXPECT_EQ(p.client->Info(c)->state, TcpState::kSynSent);
  EXPECT_TRUE(Drain(*p.client).empty());
  // Until the SYN retries run out.
  for (int i = 0; i < 10 && p.client->Info(c)->state != TcpState::kClosed; ++i) {
    p.client->Poll(*p.client->PollAt());
  }
  ASSERT_EQ(p.client->Info(c)->state, TcpState::kClosed);
  EXPECT_TRUE(p.client->Info(c)->soft_error);
  EXPECT_EQ(p.client->Info(c)->counters[TcpCounter::kSoftErrors], 1u);
  bool reset = false;
  for (const TcpEvent& ev : Drain(*p.client)) {
    if (ev.kind != TcpEvent::Kind::kReset) continue;
    reset = true;
    EXPECT_EQ(ev.reason, TcpEvent::ResetReason::kTimeout);
  }
  EXPECT_TRUE(reset);
}

}  // namespace
}  // namespace braid::tcp::backend_test
