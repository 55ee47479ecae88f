#include "datapath/mptcp/path_manager/ndiffports_pm.h"

#include <algorithm>

namespace braid::mptcp {

NdiffportsPathManager::NdiffportsPathManager(const PathManagerConfig& config)
    : ndiffports_(config.ndiffports),
      limit_(std::max(config.limits.subflows, config.ndiffports > 0 ? config.ndiffports - 1 : 0)),
      keeper_(config) {}

void NdiffportsPathManager::OnEstablished(PmConnection& conn, tcp::Instant now) {
  // The server side has no listener behind the client's source port; only the client opens.
  if (!conn.is_client()) return;
  // A copy: opening a subflow may move the connection's list.
  const PmSubflow initial = conn.initial_subflow();
  // ID 0: the initial subflow's local address (RFC 8684 §3.4.1).
  Endpoint local;
  local.id = 0;
  local.address = initial.local_address;
  local.subflow = true;
  for (uint32_t i = 1; i < ndiffports_; ++i) {
    if (keeper_.InUse(conn) >= limit_) return;
    keeper_.Open(conn,
                 SubflowRequest{.local = local,
                                .remote = initial.remote_address,
                                .remote_port = initial.remote_port,
                                .remote_id = initial.remote_id,
                                .backup = false},
                 now);
  }
}

void NdiffportsPathManager::OnSubflowEstablished(PmConnection& conn, const PmSubflow& subflow,
                                                 tcp::Instant /*now*/) {
  keeper_.OnSubflowEstablished(conn, subflow);
}

void NdiffportsPathManager::OnSubflowClosed(PmConnection& conn, const PmSubflow& subflow,
                                            SubflowCloseReason reason, tcp::Instant now) {
  keeper_.OnSubflowClosed(conn, subflow, reason, now);
}

void NdiffportsPathManager::OnRemoveAddr(PmConnection& /*conn*/, uint8_t remote_id,
                                         tcp::Instant /*now*/) {
  keeper_.ForgetRemote(remote_id);
}

void NdiffportsPathManager::OnPathChange(PmConnection& conn, const wire::IpAddress& local, bool up,
                                         tcp::Instant now) {
  if (up) keeper_.OnPathUp(conn, local, limit_, now);
}

bool NdiffportsPathManager::AcceptJoin(const PmConnection& conn, const wire::IpAddress& /*local*/,
                                       const wire::IpAddress& /*remote*/) const {
  return ExtraSubflows(conn) < limit_;
}

std::optional<tcp::Instant> NdiffportsPathManager::NextTimer() const { return keeper_.NextTimer(); }

void NdiffportsPathManager::OnTimer(PmConnection& conn, tcp::Instant now) {
  keeper_.OnTimer(conn, limit_, now);
}

}  // namespace braid::mptcp
