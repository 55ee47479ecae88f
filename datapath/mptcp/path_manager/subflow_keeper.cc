#include "datapath/mptcp/path_manager/subflow_keeper.h"

#include <algorithm>
#include <cstddef>

namespace braid::mptcp {

uint32_t ExtraSubflows(const PmConnection& conn) {
  uint32_t n = 0;
  for (const PmSubflow& s : conn.subflows()) {
    if (!s.initial) ++n;
  }
  return n;
}

bool IsRecreatable(SubflowCloseReason reason) {
  switch (reason) {
    case SubflowCloseReason::kPeerReset:
    case SubflowCloseReason::kTimeout:
    case SubflowCloseReason::kJoinFailed:
    case SubflowCloseReason::kPathDown:
      return true;
    case SubflowCloseReason::kRemoved:
    case SubflowCloseReason::kLocalClose:
    case SubflowCloseReason::kConnectionClosed:
      return false;
  }
  return false;
}

namespace {

bool Matches(const SubflowRequest& request, const PmSubflow& subflow) {
  if (subflow.initial) return false;
  if (subflow.remote_address != request.remote || subflow.remote_port != request.remote_port) {
    return false;
  }
  return !request.local.has_value() || request.local->address == subflow.local_address;
}

}  // namespace

SubflowKeeper::SubflowKeeper(const PathManagerConfig& config)
    : recreate_(config.recreate_subflows),
      min_backoff_(config.recreate_min),
      max_backoff_(config.recreate_max) {
  entries_.reserve(kMaxPmLimit);
}

bool SubflowKeeper::IsClaimed(uint32_t subflow_id) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return e.subflow_id == subflow_id; });
}

std::optional<uint32_t> SubflowKeeper::FindUnclaimed(const PmConnection& conn,
                                                     const SubflowRequest& request) const {
  // The newest matching subflow: ids grow, and ndiffports opens several with the same addresses.
  std::optional<uint32_t> found;
  for (const PmSubflow& s : conn.subflows()) {
    if (!Matches(request, s) || IsClaimed(s.id)) continue;
    if (!found || s.id > *found) found = s.id;
  }
  return found;
}

void SubflowKeeper::Claim(const PmConnection& conn) {
  for (Entry& e : entries_) {
    if (!e.waiting && !e.subflow_id) e.subflow_id = FindUnclaimed(conn, e.request);
  }
}

uint32_t SubflowKeeper::InUse(const PmConnection& conn) {
  Claim(conn);
  uint32_t n = ExtraSubflows(conn);
  for (const Entry& e : entries_) {
    if (e.waiting || !e.subflow_id) ++n;
  }
  return n;
}

size_t SubflowKeeper::waiting() const {
  return static_cast<size_t>(
      std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return e.waiting; }));
}

void SubflowKeeper::Fail(size_t index, tcp::Instant now) {
  if (!recreate_) {
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(index));
    return;
  }
  Entry& e = entries_[index];
  e.waiting = true;
  e.subflow_id.reset();
  e.due = now + e.backoff;
  e.backoff = std::min(e.backoff * 2, max_backoff_);
}

bool SubflowKeeper::Attempt(PmConnection& conn, size_t index, tcp::Instant now) {
  // A copy: what the connection does inside OpenSubflow must not reach into entries_.
  const SubflowRequest request = entries_[index].request;
  // A route-chosen local address has no path of its own to wait for: always try.
  const bool path_up = !request.local.has_value() || conn.path_up(request.local->address);
  if (!path_up || !conn.OpenSubflow(request)) {
    Fail(index, now);
    return false;
  }
  Entry& e = entries_[index];
  e.waiting = false;
  e.subflow_id = FindUnclaimed(conn, e.request);
  return true;
}

bool SubflowKeeper::Open(PmConnection& conn, const SubflowRequest& request, tcp::Instant now) {
  Claim(conn);
  Entry& e = entries_.emplace_back();
  e.request = request;
  e.backoff = min_backoff_;
  return Attempt(conn, entries_.size() - 1, now);
}

void SubflowKeeper::OnSubflowEstablished(const PmConnection& conn, const PmSubflow& subflow) {
  Claim(conn);
  for (Entry& e : entries_) {
    if (e.subflow_id == subflow.id) e.backoff = min_backoff_;
  }
}

bool SubflowKeeper::OnSubflowClosed(const PmConnection& conn, const PmSubflow& subflow,
                                    SubflowCloseReason reason, tcp::Instant now) {
  if (reason == SubflowCloseReason::kConnectionClosed) {
    entries_.clear();
    return false;
  }
  // The initial subflow is the connection's, never the policy's: it is not opened again.
  if (subflow.initial) return false;
  Claim(conn);
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.subflow_id == subflow.id; });
  if (it == entries_.end()) {
    // Opened, then gone before the connection listed it.
    it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
      return !e.waiting && !e.subflow_id && Matches(e.request, subflow);
    });
  }
  if (it == entries_.end()) return false;
  if (IsRecreatable(reason)) {
    Fail(static_cast<size_t>(it - entries_.begin()), now);
  } else {
    entries_.erase(it);
  }
  return true;
}

void SubflowKeeper::Retry(PmConnection& conn, const wire::IpAddress* local, uint32_t limit,
                          tcp::Instant now) {
  size_t i = 0;
  while (i < entries_.size()) {
    const Entry& e = entries_[i];
    const bool selected =
        e.waiting &&
        (local == nullptr ? e.due <= now : !e.request.local || e.request.local->address == *local);
    if (!selected) {
      ++i;
      continue;
    }
    // This entry is among those in use: the others must leave room for it.
    if (InUse(conn) > limit) {
      if (local == nullptr) Fail(i, now);
      ++i;
      continue;
    }
    const size_t before = entries_.size();
    Attempt(conn, i, now);
    if (entries_.size() == before) ++i;
  }
}

void SubflowKeeper::OnPathUp(PmConnection& conn, const wire::IpAddress& local, uint32_t limit,
                             tcp::Instant now) {
  Retry(conn, &local, limit, now);
}

void SubflowKeeper::ForgetRemote(uint8_t remote_id) {
  std::erase_if(entries_, [&](const Entry& e) { return e.request.remote_id == remote_id; });
}

std::optional<tcp::Instant> SubflowKeeper::NextTimer() const {
  std::optional<tcp::Instant> next;
  for (const Entry& e : entries_) {
    if (e.waiting && (!next || e.due < *next)) next = e.due;
  }
  return next;
}

void SubflowKeeper::OnTimer(PmConnection& conn, uint32_t limit, tcp::Instant now) {
  Retry(conn, nullptr, limit, now);
}

}  // namespace braid::mptcp
