// Fuzzes the net layer's receive path (NetStack::Receive) with whole frames: every frame must be
// delivered to TCP, consumed (ARP, ND, ICMP) or dropped with a counted reason, never crash, and
// every frame the stack sends in answer must parse back with valid checksums. Each input runs on
// a fresh stack with two interfaces on port 0 (untagged and VLAN 100, the latter with TCP
// checksum offload), a learned neighbour and a SYN waiting for resolution, so ARP replies and
// NAs in the input can flush it. The input goes in as is, then again with its IPv4, TCP and ICMP
// checksums fixed so the fuzzer reaches the layers above them; a segment delivered to TCP is
// echoed back through the send path with its options, and the timers run last.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <variant>
#include <vector>

#include "datapath/net/frame_sink.h"
#include "datapath/net/interface.h"
#include "datapath/net/net_counters.h"
#include "datapath/net/net_stack.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/arp.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/icmpv6.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/tcp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using namespace braid;  // NOLINT: a fuzz entry point

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

tcp::Instant At(int64_t ms) { return tcp::InstantFromNanos((1'000'000 + ms) * 1'000'000); }

wire::Ipv4Address V4(const char* s) { return *wire::Ipv4Address::Parse(s); }
wire::Ipv6Address V6(const char* s) { return *wire::Ipv6Address::Parse(s); }

// Checks every frame the stack emits.
class CheckingSink : public net::FrameSink {
 public:
  void TransmitFrame(uint16_t port, std::span<const uint8_t> frame,
                     const net::TxOffload& offload) override {
    Require(port == 0);
    Require(frame.size() >= net::kMinFrameLen);
    auto eth = wire::EthernetFrame::Check(frame);
    Require(eth.ok());
    Require(!eth->source().IsMulticast());
    switch (eth->ethertype()) {
      case wire::kEtherTypeArp: {
        auto arp = wire::ArpPacket::Check(eth->payload());
        Require(arp.ok() && wire::ArpRepr::Parse(*arp).ok());
        break;
      }
      case wire::kEtherTypeIpv4: {
        auto ip = wire::Ipv4Packet::Check(eth->payload());
        Require(ip.ok() && ip->checksum_ok() && ip->dont_fragment() && !ip->is_fragment());
        if (ip->protocol() == wire::IpProtocol::kTcp) {
          CheckTcp(ip->payload(), ip->source(), ip->destination(), offload);
        } else {
          Require(ip->protocol() == wire::IpProtocol::kIcmp);
          Require(wire::ComputeChecksum(ip->payload()) == 0);
        }
        break;
      }
      case wire::kEtherTypeIpv6: {
        auto ip = wire::Ipv6Packet::Check(eth->payload());
        Require(ip.ok());
        if (ip->next_header() == wire::IpProtocol::kTcp) {
          CheckTcp(ip->payload(), ip->source(), ip->destination(), offload);
        } else {
          Require(ip->next_header() == wire::IpProtocol::kIcmpv6);
          auto icmp = wire::Icmpv6Packet::Check(ip->payload());
          Require(icmp.ok() && icmp->checksum_ok(ip->source(), ip->destination()));
        }
        break;
      }
      default:
        Require(false);
    }
  }

 private:
  template <typename Address>
  static void CheckTcp(std::span<const uint8_t> bytes, const Address& src, const Address& dst,
                       const net::TxOffload& offload) {
    std::vector<uint8_t> copy(bytes.begin(), bytes.end());
    if (offload.tcp_checksum) {
      // What the device does: finish the sum seeded with the pseudo-header's.
      Require(copy.size() >= wire::kTcpHeaderLen);
      wire::InternetChecksum device;
      device.Add(copy);
      wire::StoreBe16(copy.data() + 16, device.Finish());
    }
    auto tcp = wire::TcpSegment::Check(copy);
    Require(tcp.ok());
    if constexpr (std::is_same_v<Address, wire::Ipv4Address>) {
      Require(tcp->VerifyChecksumV4(src, dst));
    } else {
      Require(tcp->VerifyChecksumV6(src, dst));
    }
  }
};

// A TCP engine that checks what it is given and answers every segment with one of its own, so
// that the send path sees the options and payload the fuzzer chose.
class EchoBackend : public tcp::TcpBackend {
 public:
  net::NetStack* stack = nullptr;

  tcp::TcpError Connect(const tcp::ConnectRequest&, tcp::Instant, tcp::ConnectionId*) override {
    return tcp::TcpError::kInvalidState;
  }
  tcp::TcpError Listen(const wire::IpAddress*, uint16_t, const tcp::TcpConfig&, tcp::ListenHooks*,
                       tcp::ListenerId*) override {
    return tcp::TcpError::kInvalidState;
  }
  tcp::TcpError StopListening(tcp::ListenerId) override { return tcp::TcpError::kInvalidHandle; }
  tcp::SendResult Send(tcp::ConnectionId, std::span<const uint8_t>, tcp::Instant) override {
    return {};
  }
  tcp::ReceiveResult Receive(tcp::ConnectionId, std::span<uint8_t>, tcp::Instant) override {
    return {};
  }
  tcp::TcpError Shutdown(tcp::ConnectionId, tcp::Instant) override {
    return tcp::TcpError::kInvalidHandle;
  }
  tcp::TcpError Abort(tcp::ConnectionId, tcp::Instant) override {
    return tcp::TcpError::kInvalidHandle;
  }
  tcp::TcpError Close(tcp::ConnectionId, tcp::Instant) override {
    return tcp::TcpError::kInvalidHandle;
  }
  tcp::TcpError SetNagle(tcp::ConnectionId, bool) override { return tcp::TcpError::kInvalidHandle; }
  tcp::TcpError SetKeepalive(tcp::ConnectionId, bool) override {
    return tcp::TcpError::kInvalidHandle;
  }
  tcp::TcpError SendAck(tcp::ConnectionId, tcp::Instant) override {
    return tcp::TcpError::kInvalidHandle;
  }
  std::optional<tcp::SendState> GetSendState(tcp::ConnectionId) const override {
    return std::nullopt;
  }
  std::optional<tcp::TcpInfo> Info(tcp::ConnectionId) const override { return std::nullopt; }
  std::optional<tcp::FlowKey> Flow(tcp::ConnectionId) const override { return std::nullopt; }
  // The driver checks the stack's ICMP events itself (LLVMFuzzerTestOneInput); nothing calls these.
  void OnPathMtu(const tcp::FlowKey&, uint32_t, wire::TcpSeq, tcp::Instant) override {}
  void OnSoftError(const tcp::FlowKey&, wire::TcpSeq, tcp::Instant) override {}
  void Poll(tcp::Instant) override {}
  std::optional<tcp::Instant> PollAt() const override { return std::nullopt; }
  bool NextEvent(tcp::TcpEvent*) override { return false; }

  void Input(const tcp::FlowKey& flow, const tcp::InboundSegment& segment, tcp::Instant) override {
    Require(segment.header.payload_len == segment.payload.size());
    Require(flow.local.index() == flow.remote.index());
    Require(stack->InterfaceOf(flow.local).has_value());
    Require(flow.local_port != 0 && flow.remote_port != 0);
    tcp::OutboundSegment out;
    out.header = segment.header;
    out.header.src_port = flow.local_port;
    out.header.dst_port = flow.remote_port;
    size_t half = segment.payload.size() / 2;
    out.payload_head = segment.payload.first(half);
    out.payload_tail = segment.payload.subspan(half);
    out.header.payload_len = out.payload_size();
    stack->Transmit(flow, out);
  }
};

// Fixes the IPv4 header, TCP, ICMP and ICMPv6 checksums of a frame in place, where the headers
// are there to fix.
void FixChecksums(std::vector<uint8_t>& frame) {
  auto eth = wire::EthernetFrame::Check(frame);
  if (!eth.ok()) return;
  uint8_t* l3 = frame.data() + eth->header_len();
  size_t l3_len = frame.size() - eth->header_len();
  if (eth->ethertype() == wire::kEtherTypeIpv4) {
    if (l3_len < wire::kIpv4MinHeaderLen) return;
    size_t ihl = size_t{l3[0] & 0x0fu} * 4;
    size_t total = wire::LoadBe16(l3 + 2);
    if (ihl < wire::kIpv4MinHeaderLen || ihl > l3_len || total < ihl || total > l3_len) return;
    wire::StoreBe16(l3 + 10, 0);
    wire::StoreBe16(l3 + 10, wire::ComputeChecksum({l3, ihl}));
    std::span<uint8_t> upper(l3 + ihl, total - ihl);
    auto src = wire::Ipv4Address::FromBytes(l3 + 12);
    auto dst = wire::Ipv4Address::FromBytes(l3 + 16);
    if (l3[9] == static_cast<uint8_t>(wire::IpProtocol::kTcp) && upper.size() >= 18) {
      wire::StoreBe16(upper.data() + 16, 0);
      wire::StoreBe16(upper.data() + 16, wire::Ipv4UpperLayerChecksum(src, dst, 6, upper));
    } else if (l3[9] == static_cast<uint8_t>(wire::IpProtocol::kIcmp) && upper.size() >= 4) {
      wire::StoreBe16(upper.data() + 2, 0);
      wire::StoreBe16(upper.data() + 2, wire::ComputeChecksum(upper));
    }
  } else if (eth->ethertype() == wire::kEtherTypeIpv6) {
    auto ip = wire::Ipv6Packet::Check({l3, l3_len});
    if (!ip.ok()) return;
    auto walk = ip->WalkExtensionHeaders();
    if (!walk.ok()) return;
    std::span<uint8_t> upper(l3 + walk->upper_layer_offset, walk->upper_layer.size());
    size_t field = 0;
    if (walk->upper_layer_protocol == wire::IpProtocol::kTcp && upper.size() >= 18) {
      field = 16;
    } else if (walk->upper_layer_protocol == wire::IpProtocol::kIcmpv6 && upper.size() >= 4) {
      field = 2;
    } else {
      return;
    }
    wire::StoreBe16(upper.data() + field, 0);
    wire::StoreBe16(
        upper.data() + field,
        wire::Ipv6UpperLayerChecksum(ip->source(), ip->destination(),
                                     static_cast<uint8_t>(walk->upper_layer_protocol), upper));
  }
}

void CheckAccounting(const net::NetStack& stack) {
  const net::NetCounters& c = stack.counters();
  uint64_t drops = 0;
  for (uint64_t d : c.drops) drops += d;
  Require(c[net::NetCounter::kRxFrames] == c[net::NetCounter::kRxDelivered] +
                                               c[net::NetCounter::kRxConsumed] +
                                               c[net::NetCounter::kRxDropped]);
  Require(drops == c[net::NetCounter::kRxDropped] + c[net::NetCounter::kTxDropped]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  net::NetStackConfig config;
  config.secret = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  config.neighbor.capacity = 16;
  config.neighbor.queue_total = 8;
  config.icmp_event_queue = 4;
  CheckingSink sink;
  EchoBackend backend;
  net::NetStack stack(config, sink);
  backend.stack = &stack;
  stack.AttachTcp(&backend);

  net::InterfaceConfig path0;
  path0.port = 0;
  path0.mac = *wire::MacAddress::Parse("02:00:00:00:00:01");
  path0.ipv4 = {{V4("192.0.2.1"), 24}};
  path0.ipv6 = {{V6("2001:db8:1::1"), 64}};
  path0.ipv4_gateway = V4("192.0.2.254");
  path0.ipv6_gateway = V6("2001:db8:1::fe");
  net::InterfaceConfig path1;
  path1.port = 0;
  path1.vlan = 100;
  path1.mac = *wire::MacAddress::Parse("02:00:00:00:01:01");
  path1.ipv4 = {{V4("198.51.100.1"), 24}};
  path1.ipv6 = {{V6("2001:db8:2::1"), 64}};
  path1.tx_tcp_checksum_offload = true;
  net::InterfaceId id0 = 0;
  net::InterfaceId id1 = 0;
  Require(stack.AddInterface(path0, &id0) == net::NetError::kOk);
  Require(stack.AddInterface(path1, &id1) == net::NetError::kOk);
  Require(stack.SetInterfaceUp(id0, true, At(0)) == net::NetError::kOk);
  Require(stack.SetInterfaceUp(id1, true, At(0)) == net::NetError::kOk);

  // A SYN to 192.0.2.2 and one to 2001:db8:1::2 wait for resolution.
  tcp::OutboundSegment syn;
  syn.header.src_port = 40000;
  syn.header.dst_port = 80;
  syn.header.flags = wire::TcpFlag::kSyn;
  syn.header.options.mss = 1460;
  stack.Transmit({V4("192.0.2.1"), 40000, V4("192.0.2.2"), 80}, syn);
  stack.Transmit({V6("2001:db8:1::1"), 40000, V6("2001:db8:1::2"), 80}, syn);

  std::span<const uint8_t> input(data, size);
  stack.Receive(0, input, At(1));
  CheckAccounting(stack);
  std::vector<uint8_t> fixed(input.begin(), input.end());
  FixChecksums(fixed);
  stack.Receive(0, fixed, At(2));
  CheckAccounting(stack);
  net::IcmpEvent event;
  while (stack.NextEvent(&event)) {
    Require(stack.InterfaceOf(event.flow.local).has_value());
    Require(event.kind != net::IcmpEvent::Kind::kPathMtu || (event.mtu >= 552 && event.mtu < 1500));
  }
  for (int64_t t : {1000, 2000, 3000, 10000, 40000, 100000}) {
    stack.Poll(At(t));
    CheckAccounting(stack);
  }
  return 0;
}
