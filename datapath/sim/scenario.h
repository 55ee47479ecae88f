// One simulated experiment, start to finish: two TcpHosts (client and server) joined by one
// full-duplex link with the given rate, delay, jitter, loss, reordering and queue, running the
// bulk-transfer driver (bulk_transfer.h) or the request/response driver (request_response.h).
// Shared by tools/braid-sim, the simulator test matrix (tests/sim/) and the benchmarks, so the
// three measure the same thing.
//
// The link is the bottleneck of every flow: all flows go from the client (10.0.0.1 or
// 2001:db8::1) to the server (10.0.0.2 or 2001:db8::2) over it. Loss, jitter and reordering apply
// to both directions (data and ACKs), each direction drawing from its own seeded stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "datapath/sim/link.h"
#include "datapath/sim/tcp_host.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/time.h"

namespace braid::sim {

struct ScenarioConfig {
  enum class Mode : uint8_t { kBulk, kRequestResponse };

  uint64_t seed = 1;
  // --- The link ---
  uint64_t rate_bps = 100'000'000;
  tcp::Duration rtt = std::chrono::milliseconds(10);  // propagation: twice the one-way delay
  tcp::Duration jitter{0};         // uniform in [-jitter, +jitter] per packet, FIFO-preserving
  double loss = 0;                 // Bernoulli per packet, each direction
  double reorder = 0;              // probability a packet is held back by reorder_delay
  tcp::Duration reorder_delay{0};  // 0: max(1 ms, rtt / 4)
  uint64_t queue_packets = 0;      // drop-tail limit; 0: one bandwidth-delay product, at least 16
  // --- TCP ---
  tcp::TcpConfig tcp;  // both ends; the three fields below override it
  std::string congestion_control = "cubic";
  bool timestamps = true;
  bool sack = true;
  bool ipv6 = false;
  // --- The workload ---
  Mode mode = Mode::kBulk;
  uint32_t flows = 1;                                 // bulk: parallel connections
  uint64_t bytes = 1 << 20;                           // bulk: per flow; 0: send for `duration`
  tcp::Duration duration = std::chrono::seconds(10);  // bulk with bytes = 0
  tcp::Duration measure_from{0};      // goodput window: [measure_from, end of sending]
  uint32_t request_size = 64 * 1024;  // request/response
  uint32_t response_size = 64 * 1024;
  uint32_t requests = 100;
  tcp::Duration think_time{0};
  // Virtual time after which an unfinished run is reported incomplete.
  tcp::Duration time_limit = std::chrono::minutes(30);
};

struct FlowResult {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  bool complete = false;  // every byte and the FIN arrived, both ends closed cleanly
  bool sha_match = false;
  std::string sha_sent, sha_received;
  double goodput_bps = 0;          // payload over the measurement window
  tcp::Duration handshake{0};      // Connect -> ESTABLISHED at the client
  tcp::Duration completion{0};     // Connect -> the receiver read the FIN
  tcp::Duration max_stall{0};      // longest gap between deliveries of new in-order data
  tcp::Duration max_stall_end{0};  // when it ended (since the start)
  // The sender's view (TcpInfo counters).
  uint64_t retransmits = 0, fast_retransmits = 0, rto_retransmits = 0, tlp_probes = 0;
  uint64_t rto_expirations = 0, spurious_retransmits = 0, bytes_retransmitted = 0;
  uint64_t segments_out = 0;
  tcp::Duration min_rtt{0}, avg_srtt{0}, final_rto{0};
  std::string client_reset, server_reset;  // empty when none
};

struct ScenarioResult {
  std::vector<FlowResult> flows;
  bool all_complete = false;
  bool all_match = false;
  double measured_seconds = 0;  // the goodput window
  double goodput_bps = 0;       // sum over flows
  double link_utilization = 0;  // IP bytes delivered on the data direction / capacity
  LinkCounters data_link;       // client -> server
  LinkCounters ack_link;        // server -> client
  HostCounters client_host, server_host;
  tcp::Duration end{0};  // virtual time when the run ended
  // Request/response.
  std::vector<tcp::Duration> completions;
  uint64_t rr_protocol_errors = 0;
};

// Host `which` of a run with `seed`: its engine's secret (ISNs, timestamps, cookies) from the seed.
TcpHostConfig SeededHostConfig(uint64_t seed, uint64_t which);
// A drop-tail limit of one bandwidth-delay product in 1500-byte packets, at least 16.
uint64_t BdpQueuePackets(uint64_t rate_bps, tcp::Duration rtt);
// Queue limit the scenario uses for `config` (its own or the automatic one).
uint64_t QueuePackets(const ScenarioConfig& config);
tcp::Duration ReorderDelay(const ScenarioConfig& config);

ScenarioResult RunScenario(const ScenarioConfig& config);

// The q-quantile (0..1) of `values` by nearest rank; zero when empty.
tcp::Duration Quantile(std::vector<tcp::Duration> values, double q);

}  // namespace braid::sim
