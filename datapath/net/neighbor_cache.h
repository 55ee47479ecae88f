// The neighbour cache shared by ARP (RFC 826) and IPv6 neighbour discovery (RFC 4861): one state
// machine for both families, keyed by (interface, IP address), as Linux's neighbour.c serves
// arp_tbl and nd_tbl. Sans-I/O: it decides, the stack sends. Every time comes in as `now`; all
// memory (entries, index, queued frames) is taken at construction.
//
// States (RFC 4861 §7.3.2, used for ARP too, as Linux does):
//   INCOMPLETE  resolution in progress: a request/solicitation every retrans_time, at most
//               max_multicast_probes of them, then the entry fails: it is removed and the frames
//               that waited in its queue are dropped (neighbor_unreachable).
//   REACHABLE   confirmed within reachable_time (an ARP reply or solicited NA to us).
//   STALE       reachable_time passed, or the address was learned unconfirmed (a request to us,
//               an unsolicited advertisement). Frames still go out at once. Removed after
//               gc_stale_time unused.
//   DELAY       a STALE entry was used: wait delay_first_probe_time for a confirmation, then
//   PROBE       unicast requests every retrans_time, at most max_unicast_probes, then removed.
// Rate limit: requests for one destination leave only from its entry's timer, re-armed
// retrans_time after each one, and a failing entry is removed no sooner than retrans_time after
// its last request, so a destination sees at most one request per retrans_time (1 s by default,
// Linux's retrans_time_ms) however many packets wait for it.
//
// Cost: lookups are O(1) (a fixed hash table keyed with SipHash, since learned entries come from
// the network). Poll scans the table once the earliest deadline has come, and eviction scans it
// when the table is full: O(capacity), on the timer path only, never per packet.
//
// Not done: duplicate address detection (RFC 4862 §5.4). The agent assigns addresses from IPAM
// (host-local), which already guarantees uniqueness on the path; a conflict is counted
// (arp_address_conflict) rather than detected up front. Upper-layer reachability confirmation
// (RFC 4861 §7.3.1, Linux's dst_confirm from TCP ACKs) is not wired yet: a busy entry is
// re-confirmed by one unicast probe after each reachable_time.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "datapath/net/fixed_hash_map.h"
#include "datapath/net/frame_sink.h"
#include "datapath/net/interface.h"
#include "datapath/net/net_counters.h"
#include "datapath/tcp/siphash.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::net {

enum class NeighborState : uint8_t { kIncomplete, kReachable, kStale, kDelay, kProbe };
std::string_view NeighborStateName(NeighborState state);  // "INCOMPLETE", ...

// Defaults are Linux's (net.ipv4.neigh.default.* and net.ipv6.neigh.default.*), which are
// RFC 4861 §10's constants.
struct NeighborConfig {
  size_t capacity = 1024;  // entries (Linux's gc_thresh3 is the same idea)
  // Frames waiting for resolution, per neighbour and in all. Linux bounds this by bytes
  // (unres_qlen_bytes); frames are counted here because every queued frame takes a fixed slot.
  // Several subflows may start through one gateway at once, hence more than Linux's old 3.
  size_t queue_per_neighbor = 16;
  size_t queue_total = 256;
  tcp::Duration reachable_time = std::chrono::seconds(30);         // REACHABLE_TIME
  tcp::Duration retrans_time = std::chrono::seconds(1);            // RETRANS_TIMER
  tcp::Duration delay_first_probe_time = std::chrono::seconds(5);  // DELAY_FIRST_PROBE_TIME
  uint32_t max_multicast_probes = 3;                               // MAX_MULTICAST_SOLICIT
  uint32_t max_unicast_probes = 3;                                 // MAX_UNICAST_SOLICIT
  tcp::Duration gc_stale_time = std::chrono::seconds(60);          // Linux gc_stale_time
};

struct NeighborKey {
  InterfaceId interface = 0;
  wire::IpAddress address;
  friend bool operator==(const NeighborKey&, const NeighborKey&) = default;
};

inline constexpr uint32_t kNoFrame = std::numeric_limits<uint32_t>::max();

struct NeighborEntry {
  NeighborKey key;
  wire::MacAddress mac;  // meaningful unless kIncomplete
  NeighborState state = NeighborState::kIncomplete;
  tcp::Instant deadline;  // when the state's timer fires
  tcp::Instant updated;   // last confirmation or change
  tcp::Instant used;      // last frame sent through it (or creation)
  std::optional<tcp::Instant> last_probe;
  uint32_t probes = 0;  // requests sent in the current INCOMPLETE or PROBE round
  // Source address of the packet that started resolution: RFC 4861 §7.2.2 (and Linux's
  // arp_solicit) put it in the request when it is the interface's.
  std::optional<wire::IpAddress> probe_source;
  // FIFO of queued frames.
  uint32_t queue_head = kNoFrame;
  uint32_t queue_tail = kNoFrame;
  uint32_t queued = 0;
  bool live = false;
};

// A read-only view for tests and debug output.
struct NeighborInfo {
  NeighborState state;
  wire::MacAddress mac;
  uint32_t queued = 0;
  uint32_t probes = 0;
  tcp::Instant deadline;
};

class NeighborCache {
 public:
  // `frame_capacity`: bytes of the largest frame a queue slot must hold. `secret` keys the
  // table's hash (learned entries come from the network).
  NeighborCache(const NeighborConfig& config, size_t frame_capacity, const tcp::SipKey& secret,
                NetCounters& counters);
  NeighborCache(const NeighborCache&) = delete;
  NeighborCache& operator=(const NeighborCache&) = delete;

  const NeighborConfig& config() const { return config_; }
  size_t size() const { return index_.size(); }
  size_t queued_total() const { return config_.queue_total - free_frames_.size(); }

  NeighborEntry* Find(const NeighborKey& key);
  const NeighborEntry* Find(const NeighborKey& key) const;

  // A new INCOMPLETE entry whose timer is due at once (the caller runs it with RunTimer to send
  // the first request). When the table is full the least recently used STALE entry without
  // queued frames is evicted; nullptr when there is none.
  NeighborEntry* CreateIncomplete(const NeighborKey& key, std::optional<wire::IpAddress> source,
                                  tcp::Instant now);

  // RFC 4861 §7.2.3 (NS with a source link-layer address) and RFC 826's merge for an ARP request
  // to us: the sender told us its address. Creates a STALE entry when there is none (and room),
  // else a new address makes the entry STALE; an INCOMPLETE entry is resolved (STALE) and
  // *resolved is set: its queued frames can go. Returns the entry, or nullptr.
  NeighborEntry* Learn(const NeighborKey& key, const wire::MacAddress& mac, tcp::Instant now,
                       bool* resolved);

  enum class AdvertResult : uint8_t { kIgnored, kUpdated, kResolved };
  // RFC 4861 §7.2.5 for an existing entry (an NA, or an ARP reply/announcement: solicited when it
  // is a unicast reply to us, override always since ARP has no such flag). kResolved: the entry
  // was INCOMPLETE and its queued frames can go.
  AdvertResult Advertise(NeighborEntry& entry, const std::optional<wire::MacAddress>& mac,
                         bool solicited, bool override_flag, tcp::Instant now);

  // A frame went out through a resolved entry: STALE -> DELAY (RFC 4861 §7.3.3).
  void Use(NeighborEntry& entry, tcp::Instant now);

  // Removes the entry. Its queue must have been drained (DrainQueue) first.
  void Remove(NeighborEntry& entry);

  // Queue. QueueSlot returns the buffer the next frame of `entry` is built in (frame_capacity
  // bytes), or an empty span when the entry's queue or the pool is full; CommitQueued then links
  // the first `len` bytes of it at the tail.
  std::span<uint8_t> QueueSlot(const NeighborEntry& entry);
  void CommitQueued(NeighborEntry& entry, size_t len, const TxOffload& offload);
  // Calls fn(std::span<uint8_t> frame, const TxOffload&) for each queued frame in order, freeing
  // each slot after the call. Returns how many.
  template <typename Fn>
  size_t DrainQueue(NeighborEntry& entry, Fn&& fn);

  // Timers. Poll runs every entry whose deadline has come; RunTimer one entry (a new INCOMPLETE
  // entry, at once). on_probe(NeighborEntry&, bool unicast) sends a request (broadcast ARP /
  // multicast NS, or unicast to entry.mac in PROBE); on_fail(NeighborEntry&) is called before a
  // failed entry is removed, with its queue still to drain.
  template <typename OnProbe, typename OnFail>
  void Poll(tcp::Instant now, OnProbe&& on_probe, OnFail&& on_fail);
  template <typename OnProbe, typename OnFail>
  void RunTimer(NeighborEntry& entry, tcp::Instant now, OnProbe&& on_probe, OnFail&& on_fail);
  std::optional<tcp::Instant> PollAt() const { return next_deadline_; }

  // Calls fn(NeighborEntry&) for every live entry; fn must not create or remove entries.
  template <typename Fn>
  void ForEach(Fn&& fn) {
    for (NeighborEntry& e : entries_) {
      if (e.live) fn(e);
    }
  }

  static NeighborInfo InfoOf(const NeighborEntry& entry) {
    return {entry.state, entry.mac, entry.queued, entry.probes, entry.deadline};
  }

 private:
  struct KeyHash {
    tcp::SipKey key;
    size_t operator()(const NeighborKey& k) const;
  };
  struct QueuedFrame {
    uint32_t next = kNoFrame;
    uint32_t len = 0;
    TxOffload offload;
  };

  NeighborEntry* Allocate(const NeighborKey& key, tcp::Instant now);
  bool EvictOne();
  void SetDeadline(NeighborEntry& entry, tcp::Instant at);
  void EnterReachable(NeighborEntry& entry, tcp::Instant now);
  void EnterStale(NeighborEntry& entry, tcp::Instant now);
  void SetMac(NeighborEntry& entry, const wire::MacAddress& mac);
  // Frees the front frame of the entry's queue.
  void PopFrame(NeighborEntry& entry);

  NeighborConfig config_;
  size_t frame_capacity_;
  NetCounters& counters_;
  std::vector<NeighborEntry> entries_;
  std::vector<uint32_t> free_entries_;
  FixedHashMap<NeighborKey, uint32_t, KeyHash> index_;
  std::vector<uint8_t> frames_;  // queue_total slots of frame_capacity_ bytes
  std::vector<QueuedFrame> frame_meta_;
  std::vector<uint32_t> free_frames_;
  std::optional<tcp::Instant> next_deadline_;
};

template <typename Fn>
size_t NeighborCache::DrainQueue(NeighborEntry& entry, Fn&& fn) {
  size_t n = 0;
  while (entry.queue_head != kNoFrame) {
    uint32_t slot = entry.queue_head;
    const QueuedFrame& meta = frame_meta_[slot];
    fn(std::span<uint8_t>(frames_.data() + size_t{slot} * frame_capacity_, meta.len), meta.offload);
    PopFrame(entry);
    ++n;
  }
  return n;
}

template <typename OnProbe, typename OnFail>
void NeighborCache::RunTimer(NeighborEntry& entry, tcp::Instant now, OnProbe&& on_probe,
                             OnFail&& on_fail) {
  if (!entry.live || entry.deadline > now) return;
  auto probe = [&](bool unicast) {
    on_probe(entry, unicast);
    ++entry.probes;
    entry.last_probe = now;
    SetDeadline(entry, now + config_.retrans_time);
  };
  auto fail = [&] {
    counters_.Add(NetCounter::kNeighborFailed);
    on_fail(entry);
    Remove(entry);
  };
  switch (entry.state) {
    case NeighborState::kIncomplete:
      if (entry.probes >= config_.max_multicast_probes) return fail();
      return probe(/*unicast=*/false);
    case NeighborState::kReachable:
      return EnterStale(entry, now);
    case NeighborState::kStale: {
      tcp::Instant last = std::max(entry.used, entry.updated);
      if (now - last >= config_.gc_stale_time) {
        counters_.Add(NetCounter::kNeighborExpired);
        return Remove(entry);
      }
      return SetDeadline(entry, last + config_.gc_stale_time);
    }
    case NeighborState::kDelay:
      entry.state = NeighborState::kProbe;
      entry.probes = 0;
      return probe(/*unicast=*/true);
    case NeighborState::kProbe:
      if (entry.probes >= config_.max_unicast_probes) return fail();
      return probe(/*unicast=*/true);
  }
}

template <typename OnProbe, typename OnFail>
void NeighborCache::Poll(tcp::Instant now, OnProbe&& on_probe, OnFail&& on_fail) {
  if (!next_deadline_ || *next_deadline_ > now) return;
  next_deadline_.reset();
  for (NeighborEntry& e : entries_) {
    if (!e.live) continue;
    RunTimer(e, now, on_probe, on_fail);
    if (e.live && (!next_deadline_ || e.deadline < *next_deadline_)) next_deadline_ = e.deadline;
  }
}

}  // namespace braid::net
