// "kernel": the in-kernel path manager of Linux 6.1 (net/mptcp/pm_netlink.c), driven by the same
// endpoints and limits as `ip mptcp endpoint` / `ip mptcp limits`, so that its users find what
// they know:
// - Once the connection is established, `signal` endpoints are announced with ADD_ADDR one at a
//   time, in order: the next once the previous is echoed or given up.
// - On the client, each `subflow` endpoint opens one subflow to the peer's initial address, while
//   extra subflows stay under limits.subflows; a `fullmesh` endpoint opens one to every address of
//   the peer it knows. Endpoints of the other family than the peer's address are skipped, and so
//   is the endpoint of the initial subflow's own address (the kernel's MPC endpoint).
// - An ADD_ADDR from the peer is acted upon while fewer than limits.add_addr_accepted were and
//   extra subflows stay under limits.subflows: a subflow to it from each fullmesh endpoint of its
//   family, or from the address the route picks.
// - A join from the peer is accepted while extra subflows stay under limits.subflows.
// Braid goes further with PathManagerConfig::recreate_subflows (subflow_keeper.h): the subflows
// this policy opened are opened again when they fail.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/mptcp/path_manager/subflow_keeper.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::mptcp {

class KernelPathManager final : public PathManager {
 public:
  static constexpr std::string_view kName = "kernel";

  explicit KernelPathManager(const PathManagerConfig& config);

  std::string_view name() const override { return kName; }
  void OnEstablished(PmConnection& conn, tcp::Instant now) override;
  void OnSubflowEstablished(PmConnection& conn, const PmSubflow& subflow,
                            tcp::Instant now) override;
  void OnSubflowClosed(PmConnection& conn, const PmSubflow& subflow, SubflowCloseReason reason,
                       tcp::Instant now) override;
  void OnAddAddr(PmConnection& conn, const PmRemoteAddress& address, tcp::Instant now) override;
  void OnAnnounceDone(PmConnection& conn, uint8_t local_id, bool echoed, tcp::Instant now) override;
  void OnRemoveAddr(PmConnection& conn, uint8_t remote_id, tcp::Instant now) override;
  void OnPathChange(PmConnection& conn, const wire::IpAddress& local, bool up,
                    tcp::Instant now) override;
  bool AcceptJoin(const PmConnection& conn, const wire::IpAddress& local,
                  const wire::IpAddress& remote) const override;
  std::optional<tcp::Instant> NextTimer() const override;
  void OnTimer(PmConnection& conn, tcp::Instant now) override;

  // The kernel's msk->pm counters, for tests and the debug view.
  uint32_t add_addr_signaled() const { return add_addr_signaled_; }
  uint32_t add_addr_accepted() const { return add_addr_accepted_; }
  std::optional<uint8_t> announcing() const { return announcing_; }
  const SubflowKeeper& keeper() const { return keeper_; }

 private:
  // The kernel's mptcp_pm_create_subflow_or_signal_addr(): the next announcement if none is in
  // flight, then the subflow endpoints not used yet.
  void CreateSubflowOrSignal(PmConnection& conn, tcp::Instant now);
  void SignalNext(PmConnection& conn);
  void OpenFromEndpoints(PmConnection& conn, tcp::Instant now);
  // Whether the endpoint has the initial subflow's local address (used by it already).
  bool IsInitialEndpoint(const PmConnection& conn, const Endpoint& endpoint) const;

  PathManagerConfig config_;
  SubflowKeeper keeper_;
  bool established_ = false;
  std::vector<bool> announced_;        // per endpoint: ADD_ADDR sent (signal endpoints)
  std::vector<bool> used_;             // per endpoint: subflows opened from it (subflow endpoints)
  std::optional<uint8_t> announcing_;  // the endpoint whose ADD_ADDR awaits its echo
  uint32_t add_addr_signaled_ = 0;
  uint32_t add_addr_accepted_ = 0;
  std::bitset<256> accepted_ids_;  // remote address IDs whose ADD_ADDR this policy acted upon
};

}  // namespace braid::mptcp
