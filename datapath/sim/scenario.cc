// Builds and runs one scenario; see scenario.h.
#include "datapath/sim/scenario.h"

#include <algorithm>
#include <cmath>

#include "datapath/sim/bulk_transfer.h"
#include "datapath/sim/random.h"
#include "datapath/sim/request_response.h"
#include "datapath/sim/simulator.h"
#include "datapath/tcp/siphash.h"

namespace braid::sim {
namespace {

constexpr size_t kIpPacketBytes = 1500;

wire::IpAddress ClientAddress(bool ipv6) {
  if (ipv6) return *wire::Ipv6Address::Parse("2001:db8::1");
  return wire::Ipv4Address::FromU32(0x0a000001);
}

wire::IpAddress ServerAddress(bool ipv6) {
  if (ipv6) return *wire::Ipv6Address::Parse("2001:db8::2");
  return wire::Ipv4Address::FromU32(0x0a000002);
}

tcp::TcpConfig TcpConfigFor(const ScenarioConfig& c) {
  tcp::TcpConfig t = c.tcp;
  t.congestion_control = c.congestion_control;
  t.timestamps = c.timestamps;
  t.sack = c.sack;
  return t;
}

std::string ResetName(const std::optional<tcp::TcpEvent::ResetReason>& r) {
  return r ? std::string(tcp::ResetReasonName(*r)) : std::string();
}

double Seconds(tcp::Duration d) { return std::chrono::duration<double>(d).count(); }

// The sender's retransmission and segment counters, as both workloads report them.
void CopySenderCounters(const tcp::TcpCounters& k, FlowResult& r) {
  r.retransmits = k[tcp::TcpCounter::kRetransmits];
  r.fast_retransmits = k[tcp::TcpCounter::kFastRetransmits];
  r.rto_retransmits = k[tcp::TcpCounter::kRtoRetransmits];
  r.tlp_probes = k[tcp::TcpCounter::kTlpProbes];
  r.rto_expirations = k[tcp::TcpCounter::kRtoExpirations];
  r.spurious_retransmits = k[tcp::TcpCounter::kSpuriousRetransmits];
  r.bytes_retransmitted = k[tcp::TcpCounter::kBytesRetransmitted];
  r.segments_out = k[tcp::TcpCounter::kSegmentsOut];
}

}  // namespace

TcpHostConfig SeededHostConfig(uint64_t seed, uint64_t which) {
  TcpHostConfig h;
  h.backend.secret =
      tcp::SipKey{.k0 = DeriveSeed(seed, 1000 + which), .k1 = DeriveSeed(seed, 2000 + which)};
  return h;
}

uint64_t BdpQueuePackets(uint64_t rate_bps, tcp::Duration rtt) {
  const double bdp_bytes = static_cast<double>(rate_bps) / 8.0 * Seconds(rtt);
  return std::max<uint64_t>(16, static_cast<uint64_t>(std::ceil(bdp_bytes / kIpPacketBytes)));
}

uint64_t QueuePackets(const ScenarioConfig& c) {
  return c.queue_packets != 0 ? c.queue_packets : BdpQueuePackets(c.rate_bps, c.rtt);
}

tcp::Duration ReorderDelay(const ScenarioConfig& c) {
  if (c.reorder_delay != tcp::Duration::zero()) return c.reorder_delay;
  return std::max<tcp::Duration>(std::chrono::milliseconds(1), c.rtt / 4);
}

tcp::Duration Quantile(std::vector<tcp::Duration> values, double q) {
  if (values.empty()) return tcp::Duration::zero();
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(q * static_cast<double>(values.size()));
  const size_t i = static_cast<size_t>(std::clamp<double>(rank, 1, values.size())) - 1;
  return values[i];
}

ScenarioResult RunScenario(const ScenarioConfig& c) {
  Simulator sim(c.seed);
  TcpHost client(SeededHostConfig(c.seed, 0));
  TcpHost server(SeededHostConfig(c.seed, 1));
  const wire::IpAddress client_addr = ClientAddress(c.ipv6);
  const wire::IpAddress server_addr = ServerAddress(c.ipv6);
  client.AddAddress(0, client_addr);
  server.AddAddress(0, server_addr);
  const NodeId a = sim.AddNode(client);
  const NodeId b = sim.AddNode(server);

  LinkConfig link;
  link.rate_bps = c.rate_bps;
  link.delay = c.rtt / 2;
  if (c.jitter > tcp::Duration::zero()) {
    link.jitter = JitterConfig{.kind = JitterKind::kUniform, .bound = c.jitter, .stddev = {}};
  }
  link.loss = c.loss;
  link.reorder = c.reorder;
  link.reorder_delay = ReorderDelay(c);
  link.queue_limit_packets = QueuePackets(c);
  const DuplexLink path = sim.Connect(Endpoint{a, 0}, Endpoint{b, 0}, link);

  const tcp::TcpConfig tcp_config = TcpConfigFor(c);
  const tcp::Instant start = TcpHost::ToInstant(SimTime(0));
  ScenarioResult result;
  const auto window_start = SimTime(c.measure_from);

  if (c.mode == ScenarioConfig::Mode::kBulk) {
    BulkConfig bc;
    bc.flows = std::max<uint32_t>(c.flows, 1);
    bc.bytes_per_flow = c.bytes;
    if (c.bytes == 0) bc.stop_at = start + c.duration;
    bc.seed = c.seed;
    bc.start_at = start;
    bc.client = client_addr;
    bc.server = server_addr;
    bc.client_config = tcp_config;
    bc.server_config = tcp_config;
    std::vector<BulkFlowStats> stats;
    BulkSender sender(bc, stats);
    BulkReceiver receiver(bc, stats);
    client.SetApp(&sender);
    server.SetApp(&receiver);
    receiver.Listen(server.backend());

    auto done = [&] {
      for (const BulkFlowStats& f : stats) {
        const bool failed = f.client_reset || f.server_reset;
        const bool finished = f.fin_at && f.client_closed_at && f.server_closed_at;
        if (!failed && !finished) return false;
      }
      return true;
    };
    const SimTime limit = SimTime(c.time_limit);
    // Goodput window: bytes delivered between measure_from and the end of sending (or of the
    // last flow's data, for a sized transfer).
    std::vector<uint64_t> at_window_start(stats.size(), 0);
    uint64_t link_bytes_at_start = 0;
    if (window_start > SimTime(0)) {
      sim.RunUntil(done, std::min(window_start, limit));
      for (size_t i = 0; i < stats.size(); ++i) at_window_start[i] = stats[i].bytes_received;
      link_bytes_at_start = sim.link(path.a_to_b).counters().delivered_bytes;
    }
    std::vector<uint64_t> at_window_end(stats.size(), 0);
    SimTime window_end{0};
    uint64_t link_bytes_at_end = 0;
    if (c.bytes == 0) {
      const SimTime stop = SimTime(c.duration);
      sim.RunUntil(done, std::min(stop, limit));
      for (size_t i = 0; i < stats.size(); ++i) at_window_end[i] = stats[i].bytes_received;
      window_end = sim.now();
      link_bytes_at_end = sim.link(path.a_to_b).counters().delivered_bytes;
    }
    sim.RunUntil(done, limit);
    result.end = sim.now();
    if (c.bytes != 0) {
      // Sized transfers: the window ends when the last receiver read its last byte.
      for (size_t i = 0; i < stats.size(); ++i) {
        at_window_end[i] = stats[i].bytes_received;
        if (stats[i].last_byte_at) {
          window_end = std::max(window_end, TcpHost::ToSimTime(*stats[i].last_byte_at));
        }
      }
      if (window_end == SimTime(0)) window_end = result.end;
      link_bytes_at_end = sim.link(path.a_to_b).counters().delivered_bytes;
    }
    const double window = Seconds(window_end - window_start);
    result.measured_seconds = window;

    result.all_complete = true;
    result.all_match = true;
    for (size_t i = 0; i < stats.size(); ++i) {
      const BulkFlowStats& f = stats[i];
      FlowResult r;
      r.bytes_sent = f.bytes_sent;
      r.bytes_received = f.bytes_received;
      r.sha_sent = util::ToHex(f.sent_hash.Digest());
      r.sha_received = util::ToHex(f.received_hash.Digest());
      r.sha_match = r.sha_sent == r.sha_received;
      r.complete = f.Complete() && f.client_closed_at && f.server_closed_at && !f.client_reset &&
                   !f.server_reset;
      if (window > 0) {
        r.goodput_bps = static_cast<double>(at_window_end[i] - at_window_start[i]) * 8 / window;
      }
      if (f.connect_at && f.established_at) r.handshake = *f.established_at - *f.connect_at;
      if (f.connect_at && f.fin_at) r.completion = *f.fin_at - *f.connect_at;
      r.max_stall = f.max_gap;
      if (f.max_gap_end) r.max_stall_end = TcpHost::ToSimTime(*f.max_gap_end);
      if (f.client_info) {
        CopySenderCounters(f.client_info->counters, r);
        r.final_rto = f.client_info->rto;
      }
      r.min_rtt = f.min_rtt;
      if (f.srtt_samples != 0) {
        r.avg_srtt = f.srtt_sum / static_cast<int64_t>(f.srtt_samples);
      }
      r.client_reset = ResetName(f.client_reset);
      r.server_reset = ResetName(f.server_reset);
      result.goodput_bps += r.goodput_bps;
      result.all_complete = result.all_complete && r.complete;
      result.all_match = result.all_match && r.sha_match;
      result.flows.push_back(std::move(r));
    }
    if (window > 0 && c.rate_bps != 0) {
      result.link_utilization = static_cast<double>(link_bytes_at_end - link_bytes_at_start) * 8 /
                                (static_cast<double>(c.rate_bps) * window);
    }
    client.SetApp(nullptr);
    server.SetApp(nullptr);
  } else {
    RrConfig rc;
    rc.request_size = c.request_size;
    rc.response_size = c.response_size;
    rc.count = c.requests;
    rc.think_time = c.think_time;
    rc.seed = c.seed;
    rc.start_at = start;
    rc.client = client_addr;
    rc.server = server_addr;
    rc.client_config = tcp_config;
    rc.server_config = tcp_config;
    RrClient rr_client(rc);
    RrServer rr_server(rc);
    client.SetApp(&rr_client);
    server.SetApp(&rr_server);
    rr_server.Listen(server.backend());
    sim.RunUntil([&] { return rr_client.done() || rr_client.failed(); }, SimTime(c.time_limit));
    result.end = sim.now();
    result.completions = rr_client.completions();
    result.rr_protocol_errors = rr_server.protocol_errors();
    result.all_complete =
        rr_client.done() && !rr_client.failed() && result.completions.size() == c.requests;
    result.all_match = result.all_complete && rr_server.protocol_errors() == 0;
    FlowResult r;
    r.complete = result.all_complete;
    r.bytes_sent = uint64_t{c.request_size} * result.completions.size();
    r.bytes_received = uint64_t{c.response_size} * result.completions.size();
    if (const auto& info = rr_client.last_info()) {
      CopySenderCounters(info->counters, r);
      r.min_rtt = info->min_rtt;
      r.avg_srtt = info->srtt;
      r.final_rto = info->rto;
    }
    r.client_reset = ResetName(rr_client.reset());
    result.flows.push_back(std::move(r));
    client.SetApp(nullptr);
    server.SetApp(nullptr);
  }
  result.data_link = sim.link(path.a_to_b).counters();
  result.ack_link = sim.link(path.b_to_a).counters();
  result.client_host = client.counters();
  result.server_host = server.counters();
  return result;
}

}  // namespace braid::sim
