// Test helpers for the net layer: a FrameSink that records frames, a fake TCP engine that records
// what it was handed, builders for frames (through the wire emitters, for tests that do not need
// hand-written bytes), and a fixture with one stack on one untagged path.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "datapath/net/frame_sink.h"
#include "datapath/net/interface.h"
#include "datapath/net/net_counters.h"
#include "datapath/net/net_stack.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/arp.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/icmpv4.h"
#include "datapath/wire/icmpv6.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/tcp.h"

namespace braid::net::test {

using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;
using tcp::Instant;
using wire::Ipv4Address;
using wire::Ipv6Address;
using wire::MacAddress;

// Engine time in milliseconds since a scripted epoch well away from zero.
inline Instant T(int64_t ms) { return tcp::InstantFromNanos((1'000'000 + ms) * 1'000'000); }

inline Ipv4Address V4(const char* text) { return *Ipv4Address::Parse(text); }
inline Ipv6Address V6(const char* text) { return *Ipv6Address::Parse(text); }
inline MacAddress Mac(const char* text) { return *MacAddress::Parse(text); }

// The path the fixture's stack lives on, and a peer on it.
inline const MacAddress kOurMac = Mac("02:00:00:00:00:01");
inline const Ipv4Address kOurIp = V4("192.0.2.1");
inline const Ipv6Address kOurIp6 = V6("2001:db8:1::1");
inline const Ipv4Address kGatewayIp = V4("192.0.2.254");
inline const Ipv6Address kGatewayIp6 = V6("2001:db8:1::fe");
inline const MacAddress kPeerMac = Mac("02:00:00:00:00:aa");
inline const Ipv4Address kPeerIp = V4("192.0.2.2");
inline const Ipv6Address kPeerIp6 = V6("2001:db8:1::2");
inline const MacAddress kGatewayMac = Mac("02:00:00:00:00:fe");
inline const Ipv4Address kRemoteIp = V4("198.51.100.7");  // off-link, through the gateway
inline const Ipv6Address kRemoteIp6 = V6("2001:db8:99::7");
inline constexpr tcp::SipKey kSecret{0x0123456789abcdefULL, 0xfedcba9876543210ULL};

struct Frame {
  uint16_t port = 0;
  Bytes bytes;
  TxOffload offload;
};

class RecordingSink : public FrameSink {
 public:
  void TransmitFrame(uint16_t port, std::span<const uint8_t> frame,
                     const TxOffload& offload) override {
    frames.push_back({port, Bytes(frame.begin(), frame.end()), offload});
  }
  std::vector<Frame> Take() {
    std::vector<Frame> out;
    out.swap(frames);
    return out;
  }
  std::vector<Frame> frames;
};

struct Delivered {
  tcp::FlowKey flow;
  wire::TcpRepr header;
  Bytes payload;
  Instant now;
};

// A TCP engine that only records Input.
class RecordingBackend : public tcp::TcpBackend {
 public:
  tcp::TcpError Connect(const tcp::ConnectRequest&, Instant, tcp::ConnectionId*) override {
    return tcp::TcpError::kInvalidState;
  }
  tcp::TcpError Listen(const wire::IpAddress*, uint16_t, const tcp::TcpConfig&, tcp::ListenHooks*,
                       tcp::ListenerId*) override {
    return tcp::TcpError::kInvalidState;
  }
  tcp::TcpError StopListening(tcp::ListenerId) override { return tcp::TcpError::kInvalidHandle; }
  tcp::SendResult Send(tcp::ConnectionId, std::span<const uint8_t>, Instant) override { return {}; }
  tcp::ReceiveResult Receive(tcp::ConnectionId, std::span<uint8_t>, Instant) override { return {}; }
  tcp::TcpError Shutdown(tcp::ConnectionId, Instant) override {
    return tcp::TcpError::kInvalidHandle;
  }
  tcp::TcpError Abort(tcp::ConnectionId, Instant) override { return tcp::TcpError::kInvalidHandle; }
  tcp::TcpError Close(tcp::ConnectionId, Instant) override { return tcp::TcpError::kInvalidHandle; }
  tcp::TcpError SetNagle(tcp::ConnectionId, bool) override { return tcp::TcpError::kInvalidHandle; }
  tcp::TcpError SetKeepalive(tcp::ConnectionId, bool) override {
    return tcp::TcpError::kInvalidHandle;
  }
  tcp::TcpError SendAck(tcp::ConnectionId, Instant) override {
    return tcp::TcpError::kInvalidHandle;
  }
  std::optional<tcp::SendState> GetSendState(tcp::ConnectionId) const override {
    return std::nullopt;
  }
  std::optional<tcp::TcpInfo> Info(tcp::ConnectionId) const override { return std::nullopt; }
  std::optional<tcp::FlowKey> Flow(tcp::ConnectionId) const override { return std::nullopt; }
  void Input(const tcp::FlowKey& flow, const tcp::InboundSegment& segment, Instant now) override {
    EXPECT_EQ(segment.header.payload_len, segment.payload.size());
    inputs.push_back(
        {flow, segment.header, Bytes(segment.payload.begin(), segment.payload.end()), now});
  }
  void OnPathMtu(const tcp::FlowKey& flow, uint32_t path_mtu, wire::TcpSeq quoted_seq,
                 Instant now) override {
    icmp.push_back({flow, path_mtu, quoted_seq, now});
  }
  void OnSoftError(const tcp::FlowKey& flow, wire::TcpSeq quoted_seq, Instant now) override {
    icmp.push_back({flow, 0, quoted_seq, now});
  }
  void Poll(Instant) override {}
  std::optional<Instant> PollAt() const override { return std::nullopt; }
  bool NextEvent(tcp::TcpEvent*) override { return false; }

  // An OnPathMtu (path_mtu > 0) or OnSoftError (path_mtu == 0) call.
  struct IcmpCall {
    tcp::FlowKey flow;
    uint32_t path_mtu = 0;
    wire::TcpSeq quoted_seq;
    Instant now;
  };

  std::vector<Delivered> inputs;
  std::vector<IcmpCall> icmp;
};

// --- Frame builders (wire emitters) ---

inline Bytes Concat(std::initializer_list<std::span<const uint8_t>> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes Eth(const MacAddress& dst, const MacAddress& src, uint16_t ethertype,
                 std::span<const uint8_t> payload, std::optional<uint16_t> vlan = std::nullopt) {
  wire::EthernetRepr eth;
  eth.destination = dst;
  eth.source = src;
  if (vlan) eth.vlan = wire::VlanTag{wire::kEtherTypeVlan, 0, false, *vlan};
  eth.ethertype = ethertype;
  Bytes out(eth.HeaderLen());
  EXPECT_TRUE(eth.Emit(out));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

inline Bytes Arp(wire::ArpOperation op, const MacAddress& sha, const Ipv4Address& sip,
                 const MacAddress& tha, const Ipv4Address& tip) {
  wire::ArpRepr arp{op, sha, sip, tha, tip};
  Bytes out(arp.BufferLen());
  EXPECT_TRUE(arp.Emit(out));
  return out;
}

inline Bytes Ip4(const Ipv4Address& src, const Ipv4Address& dst, wire::IpProtocol protocol,
                 std::span<const uint8_t> payload, uint8_t ttl = 64) {
  wire::Ipv4Repr ip;
  ip.source = src;
  ip.destination = dst;
  ip.protocol = protocol;
  ip.ttl = ttl;
  ip.dont_fragment = true;
  ip.payload_len = static_cast<uint16_t>(payload.size());
  Bytes out(ip.HeaderLen());
  EXPECT_TRUE(ip.Emit(out));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

inline Bytes Ip6(const Ipv6Address& src, const Ipv6Address& dst, wire::IpProtocol next,
                 std::span<const uint8_t> payload, uint8_t hop_limit = 64) {
  wire::Ipv6Repr ip;
  ip.source = src;
  ip.destination = dst;
  ip.next_header = next;
  ip.hop_limit = hop_limit;
  ip.payload_len = static_cast<uint16_t>(payload.size());
  Bytes out(ip.HeaderLen());
  EXPECT_TRUE(ip.Emit(out));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

struct TcpSpec {
  uint16_t src_port = 40000;
  uint16_t dst_port = 80;
  uint32_t seq = 1000;
  uint32_t ack = 0;
  wire::TcpFlags flags = wire::TcpFlag::kSyn;
  uint16_t window = 65535;
  wire::TcpOptionsRepr options;
  Bytes payload;
};

inline wire::TcpRepr TcpHeader(const TcpSpec& s) {
  wire::TcpRepr tcp;
  tcp.src_port = s.src_port;
  tcp.dst_port = s.dst_port;
  tcp.seq = wire::TcpSeq(s.seq);
  tcp.ack = wire::TcpSeq(s.ack);
  tcp.flags = s.flags;
  tcp.window = s.window;
  tcp.options = s.options;
  tcp.payload_len = s.payload.size();
  return tcp;
}

inline Bytes Tcp(const wire::IpAddress& src, const wire::IpAddress& dst, const TcpSpec& s) {
  wire::TcpRepr tcp = TcpHeader(s);
  Bytes out(tcp.HeaderLen());
  EXPECT_TRUE(tcp.Emit(out));
  out.insert(out.end(), s.payload.begin(), s.payload.end());
  if (wire::IsIpv4(src)) {
    EXPECT_TRUE(
        wire::TcpRepr::FillChecksumV4(out, std::get<Ipv4Address>(src), std::get<Ipv4Address>(dst)));
  } else {
    EXPECT_TRUE(
        wire::TcpRepr::FillChecksumV6(out, std::get<Ipv6Address>(src), std::get<Ipv6Address>(dst)));
  }
  return out;
}

// A whole frame carrying a TCP segment from `src` to `dst`.
inline Bytes TcpFrame4(const Ipv4Address& src, const Ipv4Address& dst, const TcpSpec& s = {},
                       const MacAddress& eth_src = kPeerMac, const MacAddress& eth_dst = kOurMac) {
  return Eth(eth_dst, eth_src, wire::kEtherTypeIpv4,
             Ip4(src, dst, wire::IpProtocol::kTcp, Tcp(src, dst, s)));
}
inline Bytes TcpFrame6(const Ipv6Address& src, const Ipv6Address& dst, const TcpSpec& s = {},
                       const MacAddress& eth_src = kPeerMac, const MacAddress& eth_dst = kOurMac) {
  return Eth(eth_dst, eth_src, wire::kEtherTypeIpv6,
             Ip6(src, dst, wire::IpProtocol::kTcp, Tcp(src, dst, s)));
}

inline Bytes Icmp4(const wire::Icmpv4Repr& icmp) {
  Bytes out(icmp.BufferLen());
  EXPECT_TRUE(icmp.Emit(out));
  return out;
}
inline Bytes Icmp6(const wire::Icmpv6Repr& icmp, const Ipv6Address& src, const Ipv6Address& dst) {
  Bytes out(icmp.BufferLen());
  EXPECT_TRUE(icmp.Emit(out, src, dst));
  return out;
}

// An outbound segment for Transmit; `payload` must outlive the call.
inline tcp::OutboundSegment Outbound(const TcpSpec& s) {
  tcp::OutboundSegment out;
  out.header = TcpHeader(s);
  out.payload_head = s.payload;
  return out;
}

// --- Fixture ---

inline NetStackConfig TestConfig() {
  NetStackConfig c;
  c.secret = kSecret;
  return c;
}

inline InterfaceConfig Path0Config() {
  InterfaceConfig c;
  c.name = "path0";
  c.port = 0;
  c.mac = kOurMac;
  c.mtu = 1500;
  c.ipv4 = {{kOurIp, 24}};
  c.ipv6 = {{kOurIp6, 64}};
  c.ipv4_gateway = kGatewayIp;
  c.ipv6_gateway = kGatewayIp6;
  return c;
}

class NetFixture : public ::testing::Test {
 protected:
  explicit NetFixture(NetStackConfig config = TestConfig()) : stack_(config, sink_) {
    stack_.AttachTcp(&backend_);
  }

  // Adds path0 (or `config`) and brings it up at T(0); the announcements are discarded.
  InterfaceId AddUp(const InterfaceConfig& config = Path0Config()) {
    InterfaceId id = 0;
    EXPECT_EQ(stack_.AddInterface(config, &id), NetError::kOk);
    EXPECT_EQ(stack_.SetInterfaceUp(id, true, T(0)), NetError::kOk);
    sink_.Take();
    return id;
  }

  RxOutcome Rx(const Bytes& frame, Instant now = T(1), uint16_t port = 0) {
    return stack_.Receive(port, frame, now);
  }

  // The peer's address resolved (a request from it answered), frames discarded.
  void Learn(const Ipv4Address& ip, const MacAddress& mac, Instant now = T(1)) {
    Rx(Eth(MacAddress::Broadcast(), mac, wire::kEtherTypeArp,
           Arp(wire::ArpOperation::kRequest, mac, ip, MacAddress{}, kOurIp)),
       now);
    sink_.Take();
  }

  uint64_t Dropped(NetDrop d) const { return stack_.counters().dropped(d); }
  uint64_t Count(NetCounter c) const { return stack_.counters()[c]; }

  RecordingSink sink_;
  RecordingBackend backend_;
  NetStack stack_;
};

inline RxOutcome Drop(NetDrop d) { return RxOutcome::Dropped(d); }

// Hex dump for failure messages.
inline std::string Hex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i != 0 && i % 16 == 0) s += '\n';
    s += digits[bytes[i] >> 4];
    s += digits[bytes[i] & 15];
    s += ' ';
  }
  return s;
}

}  // namespace braid::net::test
