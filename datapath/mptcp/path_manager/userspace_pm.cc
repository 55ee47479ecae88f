#include "datapath/mptcp/path_manager/userspace_pm.h"

#include <algorithm>

#include "datapath/mptcp/path_manager/subflow_keeper.h"

namespace braid::mptcp {

std::string_view PmEventTypeName(PmEventType type) {
  // The names `ip mptcp monitor` prints where there is one.
  switch (type) {
    case PmEventType::kEstablished:
      return "ESTABLISHED";
    case PmEventType::kSubflowEstablished:
      return "SF_ESTABLISHED";
    case PmEventType::kSubflowClosed:
      return "SF_CLOSED";
    case PmEventType::kAddAddr:
      return "ANNOUNCED";
    case PmEventType::kAnnounceDone:
      return "ANNOUNCE_DONE";
    case PmEventType::kRemoveAddr:
      return "REMOVED";
    case PmEventType::kPathChange:
      return "PATH_CHANGE";
  }
  return "UNKNOWN";
}

UserspacePathManager::UserspacePathManager(const PathManagerConfig& config, size_t capacity)
    : subflow_limit_(config.limits.subflows), ring_(std::max<size_t>(capacity, 1)) {}

namespace {

PmEvent NewEvent(PmEventType type, tcp::Instant now) {
  PmEvent e;
  e.type = type;
  e.time = now;
  return e;
}

}  // namespace

PmEvent& UserspacePathManager::Record(const PmEvent& event) {
  ++recorded_;
  if (size_ == ring_.size()) {
    // Full: the oldest makes room.
    head_ = (head_ + 1) % ring_.size();
    --size_;
    ++dropped_;
  }
  PmEvent& slot = ring_[(head_ + size_) % ring_.size()];
  slot = event;
  ++size_;
  return slot;
}

std::vector<PmEvent> UserspacePathManager::Events() const {
  std::vector<PmEvent> out;
  out.reserve(size_);
  for (size_t i = 0; i < size_; ++i) out.push_back(ring_[(head_ + i) % ring_.size()]);
  return out;
}

std::vector<PmEvent> UserspacePathManager::Drain() {
  std::vector<PmEvent> out = Events();
  drained_ += size_;
  head_ = 0;
  size_ = 0;
  return out;
}

void UserspacePathManager::OnEstablished(PmConnection& /*conn*/, tcp::Instant now) {
  Record(NewEvent(PmEventType::kEstablished, now));
}

void UserspacePathManager::OnSubflowEstablished(PmConnection& /*conn*/, const PmSubflow& subflow,
                                                tcp::Instant now) {
  PmEvent& e = Record(NewEvent(PmEventType::kSubflowEstablished, now));
  e.subflow = subflow;
}

void UserspacePathManager::OnSubflowClosed(PmConnection& /*conn*/, const PmSubflow& subflow,
                                           SubflowCloseReason reason, tcp::Instant now) {
  PmEvent& e = Record(NewEvent(PmEventType::kSubflowClosed, now));
  e.subflow = subflow;
  e.reason = reason;
}

void UserspacePathManager::OnAddAddr(PmConnection& /*conn*/, const PmRemoteAddress& address,
                                     tcp::Instant now) {
  PmEvent& e = Record(NewEvent(PmEventType::kAddAddr, now));
  e.remote = address;
}

void UserspacePathManager::OnAnnounceDone(PmConnection& /*conn*/, uint8_t local_id, bool echoed,
                                          tcp::Instant now) {
  PmEvent& e = Record(NewEvent(PmEventType::kAnnounceDone, now));
  e.local_id = local_id;
  e.echoed = echoed;
}

void UserspacePathManager::OnRemoveAddr(PmConnection& /*conn*/, uint8_t remote_id,
                                        tcp::Instant now) {
  PmEvent& e = Record(NewEvent(PmEventType::kRemoveAddr, now));
  e.remote.id = remote_id;
}

void UserspacePathManager::OnPathChange(PmConnection& /*conn*/, const wire::IpAddress& local,
                                        bool up, tcp::Instant now) {
  PmEvent& e = Record(NewEvent(PmEventType::kPathChange, now));
  e.local = local;
  e.up = up;
}

bool UserspacePathManager::AcceptJoin(const PmConnection& conn, const wire::IpAddress& /*local*/,
                                      const wire::IpAddress& /*remote*/) const {
  return ExtraSubflows(conn) < subflow_limit_;
}

}  // namespace braid::mptcp
