// The subflows one path manager opened, so that it can tell its own from those the peer joined,
// count them against its limit, and open again those that failed: Braid's addition to the
// kernel's policies (PathManagerConfig::recreate_subflows). The kernel never re-creates a closed
// subflow; Braid does, at once when the subflow's local path comes back up, otherwise after a
// backoff that doubles from recreate_min to recreate_max, and never for a subflow closed on
// purpose (REMOVE_ADDR, a local close, the end of the connection).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::mptcp {

// Subflows that are not the initial one (the kernel's msk->pm.subflows, counted from the
// connection's list instead of kept in step by hand).
uint32_t ExtraSubflows(const PmConnection& conn);

// Whether a subflow closed for this reason is worth opening again: it failed, nobody meant it.
bool IsRecreatable(SubflowCloseReason reason);

class SubflowKeeper {
 public:
  explicit SubflowKeeper(const PathManagerConfig& config);

  // Extra subflows that count against the policy's limit: the connection's own, plus the ones
  // waiting to be opened again, plus the ones opened but not yet listed by the connection.
  uint32_t InUse(const PmConnection& conn);

  // Asks the connection for a new subflow. When its local path is down or the connection refuses,
  // the request waits for re-creation if that is on, and is dropped otherwise (the kernel tries a
  // subflow once). Returns whether the connection took it.
  bool Open(PmConnection& conn, const SubflowRequest& request, tcp::Instant now);

  // A subflow came up: if it is ours, its next failure starts the backoff again from the minimum.
  void OnSubflowEstablished(const PmConnection& conn, const PmSubflow& subflow);
  // A subflow went away: if it is ours and failed, it waits for re-creation. Returns whether it
  // was ours.
  bool OnSubflowClosed(const PmConnection& conn, const PmSubflow& subflow,
                       SubflowCloseReason reason, tcp::Instant now);
  // A local path came back: waiting subflows from it (and route-chosen ones, whose route may
  // now exist) are opened at once, within `limit` extra subflows.
  void OnPathUp(PmConnection& conn, const wire::IpAddress& local, uint32_t limit, tcp::Instant now);
  // The peer withdrew the address: nothing is opened towards it again.
  void ForgetRemote(uint8_t remote_id);

  std::optional<tcp::Instant> NextTimer() const;
  // Opens the waiting subflows whose backoff has run out, within `limit` extra subflows.
  void OnTimer(PmConnection& conn, uint32_t limit, tcp::Instant now);

  size_t waiting() const;  // subflows waiting to be opened again
  size_t owned() const { return entries_.size(); }

 private:
  struct Entry {
    SubflowRequest request;
    std::optional<uint32_t> subflow_id;  // once the connection lists it
    bool waiting = false;                // failed; due for another attempt at `due`
    tcp::Instant due{};
    tcp::Duration backoff{};  // the wait after the next failure
  };

  // Matches entries the connection has opened since to the subflows it now lists.
  void Claim(const PmConnection& conn);
  std::optional<uint32_t> FindUnclaimed(const PmConnection& conn,
                                        const SubflowRequest& request) const;
  bool IsClaimed(uint32_t subflow_id) const;
  // Tries the entry at `index` once. False when the entry failed (and was kept waiting or, when
  // re-creation is off, erased: check `index` against entries_.size() before using it again).
  bool Attempt(PmConnection& conn, size_t index, tcp::Instant now);
  void Fail(size_t index, tcp::Instant now);
  // Attempts the waiting entries: with `local`, those from that address or route-chosen; without,
  // those whose backoff has run out. Each only while the others leave room under `limit`.
  void Retry(PmConnection& conn, const wire::IpAddress* local, uint32_t limit, tcp::Instant now);

  bool recreate_;
  tcp::Duration min_backoff_;
  tcp::Duration max_backoff_;
  std::vector<Entry> entries_;
};

}  // namespace braid::mptcp
