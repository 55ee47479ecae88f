// "userspace": like the kernel's pm_userspace.c, this policy opens, announces and removes nothing
// by itself. An external controller (the node agent) acts through the connection's API and learns
// what happened from the events recorded here, as `ip mptcp monitor` shows the kernel's. Joins
// from the peer are accepted within limits.subflows.
//
// Events go into a ring of fixed capacity allocated once: when the controller falls behind, the
// oldest are dropped and counted, and recording never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::mptcp {

enum class PmEventType : uint8_t {
  kEstablished,         // the connection is established at the MPTCP level
  kSubflowEstablished,  // `subflow`
  kSubflowClosed,       // `subflow`, `reason`
  kAddAddr,             // `remote`: the peer announced it
  kAnnounceDone,        // `local_id`, `echoed`: our ADD_ADDR was echoed or given up
  kRemoveAddr,          // `remote.id`: the peer withdrew it
  kPathChange,          // `local`, `up`
};
std::string_view PmEventTypeName(PmEventType type);

// One event; the fields its type does not name keep their defaults.
struct PmEvent {
  PmEventType type = PmEventType::kEstablished;
  tcp::Instant time{};
  PmSubflow subflow;
  SubflowCloseReason reason = SubflowCloseReason::kConnectionClosed;
  PmRemoteAddress remote;
  uint8_t local_id = 0;
  bool echoed = false;
  wire::IpAddress local;
  bool up = false;
};

class UserspacePathManager final : public PathManager {
 public:
  static constexpr std::string_view kName = "userspace";
  static constexpr size_t kDefaultCapacity = 256;

  explicit UserspacePathManager(const PathManagerConfig& config,
                                size_t capacity = kDefaultCapacity);

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

  // The events not drained yet, oldest first.
  std::vector<PmEvent> Events() const;
  // The same, removing them from the ring.
  std::vector<PmEvent> Drain();
  size_t size() const { return size_; }
  size_t capacity() const { return ring_.size(); }
  uint64_t recorded() const { return recorded_; }  // every event ever recorded
  uint64_t drained() const { return drained_; }    // events handed out by Drain()
  uint64_t dropped() const { return dropped_; }    // overwritten before being drained

 private:
  // Stores the event (dropping the oldest when full); returns it in place to be filled in.
  PmEvent& Record(const PmEvent& event);

  uint32_t subflow_limit_;
  std::vector<PmEvent> ring_;
  size_t head_ = 0;  // index of the oldest event
  size_t size_ = 0;
  uint64_t recorded_ = 0;
  uint64_t drained_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace braid::mptcp
