// Two net stacks, each under Braid's own TCP engine (NativeTcpBackend), wired frame to frame on
// one Ethernet segment: ARP/ND resolution, the handshake and a bulk transfer cross real frames
// built and parsed by the net layer, with an ephemeral port from the worker's slice; and path MTU
// discovery, from a router's ICMP error through the net layer's event to the engine's MSS.
#include <gtest/gtest.h>

#include <deque>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "datapath/net/net_stack.h"
#include "datapath/net/port_allocator.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/native_backend.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/icmpv4.h"
#include "datapath/wire/icmpv6.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

// Collects frames; the test carries them to the other stack between calls (never from inside a
// stack call, which would re-enter the other TCP engine).
class WireSink : public FrameSink {
 public:
  void TransmitFrame(uint16_t, std::span<const uint8_t> frame, const TxOffload& offload) override {
    EXPECT_FALSE(offload.tcp_checksum);
    frames.emplace_back(frame.begin(), frame.end());
  }
  std::deque<Bytes> frames;
};

struct Host {
  Host(const InterfaceConfig& iface, tcp::SipKey secret)
      : stack(TestConfig(), sink), backend(BackendConfig(secret), stack) {
    stack.AttachTcp(&backend);
    InterfaceId id = 0;
    EXPECT_EQ(stack.AddInterface(iface, &id), NetError::kOk);
    EXPECT_EQ(stack.SetInterfaceUp(id, true, T(0)), NetError::kOk);
  }
  static tcp::NativeTcpBackendConfig BackendConfig(tcp::SipKey secret) {
    tcp::NativeTcpBackendConfig c;
    c.secret = secret;
    c.max_connections = 16;
    c.max_time_wait = 16;
    c.max_listeners = 4;
    return c;
  }
  void Poll(Instant now) {
    stack.Poll(now);
    stack.SetNow(now);
    backend.Poll(now);
  }
  std::vector<tcp::TcpEvent> Events() {
    std::vector<tcp::TcpEvent> out;
    backend.DrainEvents([&](const tcp::TcpEvent& e) { out.push_back(e); });
    return out;
  }
  WireSink sink;
  NetStack stack;
  tcp::NativeTcpBackend backend;
};

InterfaceConfig HostInterface(uint8_t n) {
  InterfaceConfig c;
  c.name = "eth0";
  c.port = 0;
  c.mac = MacAddress{{0x02, 0, 0, 0, 0, n}};
  c.ipv4 = {{Ipv4Address{{192, 0, 2, n}}, 24}};
  c.ipv6 = {{Ipv6Address{{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, n}}, 64}};
  return c;
}

class TcpOverNetTest : public ::testing::TestWithParam<bool> {
 protected:
  TcpOverNetTest() : client_(HostInterface(10), {1, 2}), server_(HostInterface(20), {3, 4}) {}

  bool v6() const { return GetParam(); }
  wire::IpAddress Addr(const Host& h) const {
    const InterfaceConfig& c = h.stack.interface(0)->config;
    return v6() ? wire::IpAddress(c.ipv6[0].address) : wire::IpAddress(c.ipv4[0].address);
  }

  // Carries frames both ways until the wire is quiet; returns how many crossed. With path_mtu_
  // set, a router on the way drops the client's IP packets larger than that and answers with
  // ICMP "fragmentation needed" (RFC 1191) or "packet too big" (RFC 8201), whose events the
  // client hands to its TCP engine as TcpSockets::DeliverIcmp does.
  size_t Exchange(Instant now) {
    size_t moved = 0;
    for (int round = 0; round < 100000; ++round) {
      if (client_.sink.frames.empty() && server_.sink.frames.empty()) break;
      std::deque<Bytes> to_server;
      std::deque<Bytes> to_client;
      to_server.swap(client_.sink.frames);
      to_client.swap(server_.sink.frames);
      for (const Bytes& f : to_server) {
        if (path_mtu_ > 0 && f.size() - wire::kEthernetHeaderLen > path_mtu_) {
          ++mtu_drops_;
          to_client.push_back(TooBig(f));
          continue;
        }
        server_.stack.Receive(0, f, now);
      }
      for (const Bytes& f : to_client) client_.stack.Receive(0, f, now);
      client_.stack.DrainEvents([&](const IcmpEvent& e) {
        if (e.kind == IcmpEvent::Kind::kPathMtu) {
          client_.backend.OnPathMtu(e.flow, e.mtu, e.seq, now);
        } else {
          client_.backend.OnSoftError(e.flow, e.seq, now);
        }
      });
      moved += to_server.size() + to_client.size();
    }
    return moved;
  }

  // The router's error about the client's frame `f`: it quotes the IP header and the first 8
  // bytes of the segment (RFC 792, RFC 4443 §3.2 allow more) and comes from the server's side.
  Bytes TooBig(const Bytes& f) const {
    const MacAddress client_mac = client_.stack.interface(0)->config.mac;
    const MacAddress server_mac = server_.stack.interface(0)->config.mac;
    const size_t quoted_len = (v6() ? wire::kIpv6HeaderLen : wire::kIpv4MinHeaderLen) + 8;
    const std::span<const uint8_t> quoted(f.data() + wire::kEthernetHeaderLen, quoted_len);
    if (v6()) {
      wire::Icmpv6Repr icmp;
      icmp.type = wire::Icmpv6Type::kPacketTooBig;
      icmp.mtu = path_mtu_;
      icmp.data = quoted;
      const Ipv6Address from = std::get<Ipv6Address>(Addr(server_));
      const Ipv6Address to = std::get<Ipv6Address>(Addr(client_));
      return Eth(client_mac, server_mac, wire::kEtherTypeIpv6,
                 Ip6(from, to, wire::IpProtocol::kIcmpv6, Icmp6(icmp, from, to)));
    }
    wire::Icmpv4Repr icmp;
    icmp.type = wire::Icmpv4Type::kDestinationUnreachable;
    icmp.code = wire::kIcmpv4FragmentationNeeded;
    icmp.next_hop_mtu = static_cast<uint16_t>(path_mtu_);
    icmp.data = quoted;
    return Eth(client_mac, server_mac, wire::kEtherTypeIpv4,
               Ip4(std::get<Ipv4Address>(Addr(server_)), std::get<Ipv4Address>(Addr(client_)),
                   wire::IpProtocol::kIcmp, Icmp4(icmp)));
  }

  // The connection the server's backend accepted, from its pending events.
  std::optional<tcp::ConnectionId> Accepted() {
    std::optional<tcp::ConnectionId> accepted;
    for (const auto& e : server_.Events()) {
      if (e.kind == tcp::TcpEvent::Kind::kAccepted) accepted = e.connection;
    }
    return accepted;
  }

  // Sends `data` from the client's `conn` to the server's `accepted`, a millisecond per step from
  // `now`, both net layers and timers running; returns what the server read.
  Bytes Transfer(tcp::ConnectionId conn, tcp::ConnectionId accepted, const Bytes& data,
                 Instant now) {
    size_t sent = 0;
    Bytes received;
    Bytes buf(64 * 1024);
    for (int step = 0; step < 20000 && received.size() < data.size(); ++step) {
      client_.stack.SetNow(now);
      if (sent < data.size()) {
        sent +=
            client_.backend.Send(conn, std::span<const uint8_t>(data).subspan(sent), now).accepted;
      }
      Exchange(now);
      server_.stack.SetNow(now);
      for (;;) {
        auto r = server_.backend.Receive(accepted, buf, now);
        if (r.bytes == 0) break;
        received.insert(received.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(r.bytes));
      }
      Exchange(now);
      now += 1ms;
      client_.Poll(now);
      server_.Poll(now);
      Exchange(now);
      client_.Events();
      server_.Events();
    }
    return received;
  }

  void Run(Instant from, Instant to, tcp::Duration step = 1ms) {
    for (Instant t = from; t <= to; t += step) {
      client_.Poll(t);
      server_.Poll(t);
      Exchange(t);
    }
  }

  Host client_;
  Host server_;
  uint32_t path_mtu_ = 0;  // 0: no router limit
  size_t mtu_drops_ = 0;
};

TEST_P(TcpOverNetTest, HandshakeAndBulkTransfer) {
  Exchange(T(0));  // the announcements
  tcp::ListenerId listener;
  const wire::IpAddress server_addr = Addr(server_);
  ASSERT_EQ(server_.backend.Listen(&server_addr, 80, {}, nullptr, &listener), tcp::TcpError::kOk);

  // The client's port comes from its worker's slice.
  EphemeralPortConfig slice;
  slice.first = 41000;
  slice.last = 41999;
  slice.secret = kSecret;
  EphemeralPortAllocator ports(slice);
  auto port = ports.Allocate(Addr(client_), server_addr, 80);
  ASSERT_TRUE(port.has_value());
  tcp::ConnectRequest req;
  req.flow = {Addr(client_), *port, server_addr, 80};
  tcp::ConnectionId conn;
  client_.stack.SetNow(T(1));
  ASSERT_EQ(client_.backend.Connect(req, T(1), &conn), tcp::TcpError::kOk);
  // The SYN waits for ARP/ND: one request on the wire, the SYN queued.
  ASSERT_EQ(client_.sink.frames.size(), 1u);
  EXPECT_EQ(client_.stack.Neighbor(0, server_addr)->queued, 1u);

  Exchange(T(1));
  bool established = false;
  for (const auto& e : client_.Events()) established |= e.kind == tcp::TcpEvent::Kind::kEstablished;
  EXPECT_TRUE(established);
  const std::optional<tcp::ConnectionId> accepted = Accepted();
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(server_.backend.Flow(*accepted), req.flow.Reversed());

  // 256 KiB from client to server.
  Bytes data(256 * 1024);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + i / 251);
  EXPECT_EQ(Transfer(conn, *accepted, data, T(2)), data);

  // Nothing was dropped by either net layer but the other host's announcements at start (a
  // gratuitous ARP for a host not in the cache; unsolicited NAs for entries that do not exist),
  // and every frame was accounted for.
  for (Host* h : {&client_, &server_}) {
    const NetCounters& c = h->stack.counters();
    for (size_t i = 0; i < kNetDropCount; ++i) {
      auto reason = static_cast<NetDrop>(i);
      uint64_t expected = 0;
      if (reason == NetDrop::kArpNotForUs) expected = 1;
      if (reason == NetDrop::kNdNoEntry) expected = 2;
      EXPECT_EQ(c.drops[i], expected) << NetDropName(reason);
    }
    EXPECT_EQ(c[NetCounter::kTxDropped], 0u);
    EXPECT_GT(c[NetCounter::kRxDelivered], 50u);
    EXPECT_EQ(c[NetCounter::kRxFrames],
              c[NetCounter::kRxDelivered] + c[NetCounter::kRxConsumed] + 3);
  }
  // The server learned the client from its request: no resolution of its own was needed.
  EXPECT_EQ(server_.stack
                .counters()[v6() ? NetCounter::kNdSolicitationsSent : NetCounter::kArpRequestsSent],
            0u);
  EXPECT_TRUE(ports.Release(req.flow));
}

// A router between the hosts carries 1280-byte packets only: the client's full-sized segments are
// dropped and reported, the engine lowers its MSS and resends them at the new size at once, and
// the transfer completes byte for byte without a retransmission timeout.
TEST_P(TcpOverNetTest, PathMtuReportsFromARouterOnTheWay) {
  Exchange(T(0));
  tcp::ListenerId listener;
  const wire::IpAddress server_addr = Addr(server_);
  ASSERT_EQ(server_.backend.Listen(&server_addr, 80, {}, nullptr, &listener), tcp::TcpError::kOk);
  tcp::ConnectRequest req;
  req.flow = {Addr(client_), 41000, server_addr, 80};
  tcp::ConnectionId conn;
  client_.stack.SetNow(T(1));
  ASSERT_EQ(client_.backend.Connect(req, T(1), &conn), tcp::TcpError::kOk);
  path_mtu_ = 1280;
  Exchange(T(1));
  client_.Events();
  const std::optional<tcp::ConnectionId> accepted = Accepted();
  ASSERT_TRUE(accepted.has_value());
  // Both ends announced 1460 (IPv4) or 1440 (IPv6) bytes: the path is narrower.
  EXPECT_EQ(client_.backend.Info(conn)->snd_mss, (v6() ? 1440u : 1460u) - 12u);

  Bytes data(200 * 1024);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13 + i / 509);
  EXPECT_EQ(Transfer(conn, *accepted, data, T(2)), data);

  // 1280 less the IP and TCP headers and the timestamps.
  const tcp::TcpInfo info = *client_.backend.Info(conn);
  EXPECT_EQ(info.snd_mss, 1280u - (v6() ? 60u : 40u) - 12u);
  EXPECT_GT(mtu_drops_, 0u);
  EXPECT_EQ(client_.stack.counters()[NetCounter::kPmtuEvents], mtu_drops_);
  EXPECT_EQ(info.counters[tcp::TcpCounter::kPmtuUpdates], 1u);
  EXPECT_EQ(
      info.counters[tcp::TcpCounter::kPmtuUpdates] + info.counters[tcp::TcpCounter::kPmtuIgnored],
      mtu_drops_);
  EXPECT_GT(info.counters[tcp::TcpCounter::kPmtuRetransmits], 0u);
  EXPECT_EQ(info.counters[tcp::TcpCounter::kRtoExpirations], 0u);
  EXPECT_EQ(info.counters[tcp::TcpCounter::kRecoveries], 0u);
}

INSTANTIATE_TEST_SUITE_P(Families, TcpOverNetTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? std::string("Ipv6") : std::string("Ipv4");
                         });

}  // namespace
}  // namespace braid::net::test
