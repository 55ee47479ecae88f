#include "datapath/mptcp/path_manager/kernel_pm.h"

#include <cstddef>

namespace braid::mptcp {

namespace {

bool SameFamily(const wire::IpAddress& a, const wire::IpAddress& b) {
  return wire::IsIpv4(a) == wire::IsIpv4(b);
}

}  // namespace

KernelPathManager::KernelPathManager(const PathManagerConfig& config)
    : config_(config),
      keeper_(config),
      announced_(config.endpoints.size(), false),
      used_(config.endpoints.size(), false) {}

bool KernelPathManager::IsInitialEndpoint(const PmConnection& conn,
                                          const Endpoint& endpoint) const {
  return endpoint.address == conn.initial_subflow().local_address;
}

void KernelPathManager::OnEstablished(PmConnection& conn, tcp::Instant now) {
  established_ = true;
  // Linux 6.1 accounts the endpoint of the initial subflow's address as used (the "MPC
  // endpoint") and, when it is a backup endpoint, marks the initial subflow backup with MP_PRIO.
  const PmSubflow& initial = conn.initial_subflow();
  for (const Endpoint& ep : config_.endpoints) {
    if (IsInitialEndpoint(conn, ep) && ep.backup && !initial.backup) {
      conn.SetBackup(initial.id, true);
    }
  }
  CreateSubflowOrSignal(conn, now);
}

void KernelPathManager::CreateSubflowOrSignal(PmConnection& conn, tcp::Instant now) {
  if (!established_) return;
  SignalNext(conn);
  OpenFromEndpoints(conn, now);
}

void KernelPathManager::SignalNext(PmConnection& conn) {
  // One ADD_ADDR at a time: the kernel waits while one is in flight (pm_netlink.c), so that the
  // peer sees the endpoints in order and each gets its own retransmission timer.
  if (announcing_) return;
  for (size_t i = 0; i < config_.endpoints.size(); ++i) {
    const Endpoint& ep = config_.endpoints[i];
    if (!ep.signal || announced_[i] || IsInitialEndpoint(conn, ep)) continue;
    if (conn.Announce(ep)) {
      announced_[i] = true;
      ++add_addr_signaled_;
      announcing_ = ep.id;
      return;
    }
    // Not possible now (no option space, say): the next endpoint goes first, and a later event
    // tries this one again.
  }
}

void KernelPathManager::OpenFromEndpoints(PmConnection& conn, tcp::Instant now) {
  // A server's peer has no listener on its ephemeral port: only the side that opened the
  // connection opens subflows from its endpoints (the server still announces).
  if (!conn.is_client()) return;
  // A copy: opening a subflow may move the connection's list.
  const PmSubflow initial = conn.initial_subflow();
  const uint32_t limit = config_.limits.subflows;
  for (size_t i = 0; i < config_.endpoints.size(); ++i) {
    const Endpoint& ep = config_.endpoints[i];
    if (!ep.subflow || used_[i] || IsInitialEndpoint(conn, ep)) continue;
    if (keeper_.InUse(conn) >= limit) return;
    if (!ep.fullmesh && !SameFamily(ep.address, initial.remote_address)) continue;
    // Its path is down: the endpoint keeps its turn until OnPathChange(up).
    if (!conn.path_up(ep.address)) continue;
    used_[i] = true;
    if (!ep.fullmesh) {
      keeper_.Open(conn,
                   SubflowRequest{.local = ep,
                                  .remote = initial.remote_address,
                                  .remote_port = initial.remote_port,
                                  .remote_id = initial.remote_id,
                                  .backup = ep.backup},
                   now);
      continue;
    }
    // fullmesh: every address of the peer this policy knows: the initial one and the announced
    // ones it acted upon (the kernel walks the remote ends of its subflows).
    if (SameFamily(ep.address, initial.remote_address)) {
      keeper_.Open(conn,
                   SubflowRequest{.local = ep,
                                  .remote = initial.remote_address,
                                  .remote_port = initial.remote_port,
                                  .remote_id = initial.remote_id,
                                  .backup = ep.backup},
                   now);
    }
    for (size_t k = 0; k < conn.remote_addresses().size(); ++k) {
      const PmRemoteAddress remote = conn.remote_addresses()[k];
      if (remote.id == 0 || !accepted_ids_[remote.id]) continue;
      if (!SameFamily(ep.address, remote.address)) continue;
      if (keeper_.InUse(conn) >= limit) return;
      keeper_.Open(conn,
                   SubflowRequest{.local = ep,
                                  .remote = remote.address,
                                  .remote_port = remote.port.value_or(initial.remote_port),
                                  .remote_id = remote.id,
                                  .backup = ep.backup},
                   now);
    }
  }
}

void KernelPathManager::OnSubflowEstablished(PmConnection& conn, const PmSubflow& subflow,
                                             tcp::Instant now) {
  keeper_.OnSubflowEstablished(conn, subflow);
  CreateSubflowOrSignal(conn, now);
}

void KernelPathManager::OnSubflowClosed(PmConnection& conn, const PmSubflow& subflow,
                                        SubflowCloseReason reason, tcp::Instant now) {
  keeper_.OnSubflowClosed(conn, subflow, reason, now);
  if (reason == SubflowCloseReason::kConnectionClosed) {
    established_ = false;
    announcing_.reset();
  }
}

void KernelPathManager::OnAddAddr(PmConnection& conn, const PmRemoteAddress& address,
                                  tcp::Instant now) {
  // The kernel's accept_addr: off once add_addr_accepted announcements were acted upon or the
  // subflow limit is reached (with Linux's default of 0, announcements are only echoed).
  if (add_addr_accepted_ >= config_.limits.add_addr_accepted) return;
  const uint32_t limit = config_.limits.subflows;
  if (keeper_.InUse(conn) >= limit) return;
  if (accepted_ids_[address.id]) return;
  // Like the kernel (lookup_subflow_by_daddr): an address already reached needs no subflow.
  for (const PmSubflow& s : conn.subflows()) {
    if (s.remote_address == address.address) return;
  }
  const PmSubflow initial = conn.initial_subflow();
  // The initial subflow's port is a listener only on the server: a server reaches an announced
  // client address only where the client named a port.
  if (!conn.is_client() && !address.port) return;

  ++add_addr_accepted_;
  accepted_ids_.set(address.id);
  const uint16_t port = address.port.value_or(initial.remote_port);
  bool fullmesh = false;
  for (const Endpoint& ep : config_.endpoints) {
    if (!ep.fullmesh || !SameFamily(ep.address, address.address)) continue;
    fullmesh = true;
    if (keeper_.InUse(conn) >= limit) break;
    keeper_.Open(conn,
                 SubflowRequest{.local = ep,
                                .remote = address.address,
                                .remote_port = port,
                                .remote_id = address.id,
                                .backup = ep.backup},
                 now);
  }
  if (!fullmesh) {
    // No fullmesh endpoint of that family: the route to the address picks the source.
    keeper_.Open(conn,
                 SubflowRequest{.local = std::nullopt,
                                .remote = address.address,
                                .remote_port = port,
                                .remote_id = address.id,
                                .backup = false},
                 now);
  }
}

void KernelPathManager::OnAnnounceDone(PmConnection& conn, uint8_t local_id, bool /*echoed*/,
                                       tcp::Instant now) {
  // Echoed or given up after its retries: either way the next endpoint's turn has come (the
  // kernel reschedules its worker from the ADD_ADDR timer's last run too).
  if (announcing_ == local_id) announcing_.reset();
  CreateSubflowOrSignal(conn, now);
}

void KernelPathManager::OnRemoveAddr(PmConnection& /*conn*/, uint8_t remote_id,
                                     tcp::Instant /*now*/) {
  keeper_.ForgetRemote(remote_id);
  // The kernel gives the announcement back (add_addr_accepted--), so a later one may be used.
  if (accepted_ids_[remote_id]) {
    accepted_ids_.reset(remote_id);
    --add_addr_accepted_;
  }
}

void KernelPathManager::OnPathChange(PmConnection& conn, const wire::IpAddress& local, bool up,
                                     tcp::Instant now) {
  if (!up) return;  // the connection closed the subflows on it (kPathDown) before this call
  keeper_.OnPathUp(conn, local, config_.limits.subflows, now);
  CreateSubflowOrSignal(conn, now);
}

bool KernelPathManager::AcceptJoin(const PmConnection& conn, const wire::IpAddress& /*local*/,
                                   const wire::IpAddress& /*remote*/) const {
  return ExtraSubflows(conn) < config_.limits.subflows;
}

std::optional<tcp::Instant> KernelPathManager::NextTimer() const { return keeper_.NextTimer(); }

void KernelPathManager::OnTimer(PmConnection& conn, tcp::Instant now) {
  keeper_.OnTimer(conn, config_.limits.subflows, now);
}

}  // namespace braid::mptcp
