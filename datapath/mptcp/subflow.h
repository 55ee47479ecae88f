// One TCP subflow of an MPTCP connection, the counterpart of the kernel's net/mptcp/subflow.c with
// the option writing and reading of options.c: it is the TcpHooks (tcp/adapter.h) of its TCP
// connection, so it writes the MPTCP options of every segment that connection emits — MP_CAPABLE
// and MP_JOIN in the handshakes, then DSS with the DATA_ACK and the mapping of the payload, plus
// whatever signal is pending (ADD_ADDR, REMOVE_ADDR, MP_PRIO, MP_FAIL, MP_FASTCLOSE, MP_TCPRST) —
// and reads the options of every segment that arrives before TCP processes it.
//
// Mappings. Sending, the connection hands a subflow one chunk of data-level bytes at a time and
// records where it landed (TxMapping: DSN, subflow sequence, length, checksum); the subflow keeps
// it until TCP's SND.UNA passes its end, so that every first transmission and retransmission of
// those bytes carries the same mapping (RFC 8684 §3.3.1), and TCP never puts two mappings in one
// segment (PlanDataSegment). Receiving, every mapping the peer sends is kept (RxMapping, sorted by
// subflow sequence) until the connection has pulled the bytes it covers.
//
// What a hook learns that needs the connection to act (a DATA_ACK, a DATA_FIN, an address) is
// recorded through MptcpConnection's On* calls, which only change state; sending happens after the
// TCP call returns (adapter.h: hooks never call back into TCP).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/wire/address.h"
#include "datapath/wire/mptcp_options.h"
#include "datapath/wire/seq.h"

namespace braid::mptcp {

class MptcpConnection;

// Sending: data-level bytes [dsn, dsn + len) are the subflow bytes [start, start + len).
struct TxMapping {
  wire::DataSeq dsn;
  wire::TcpSeq start;  // absolute subflow sequence number of the first byte
  uint32_t len = 0;
  uint16_t checksum = 0;  // when checksums are in use (RFC 8684 §3.3.1)
  wire::TcpSeq end() const { return start + len; }
};

// Receiving: what the peer said about subflow bytes [start, start + len).
struct RxMapping {
  wire::DataSeq dsn;
  wire::TcpSeq start;
  uint32_t len = 0;  // payload bytes (a DATA_FIN counted in the option's length is not here)
  std::optional<uint16_t> checksum;
  uint8_t fin_extra = 0;  // 1 when the option's length also counted a DATA_FIN (for the checksum)
  wire::TcpSeq end() const { return start + len; }
};

enum class SubflowState : uint8_t {
  kConnecting,      // SYN sent or received
  kPreEstablished,  // MP_JOIN third ACK sent, waiting for the peer's ACK of it (RFC 8684 §3.2)
  kEstablished,     // may carry data
  kClosing,         // shut down or being reset; takes no new data
  kClosed,
};

class Subflow final : public tcp::TcpHooks {
 public:
  enum class Kind : uint8_t { kInitial, kJoin };

  Subflow(MptcpConnection& conn, uint32_t id, Kind kind, bool active);

  // tcp::TcpHooks.
  size_t DataOptionReserve() const override;
  tcp::DataSegmentPlan PlanDataSegment(wire::TcpSeq seq, uint32_t window) const override;
  // The client's initial subflow until the server proved it has our key (RFC 8684 §3.1).
  bool RepeatsMpCapable() const;
  size_t WriteOptions(const tcp::SegmentInfo& segment, std::span<uint8_t> space) override;
  tcp::InputVerdict OnInput(const tcp::SegmentInfo& segment,
                            const wire::TcpOptionsRepr& options) override;

  // Identity.
  uint32_t id() const { return id_; }
  Kind kind() const { return kind_; }
  bool active() const { return active_; }  // we sent the SYN
  tcp::SocketId socket;                    // the TCP connection (valid once opened/accepted)
  bool has_socket = false;
  uint8_t local_id = 0;
  uint8_t remote_id = 0;
  wire::IpAddress local_address;
  uint16_t local_port = 0;
  wire::IpAddress remote_address;
  uint16_t remote_port = 0;

  SubflowState state = SubflowState::kConnecting;
  bool usable() const { return state == SubflowState::kEstablished && !stale; }
  bool backup() const { return local_backup || peer_backup; }

  // Priorities (MP_JOIN B flag, MP_PRIO).
  bool local_backup = false;
  bool peer_backup = false;
  bool prio_pending = false;  // send MP_PRIO(local_backup) on the next pure ACK
  bool stale = false;
  uint32_t rto_count = 0;
  // Last time TCP acknowledged data of this subflow (or it started sending after being idle):
  // how long the data-level head of line may have been stuck on it.
  tcp::Instant last_progress{};

  // MP_JOIN (RFC 8684 §3.2).
  uint32_t local_nonce = 0;
  uint32_t remote_nonce = 0;
  bool send_ack_after_join = false;  // passive side: answer the third ACK with a DSS ACK
  tcp::Instant join_ack_sent{};      // active side: last (re)transmission of the third ACK
  uint32_t join_ack_tries = 0;

  // Resets: options for our RST (MP_TCPRST reason, MP_FASTCLOSE).
  std::optional<wire::MpTcpRstReason> rst_reason;
  bool send_fastclose = false;
  std::optional<wire::DataSeq> mp_fail_dsn;  // MP_FAIL on our RST: the mapping that failed
  // Infinite fallback of a lone subflow (RFC 8684 §3.7). `mp_fail_dsn` then rides on ACKs, not
  // on a RST: until the peer answers (we found the checksum failure: `mp_fail_until_answer`), or
  // once (we echo the peer's MP_FAIL). The next data segment then carries the infinite mapping.
  bool mp_fail_on_ack = false;
  bool mp_fail_until_answer = false;
  bool infinite_map_pending = false;
  bool infinite_map_checksum = false;  // the infinite mapping's DSS carries a (zero) checksum
  std::optional<wire::MpTcpRstReason> peer_rst_reason;  // from the peer's RST, for the logs

  // Set when TCP reported readable bytes the connection has not pulled yet.
  bool readable = false;
  std::optional<tcp::SocketError> last_error;  // from TCP, for the close reason
  bool removed = false;                        // closed because of a REMOVE_ADDR (either side)
  bool handshake_failed = false;  // passive: reset before TCP accepted it (no event will come)
  bool path_down = false;         // closed because its local path went down
  bool timed_out = false;         // reset by us after being stale for too long
  bool pm_told = false;           // the path manager heard it is established
  bool fin_sent = false;          // fallback: TCP FIN queued
  // Receive side: the next subflow sequence number to pull and the peer's ISN.
  wire::TcpSeq rx_next;
  wire::TcpSeq irs;
  wire::TcpSeq iss;
  bool seqs_known = false;

  // Mappings (see the header comment).
  bool AddTxMapping(const TxMapping& m, size_t max_mappings);
  void DropTxMappingsBefore(wire::TcpSeq snd_una);
  const TxMapping* TxMappingAt(wire::TcpSeq seq) const;
  std::span<const TxMapping> tx_mappings() const {
    return {tx_.data() + tx_head_, tx_.size() - tx_head_};
  }
  size_t tx_mapping_count() const { return tx_.size() - tx_head_; }
  // Records a mapping the peer sent; false when it contradicts one already held (same start,
  // other DSN or length) or the table is full.
  enum class RxAdd : uint8_t { kAdded, kDuplicate, kConflict, kFull };
  RxAdd AddRxMapping(const RxMapping& m, size_t max_mappings);
  // The mapping covering subflow sequence `seq`, dropping those wholly before it.
  const RxMapping* RxMappingFor(wire::TcpSeq seq);
  size_t rx_mapping_count() const { return rx_.size() - rx_head_; }
  bool saw_mapping = false;  // the peer sent at least one DSS mapping on this subflow

  // Bytes sent and received on this subflow at the data level, for braidctl.
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;

 private:
  size_t WriteFallbackOptions(const tcp::SegmentInfo& segment, std::span<uint8_t> space);
  size_t WriteHandshakeOptions(const tcp::SegmentInfo& segment, std::span<uint8_t> space);
  // In fallback: the MPTCP options a peer still sends (answers to MP_FAIL, infinite mappings).
  void NoteFallbackInput(const tcp::SegmentInfo& segment, std::span<const wire::MptcpOption> opts);
  size_t WriteEstablishedOptions(const tcp::SegmentInfo& segment, std::span<uint8_t> space);
  // The DSS bytes of a data segment inside a mapping (not its first) that advertises `window`:
  // the DATA_ACK alone, or none when it would tell the peer nothing new (DssAckRedundant).
  size_t DataAckOnlyLen(uint32_t window) const;
  bool DssAckRedundant(uint32_t window) const;
  // Writes `dss` and records the DATA_ACK and window it told the peer.
  bool PutDss(const wire::Dss& dss, uint32_t window, std::span<uint8_t> space, size_t& used);
  tcp::InputVerdict OnHandshakeInput(const tcp::SegmentInfo& segment,
                                     std::span<const wire::MptcpOption> options);
  void OnFastcloseOption(const wire::MpFastclose& option);
  void Compact();

  MptcpConnection& conn_;
  uint32_t id_;
  Kind kind_;
  bool active_;
  std::vector<TxMapping> tx_;
  size_t tx_head_ = 0;
  std::vector<RxMapping> rx_;
  size_t rx_head_ = 0;
  // The DATA_ACK and window of the last DSS this subflow sent (DssAckRedundant).
  std::optional<wire::DataSeq> dss_ack_sent_;
  uint32_t dss_window_sent_ = 0;
};

}  // namespace braid::mptcp
