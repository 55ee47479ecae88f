#include "datapath/io/steering.h"

#include <algorithm>
#include <array>
#include <bit>

#include "absl/status/status.h"
#include "datapath/io/text.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/ethernet.h"

namespace braid::io {
namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;

// An IP packet (header first) reduced to its transport: protocol, offset of the transport header,
// and whether it is a non-first fragment (no transport header in it).
struct Transport {
  bool ok = false;
  bool later_fragment = false;
  uint8_t protocol = 0;
  size_t offset = 0;
  wire::IpAddress src;
  wire::IpAddress dst;
};

Transport ParseIpv4(std::span<const uint8_t> ip) {
  Transport t;
  if (ip.size() < kIpv4MinHeader || (ip[0] >> 4) != 4) return t;
  const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
  if (ihl < kIpv4MinHeader || ihl > ip.size()) return t;
  t.later_fragment = (wire::LoadBe16(&ip[6]) & 0x1fff) != 0;
  t.protocol = ip[9];
  t.offset = ihl;
  t.src = wire::Ipv4Address::FromBytes(&ip[12]);
  t.dst = wire::Ipv4Address::FromBytes(&ip[16]);
  t.ok = true;
  return t;
}

Transport ParseIpv6(std::span<const uint8_t> ip) {
  Transport t;
  if (ip.size() < kIpv6Header || (ip[0] >> 4) != 6) return t;
  t.src = wire::Ipv6Address::FromBytes(&ip[8]);
  t.dst = wire::Ipv6Address::FromBytes(&ip[24]);
  uint8_t next = ip[6];
  size_t off = kIpv6Header;
  // RFC 8200 §4.1 order; a handful at most in practice, bounded here against crafted chains.
  for (int i = 0; i < 8; ++i) {
    if (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination options
      if (off + 2 > ip.size()) return t;
      const size_t len = (size_t{ip[off + 1]} + 1) * 8;
      next = ip[off];
      off += len;
    } else if (next == 44) {  // fragment header, 8 bytes
      if (off + 8 > ip.size()) return t;
      t.later_fragment = (wire::LoadBe16(&ip[off + 2]) & 0xfff8) != 0;
      next = ip[off];
      off += 8;
    } else {
      break;
    }
  }
  if (off > ip.size()) return t;
  t.protocol = next;
  t.offset = off;
  t.ok = true;
  return t;
}

Transport ParseIp(std::span<const uint8_t> ip, bool v6) {
  return v6 ? ParseIpv6(ip) : ParseIpv4(ip);
}

// The flow of the TCP header at `tcp` (at least the 4 port bytes) in packet `t`. `quoted`: the
// packet is one we sent (an ICMP error's quote), so its source is our side.
bool TcpFlow(const Transport& t, std::span<const uint8_t> tcp, bool quoted, tcp::FlowKey* flow) {
  if (tcp.size() < 4) return false;
  const uint16_t src_port = wire::LoadBe16(&tcp[0]);
  const uint16_t dst_port = wire::LoadBe16(&tcp[2]);
  if (quoted) {
    *flow = {t.src, src_port, t.dst, dst_port};
  } else {
    *flow = {t.dst, dst_port, t.src, src_port};
  }
  return true;
}

SteeringKey ClassifyIcmpError(std::span<const uint8_t> quote, bool v6) {
  SteeringKey key;
  const Transport inner = ParseIp(quote, v6);
  if (!inner.ok || inner.later_fragment || inner.protocol != kProtoTcp) {
    key.kind = inner.ok ? FrameKind::kOther : FrameKind::kMalformed;
    return key;
  }
  key.kind = TcpFlow(inner, quote.subspan(inner.offset), /*quoted=*/true, &key.flow)
                 ? FrameKind::kIcmpError
                 : FrameKind::kMalformed;
  return key;
}

}  // namespace

std::vector<PortPrefix> PortRangeToPrefixes(const PortRange& range) {
  std::vector<PortPrefix> out;
  if (range.size() == 0) return out;
  uint32_t start = range.first;
  const uint32_t end = uint32_t{range.last} + 1;  // exclusive
  while (start < end) {
    // The largest block aligned at `start` that does not pass `end`.
    uint32_t block = start == 0 ? 0x10000u : (start & (~start + 1));
    while (start + block > end) block >>= 1;
    out.push_back({static_cast<uint16_t>(start), static_cast<uint16_t>(~(block - 1) & 0xffffu)});
    start += block;
  }
  return out;
}

std::vector<PortRange> SplitPortRange(const PortRange& all, unsigned workers) {
  std::vector<PortRange> out;
  if (workers == 0 || all.size() < workers) return out;
  for (uint32_t size = std::bit_floor(all.size() / workers); size >= 1; size >>= 1) {
    const uint32_t start = (uint32_t{all.first} + size - 1) / size * size;
    if (start + uint64_t{size} * workers - 1 <= all.last) {
      for (unsigned w = 0; w < workers; ++w) {
        out.push_back({static_cast<uint16_t>(start + w * size),
                       static_cast<uint16_t>(start + (w + 1) * size - 1)});
      }
      return out;
    }
  }
  return out;
}

std::string_view FrameKindName(FrameKind kind) {
  switch (kind) {
    case FrameKind::kTcp:
      return "tcp";
    case FrameKind::kIcmpError:
      return "icmp_error";
    case FrameKind::kNeighbor:
      return "neighbor";
    case FrameKind::kOther:
      return "other";
    case FrameKind::kMalformed:
      return "malformed";
  }
  return "?";
}

SteeringKey ClassifyFrame(std::span<const uint8_t> frame) {
  SteeringKey key;
  auto eth = wire::EthernetFrame::Check(frame);
  if (!eth.ok()) return key;
  const uint16_t ethertype = eth->ethertype();
  if (ethertype == wire::kEtherTypeArp) {
    key.kind = FrameKind::kNeighbor;
    return key;
  }
  if (ethertype != wire::kEtherTypeIpv4 && ethertype != wire::kEtherTypeIpv6) {
    key.kind = FrameKind::kOther;
    return key;
  }
  const bool v6 = ethertype == wire::kEtherTypeIpv6;
  const std::span<const uint8_t> ip = eth->payload();
  const Transport t = ParseIp(ip, v6);
  if (!t.ok) return key;
  key.kind = FrameKind::kOther;
  if (t.later_fragment) return key;
  const std::span<const uint8_t> l4 = ip.subspan(t.offset);
  if (t.protocol == kProtoTcp) {
    key.kind =
        TcpFlow(t, l4, /*quoted=*/false, &key.flow) ? FrameKind::kTcp : FrameKind::kMalformed;
    return key;
  }
  if (!v6 && t.protocol == kProtoIcmp) {
    if (l4.size() < 8) return key;
    const uint8_t type = l4[0];
    // RFC 792: destination unreachable, time exceeded, parameter problem quote our header.
    if (type == 3 || type == 11 || type == 12) return ClassifyIcmpError(l4.subspan(8), false);
    return key;
  }
  if (v6 && t.protocol == kProtoIcmpv6) {
    if (l4.size() < 8) return key;
    const uint8_t type = l4[0];
    // RFC 4443 §3: error messages 1..4 quote as much of our packet as fits.
    if (type >= 1 && type <= 4) return ClassifyIcmpError(l4.subspan(8), true);
    // RFC 4861 §4: router solicitation/advertisement, neighbour solicitation/advertisement,
    // redirect.
    if (type >= 133 && type <= 137) key.kind = FrameKind::kNeighbor;
    return key;
  }
  return key;
}

SteeringTable::SteeringTable(const SteeringConfig& config)
    : config_(config),
      port_owner_(0x10000, kAnyWorker),
      flows_(config.max_flows, tcp::FlowKeyHash()) {}

absl::StatusOr<SteeringTable> SteeringTable::Create(const SteeringConfig& config) {
  if (config.workers == 0 || config.workers > kMaxWorkers) {
    return absl::InvalidArgumentError(
        Cat("steering: ", config.workers, " workers (1..", kMaxWorkers, ")"));
  }
  if (config.client_ranges.size() > config.workers) {
    return absl::InvalidArgumentError(Cat("steering: ", config.client_ranges.size(),
                                          " client ranges for ", config.workers, " workers"));
  }
  if (config.default_worker >= config.workers) {
    return absl::InvalidArgumentError(
        Cat("steering: default_worker ", config.default_worker, " out of range"));
  }
  SteeringTable table(config);
  for (size_t w = 0; w < config.client_ranges.size(); ++w) {
    const PortRange& r = config.client_ranges[w];
    if (r.size() == 0) continue;  // this worker opens no connections
    if (r.first == 0) {
      return absl::InvalidArgumentError(
          Cat("steering: worker ", w, "'s client range starts at port 0"));
    }
    for (uint32_t p = r.first; p <= r.last; ++p) {
      if (table.port_owner_[p] != kAnyWorker) {
        return absl::InvalidArgumentError(Cat("steering: client ranges of workers ",
                                              table.port_owner_[p], " and ", w, " overlap at port ",
                                              p));
      }
      table.port_owner_[p] = static_cast<uint16_t>(w);
    }
  }
  std::vector<bool> listed(0x10000, false);
  for (const ListenPort& l : config.listen) {
    if (l.port == 0) return absl::InvalidArgumentError("steering: listen port 0");
    if (l.worker != kAnyWorker && l.worker >= config.workers) {
      return absl::InvalidArgumentError(Cat("steering: listen port ", l.port, " pinned to worker ",
                                            l.worker, " of ", config.workers));
    }
    if (listed[l.port]) {
      return absl::InvalidArgumentError(Cat("steering: listen port ", l.port, " listed twice"));
    }
    listed[l.port] = true;
    if (table.port_owner_[l.port] != kAnyWorker) {
      return absl::InvalidArgumentError(Cat("steering: listen port ", l.port, " lies in worker ",
                                            table.port_owner_[l.port], "'s client range"));
    }
    table.port_owner_[l.port] = l.worker;  // kAnyWorker stays hashed
  }
  return table;
}

uint16_t SteeringTable::HashOwner(const tcp::FlowKey& flow) const {
  if (config_.workers == 1) return 0;
  // local address, local port, remote address, remote port: up to 36 bytes.
  std::array<uint8_t, 36> buf{};
  size_t n = 0;
  auto put_addr = [&](const wire::IpAddress& a) {
    if (const auto* v4 = std::get_if<wire::Ipv4Address>(&a)) {
      std::copy(v4->bytes.begin(), v4->bytes.end(), buf.begin() + n);
      n += v4->bytes.size();
    } else {
      const auto& v6 = std::get<wire::Ipv6Address>(a);
      std::copy(v6.bytes.begin(), v6.bytes.end(), buf.begin() + n);
      n += v6.bytes.size();
    }
  };
  put_addr(flow.local);
  wire::StoreBe16(&buf[n], flow.local_port);
  n += 2;
  put_addr(flow.remote);
  wire::StoreBe16(&buf[n], flow.remote_port);
  n += 2;
  const uint64_t h = tcp::SipHash24(config_.hash_key, std::span<const uint8_t>(buf.data(), n));
  return static_cast<uint16_t>(h % config_.workers);
}

uint16_t SteeringTable::OwnerOf(const tcp::FlowKey& flow) const {
  if (flows_.size() != 0) {
    if (const uint16_t* w = flows_.Find(flow)) return *w;
  }
  const uint16_t owner = port_owner_[flow.local_port];
  if (owner != kAnyWorker) return owner;
  return HashOwner(flow);
}

uint16_t SteeringTable::SteerKey(const SteeringKey& key) const {
  switch (key.kind) {
    case FrameKind::kTcp:
    case FrameKind::kIcmpError:
      return OwnerOf(key.flow);
    case FrameKind::kNeighbor:
      return config_.workers == 1 ? uint16_t{0} : kBroadcast;
    case FrameKind::kOther:
    case FrameKind::kMalformed:
      return config_.default_worker;
  }
  return config_.default_worker;
}

bool SteeringTable::AddFlow(const tcp::FlowKey& flow, uint16_t worker) {
  if (worker >= config_.workers) return false;
  auto [value, inserted] = flows_.Insert(flow, worker);
  if (value == nullptr) return false;
  if (!inserted) *value = worker;
  return true;
}

std::string_view SteeringModeName(SteeringMode mode) {
  switch (mode) {
    case SteeringMode::kSingleQueue:
      return "single_queue";
    case SteeringMode::kHardware:
      return "hardware";
    case SteeringMode::kSoftware:
      return "software";
  }
  return "?";
}

SteeringMode ChooseSteeringMode(unsigned workers, bool flow_rules_work, unsigned rx_queues) {
  if (workers <= 1) return SteeringMode::kSingleQueue;
  if (flow_rules_work && rx_queues >= workers) return SteeringMode::kHardware;
  return SteeringMode::kSoftware;
}

}  // namespace braid::io
