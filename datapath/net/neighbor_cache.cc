#include "datapath/net/neighbor_cache.h"

#include <algorithm>
#include <array>
#include <variant>

namespace braid::net {

std::string_view NeighborStateName(NeighborState state) {
  switch (state) {
    case NeighborState::kIncomplete:
      return "INCOMPLETE";
    case NeighborState::kReachable:
      return "REACHABLE";
    case NeighborState::kStale:
      return "STALE";
    case NeighborState::kDelay:
      return "DELAY";
    case NeighborState::kProbe:
      return "PROBE";
  }
  return "invalid";
}

size_t NeighborCache::KeyHash::operator()(const NeighborKey& k) const {
  std::array<uint8_t, 4 + 1 + 16> bytes{};
  bytes[0] = static_cast<uint8_t>(k.interface >> 24);
  bytes[1] = static_cast<uint8_t>(k.interface >> 16);
  bytes[2] = static_cast<uint8_t>(k.interface >> 8);
  bytes[3] = static_cast<uint8_t>(k.interface);
  bytes[4] = static_cast<uint8_t>(k.address.index());
  std::visit([&](const auto& ip) { std::copy(ip.bytes.begin(), ip.bytes.end(), &bytes[5]); },
             k.address);
  return static_cast<size_t>(tcp::SipHash24(key, bytes));
}

NeighborCache::NeighborCache(const NeighborConfig& config, size_t frame_capacity,
                             const tcp::SipKey& secret, NetCounters& counters)
    : config_(config),
      frame_capacity_(frame_capacity),
      counters_(counters),
      index_(config.capacity, KeyHash{tcp::DeriveSipKey(secret, "braid.net.neighbor")}) {
  config_.capacity = index_.capacity();
  // At least one request per round: an entry must never fail in the call that creates it.
  config_.max_multicast_probes = std::max<uint32_t>(1, config_.max_multicast_probes);
  config_.max_unicast_probes = std::max<uint32_t>(1, config_.max_unicast_probes);
  entries_.resize(config_.capacity);
  free_entries_.reserve(config_.capacity);
  for (size_t i = config_.capacity; i > 0; --i)
    free_entries_.push_back(static_cast<uint32_t>(i - 1));
  frames_.resize(config_.queue_total * frame_capacity_);
  frame_meta_.resize(config_.queue_total);
  free_frames_.reserve(config_.queue_total);
  for (size_t i = config_.queue_total; i > 0; --i) {
    free_frames_.push_back(static_cast<uint32_t>(i - 1));
  }
}

NeighborEntry* NeighborCache::Find(const NeighborKey& key) {
  uint32_t* i = index_.Find(key);
  return i == nullptr ? nullptr : &entries_[*i];
}

const NeighborEntry* NeighborCache::Find(const NeighborKey& key) const {
  const uint32_t* i = index_.Find(key);
  return i == nullptr ? nullptr : &entries_[*i];
}

bool NeighborCache::EvictOne() {
  NeighborEntry* victim = nullptr;
  for (NeighborEntry& e : entries_) {
    if (!e.live || e.state != NeighborState::kStale || e.queued != 0) continue;
    if (victim == nullptr || e.used < victim->used) victim = &e;
  }
  if (victim == nullptr) return false;
  counters_.Add(NetCounter::kNeighborEvicted);
  Remove(*victim);
  return true;
}

NeighborEntry* NeighborCache::Allocate(const NeighborKey& key, tcp::Instant now) {
  if (free_entries_.empty() && !EvictOne()) return nullptr;
  uint32_t i = free_entries_.back();
  auto [slot, inserted] = index_.Insert(key, i);
  if (!inserted) return nullptr;  // cannot happen: callers look up first, and room was made
  free_entries_.pop_back();
  NeighborEntry& e = entries_[i];
  e = NeighborEntry();
  e.key = key;
  e.live = true;
  e.updated = now;
  e.used = now;
  counters_.Add(NetCounter::kNeighborCreated);
  return &e;
}

NeighborEntry* NeighborCache::CreateIncomplete(const NeighborKey& key,
                                               std::optional<wire::IpAddress> source,
                                               tcp::Instant now) {
  NeighborEntry* e = Allocate(key, now);
  if (e == nullptr) return nullptr;
  e->state = NeighborState::kIncomplete;
  e->probe_source = source;
  SetDeadline(*e, now);
  return e;
}

NeighborEntry* NeighborCache::Learn(const NeighborKey& key, const wire::MacAddress& mac,
                                    tcp::Instant now, bool* resolved) {
  *resolved = false;
  NeighborEntry* e = Find(key);
  if (e == nullptr) {
    e = Allocate(key, now);
    if (e == nullptr) return nullptr;
    e->mac = mac;
    EnterStale(*e, now);
    return e;
  }
  if (e->state == NeighborState::kIncomplete) {
    e->mac = mac;
    EnterStale(*e, now);
    counters_.Add(NetCounter::kNeighborResolved);
    *resolved = true;
  } else if (e->mac != mac) {
    SetMac(*e, mac);
    EnterStale(*e, now);
  }
  return e;
}

NeighborCache::AdvertResult NeighborCache::Advertise(NeighborEntry& entry,
                                                     const std::optional<wire::MacAddress>& mac,
                                                     bool solicited, bool override_flag,
                                                     tcp::Instant now) {
  // RFC 4861 §7.2.5, first paragraph: an INCOMPLETE entry takes the address if one is given.
  if (entry.state == NeighborState::kIncomplete) {
    if (!mac) return AdvertResult::kIgnored;
    entry.mac = *mac;
    if (solicited) {
      EnterReachable(entry, now);
    } else {
      EnterStale(entry, now);
    }
    counters_.Add(NetCounter::kNeighborResolved);
    return AdvertResult::kResolved;
  }
  bool differs = mac && *mac != entry.mac;
  // Override clear and a different address: keep ours, but a REACHABLE entry becomes STALE.
  if (!override_flag && differs) {
    if (entry.state != NeighborState::kReachable) return AdvertResult::kIgnored;
    EnterStale(entry, now);
    return AdvertResult::kUpdated;
  }
  if (differs) SetMac(entry, *mac);
  if (solicited) {
    EnterReachable(entry, now);
  } else if (differs) {
    EnterStale(entry, now);
  } else {
    return AdvertResult::kIgnored;
  }
  return AdvertResult::kUpdated;
}

void NeighborCache::Use(NeighborEntry& entry, tcp::Instant now) {
  entry.used = now;
  if (entry.state == NeighborState::kStale) {
    entry.state = NeighborState::kDelay;
    entry.probes = 0;
    SetDeadline(entry, now + config_.delay_first_probe_time);
  }
}

void NeighborCache::Remove(NeighborEntry& entry) {
  while (entry.queue_head != kNoFrame) PopFrame(entry);
  index_.Erase(entry.key);
  entry.live = false;
  free_entries_.push_back(static_cast<uint32_t>(&entry - entries_.data()));
}

std::span<uint8_t> NeighborCache::QueueSlot(const NeighborEntry& entry) {
  if (free_frames_.empty() || entry.queued >= config_.queue_per_neighbor) return {};
  return {frames_.data() + size_t{free_frames_.back()} * frame_capacity_, frame_capacity_};
}

void NeighborCache::CommitQueued(NeighborEntry& entry, size_t len, const TxOffload& offload) {
  uint32_t slot = free_frames_.back();
  free_frames_.pop_back();
  frame_meta_[slot] = QueuedFrame{kNoFrame, static_cast<uint32_t>(len), offload};
  if (entry.queue_tail == kNoFrame) {
    entry.queue_head = slot;
  } else {
    frame_meta_[entry.queue_tail].next = slot;
  }
  entry.queue_tail = slot;
  ++entry.queued;
}

void NeighborCache::PopFrame(NeighborEntry& entry) {
  uint32_t slot = entry.queue_head;
  entry.queue_head = frame_meta_[slot].next;
  if (entry.queue_head == kNoFrame) entry.queue_tail = kNoFrame;
  --entry.queued;
  free_frames_.push_back(slot);
}

void NeighborCache::SetDeadline(NeighborEntry& entry, tcp::Instant at) {
  entry.deadline = at;
  if (!next_deadline_ || at < *next_deadline_) next_deadline_ = at;
}

void NeighborCache::EnterReachable(NeighborEntry& entry, tcp::Instant now) {
  entry.state = NeighborState::kReachable;
  entry.updated = now;
  entry.probes = 0;
  SetDeadline(entry, now + config_.reachable_time);
}

void NeighborCache::EnterStale(NeighborEntry& entry, tcp::Instant now) {
  entry.state = NeighborState::kStale;
  entry.updated = now;
  entry.probes = 0;
  SetDeadline(entry, now + config_.gc_stale_time);
}

void NeighborCache::SetMac(NeighborEntry& entry, const wire::MacAddress& mac) {
  entry.mac = mac;
  counters_.Add(NetCounter::kNeighborMacChanged);
}

}  // namespace braid::net
