// The bulk-transfer driver: app-side on TcpBackend, run by a TcpHost. BulkSender opens `flows`
// connections and writes `bytes_per_flow` bytes of a seeded pseudo-random stream on each (or, with
// bytes_per_flow = 0, writes until `stop_at`), then shuts down; BulkReceiver listens, reads
// everything, hashes it, and closes when the sender's FIN arrives. Both sides hash the stream with
// SHA-256, so a run proves byte-exact delivery, and the receiver records when each read of new
// in-order data happened, so a run also bounds the longest stall.
//
// Flow i goes from (client, first_client_port + i) to (server, server_port); both apps fill the
// same BulkFlowStats vector, indexed by i.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "datapath/sim/tcp_host.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/util/stream_check.h"
#include "datapath/wire/address.h"

namespace braid::sim {

struct BulkConfig {
  uint32_t flows = 1;
  uint64_t bytes_per_flow = 1 << 20;  // 0: send until stop_at
  std::optional<tcp::Instant> stop_at;
  uint64_t seed = 1;
  tcp::Instant start_at;
  wire::IpAddress client;
  wire::IpAddress server;
  uint16_t first_client_port = 40000;
  uint16_t server_port = 5001;
  tcp::TcpConfig client_config;
  tcp::TcpConfig server_config;
};

struct BulkFlowStats {
  // Sender.
  tcp::ConnectionId client_id;
  uint64_t bytes_sent = 0;   // taken by Send()
  uint64_t bytes_acked = 0;  // kAcked totals
  util::Sha256 sent_hash;
  bool send_done = false;  // everything written, FIN queued
  std::optional<tcp::Instant> connect_at, established_at, send_done_at, client_closed_at;
  uint32_t rto_events = 0;
  std::optional<tcp::TcpEvent::ResetReason> client_reset;
  // The sender's connection as last seen (refreshed on every ACK) and RTT statistics sampled on
  // every ACK event.
  std::optional<tcp::TcpInfo> client_info;
  tcp::Duration srtt_sum{0};
  uint64_t srtt_samples = 0;
  tcp::Duration min_rtt{0};

  // Receiver.
  tcp::ConnectionId server_id;
  uint64_t bytes_received = 0;
  util::Sha256 received_hash;
  std::optional<tcp::Instant> accepted_at, first_byte_at, last_byte_at, fin_at, server_closed_at;
  std::optional<tcp::TcpEvent::ResetReason> server_reset;
  // Longest time between two deliveries of new in-order data (the accept and the FIN count as
  // deliveries), and when it ended.
  tcp::Duration max_gap{0};
  std::optional<tcp::Instant> max_gap_end;
  std::optional<tcp::Instant> last_delivery;

  // The receiver saw the FIN after every byte the sender wrote, and the hashes agree.
  bool Complete() const;
  bool HashesMatch() const { return sent_hash.Digest() == received_hash.Digest(); }

  // The receiver read `bytes` (hashed and counted; empty: nothing new).
  void NoteReceived(std::span<const uint8_t> bytes) {
    received_hash.Update(bytes);
    bytes_received += bytes.size();
  }
  // New in-order data (or the FIN) reached the receiver at `now`: the stall bookkeeping.
  void NoteDelivery(tcp::Instant now);
};

// The sender's side of one flow: the seeded stream, generated one chunk ahead of what the
// transport takes, hashed as it is taken.
class PatternSource {
 public:
  PatternSource(uint64_t seed, uint64_t stream) : pattern_(seed, stream) {}

  // Offers the stream to `send` (a span -> the bytes it took) until it takes nothing, `stop`
  // is set, or `limit` bytes were taken in all (0: no limit). Counts and hashes into `f`.
  // Returns whether the limit was reached.
  template <typename SendFn>
  bool Pump(BulkFlowStats& f, uint64_t limit, const bool& stop, SendFn&& send);

 private:
  static constexpr size_t kChunk = 64 * 1024;
  util::PatternStream pattern_;
  std::vector<uint8_t> staging_;  // generated, not yet taken
  size_t staged_from_ = 0;
};

template <typename SendFn>
bool PatternSource::Pump(BulkFlowStats& f, uint64_t limit, const bool& stop, SendFn&& send) {
  while (!stop) {
    if (staged_from_ == staging_.size()) {
      const uint64_t left = limit == 0 ? kChunk : limit - f.bytes_sent;
      if (left == 0) break;
      staging_.resize(static_cast<size_t>(std::min<uint64_t>(left, kChunk)));
      pattern_.Fill(staging_);
      staged_from_ = 0;
    }
    const std::span<const uint8_t> rest = std::span<const uint8_t>(staging_).subspan(staged_from_);
    const size_t taken = send(rest);
    if (taken == 0) return false;  // the send buffer is full: the writable event follows
    f.sent_hash.Update(rest.first(taken));
    f.bytes_sent += taken;
    staged_from_ += taken;
  }
  return limit != 0 && f.bytes_sent == limit;
}

class BulkSender : public TcpApp {
 public:
  BulkSender(const BulkConfig& config, std::vector<BulkFlowStats>& stats);

  void OnEvent(const tcp::TcpEvent& event, tcp::Instant now, tcp::TcpBackend& backend) override;
  std::optional<tcp::Instant> WakeAt() const override;
  void OnWake(tcp::Instant now, tcp::TcpBackend& backend) override;

  bool started() const { return started_; }

 private:
  struct Flow {
    PatternSource source;
    bool stopped = false;
  };
  std::optional<size_t> FlowOf(tcp::ConnectionId id) const;
  void Pump(size_t i, tcp::Instant now, tcp::TcpBackend& backend);
  void Finish(size_t i, tcp::Instant now, tcp::TcpBackend& backend);

  BulkConfig config_;
  std::vector<BulkFlowStats>& stats_;
  std::vector<Flow> flows_;
  bool started_ = false;
  bool stopped_ = false;
};

class BulkReceiver : public TcpApp {
 public:
  BulkReceiver(const BulkConfig& config, std::vector<BulkFlowStats>& stats);

  // Starts listening on (server, server_port).
  tcp::TcpError Listen(tcp::TcpBackend& backend);
  void OnEvent(const tcp::TcpEvent& event, tcp::Instant now, tcp::TcpBackend& backend) override;

  uint64_t unknown_connections() const { return unknown_; }

 private:
  std::optional<size_t> FlowOf(tcp::ConnectionId id) const;
  void Drain(size_t i, tcp::Instant now, tcp::TcpBackend& backend);

  BulkConfig config_;
  std::vector<BulkFlowStats>& stats_;
  std::vector<uint8_t> buffer_;
  uint64_t unknown_ = 0;
};

}  // namespace braid::sim
