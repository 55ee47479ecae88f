#include "datapath/io/handoff.h"

#include <array>
#include <utility>

#include "absl/status/status.h"
#include "datapath/io/errors.h"
#include "datapath/io/text.h"

namespace braid::io {

absl::StatusOr<HandoffRing> HandoffRing::Create(const std::string& name, unsigned size,
                                                int socket) {
  if (name.empty() || name.size() >= RTE_RING_NAMESIZE) {
    return absl::InvalidArgumentError(
        Cat("handoff ring name \"", name, "\" must be 1..", RTE_RING_NAMESIZE - 1, " characters"));
  }
  if (size < 2 || (size & (size - 1)) != 0) {
    return absl::InvalidArgumentError(
        Cat("handoff ring ", name, ": size ", size, " is not a power of two >= 2"));
  }
  rte_ring* ring = rte_ring_create(name.c_str(), size, socket, RING_F_SC_DEQ);
  if (ring == nullptr) {
    return LastErrorStatus(Cat("rte_ring_create(", name, ", ", size, ")"));
  }
  HandoffRing r;
  r.ring_ = ring;
  r.name_ = name;
  return r;
}

HandoffRing::HandoffRing(HandoffRing&& other) noexcept
    : ring_(std::exchange(other.ring_, nullptr)), name_(std::move(other.name_)) {}

HandoffRing& HandoffRing::operator=(HandoffRing&& other) noexcept {
  if (this != &other) {
    Drain();
    if (ring_ != nullptr) rte_ring_free(ring_);
    ring_ = std::exchange(other.ring_, nullptr);
    name_ = std::move(other.name_);
  }
  return *this;
}

HandoffRing::~HandoffRing() {
  Drain();
  if (ring_ != nullptr) rte_ring_free(ring_);
}

void HandoffRing::Drain() {
  if (ring_ == nullptr) return;
  std::array<rte_mbuf*, 64> buf;
  unsigned n;
  while ((n = Dequeue(buf)) != 0) rte_pktmbuf_free_bulk(buf.data(), n);
}

SoftwareSteering::SoftwareSteering(const SteeringTable* table, uint16_t self,
                                   std::span<HandoffRing* const> rings)
    : table_(table),
      self_(self),
      rings_(rings.begin(), rings.end()),
      staged_(rings.size() * kMaxDispatchBurst),
      staged_count_(rings.size(), 0) {
  touched_.reserve(rings.size());
}

void SoftwareSteering::Stage(uint16_t worker, rte_mbuf* m) {
  if (staged_count_[worker] == 0) touched_.push_back(worker);  // within reserved capacity
  staged_[size_t{worker} * kMaxDispatchBurst + staged_count_[worker]++] = m;
}

uint16_t SoftwareSteering::Dispatch(std::span<rte_mbuf* const> burst, std::span<rte_mbuf*> mine) {
  const size_t workers = rings_.size();
  uint16_t kept = 0;
  size_t done = 0;
  while (done < burst.size()) {
    const size_t n = std::min(burst.size() - done, kMaxDispatchBurst);
    for (size_t i = done; i < done + n; ++i) {
      rte_mbuf* m = burst[i];
      const uint16_t owner = table_->Steer(SegmentData(m));
      if (owner == kBroadcast) {
        counters_.Add(IoCounter::kHandoffBroadcast);
        // One reference per worker; each frees its own.
        rte_pktmbuf_refcnt_update(m, static_cast<int16_t>(workers - 1));  // every segment
        for (size_t w = 0; w < workers; ++w) {
          if (w == self_) {
            mine[kept++] = m;
          } else {
            Stage(static_cast<uint16_t>(w), m);
          }
        }
      } else if (owner == self_ || owner >= workers) {
        counters_.Add(IoCounter::kHandoffKept);
        mine[kept++] = m;
      } else {
        Stage(owner, m);
      }
    }
    for (uint16_t w : touched_) {
      rte_mbuf** frames = &staged_[size_t{w} * kMaxDispatchBurst];
      const uint16_t count = staged_count_[w];
      const unsigned sent = rings_[w]->Enqueue({frames, count});
      counters_.Add(IoCounter::kHandoffSent, sent);
      if (sent < count) {
        rte_pktmbuf_free_bulk(frames + sent, count - sent);
        counters_.AddDrop(IoDrop::kHandoffRingFull, count - sent);
      }
      staged_count_[w] = 0;
    }
    touched_.clear();
    done += n;
  }
  return kept;
}

}  // namespace braid::io
