// One MPTCP connection at the data level, the counterpart of the kernel's net/mptcp/protocol.c:
// keys and tokens, the 64-bit data sequence space in both directions, the send buffer that holds
// every byte until a DATA_ACK covers it, data-level reassembly of what arrives over several
// subflows (bounded by the receive buffer), DATA_FIN and close, MP_FASTCLOSE, fallback to TCP, and
// reinjection of data stuck on a failed subflow. It owns its subflows (subflow.h), asks its
// Packet Scheduler where each chunk goes, and carries out its Path Manager's actions (it is the
// policy's PmConnection).
//
// Sans-I/O like the TCP engine: time comes in as `now`, and everything goes out through the TCP
// socket layer below (tcp::SubflowSocketApi). The Socket Manager (socket_manager.h) routes TCP
// events to it, calls Service() after each batch of them, and delivers its app events.
//
// Data flow.
//  Send: the app's bytes are appended to send_buf_ (data sequence data_una_ ..). Push() asks the
//  scheduler for a subflow, hands it up to 64 KiB starting at data_nxt_ (reinjections first) and
//  records the mapping. DATA_ACKs free send_buf_. A DATA_FIN follows the last byte once the app
//  shut down (RFC 8684 §3.3.3).
//  Receive: Pull() takes each readable subflow's in-order bytes, finds their mapping, checks the
//  DSS checksum when in use, and inserts them at their DSN into the reassembly queue, whose
//  in-order output lands in rcv_buf_ for the app. The DATA_ACK every segment carries is the next
//  DSN expected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "datapath/mptcp/mib.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/mptcp/scheduler/scheduler.h"
#include "datapath/mptcp/subflow.h"
#include "datapath/tcp/byte_ring.h"
#include "datapath/tcp/reassembly.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/mptcp_options.h"
#include "datapath/wire/seq.h"

namespace braid::mptcp {

class MptcpSockets;

// Connection-level state, for braidctl and tests (the kernel's MPTCP_INFO).
struct MptcpInfo {
  bool client = false;
  bool fallback = false;
  bool fully_established = false;
  bool checksum = false;
  uint32_t local_token = 0;
  uint32_t remote_token = 0;
  uint64_t local_key = 0;
  uint64_t remote_key = 0;
  wire::DataSeq data_una, data_nxt, rcv_nxt;
  uint32_t subflows = 0;  // live, the initial one included
  uint32_t send_queue = 0;
  uint32_t receive_queue = 0;
  uint32_t out_of_order = 0;
  std::string scheduler;
  std::string path_manager;
  std::string policy_name;      // MptcpConfig::policy_name
  uint64_t bytes_sent = 0;      // data-level bytes handed to subflows (reinjections included)
  uint64_t bytes_received = 0;  // data-level bytes delivered in order
  uint64_t bytes_reinjected = 0;
};

// One subflow as braidctl shows it (the kernel's MPTCP_TCPINFO plus addresses).
struct SubflowInfo {
  uint32_t id = 0;
  SubflowState state = SubflowState::kConnecting;
  bool initial = false;
  bool backup = false;
  bool stale = false;
  uint8_t local_id = 0;
  uint8_t remote_id = 0;
  wire::IpAddress local_address;
  uint16_t local_port = 0;
  wire::IpAddress remote_address;
  uint16_t remote_port = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  std::optional<tcp::TcpInfo> tcp;
};
std::string_view SubflowStateName(SubflowState state);

class MptcpConnection final : public PmConnection {
 public:
  static constexpr uint32_t kMaxSubflows = 16;

  MptcpConnection(MptcpSockets& stack, tcp::SocketId id, bool client, const MptcpConfig& config,
                  const tcp::TcpConfig& subflow_config, std::unique_ptr<Scheduler> scheduler,
                  std::unique_ptr<PathManager> path_manager);
  ~MptcpConnection() override;
  MptcpConnection(const MptcpConnection&) = delete;
  MptcpConnection& operator=(const MptcpConnection&) = delete;

  tcp::SocketId id() const { return id_; }
  bool client() const { return client_; }
  const MptcpConfig& mptcp_config() const { return config_; }
  const tcp::TcpConfig& subflow_config() const { return subflow_config_; }
  // A per-socket TCP option set on the open connection: `change` edits the settings of the
  // subflows opened from now on, `apply` sets it on each live one.
  template <typename Change, typename Apply>
  void SetSubflowOption(Change&& change, Apply&& apply) {
    change(subflow_config_);
    for (const auto& sf : subflows_) {
      if (sf && sf->has_socket && sf->state != SubflowState::kClosed) (void)apply(sf->socket);
    }
  }
  MptcpCounters& counters();

  // ---- Keys (RFC 8684 §3.1) -----------------------------------------------------------------
  void SetLocalKey(uint64_t key);  // derives the token and IDSN
  void SetRemoteKey(uint64_t key);
  uint64_t local_key() const { return local_key_; }
  uint64_t remote_key() const { return remote_key_; }
  bool remote_key_known() const { return remote_key_known_; }
  uint32_t local_token() const { return local_token_; }
  uint32_t remote_token() const { return remote_token_; }
  bool checksum() const { return checksum_; }
  void set_checksum(bool on) { checksum_ = on; }
  bool fallback() const { return fallback_; }
  bool fully_established() const { return fully_established_; }
  // The join listeners this connection announced on (the socket manager releases them).
  const std::vector<std::pair<wire::IpAddress, uint16_t>>& join_listeners_held() const {
    return join_listeners_held_;
  }

  // ---- Subflows -----------------------------------------------------------------------------
  // A new subflow object (not yet opened); nullptr when kMaxSubflows are live.
  Subflow* AddSubflow(Subflow::Kind kind, bool active);
  Subflow* subflow(uint32_t id);
  Subflow* initial();
  // Forget a passive join that TCP never completed.
  void AbandonSubflow(Subflow& sf);
  // Subflow ids run from 0 to subflow_count() - 1 (closed ones included).
  uint32_t subflow_count() const { return static_cast<uint32_t>(subflows_.size()); }
  size_t live_subflows() const;

  // ---- What the subflows' hooks learn (state changes only; no sending) ----------------------
  void OnMpCapableEstablished(Subflow& sf);  // keys exchanged: MPTCP level established
  void OnJoinEstablished(Subflow& sf);
  void OnDataAck(wire::DataSeq ack, uint32_t window);
  void OnDataFin(wire::DataSeq fin_seq);
  void OnAddAddr(const wire::AddAddr& add);
  void OnAddAddrEcho(const wire::AddAddr& echo);
  void OnRemoveAddr(const wire::RemoveAddr& remove);
  void OnFastclose();
  void OnMpFail(Subflow& sf, wire::DataSeq dsn);
  // The peer's first data segment on the initial subflow carried no mapping: fall back to TCP
  // when nothing else depends on MPTCP (one subflow, no mapped data yet). False: reset instead.
  bool FallBackOnData(Subflow& sf);
  // RFC 8684 §3.7: whether this connection may still fall back to TCP mid-stream (an MP_FAIL or
  // an infinite mapping): one subflow, never a second one, no data sent twice, none out of order.
  bool InfiniteFallbackAllowed() const;
  // The data sequence number of subflow byte `seq` of `sf` once in fallback (the infinite
  // mapping names where TCP's stream continues).
  wire::DataSeq FallbackDsnAt(const Subflow& sf, wire::TcpSeq seq) const;
  // Mid-stream fallback: whether the peer stopped speaking MPTCP too (no DSS any more).
  bool peer_fell_back() const { return peer_fell_back_; }
  void NotePeerFellBack() { peer_fell_back_ = true; }
  // The peer's SYN/ACK or third ACK had no MP_CAPABLE.
  void FallBack(MptcpCounter reason);
  // Marks the connection for Service().
  void MarkDirty();

  // ---- What the subflows' hooks write --------------------------------------------------------
  wire::DataSeq rcv_nxt() const { return rcv_nxt_; }
  wire::DataSeq data_una() const { return data_una_; }
  wire::DataSeq local_idsn() const { return local_idsn_; }
  wire::DataSeq remote_idsn() const { return remote_idsn_; }
  // The DATA_ACK field: 32 bits until the peer maps its data with 64-bit DSNs, as Linux does
  // (use_64bit_ack; RFC 8684 §3.3: the 64-bit form is for a peer whose sequence space could wrap
  // within an RTT, and a receiver expands either form next to what it has sent).
  wire::DssSequence DataAckField() const {
    return peer_dsn64_ ? wire::DssSequence::Full(rcv_nxt_)
                       : wire::DssSequence::Low32(static_cast<uint32_t>(rcv_nxt_.raw()));
  }
  void NotePeerDsn64() { peer_dsn64_ = true; }
  // A DATA_FIN to put on a segment without payload: its DSN.
  std::optional<wire::DataSeq> DataFinToSend() const;
  // The DATA_ACK value was written on a segment (for the delayed standalone DATA_ACK).
  void NoteDataAckSent(wire::DataSeq ack) {
    if (ack > last_data_ack_sent_) last_data_ack_sent_ = ack;
  }
  // Signals waiting for a pure ACK: written by whichever subflow sends one first.
  std::optional<wire::AddAddr> TakeAddAddrToSend(size_t space);
  std::optional<wire::RemoveAddr> TakeRemoveAddrToSend(size_t space);

  // ---- Events from the TCP layer, routed by the Socket Manager -------------------------------
  void OnSubflowConnected(Subflow& sf, tcp::Instant now);
  void OnSubflowReadable(Subflow& sf);
  void OnSubflowAcked(Subflow& sf, tcp::Instant now);
  void OnSubflowWritable(Subflow& sf);
  void OnSubflowRto(Subflow& sf, uint32_t count, tcp::Instant now);
  void OnSubflowPeerFin(Subflow& sf);
  void OnSubflowError(Subflow& sf, tcp::SocketError error);
  void OnSubflowClosed(Subflow& sf, tcp::Instant now);

  // ---- The application side ------------------------------------------------------------------
  size_t AppSend(std::span<const uint8_t> bytes, tcp::Instant now);
  tcp::ReceiveResult AppReceive(std::span<uint8_t> out, tcp::Instant now);
  bool AppShutdown(tcp::Instant now);
  void AppClose(tcp::Instant now);
  void AppAbort(tcp::Instant now);
  bool app_closed() const { return app_closed_; }
  bool failed() const { return failed_; }
  size_t receive_queue() const { return rcv_buf_.size(); }
  tcp::SocketHandler* handler = nullptr;
  bool announced = false;        // the app knows the socket (OnConnected/OnAccepted delivered)
  tcp::ListenerId listener;      // passive: the listener it came from
  bool passive_pending = false;  // passive: waiting for the initial subflow's accept

  // ---- Work ------------------------------------------------------------------------------------
  // Pull received data, push data, send what is pending; called after each batch of events.
  void Service(tcp::Instant now);
  std::optional<tcp::Instant> PollAt() const;
  void OnTimer(tcp::Instant now);
  // Every subflow that ever existed is closed.
  bool subflows_gone() const;
  // The connection is over and may be freed: no subflow left, and the app released it or was
  // told it closed.
  bool finished() const { return subflows_gone() && (app_closed_ || closed_reported_); }
  bool closed_reported() const { return closed_reported_; }
  void set_closed_reported() { closed_reported_ = true; }
  bool dirty() const { return dirty_; }

  MptcpInfo Info() const;
  std::vector<SubflowInfo> Subflows() const;

  // ---- PmConnection ----------------------------------------------------------------------------
  bool is_client() const override { return client_; }
  const PathManagerConfig& config() const override { return config_.path_manager; }
  std::span<const PmSubflow> subflows() const override { return pm_subflows_; }
  std::span<const PmRemoteAddress> remote_addresses() const override { return remote_addrs_; }
  const PmSubflow& initial_subflow() const override { return initial_pm_; }
  bool path_up(const wire::IpAddress& local) const override;
  bool OpenSubflow(const SubflowRequest& request) override;
  bool Announce(const Endpoint& endpoint) override;
  bool Remove(uint8_t local_id) override;
  bool SetBackup(uint32_t subflow_id, bool backup) override;
  bool CloseSubflow(uint32_t subflow_id) override;
  // The local path of `local` went down: its subflows close (SubflowCloseReason::kPathDown) and
  // their data goes to the others. The last live subflow stays, to survive a short flap.
  void OnPathDown(const wire::IpAddress& local);
  PathManager& path_manager() { return *pm_; }
  void SetScheduler(std::unique_ptr<Scheduler> scheduler) { scheduler_ = std::move(scheduler); }

  // The initial subflow's addresses (the socket's Flow()).
  std::optional<tcp::FlowKey> flow() const { return flow_; }
  void set_flow(const tcp::FlowKey& flow);
  // Passive side: the address ID the peer used for us when it joined `local`.
  uint8_t LocalIdFor(const wire::IpAddress& local) const;

 private:
  struct Announcement {
    Endpoint endpoint;
    uint32_t tries = 0;
    tcp::Instant next{};
    bool queued = false;  // waits for a pure ACK to carry it
  };
  struct Reinjection {
    wire::DataSeq start;
    uint32_t len = 0;
    uint64_t exclude = 0;
  };

  tcp::SubflowSocketApi& tcp();
  void Pull(Subflow& sf, tcp::Instant now);
  void PullFallback(Subflow& sf, tcp::Instant now);
  void Deliver(wire::DataSeq dsn, std::span<const uint8_t> bytes);
  void Push(tcp::Instant now);
  bool SendChunk(Subflow& sf, wire::DataSeq dsn, uint32_t len, tcp::Instant now);
  void PushFallback(tcp::Instant now);
  void SendPendingAcks(tcp::Instant now);
  void ReinjectFrom(Subflow& sf);
  // After an RTO or silence (CheckHeadOfLine): what `sf` holds goes again on the others.
  void MarkStale(Subflow& sf);
  void MaybeFinishClose(tcp::Instant now);
  void ResetSubflow(Subflow& sf, wire::MpTcpRstReason reason, tcp::Instant now);
  void RefreshPmView();
  SubflowSnapshot Snapshot(const Subflow& sf) const;
  Subflow* AckCarrier();
  void ArmDataRto(tcp::Instant now);
  // The subflow holding the oldest unacknowledged byte; when it counts as stuck (its head mapping
  // goes again elsewhere, once per head), and when as silent (everything it holds does).
  struct HeadHolder {
    Subflow* sf = nullptr;
    std::optional<tcp::Instant> stuck_at;
    std::optional<tcp::Instant> silent_at;
  };
  HeadHolder HeadOfLine() const;
  void CheckHeadOfLine(tcp::Instant now);
  // The mapping on `sf` that holds the oldest unacknowledged data-level byte, if any.
  const TxMapping* MappingOfHead(const Subflow& sf) const;
  static PmSubflow PmView(const Subflow& sf);
  // The connection failed: OnError once (also to an app that already closed, for its own abort).
  void FailConnection(tcp::SocketError error, bool tell_closed_app = false);
  // Falls back to TCP on `sf` mid-stream (MP_FAIL or an infinite mapping, RFC 8684 §3.7).
  void FallBackMidStream(Subflow& sf, MptcpCounter reason, bool peer_fell_back);
  uint64_t send_window_left() const;
  // How far a chunk the scheduler sized to `len` for subflow `id` may grow so that its mapping
  // is long (kMinMappingSegments, at most half the subflow's window).
  static constexpr uint64_t kMinMappingSegments = 16;
  static uint64_t ExtendedChunk(std::span<const SubflowSnapshot> snaps, uint32_t id,
                                const ScheduleContext& ctx, uint64_t len);

  MptcpSockets& stack_;
  tcp::SocketId id_;
  bool client_;
  MptcpConfig config_;
  tcp::TcpConfig subflow_config_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<PathManager> pm_;

  // Keys.
  uint64_t local_key_ = 0, remote_key_ = 0;
  bool remote_key_known_ = false;
  uint32_t local_token_ = 0, remote_token_ = 0;
  wire::DataSeq local_idsn_, remote_idsn_;
  bool checksum_ = false;
  bool fallback_ = false;
  bool fully_established_ = false;
  bool pm_started_ = false;

  // Subflows (index = subflow id; ids are not reused within a connection).
  std::vector<std::unique_ptr<Subflow>> subflows_;
  std::vector<PmSubflow> pm_subflows_;
  PmSubflow initial_pm_;
  std::vector<PmRemoteAddress> remote_addrs_;
  std::optional<tcp::FlowKey> flow_;

  // Send side (RFC 8684 §3.3): send_buf_ holds [data_una_, data_una_ + size).
  tcp::ByteRing send_buf_;
  wire::DataSeq data_una_;
  wire::DataSeq data_nxt_;       // next new byte to hand to a subflow
  wire::DataSeq data_max_sent_;  // highest DSN handed out + 1
  wire::DataSeq snd_wnd_end_;    // right edge of the peer's data-level window
  bool window_known_ = false;
  std::vector<Reinjection> reinject_;
  uint64_t bytes_sent_ = 0, bytes_reinjected_ = 0;
  bool app_write_blocked_ = false;
  bool shutdown_ = false;  // the app shut down: DATA_FIN after the last byte
  bool data_fin_acked_ = false;
  std::optional<tcp::Instant> data_rto_at_;
  tcp::Duration data_rto_{0};
  wire::DataSeq data_rto_una_;
  std::optional<wire::DataSeq> hol_reinjected_;  // the head already sent again

  // Receive side.
  std::unique_ptr<tcp::ReassemblyQueue<wire::DataSeq>> reasm_;
  tcp::ByteRing rcv_buf_;
  wire::DataSeq rcv_nxt_;
  std::optional<wire::DataSeq> peer_fin_seq_;
  bool peer_fin_ = false;
  bool peer_fin_delivered_ = false;
  uint64_t bytes_received_ = 0;
  wire::DataSeq last_data_ack_sent_;
  std::optional<tcp::Instant> data_ack_due_;
  std::vector<uint8_t> scratch_;

  // Signals.
  std::vector<Announcement> announcements_;
  // (address, port) of each join listener Announce took a reference on.
  std::vector<std::pair<wire::IpAddress, uint16_t>> join_listeners_held_;
  std::vector<wire::AddAddr> echoes_;
  std::vector<uint8_t> remove_ids_;                // our REMOVE_ADDRs waiting for a pure ACK
  std::vector<PmRemoteAddress> pending_add_addr_;  // for the path manager
  std::vector<std::pair<uint8_t, bool>> announce_done_;
  std::vector<uint8_t> pending_remove_;       // the peer's REMOVE_ADDR IDs to act on
  std::vector<uint32_t> to_reset_;            // subflows to reset (MP_FAIL)
  std::vector<uint32_t> reset_after_signal_;  // removed subflows, reset after the REMOVE_ADDR
  bool signal_ack_needed_ = false;
  bool data_fin_sent_ = false;
  bool peer_fastclose_ = false;
  bool multipath_used_ = false;
  bool peer_dsn64_ = false;  // the peer sent a 64-bit DSN: our DATA_ACKs are 64-bit from then on
  bool peer_fell_back_ = false;  // in fallback: the peer's segments carry no DSS any more  // a
                                 // second subflow was established once: no infinite fallback
  // Where TCP's stream continued at data level when the connection fell back mid-stream.
  wire::TcpSeq fallback_subflow_seq_{};
  wire::DataSeq fallback_dsn_{};

  // Life cycle.
  bool app_closed_ = false;
  bool failed_ = false;
  bool error_reported_ = false;
  bool subflows_closing_ = false;
  bool dirty_ = false;
  bool closed_reported_ = false;
};

}  // namespace braid::mptcp
