// A live packet capture for DebugService.Capture (braidctl capture): a FrameTap on the worker
// that keeps the frames of one path (its port) or of one MPTCP connection (every subflow's TCP
// 4-tuple, refreshed as subflows come and go) as pcap records (Ethernet, nanosecond
// timestamps), within a bounded buffer; the gRPC handler takes them out in chunks of whole
// records. Frames that find the buffer full are counted as missed, never waited for.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "datapath/mptcp/socket_manager.h"
#include "datapath/pcap/pcap_writer.h"
#include "datapath/runtime/worker.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/wire/address.h"

namespace braid::agent {

class PacketCapture final : public runtime::FrameTap {
 public:
  struct Target {
    std::optional<uint16_t> port;             // a path's port id
    std::optional<tcp::SocketId> connection;  // an MPTCP connection (mptcp() of the worker)
  };
  struct Limits {
    uint64_t packets = 0;  // 0: none
    uint64_t bytes = 0;    // of pcap data, headers included; 0: none
    uint32_t snaplen = pcap::kDefaultSnaplen;
    size_t buffer = 8 << 20;  // records held until taken
  };
  PacketCapture(Target target, Limits limits);

  // The worker's thread: the connection's stack (for its subflows), then OnFrame per frame.
  void Attach(mptcp::MptcpSockets* stack) { stack_ = stack; }
  void OnFrame(uint16_t port, std::span<const uint8_t> frame, bool tx, tcp::Instant now) override;

  // Any thread: whole records, the file header first, at most `max_bytes` (at least one record).
  struct Chunk {
    std::vector<uint8_t> bytes;
    uint64_t packets = 0;
  };
  Chunk Take(size_t max_bytes);
  uint64_t missed() const;
  bool target_gone() const;
  bool limit_reached() const;  // packets or bytes: nothing more is recorded

 private:
  // src, sport, dst, dport: compared as addresses, so matching a frame allocates nothing.
  using Flow = std::tuple<wire::IpAddress, uint16_t, wire::IpAddress, uint16_t>;
  bool Matches(std::span<const uint8_t> frame) const;
  void RefreshFlows(tcp::Instant now);

  const Target target_;
  const Limits limits_;
  mptcp::MptcpSockets* stack_ = nullptr;
  std::set<Flow> flows_;  // the worker's thread
  std::optional<tcp::Instant> refreshed_;
  std::vector<uint8_t> scratch_;
  std::optional<pcap::PcapWriter> writer_;

  mutable std::mutex mutex_;
  std::vector<uint8_t> header_;  // taken with the first chunk
  std::deque<std::vector<uint8_t>> records_;
  size_t held_ = 0;
  uint64_t recorded_packets_ = 0;
  uint64_t recorded_bytes_ = 0;
  uint64_t missed_ = 0;
  bool gone_ = false;
  bool full_ = false;
};

}  // namespace braid::agent
