// The test nodes declared in test_nodes.h.
#include "datapath/sim/test_nodes.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace braid::sim {

std::vector<uint8_t> MakeTestPayload(uint64_t seq, size_t size) {
  std::vector<uint8_t> bytes(std::max(size, kTestPayloadMinSize), 0);
  for (size_t i = 0; i < 8; ++i) {
    bytes[i] = static_cast<uint8_t>(seq >> (56 - 8 * i));
  }
  return bytes;
}

std::optional<uint64_t> TestPayloadSeq(std::span<const uint8_t> bytes) {
  if (bytes.size() < kTestPayloadMinSize) return std::nullopt;
  uint64_t seq = 0;
  for (size_t i = 0; i < 8; ++i) {
    seq = (seq << 8) | bytes[i];
  }
  return seq;
}

void Sink::Receive(SimTime now, InterfaceIndex interface, Packet packet, NodeContext& /*out*/) {
  arrivals_.push_back(Arrival{
      .at = now,
      .interface = interface,
      .seq = TestPayloadSeq(packet.bytes).value_or(std::numeric_limits<uint64_t>::max()),
      .packet_id = packet.id,
      .sent_at = packet.sent_at,
  });
}

std::vector<uint64_t> Sink::seqs() const {
  std::vector<uint64_t> out;
  out.reserve(arrivals_.size());
  for (const Arrival& a : arrivals_) out.push_back(a.seq);
  return out;
}

std::optional<SimTime> CbrSender::PollAt() const {
  if (next_ >= config_.count) return std::nullopt;
  return SendTime(next_);
}

void CbrSender::Poll(SimTime now, NodeContext& out) {
  while (next_ < config_.count && SendTime(next_) <= now) {
    out.Send(config_.interface, MakeTestPayload(next_, config_.packet_size));
    ++next_;
  }
}

void Echo::Receive(SimTime /*now*/, InterfaceIndex interface, Packet packet, NodeContext& out) {
  ++echoed_;
  out.Send(interface, std::move(packet.bytes));
}

}  // namespace braid::sim
