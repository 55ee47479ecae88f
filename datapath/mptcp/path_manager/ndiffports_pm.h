// "ndiffports": mptcp.org's path manager of that name. The client opens `ndiffports` subflows in
// all over the initial address pair, the extra ones from the same local address to the same
// remote address and port, each with its own source port (picked by the connection), so that
// ECMP hashing in the network spreads them over its paths. Failed ones are opened again
// (subflow_keeper.h). It announces nothing and ignores the peer's announcements.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/mptcp/path_manager/subflow_keeper.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::mptcp {

class NdiffportsPathManager final : public PathManager {
 public:
  static constexpr std::string_view kName = "ndiffports";

  explicit NdiffportsPathManager(const PathManagerConfig& config);

  std::string_view name() const override { return kName; }
  void OnEstablished(PmConnection& conn, tcp::Instant now) override;
  void OnSubflowEstablished(PmConnection& conn, const PmSubflow& subflow,
                            tcp::Instant now) override;
  void OnSubflowClosed(PmConnection& conn, const PmSubflow& subflow, SubflowCloseReason reason,
                       tcp::Instant now) override;
  void OnRemoveAddr(PmConnection& conn, uint8_t remote_id, tcp::Instant now) override;
  void OnPathChange(PmConnection& conn, const wire::IpAddress& local, bool up,
                    tcp::Instant now) override;
  bool AcceptJoin(const PmConnection& conn, const wire::IpAddress& local,
                  const wire::IpAddress& remote) const override;
  std::optional<tcp::Instant> NextTimer() const override;
  void OnTimer(PmConnection& conn, tcp::Instant now) override;

  // Extra subflows allowed: limits.subflows, or ndiffports - 1 when that is larger.
  uint32_t limit() const { return limit_; }
  const SubflowKeeper& keeper() const { return keeper_; }

 private:
  uint32_t ndiffports_;
  uint32_t limit_;
  SubflowKeeper keeper_;
};

}  // namespace braid::mptcp
