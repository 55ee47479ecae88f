// The per-packet model of one link; the order of decisions is documented in link.h.
#include "datapath/sim/link.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace braid::sim {

uint64_t LinkCounters::DroppedTotal() const {
  return std::accumulate(dropped.begin(), dropped.end(), uint64_t{0});
}

Link::Link(LinkId id, Endpoint from, Endpoint to, const LinkConfig& config, uint64_t seed)
    : id_(id), from_(from), to_(to), config_(config), rng_(DeriveSeed(seed, id.value)) {}

Link::Verdict Link::Offer(const Packet& packet, SimTime now) {
  ++offered_;
  ++counters_.sent_packets;
  counters_.sent_bytes += packet.size();

  // 1. State.
  if (state_ == LinkState::kDown) return Drop(DropReason::kLinkDown);
  if (state_ == LinkState::kBlackhole) return Drop(DropReason::kBlackhole);

  // 2. Drop-tail queue in front of the transmitter.
  SimTime on_wire = now;  // when the last bit has been sent
  if (config_.rate_bps != 0) {
    while (!waiting_.empty() && waiting_.front().start <= now) {
      waiting_bytes_ -= waiting_.front().bytes;
      waiting_.pop_front();
    }
    if (busy_until_ > now) {
      const bool over_packets =
          config_.queue_limit_packets != 0 && waiting_.size() + 1 > config_.queue_limit_packets;
      const bool over_bytes = config_.queue_limit_bytes != 0 &&
                              waiting_bytes_ + packet.size() > config_.queue_limit_bytes;
      if (over_packets || over_bytes) return Drop(DropReason::kQueueFull);
      waiting_.push_back({busy_until_, packet.size()});
      waiting_bytes_ += packet.size();
      counters_.queue_high_water_packets =
          std::max<uint64_t>(counters_.queue_high_water_packets, waiting_.size());
      counters_.queue_high_water_bytes = std::max(counters_.queue_high_water_bytes, waiting_bytes_);
    }
    busy_until_ = std::max(busy_until_, now) + SerializationTime(packet.size());
    on_wire = busy_until_;
  }

  // 3. Loss, after the packet has taken its turn on the transmitter.
  if (auto reason = Lose(packet)) return Drop(*reason);

  // 4. Propagation, jitter (FIFO-preserving), reordering.
  SimTime arrival = std::max(on_wire, on_wire + config_.delay + Jitter());
  Verdict verdict;
  if (config_.reorder > 0 && Chance(rng_, config_.reorder)) {
    arrival += config_.reorder_delay;
    ++counters_.reordered;
  } else {
    arrival = std::max(arrival, last_arrival_);
    last_arrival_ = arrival;
  }
  verdict.arrival = arrival;

  // 5. Duplication.
  if (config_.duplicate > 0 && Chance(rng_, config_.duplicate)) {
    verdict.duplicate = true;
    ++counters_.duplicated;
  }
  return verdict;
}

std::optional<DropReason> Link::Lose(const Packet& packet) {
  if (drop_nth_.contains(offered_)) return DropReason::kScripted;
  for (const auto& predicate : drop_if_) {
    if (predicate(packet)) return DropReason::kScripted;
  }
  if (config_.burst_loss) {
    const GilbertElliottConfig& ge = *config_.burst_loss;
    const bool lost = Chance(rng_, burst_bad_ ? ge.loss_in_bad : ge.loss_in_good);
    burst_bad_ = burst_bad_ ? !Chance(rng_, ge.bad_to_good) : Chance(rng_, ge.good_to_bad);
    if (lost) return DropReason::kBurstLoss;
  }
  if (config_.loss > 0 && Chance(rng_, config_.loss)) return DropReason::kRandomLoss;
  return std::nullopt;
}

SimTime Link::SerializationTime(size_t bytes) const {
  // Rounded up, so the link never runs faster than its rate. No overflow below 2 GB per packet.
  const uint64_t bit_ns = uint64_t{bytes} * 8 * 1'000'000'000;
  return SimTime((bit_ns + config_.rate_bps - 1) / config_.rate_bps);
}

SimTime Link::Jitter() {
  const int64_t bound = config_.jitter.bound.count();
  switch (config_.jitter.kind) {
    case JitterKind::kNone:
      return SimTime(0);
    case JitterKind::kUniform:
      return SimTime(UniformSymmetric(rng_, bound));
    case JitterKind::kNormal: {
      const double ns =
          ApproxStandardNormal(rng_) * static_cast<double>(config_.jitter.stddev.count());
      const auto rounded = static_cast<int64_t>(std::round(ns));
      return SimTime(std::clamp(rounded, -bound, bound));
    }
  }
  return SimTime(0);
}

Link::Verdict Link::Drop(DropReason reason) {
  ++counters_.dropped[static_cast<size_t>(reason)];
  return Verdict{.drop = reason};
}

uint64_t Link::Hold(Packet packet) {
  const uint64_t ticket = next_ticket_++;
  in_flight_.emplace(ticket, std::move(packet));
  return ticket;
}

std::optional<Packet> Link::Release(uint64_t ticket) {
  auto it = in_flight_.find(ticket);
  if (it == in_flight_.end()) return std::nullopt;
  Packet packet = std::move(it->second);
  in_flight_.erase(it);
  ++counters_.delivered_packets;
  counters_.delivered_bytes += packet.size();
  return packet;
}

std::vector<Packet> Link::SetState(LinkState state, SimTime now) {
  std::vector<Packet> dropped;
  if (state == LinkState::kDown && state_ != LinkState::kDown) {
    for (auto& [ticket, packet] : in_flight_) {
      dropped.push_back(std::move(packet));
    }
    in_flight_.clear();
    counters_.dropped[static_cast<size_t>(DropReason::kLinkDown)] += dropped.size();
    waiting_.clear();
    waiting_bytes_ = 0;
    busy_until_ = now;
    last_arrival_ = now;
  }
  state_ = state;
  return dropped;
}

}  // namespace braid::sim
