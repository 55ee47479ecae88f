// Small nodes for exercising the simulator itself (and for smoke tests of later adapters): a
// sink that records every arrival, a constant-bit-rate sender that is also a sink, and an echo
// that sends every packet back where it came from. Their payloads carry a sequence number so a
// test can tell which packet arrived.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "datapath/sim/node.h"
#include "datapath/sim/packet.h"
#include "datapath/sim/types.h"

namespace braid::sim {

// Payload layout of the test nodes: an 8-byte big-endian sequence number, then zeros.
inline constexpr size_t kTestPayloadMinSize = 8;
std::vector<uint8_t> MakeTestPayload(uint64_t seq, size_t size);
std::optional<uint64_t> TestPayloadSeq(std::span<const uint8_t> bytes);

struct Arrival {
  SimTime at;
  InterfaceIndex interface;
  uint64_t seq;  // from the payload; UINT64_MAX if it has none
  uint64_t packet_id;
  SimTime sent_at;
};

class Sink : public Node {
 public:
  void Receive(SimTime now, InterfaceIndex interface, Packet packet, NodeContext& out) override;

  const std::vector<Arrival>& arrivals() const { return arrivals_; }
  std::vector<uint64_t> seqs() const;  // in arrival order

 private:
  std::vector<Arrival> arrivals_;
};

// Sends `count` packets of `packet_size` bytes (seq 0, 1, ...) out of `interface`, one every
// `interval` from `start`; with a zero interval, all of them at `start` in one burst. Records
// what comes back, like a Sink.
class CbrSender : public Sink {
 public:
  struct Config {
    InterfaceIndex interface = 0;
    size_t packet_size = 1500;
    SimTime start{0};
    SimTime interval{0};
    uint64_t count = 0;
  };

  explicit CbrSender(const Config& config) : config_(config) {}

  std::optional<SimTime> PollAt() const override;
  void Poll(SimTime now, NodeContext& out) override;

  uint64_t sent() const { return next_; }

 private:
  SimTime SendTime(uint64_t seq) const {
    return config_.start + config_.interval * static_cast<int64_t>(seq);
  }

  Config config_;
  uint64_t next_ = 0;
};

// Sends every packet straight back out of the interface it arrived on.
class Echo : public Node {
 public:
  void Receive(SimTime now, InterfaceIndex interface, Packet packet, NodeContext& out) override;

  uint64_t echoed() const { return echoed_; }

 private:
  uint64_t echoed_ = 0;
};

}  // namespace braid::sim
