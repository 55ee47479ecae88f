// IP framing and parsing around the TCP backend, and the app loop; see tcp_host.h.
#include "datapath/sim/tcp_host.h"

#include <algorithm>
#include <cstring>
#include <span>
#include <variant>

#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/tcp.h"

namespace braid::sim {
namespace {

constexpr std::array<std::string_view, kHostDropCount> kDropNames = {
#define BRAID_SIM_HOST_DROP_NAME(name, str) str,
    BRAID_SIM_HOST_DROPS(BRAID_SIM_HOST_DROP_NAME)
#undef BRAID_SIM_HOST_DROP_NAME
};

// Bounds how often one callback lets the app and the backend bounce events back and forth.
constexpr int kMaxAppRounds = 64;

}  // namespace

std::string_view HostDropName(HostDrop drop) {
  const auto i = static_cast<size_t>(drop);
  return i < kDropNames.size() ? kDropNames[i] : "unknown";
}

TcpHost::TcpHost(const TcpHostConfig& config) : config_(config), backend_(config.backend, *this) {}

void TcpHost::AddAddress(InterfaceIndex interface, const wire::IpAddress& address) {
  addresses_.emplace_back(address, interface);
}

std::optional<InterfaceIndex> TcpHost::InterfaceOf(const wire::IpAddress& address) const {
  for (const auto& [a, i] : addresses_) {
    if (a == address) return i;
  }
  return std::nullopt;
}

void TcpHost::Transmit(const tcp::FlowKey& flow, const tcp::OutboundSegment& segment) {
  const std::optional<InterfaceIndex> interface = InterfaceOf(flow.local);
  if (!interface || flow.local.index() != flow.remote.index()) {
    Drop(HostDrop::kNoRoute);
    return;
  }
  const size_t tcp_header = segment.header.HeaderLen();
  const size_t tcp_len = tcp_header + segment.payload_size();
  const bool v4 = flow.is_ipv4();
  const size_t ip_header = v4 ? wire::kIpv4MinHeaderLen : wire::kIpv6HeaderLen;
  if (tcp_len > 0xffff - (v4 ? ip_header : 0)) {
    Drop(HostDrop::kEmitFailed);
    return;
  }
  std::vector<uint8_t> bytes(ip_header + tcp_len);
  const std::span<uint8_t> all(bytes);
  bool ok;
  if (v4) {
    wire::Ipv4Repr ip;
    ip.source = std::get<wire::Ipv4Address>(flow.local);
    ip.destination = std::get<wire::Ipv4Address>(flow.remote);
    ip.protocol = wire::IpProtocol::kTcp;
    ip.ident = next_ident_++;
    ip.dont_fragment = true;
    ip.ttl = config_.ttl;
    ip.payload_len = static_cast<uint16_t>(tcp_len);
    ok = ip.Emit(all);
  } else {
    wire::Ipv6Repr ip;
    ip.source = std::get<wire::Ipv6Address>(flow.local);
    ip.destination = std::get<wire::Ipv6Address>(flow.remote);
    ip.next_header = wire::IpProtocol::kTcp;
    ip.hop_limit = config_.ttl;
    ip.payload_len = static_cast<uint16_t>(tcp_len);
    ok = ip.Emit(all);
  }
  const std::span<uint8_t> tcp = all.subspan(ip_header);
  ok = ok && segment.header.Emit(tcp);
  if (!ok) {
    Drop(HostDrop::kEmitFailed);
    return;
  }
  uint8_t* p = tcp.data() + tcp_header;
  if (!segment.payload_head.empty()) {
    std::memcpy(p, segment.payload_head.data(), segment.payload_head.size());
    p += segment.payload_head.size();
  }
  if (!segment.payload_tail.empty()) {
    std::memcpy(p, segment.payload_tail.data(), segment.payload_tail.size());
  }
  ok = v4 ? wire::TcpRepr::FillChecksumV4(tcp, std::get<wire::Ipv4Address>(flow.local),
                                          std::get<wire::Ipv4Address>(flow.remote))
          : wire::TcpRepr::FillChecksumV6(tcp, std::get<wire::Ipv6Address>(flow.local),
                                          std::get<wire::Ipv6Address>(flow.remote));
  if (!ok) {
    Drop(HostDrop::kEmitFailed);
    return;
  }
  ++counters_.tx_packets;
  counters_.tx_bytes += bytes.size();
  pending_.emplace_back(*interface, std::move(bytes));
}

bool TcpHost::Parse(std::span<const uint8_t> bytes, tcp::FlowKey* flow,
                    tcp::InboundSegment* segment) {
  if (bytes.empty()) {
    Drop(HostDrop::kMalformedIp);
    return false;
  }
  std::span<const uint8_t> tcp_bytes;
  wire::IpAddress src;
  wire::IpAddress dst;
  const uint8_t version = bytes[0] >> 4;
  if (version == 4) {
    auto packet = wire::Ipv4Packet::Check(bytes);
    if (!packet) {
      Drop(HostDrop::kMalformedIp);
      return false;
    }
    auto ip = wire::Ipv4Repr::Parse(*packet);
    if (!ip) {
      Drop(ip.error() == wire::WireError::kBadChecksum ? HostDrop::kBadIpChecksum
                                                       : HostDrop::kMalformedIp);
      return false;
    }
    if (ip->is_fragment()) {
      Drop(HostDrop::kFragment);
      return false;
    }
    if (ip->protocol != wire::IpProtocol::kTcp) {
      Drop(HostDrop::kNotTcp);
      return false;
    }
    src = ip->source;
    dst = ip->destination;
    tcp_bytes = packet->payload();
  } else if (version == 6) {
    auto packet = wire::Ipv6Packet::Check(bytes);
    if (!packet) {
      Drop(HostDrop::kMalformedIp);
      return false;
    }
    auto walk = packet->WalkExtensionHeaders();
    if (!walk) {
      Drop(HostDrop::kMalformedIp);
      return false;
    }
    if (walk->is_fragment()) {
      Drop(HostDrop::kFragment);
      return false;
    }
    if (walk->upper_layer_protocol != wire::IpProtocol::kTcp) {
      Drop(HostDrop::kNotTcp);
      return false;
    }
    src = packet->source();
    dst = packet->destination();
    tcp_bytes = walk->upper_layer;
  } else {
    Drop(HostDrop::kMalformedIp);
    return false;
  }
  if (!InterfaceOf(dst)) {
    Drop(HostDrop::kNotForUs);
    return false;
  }
  auto tcp = wire::TcpSegment::Check(tcp_bytes);
  if (!tcp) {
    Drop(HostDrop::kMalformedTcp);
    return false;
  }
  const bool checksum_ok = version == 4 ? tcp->VerifyChecksumV4(std::get<wire::Ipv4Address>(src),
                                                                std::get<wire::Ipv4Address>(dst))
                                        : tcp->VerifyChecksumV6(std::get<wire::Ipv6Address>(src),
                                                                std::get<wire::Ipv6Address>(dst));
  if (!checksum_ok) {
    Drop(HostDrop::kBadTcpChecksum);
    return false;
  }
  segment->header = wire::TcpRepr::Parse(*tcp);
  segment->payload = tcp->payload();
  *flow = tcp::FlowKey{.local = dst,
                       .local_port = segment->header.dst_port,
                       .remote = src,
                       .remote_port = segment->header.src_port};
  return true;
}

void TcpHost::RunApp(tcp::Instant now) {
  if (layer_ != nullptr) {
    layer_->Run(now);
    return;
  }
  for (int round = 0; round < kMaxAppRounds; ++round) {
    bool any = false;
    tcp::TcpEvent e;
    while (backend_.NextEvent(&e)) {
      any = true;
      if (app_ != nullptr) app_->OnEvent(e, now, backend_);
    }
    if (app_ != nullptr) {
      const std::optional<tcp::Instant> wake = app_->WakeAt();
      if (wake && *wake <= now) {
        any = true;
        app_->OnWake(now, backend_);
      }
    }
    if (!any) return;
  }
}

void TcpHost::Flush(NodeContext& out) {
  for (auto& [interface, bytes] : pending_) out.Send(interface, std::move(bytes));
  pending_.clear();
}

void TcpHost::Receive(SimTime now, InterfaceIndex /*interface*/, Packet packet, NodeContext& out) {
  const tcp::Instant t = ToInstant(now);
  tcp::FlowKey flow;
  tcp::InboundSegment segment;
  if (Parse(packet.bytes, &flow, &segment)) {
    ++counters_.rx_packets;
    counters_.rx_bytes += packet.bytes.size();
    backend_.Input(flow, segment, t);
  }
  RunApp(t);
  Flush(out);
}

std::optional<SimTime> TcpHost::PollAt() const {
  if (!pending_.empty()) return SimTime(0);  // in the past: "now"
  std::optional<SimTime> at;
  if (const auto b = backend_.PollAt()) at = ToSimTime(*b);
  if (backend_.pending_events() != 0) return SimTime(0);
  std::optional<tcp::Instant> wake;
  if (layer_ != nullptr) {
    wake = layer_->RunAt();
  } else if (app_ != nullptr) {
    wake = app_->WakeAt();
  }
  if (wake) {
    const SimTime ws = ToSimTime(*wake);
    at = at ? std::min(*at, ws) : ws;
  }
  return at;
}

void TcpHost::Poll(SimTime now, NodeContext& out) {
  const tcp::Instant t = ToInstant(now);
  backend_.Poll(t);
  RunApp(t);
  Flush(out);
}

}  // namespace braid::sim
