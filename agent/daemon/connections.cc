#include "agent/daemon/connections.h"

#include <chrono>

#include "agent/metrics/counters.h"
#include "google/protobuf/util/time_util.h"

namespace braid::agent {
namespace {

namespace v1 = braid::v1;

google::protobuf::Duration Dur(tcp::Duration d) {
  return google::protobuf::util::TimeUtil::NanosecondsToDuration(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

v1::SocketAddress Address(const wire::IpAddress& a, uint16_t port) {
  v1::SocketAddress out;
  out.set_address(wire::ToString(a));
  out.set_port(port);
  return out;
}

}  // namespace

uint64_t ConnectionId(tcp::SocketId socket) {
  return (static_cast<uint64_t>(socket.index) << 32) | socket.generation;
}

std::vector<ConnectionSnapshot> ReadConnections(runtime::Worker& worker,
                                                const std::vector<std::string>& path_names) {
  std::vector<ConnectionSnapshot> out;
  mptcp::MptcpSockets* m = worker.mptcp();
  if (m == nullptr) return out;
  for (const tcp::SocketId s : m->Connections()) {
    std::optional<mptcp::MptcpInfo> info = m->ConnectionInfo(s);
    if (!info) continue;
    ConnectionSnapshot c;
    c.id = ConnectionId(s);
    c.info = std::move(*info);
    c.flow = m->Flow(s);
    c.subflows = m->SubflowsOf(s);
    for (const mptcp::SubflowInfo& sf : c.subflows) {
      const std::optional<net::InterfaceId> i = worker.net().InterfaceOf(sf.local_address);
      c.subflow_paths.push_back(i && *i < path_names.size() ? path_names[*i] : std::string());
    }
    out.push_back(std::move(c));
  }
  return out;
}

v1::TcpInfo ToProto(const tcp::TcpInfo& i) {
  v1::TcpInfo t;
  // The API's enums are the datapath's shifted by one (0 is UNSPECIFIED).
  t.set_state(static_cast<v1::TcpState>(static_cast<int>(i.state) + 1));
  t.set_congestion_state(static_cast<v1::CongestionState>(static_cast<int>(i.ca_state) + 1));
  t.set_congestion_control(std::string(i.congestion_control));
  t.set_iss(i.iss.raw());
  t.set_irs(i.irs.raw());
  t.set_snd_una(i.snd_una.raw());
  t.set_snd_nxt(i.snd_nxt.raw());
  t.set_rcv_nxt(i.rcv_nxt.raw());
  t.set_snd_wnd(i.snd_wnd);
  t.set_rcv_wnd(i.rcv_wnd);
  t.set_snd_wscale(i.snd_wscale);
  t.set_rcv_wscale(i.rcv_wscale);
  t.set_sack_enabled(i.sack_enabled);
  t.set_timestamps_enabled(i.timestamps_enabled);
  t.set_snd_mss(i.snd_mss);
  t.set_rcv_mss(i.rcv_mss);
  t.set_cwnd_bytes(i.cwnd);
  t.set_ssthresh_bytes(i.ssthresh);
  t.set_bytes_in_flight(i.bytes_in_flight);
  *t.mutable_srtt() = Dur(i.srtt);
  *t.mutable_rttvar() = Dur(i.rttvar);
  *t.mutable_min_rtt() = Dur(i.min_rtt);
  *t.mutable_rto() = Dur(i.rto);
  t.set_rto_backoffs(i.backoff);
  t.set_delivery_rate_bits_per_second(i.delivery_rate_bps);
  t.set_send_queue_bytes(i.send_queue);
  t.set_unsent_bytes(i.unsent);
  t.set_receive_queue_bytes(i.receive_queue);
  t.set_out_of_order_bytes(i.out_of_order);
  t.set_soft_error(i.soft_error);
  std::vector<metrics::CounterSample> samples;
  metrics::CollectConnectionCounters(i.counters, samples);
  for (const metrics::CounterSample& s : samples) {
    if (s.value != 0) (*t.mutable_counters())[std::string(s.name)] = s.value;
  }
  return t;
}

v1::Subflow ToProto(const mptcp::SubflowInfo& sf, uint64_t connection_id, const std::string& path) {
  v1::Subflow out;
  out.set_connection_id(connection_id);
  out.set_id(sf.id);
  out.set_state(static_cast<v1::SubflowState>(static_cast<int>(sf.state) + 1));
  out.set_initial(sf.initial);
  out.set_backup(sf.backup);
  out.set_stale(sf.stale);
  out.set_local_address_id(sf.local_id);
  out.set_remote_address_id(sf.remote_id);
  *out.mutable_local() = Address(sf.local_address, sf.local_port);
  *out.mutable_remote() = Address(sf.remote_address, sf.remote_port);
  out.set_path(path);
  out.set_bytes_sent(sf.bytes_sent);
  out.set_bytes_received(sf.bytes_received);
  if (sf.tcp) *out.mutable_tcp() = ToProto(*sf.tcp);
  return out;
}

v1::Connection ToProto(const ConnectionSnapshot& c, bool with_subflows) {
  v1::Connection out;
  out.set_id(c.id);
  out.set_worker(0);
  out.set_endpoint(c.info.policy_name);
  out.set_role(c.info.client ? v1::CONNECTION_ROLE_CLIENT : v1::CONNECTION_ROLE_SERVER);
  if (c.flow) {
    *out.mutable_local() = Address(c.flow->local, c.flow->local_port);
    *out.mutable_remote() = Address(c.flow->remote, c.flow->remote_port);
  }
  out.set_fallback(c.info.fallback);
  out.set_fully_established(c.info.fully_established);
  out.set_checksum(c.info.checksum);
  out.set_local_token(c.info.local_token);
  out.set_remote_token(c.info.remote_token);
  out.set_data_una(c.info.data_una.raw());
  out.set_data_nxt(c.info.data_nxt.raw());
  out.set_rcv_nxt(c.info.rcv_nxt.raw());
  out.set_subflow_count(c.info.subflows);
  out.set_send_queue_bytes(c.info.send_queue);
  out.set_receive_queue_bytes(c.info.receive_queue);
  out.set_out_of_order_bytes(c.info.out_of_order);
  out.set_scheduler(c.info.scheduler);
  out.set_path_manager(c.info.path_manager);
  out.set_bytes_sent(c.info.bytes_sent);
  out.set_bytes_received(c.info.bytes_received);
  out.set_bytes_reinjected(c.info.bytes_reinjected);
  if (with_subflows) {
    for (size_t i = 0; i < c.subflows.size(); ++i) {
      *out.add_subflows() = ToProto(c.subflows[i], c.id, c.subflow_paths[i]);
    }
  }
  return out;
}

}  // namespace braid::agent
