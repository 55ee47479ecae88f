#include "datapath/testapp/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "datapath/io/io_counters.h"
#include "datapath/net/net_counters.h"
#include "datapath/tcp/native_backend.h"
#include "datapath/testapp/json.h"

namespace braid::testapp {
namespace {

double Micros(tcp::Duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Nearest-rank percentile of sorted samples.
tcp::Duration Percentile(const std::vector<tcp::Duration>& sorted, double p) {
  if (sorted.empty()) return tcp::Duration::zero();
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string TcpInfoJson(const tcp::TcpInfo& i) {
  JsonObject o;
  o.Add("state", static_cast<int>(i.state));
  o.Add("sack", i.sack_enabled);
  o.Add("timestamps", i.timestamps_enabled);
  o.Add("snd_wscale", uint32_t{i.snd_wscale});
  o.Add("rcv_wscale", uint32_t{i.rcv_wscale});
  o.Add("snd_mss", i.snd_mss);
  o.Add("rcv_mss", i.rcv_mss);
  o.Add("congestion_control", i.congestion_control);
  o.Add("cwnd", i.cwnd);
  o.Add("rtt_us", Micros(i.srtt));
  o.Add("min_rtt_us", Micros(i.min_rtt));
  o.Add("rto_us", Micros(i.rto));
  for (size_t c = 0; c < tcp::kTcpCounterCount; ++c) {
    o.Add(tcp::TcpCounterName(static_cast<tcp::TcpCounter>(c)), i.counters.values[c]);
  }
  return o.str();
}

std::string NetJson(const net::NetCounters& c) {
  JsonObject counters, drops;
  uint64_t total = 0;
  for (size_t i = 0; i < net::kNetCounterCount; ++i) {
    counters.Add(net::NetCounterName(static_cast<net::NetCounter>(i)), c.values[i]);
  }
  for (size_t i = 0; i < net::kNetDropCount; ++i) {
    if (c.drops[i] == 0) continue;  // the reasons that happened; all are in the docs
    drops.Add(net::NetDropName(static_cast<net::NetDrop>(i)), c.drops[i]);
    total += c.drops[i];
  }
  JsonObject o;
  o.AddRaw("counters", counters.str());
  o.AddRaw("drops", drops.str());
  o.Add("dropped", total);
  return o.str();
}

std::string IoJson(const io::IoCounters& c) {
  JsonObject counters, drops;
  for (size_t i = 0; i < io::kIoCounterCount; ++i) {
    counters.Add(io::IoCounterName(static_cast<io::IoCounter>(i)), c.values[i]);
  }
  for (size_t i = 0; i < io::kIoDropCount; ++i) {
    if (c.drops[i] != 0) drops.Add(io::IoDropName(static_cast<io::IoDrop>(i)), c.drops[i]);
  }
  JsonObject o;
  o.AddRaw("counters", counters.str());
  o.AddRaw("drops", drops.str());
  o.Add("dropped", c.total_dropped());
  return o.str();
}

std::string TcpJson(const tcp::BackendCounters& c) {
  JsonObject o;
  for (size_t i = 0; i < tcp::kBackendCounterCount; ++i) {
    o.Add(tcp::BackendCounterName(static_cast<tcp::BackendCounter>(i)), c.values[i]);
  }
  return o.str();
}

}  // namespace

std::string MptcpJson(const mptcp::MptcpInfo& m, const std::vector<mptcp::SubflowInfo>& subflows) {
  std::string list = "[";
  for (const mptcp::SubflowInfo& sf : subflows) {
    JsonObject s;
    s.Add("id", uint64_t{sf.id})
        .Add("state", mptcp::SubflowStateName(sf.state))
        .Add("initial", sf.initial)
        .Add("backup", sf.backup)
        .Add("stale", sf.stale)
        .Add("local_id", uint64_t{sf.local_id})
        .Add("remote_id", uint64_t{sf.remote_id})
        .Add("local", runtime::FormatEndpoint(sf.local_address, sf.local_port))
        .Add("remote", runtime::FormatEndpoint(sf.remote_address, sf.remote_port))
        .Add("bytes_sent", sf.bytes_sent)
        .Add("bytes_received", sf.bytes_received);
    if (sf.tcp) s.AddRaw("tcp", TcpInfoJson(*sf.tcp));
    if (list.size() > 1) list += ", ";
    list += s.str();
  }
  list += "]";
  JsonObject o;
  o.Add("fallback", m.fallback)
      .Add("fully_established", m.fully_established)
      .Add("checksum", m.checksum)
      .Add("local_token", uint64_t{m.local_token})
      .Add("remote_token", uint64_t{m.remote_token})
      .Add("scheduler", m.scheduler)
      .Add("path_manager", m.path_manager)
      .Add("bytes_sent", m.bytes_sent)
      .Add("bytes_received", m.bytes_received)
      .Add("bytes_reinjected", m.bytes_reinjected);
  o.AddRaw("subflows", list);
  return o.str();
}

std::string ConnectionJson(const ConnectionReport& r) {
  JsonObject o;
  o.Add("event", "connection");
  o.Add("role", r.role);
  o.Add("mode", r.mode);
  o.Add("local", r.local);
  o.Add("remote", r.remote);
  o.Add("bytes_rx", r.bytes_rx);
  o.Add("bytes_tx", r.bytes_tx);
  o.Add("sha256_rx", r.sha256_rx);
  o.Add("sha256_tx", r.sha256_tx);
  o.Add("rx_mbit_s", r.rx_mbit_s);
  o.Add("rx_steady_mbit_s", r.rx_steady_mbit_s);
  o.Add("tx_mbit_s", r.tx_mbit_s);
  if (r.error.empty()) {
    o.AddNull("error");
  } else {
    o.Add("error", r.error);
  }
  if (r.tcp) {
    o.AddRaw("tcp", TcpInfoJson(*r.tcp));
  } else {
    o.AddNull("tcp");
  }
  if (r.mptcp) o.AddRaw("mptcp", MptcpJson(*r.mptcp, r.subflows));
  return o.str();
}

std::string RrJson(const RrReport& r) {
  std::vector<tcp::Duration> sorted = r.samples;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0;
  for (tcp::Duration d : sorted) mean += Micros(d);
  if (!sorted.empty()) mean /= static_cast<double>(sorted.size());
  JsonObject o;
  o.Add("event", "rr");
  o.Add("count", r.count);
  o.Add("size", r.size);
  o.Add("p50_us", Micros(Percentile(sorted, 0.50)));
  o.Add("p90_us", Micros(Percentile(sorted, 0.90)));
  o.Add("p99_us", Micros(Percentile(sorted, 0.99)));
  o.Add("max_us", sorted.empty() ? 0.0 : Micros(sorted.back()));
  o.Add("mean_us", mean);
  return o.str();
}

std::string SummaryJson(const runtime::Datapath& dp) {
  std::string workers = "[";
  net::NetCounters net_sum;
  io::IoCounters io_sum;
  tcp::BackendCounters tcp_sum;
  for (size_t w = 0; w < dp.workers(); ++w) {
    const runtime::Worker& worker = dp.worker(w);
    const runtime::WorkerStats& s = worker.stats();
    io::IoCounters io = worker.RxCounters();
    io.Merge(worker.TxCounters());
    const net::NetCounters& net = worker.net().counters();
    for (size_t i = 0; i < net::kNetCounterCount; ++i) net_sum.values[i] += net.values[i];
    for (size_t i = 0; i < net::kNetDropCount; ++i) net_sum.drops[i] += net.drops[i];
    io_sum.Merge(io);
    for (size_t i = 0; i < tcp::kBackendCounterCount; ++i) {
      tcp_sum.values[i] += worker.tcp().counters().values[i];
    }
    const runtime::TcpSocketsCounters& sc = worker.sockets().counters();
    JsonObject sockets;
    sockets.Add("connects", sc.connects)
        .Add("connect_failures", sc.connect_failures)
        .Add("accepted", sc.accepted)
        .Add("closed", sc.closed)
        .Add("errors", sc.errors)
        .Add("pmtu_events", sc.pmtu_events)
        .Add("icmp_errors", sc.icmp_errors)
        .Add("events_unclaimed", sc.events_unclaimed);
    JsonObject o;
    o.Add("id", uint64_t{worker.id()});
    o.Add("lcore", uint64_t{dp.lcores()[w]});
    o.Add("iterations", s.iterations);
    o.Add("busy_iterations", s.busy_iterations);
    o.Add("rx_frames", s.rx_frames);
    o.Add("tx_frames", s.tx_frames);
    o.Add("timers_fired", s.timers_fired);
    o.Add("link_changes", s.link_changes);
    o.Add("sleeps", worker.idle().stats().sleeps);
    o.Add("slept_s", std::chrono::duration<double>(worker.idle().stats().slept).count());
    o.Add("run_s", std::chrono::duration<double>(s.run_time).count());
    o.Add("cpu_s", std::chrono::duration<double>(s.cpu_time).count());
    o.AddRaw("sockets", sockets.str());
    if (const mptcp::MptcpSockets* m = worker.mptcp(); m != nullptr) {
      JsonObject counters;
      for (size_t i = 0; i < mptcp::kMptcpCounterCount; ++i) {
        counters.Add(mptcp::MptcpCounterName(static_cast<mptcp::MptcpCounter>(i)),
                     m->counters().values[i]);
      }
      o.AddRaw("mptcp", counters.str());
    }
    o.AddRaw("net", NetJson(net));
    o.AddRaw("io", IoJson(io));
    if (w != 0) workers += ", ";
    workers += o.str();
  }
  workers += "]";

  std::string ports = "[";
  for (size_t p = 0; p < dp.paths(); ++p) {
    const io::Port& port = dp.port(p);
    JsonObject o;
    o.Add("name", port.name());
    o.Add("mac", port.mac().ToString());
    o.Add("link", port.Link().ToString());
    o.Add("offloads", port.offloads().Summary());
    if (absl::StatusOr<io::PortStats> st = port.Stats(); st.ok()) {
      o.Add("rx_packets", st->rx_packets)
          .Add("tx_packets", st->tx_packets)
          .Add("rx_bytes", st->rx_bytes)
          .Add("tx_bytes", st->tx_bytes)
          .Add("rx_missed", st->rx_missed)
          .Add("rx_errors", st->rx_errors)
          .Add("tx_errors", st->tx_errors)
          .Add("rx_nombuf", st->rx_nombuf);
    }
    if (p != 0) ports += ", ";
    ports += o.str();
  }
  ports += "]";

  JsonObject o;
  o.Add("event", "summary");
  o.AddRaw("net", NetJson(net_sum));
  o.AddRaw("io", IoJson(io_sum));
  o.AddRaw("tcp", TcpJson(tcp_sum));
  o.AddRaw("ports", ports);
  o.AddRaw("workers", workers);
  return o.str();
}

}  // namespace braid::testapp
