#include "datapath/mptcp/subflow.h"

#include <algorithm>
#include <limits>

#include "datapath/mptcp/connection.h"
#include "datapath/mptcp/crypto.h"
#include "datapath/wire/checksum.h"

namespace braid::mptcp {
namespace {

using wire::TcpSeq;

constexpr size_t kDataAck64Len = 8;
constexpr size_t kMapping64Len = 8 + 4 + 2;

// Writes `option` at `used` when it fits; true on success.
bool Put(const wire::MptcpOption& option, std::span<uint8_t> space, size_t& used) {
  const size_t len = wire::MptcpOptionLen(option);
  if (used + len > space.size()) return false;
  if (!wire::EmitMptcpOption(option, space.subspan(used, len))) return false;
  used += len;
  return true;
}

}  // namespace

Subflow::Subflow(MptcpConnection& conn, uint32_t id, Kind kind, bool active)
    : conn_(conn), id_(id), kind_(kind), active_(active) {}

size_t Subflow::DataOptionReserve() const {
  if (conn_.fallback() && !infinite_map_pending) return 0;
  // DSS with a 64-bit DATA_ACK and a 64-bit mapping (what we always send, like the kernel), plus
  // the checksum when negotiated. The client's MP_CAPABLE with data (22/24 bytes) is smaller.
  return wire::kDssBaseLen + kDataAck64Len + kMapping64Len +
         (conn_.checksum() ? wire::kDssChecksumLen : 0);
}

bool Subflow::RepeatsMpCapable() const {
  return kind_ == Kind::kInitial && active_ && !conn_.fully_established();
}

tcp::DataSegmentPlan Subflow::PlanDataSegment(TcpSeq seq, uint32_t window) const {
  const TxMapping* m = TxMappingAt(seq);
  tcp::DataSegmentPlan plan;
  // No segment crosses a mapping's end.
  if (m != nullptr) plan.max_payload = static_cast<uint32_t>(m->end() - seq);
  // In fallback, and while the client repeats MP_CAPABLE (WriteEstablishedOptions), the worst case.
  // RFC 8684 §3.3.1: a mapping need not be on every segment, only on one that carries bytes of
  // it; it rides on the segment that starts it (every send of that byte, retransmissions too), and
  // the others carry the DATA_ACK alone, or no DSS at all: up to 28 bytes more payload per segment,
  // which is what a tbf-limited path's goodput is made of.
  plan.option_bytes = conn_.fallback() || RepeatsMpCapable() || m == nullptr || m->start == seq
                          ? DataOptionReserve()
                          : DataAckOnlyLen(window);
  return plan;
}

bool Subflow::DssAckRedundant(uint32_t window) const {
  // A DSS carries a DATA_ACK, a mapping or both (RFC 8684 §3.3, flags A and M), and a segment that
  // a known mapping covers needs none (§3.3.1). The DATA_ACK is redundant when this subflow's last
  // DSS already told the peer this value, and the window edge the peer computes from it (§3.3.4:
  // relative to the DATA_ACK) is unchanged too. Linux takes a segment without any DSS while its
  // current mapping covers it (get_mapping_status), as it takes one with the DATA_ACK alone. Not
  // with checksums: a peer that detected a checksum failure (RFC 8684 §3.7) tells a peer that fell
  // back by its segments without DSS (NoteFallbackInput), so a peer still speaking MPTCP with
  // checksums puts a DSS on every segment, as Linux does.
  return !conn_.checksum() && dss_ack_sent_ && *dss_ack_sent_ == conn_.rcv_nxt() &&
         dss_window_sent_ == window;
}

size_t Subflow::DataAckOnlyLen(uint32_t window) const {
  return DssAckRedundant(window) ? 0 : wire::kDssBaseLen + conn_.DataAckField().Len();
}

bool Subflow::PutDss(const wire::Dss& dss, uint32_t window, std::span<uint8_t> space,
                     size_t& used) {
  if (!Put(dss, space, used)) return false;
  if (dss.data_ack) {
    conn_.NoteDataAckSent(conn_.rcv_nxt());
    dss_ack_sent_ = conn_.rcv_nxt();
    dss_window_sent_ = window;
  }
  return true;
}

size_t Subflow::WriteOptions(const tcp::SegmentInfo& segment, std::span<uint8_t> space) {
  if (segment.flags.rst()) {
    size_t used = 0;
    // RFC 8684 §3.5: MP_FASTCLOSE on the RST of every subflow, with the peer's key.
    if (send_fastclose && conn_.remote_key_known() &&
        Put(wire::MpFastclose{conn_.remote_key()}, space, used)) {
      conn_.counters().Add(MptcpCounter::kFastcloseTx);
    }
    // RFC 8684 §3.7: a checksum failure names the mapping.
    if (mp_fail_dsn && !conn_.fallback() && Put(wire::MpFail{*mp_fail_dsn}, space, used)) {
      conn_.counters().Add(MptcpCounter::kMpFailTx);
    }
    // RFC 8684 §3.6: why this subflow is reset.
    if (rst_reason && !conn_.fallback() &&
        Put(wire::MpTcpRst{.reason = *rst_reason}, space, used)) {
      conn_.counters().Add(MptcpCounter::kTcpRstTx);
    }
    return used;
  }
  if (conn_.fallback()) return WriteFallbackOptions(segment, space);
  if (segment.flags.syn()) return WriteHandshakeOptions(segment, space);
  return WriteEstablishedOptions(segment, space);
}

size_t Subflow::WriteFallbackOptions(const tcp::SegmentInfo& segment, std::span<uint8_t> space) {
  size_t used = 0;
  // RFC 8684 §3.7: MP_FAIL rides on an ACK; it and a DSS do not fit one segment together.
  if (segment.payload_len == 0) {
    if (mp_fail_on_ack && mp_fail_dsn && Put(wire::MpFail{*mp_fail_dsn}, space, used)) {
      conn_.counters().Add(MptcpCounter::kMpFailTx);
      if (!mp_fail_until_answer) mp_fail_on_ack = false;
    }
    // Until the peer falls back too it still counts on DATA_ACKs to free its send buffer (the
    // kernel only falls back when our infinite mapping, or data without one, reaches it).
    if (!conn_.peer_fell_back()) {
      wire::Dss ack;
      ack.data_ack = conn_.DataAckField();
      Put(ack, space, used);
    }
    return used;
  }
  if (!infinite_map_pending) return 0;
  // RFC 8684 §3.3.1: data-level length 0 maps the rest of the subflow onto the data sequence
  // space from here; the receiver falls back to TCP when it sees it.
  wire::Dss dss;
  dss.mapping = wire::DssMapping{
      .data_seq = wire::DssSequence::Full(conn_.FallbackDsnAt(*this, segment.seq)),
      .subflow_seq = static_cast<uint32_t>(segment.seq - iss),
      .data_level_length = 0,
      .checksum = infinite_map_checksum ? std::optional<uint16_t>(0) : std::nullopt};
  dss.data_ack = conn_.DataAckField();
  if (Put(dss, space, used)) {
    infinite_map_pending = false;
    conn_.counters().Add(MptcpCounter::kInfiniteMapTx);
  }
  return used;
}

size_t Subflow::WriteHandshakeOptions(const tcp::SegmentInfo& segment, std::span<uint8_t> space) {
  size_t used = 0;
  const bool synack = segment.flags.ack();
  if (kind_ == Kind::kInitial) {
    wire::MpCapable mpc;
    mpc.form = synack ? wire::MpCapableForm::kSynAck : wire::MpCapableForm::kSyn;
    mpc.checksum_required = conn_.checksum();
    mpc.no_join_to_initial_address = !conn_.mptcp_config().allow_join_initial_addr_port;
    if (synack) mpc.sender_key = conn_.local_key();
    if (Put(mpc, space, used) && !synack) conn_.counters().Add(MptcpCounter::kMpCapableSynTx);
    return used;
  }
  wire::MpJoin join;
  join.backup = local_backup;
  join.address_id = local_id;
  join.sender_nonce = local_nonce;
  if (synack) {
    // RFC 8684 §3.2: B's truncated HMAC(K_B‖K_A, R_B‖R_A).
    join.form = wire::MpJoinForm::kSynAck;
    join.sender_truncated_hmac =
        JoinSynAckHmac(conn_.local_key(), conn_.remote_key(), local_nonce, remote_nonce);
  } else {
    join.form = wire::MpJoinForm::kSyn;
    join.receiver_token = conn_.remote_token();
  }
  if (Put(join, space, used) && !synack) conn_.counters().Add(MptcpCounter::kJoinSynTx);
  return used;
}

size_t Subflow::WriteEstablishedOptions(const tcp::SegmentInfo& segment, std::span<uint8_t> space) {
  size_t used = 0;
  const bool has_data = segment.payload_len > 0;

  // RFC 8684 §3.1: until the server proves it received our key (any DSS from it), the client
  // repeats MP_CAPABLE with both keys on its ACKs, and its first data carries them with the
  // data-level length (the DSN is implied: IDSN + 1, subflow sequence 1).
  if (RepeatsMpCapable()) {
    wire::MpCapable mpc;
    mpc.checksum_required = conn_.checksum();
    mpc.no_join_to_initial_address = !conn_.mptcp_config().allow_join_initial_addr_port;
    mpc.sender_key = conn_.local_key();
    mpc.receiver_key = conn_.remote_key();
    const TxMapping* m = has_data ? TxMappingAt(segment.seq) : nullptr;
    // A DATA_FIN cannot ride on the MP_CAPABLE ACK form: once one is due the DSS below takes
    // over, as Linux does (the peer has the keys from the third ACK). Otherwise a client that
    // closes before either side sent data would never send its DATA_FIN.
    if (!has_data && !conn_.DataFinToSend()) {
      mpc.form = wire::MpCapableForm::kAck;
      Put(mpc, space, used);
      return used;
    }
    if (m != nullptr && m->dsn == conn_.local_idsn() + 1 && m->start == segment.iss + 1) {
      mpc.form = wire::MpCapableForm::kAckData;
      mpc.data_level_length = static_cast<uint16_t>(m->len);
      if (conn_.checksum()) mpc.checksum = m->checksum;
      Put(mpc, space, used);
      return used;
    }
  }

  // RFC 8684 §3.2: the MP_JOIN third ACK is repeated until the peer acknowledges it.
  if (kind_ == Kind::kJoin && active_ && state == SubflowState::kPreEstablished) {
    if (has_data) return 0;  // never happens: no data before the subflow is established
    wire::MpJoin join;
    join.form = wire::MpJoinForm::kAck;
    join.sender_hmac =
        JoinAckHmac(conn_.local_key(), conn_.remote_key(), local_nonce, remote_nonce);
    Put(join, space, used);
    return used;
  }
  if (!conn_.remote_key_known()) return 0;

  // DSS: the DATA_ACK unless redundant on a data segment; the mapping on the segment that starts
  // it (PlanDataSegment: the receiver takes a subflow's bytes in order, so it has the mapping
  // before any later byte of it, and segments never cross a mapping's end); or a DATA_FIN on a
  // segment without payload (RFC 8684 §3.3.3).
  wire::Dss dss;
  if (has_data) {
    if (const TxMapping* m = TxMappingAt(segment.seq); m != nullptr && m->start == segment.seq) {
      dss.mapping = wire::DssMapping{
          .data_seq = wire::DssSequence::Full(m->dsn),
          .subflow_seq = static_cast<uint32_t>(m->start - iss),
          .data_level_length = static_cast<uint16_t>(m->len),
          .checksum = conn_.checksum() ? std::optional<uint16_t>(m->checksum) : std::nullopt};
    } else if (!RepeatsMpCapable() && DssAckRedundant(segment.window)) {
      // PlanDataSegment sized this segment without a DSS, in the same state.
      return used;
    }
  } else if (std::optional<wire::DataSeq> fin = conn_.DataFinToSend(); fin) {
    dss = wire::Dss::DataFinWithoutPayload(*fin);
    if (conn_.checksum()) {
      dss.mapping->checksum = wire::DssChecksum(fin->raw(), 0, 1, {});
    }
  }
  dss.data_ack = conn_.DataAckField();

  if (!has_data) {
    // A pure ACK also carries what waits for one. An ADD_ADDR too large to share the segment
    // with the DSS goes alone, as the kernel sends it (options.c drops the other suboptions).
    std::optional<wire::AddAddr> add = conn_.TakeAddAddrToSend(space.size());
    if (add && dss.Len() + add->Len() > space.size()) {
      Put(*add, space, used);
      return used;
    }
    PutDss(dss, segment.window, space, used);
    if (add) Put(*add, space, used);
    if (prio_pending && Put(wire::MpPrio{local_backup}, space, used)) {
      prio_pending = false;
      conn_.counters().Add(MptcpCounter::kMpPrioTx);
    }
    if (std::optional<wire::RemoveAddr> rm = conn_.TakeRemoveAddrToSend(space.size() - used); rm) {
      Put(*rm, space, used);
    }
    return used;
  }
  PutDss(dss, segment.window, space, used);
  return used;
}

void Subflow::NoteFallbackInput(const tcp::SegmentInfo& segment,
                                std::span<const wire::MptcpOption> opts) {
  // RFC 8684 §3.7: the peer answers our MP_FAIL with its own, then an infinite mapping; data
  // without any DSS means it already speaks plain TCP. Either way our MP_FAIL arrived.
  bool answered = false;
  bool any_dss = false;
  for (const wire::MptcpOption& o : opts) {
    if (std::holds_alternative<wire::MpFail>(o)) {
      conn_.counters().Add(MptcpCounter::kMpFailRx);
      answered = true;
    } else if (const auto* dss = std::get_if<wire::Dss>(&o); dss != nullptr) {
      any_dss = true;
      if (!dss->mapping) continue;
      if (dss->mapping->data_level_length == 0) {
        conn_.counters().Add(MptcpCounter::kInfiniteMapRx);
        conn_.NotePeerFellBack();
        answered = true;
      }
    }
  }
  // We can be in fallback while the peer still speaks MPTCP only after a checksum failure, so with
  // checksums, and then the peer puts a DSS (its DATA_ACK at least) on every segment
  // (DssAckRedundant). Its data need not carry a mapping (RFC 8684 §3.3.1): data without any DSS
  // is what tells that it fell back.
  if (!any_dss) conn_.NotePeerFellBack();
  if (segment.payload_len > 0 && !any_dss) answered = true;
  if (answered && mp_fail_until_answer) {
    mp_fail_until_answer = false;
    mp_fail_on_ack = false;
  }
}

tcp::InputVerdict Subflow::OnInput(const tcp::SegmentInfo& segment,
                                   const wire::TcpOptionsRepr& options) {
  wire::MptcpOptionDropCounts drops;
  const wire::MptcpSegmentContext ctx{
      .syn = segment.flags.syn(), .ack = segment.flags.ack(), .rst = segment.flags.rst()};
  const wire::MptcpOptionList list = wire::ParseMptcpOptions(options, ctx, drops);
  if (drops.Total() != 0) conn_.counters().Add(MptcpCounter::kOptionsDropped, drops.Total());
  const std::span<const wire::MptcpOption> opts(list.begin(), list.end());

  if (!seqs_known && (segment.flags.syn() || state != SubflowState::kConnecting || !active_)) {
    iss = segment.iss;
    irs = segment.irs;
    rx_next = segment.irs + 1;
    seqs_known = segment.flags.syn() || !active_;
  }

  if (segment.flags.rst()) {
    if (!active_ && state == SubflowState::kConnecting) {
      handshake_failed = true;  // TCP drops a SYN-RECEIVED connection silently on RST
      conn_.MarkDirty();
    }
    for (const wire::MptcpOption& o : opts) {
      if (const auto* r = std::get_if<wire::MpTcpRst>(&o)) {
        peer_rst_reason = r->reason;
        conn_.counters().Add(MptcpCounter::kTcpRstRx);
      } else if (std::holds_alternative<wire::MpFail>(o)) {
        // RFC 8684 §3.7: a checksum failed on a subflow that is not the only one; the peer
        // closes it with MP_FAIL on the RST. Its unacknowledged data is sent again on the
        // others, as for any closed subflow.
        conn_.counters().Add(MptcpCounter::kMpFailRx);
      } else if (const auto* f = std::get_if<wire::MpFastclose>(&o)) {
        OnFastcloseOption(*f);
      }
    }
    return tcp::InputVerdict::kAccept;
  }
  if (conn_.fallback()) {
    if (!opts.empty() || !conn_.peer_fell_back()) NoteFallbackInput(segment, opts);
    return tcp::InputVerdict::kAccept;
  }

  if (segment.flags.syn() || state == SubflowState::kConnecting ||
      state == SubflowState::kPreEstablished) {
    const tcp::InputVerdict v = OnHandshakeInput(segment, opts);
    if (v != tcp::InputVerdict::kAccept || segment.flags.syn() || conn_.fallback()) return v;
  }

  bool add_addr_proved = false;  // a non-echo ADD_ADDR with a valid HMAC
  for (const wire::MptcpOption& o : opts) {
    if (const auto* dss = std::get_if<wire::Dss>(&o)) {
      if (dss->data_ack) {
        conn_.OnDataAck(dss->data_ack->Expand(conn_.data_una()), segment.window);
      }
      if (dss->mapping) {
        const wire::DssMapping& m = *dss->mapping;
        if (m.data_level_length == 0) {
          // RFC 8684 §3.7: an infinite mapping; the peer fell back to TCP on this path.
          conn_.counters().Add(MptcpCounter::kInfiniteMapRx);
          if (!conn_.FallBackOnData(*this)) {
            rst_reason = wire::MpTcpRstReason::kMiddleboxInterference;
            return tcp::InputVerdict::kReset;
          }
          continue;
        }
        if (m.checksum.has_value() != conn_.checksum()) {
          // RFC 8684 §3.3.1 / the kernel: a missing or unexpected checksum resets the subflow.
          conn_.counters().Add(MptcpCounter::kCsumMissing);
          rst_reason = wire::MpTcpRstReason::kMptcpSpecific;
          return tcp::InputVerdict::kReset;
        }
        const wire::DataSeq dsn = m.data_seq.Expand(conn_.rcv_nxt());
        if (!m.data_seq.is_32bit) conn_.NotePeerDsn64();
        saw_mapping = true;
        if (dss->data_fin && m.subflow_seq == 0) {
          // RFC 8684 §3.3.3: a DATA_FIN on a segment without data (length 1, SSN 0).
          conn_.OnDataFin(dsn);
          continue;
        }
        const uint32_t payload = m.data_level_length - (dss->data_fin ? 1u : 0u);
        if (payload > 0) {
          const RxAdd added =
              AddRxMapping({.dsn = dsn,
                            .start = irs + m.subflow_seq,
                            .len = payload,
                            .checksum = m.checksum,
                            .fin_extra = static_cast<uint8_t>(dss->data_fin ? 1 : 0)},
                           conn_.mptcp_config().max_mappings);
          if (added == RxAdd::kConflict) conn_.counters().Add(MptcpCounter::kDssNotMatching);
          if (added == RxAdd::kFull) conn_.counters().Add(MptcpCounter::kDssMappingsFull);
        }
        if (dss->data_fin) conn_.OnDataFin(dsn + payload);
      }
    } else if (const auto* add = std::get_if<wire::AddAddr>(&o)) {
      if (add->echo) {
        conn_.OnAddAddrEcho(*add);
      } else if (add->truncated_hmac == AddAddrHmac(conn_.remote_key(), conn_.local_key(),
                                                    add->address_id, add->address, add->port)) {
        add_addr_proved = true;
        conn_.OnAddAddr(*add);
      } else {
        conn_.counters().Add(MptcpCounter::kAddAddrHmacFailure);
      }
    } else if (const auto* rm = std::get_if<wire::RemoveAddr>(&o)) {
      conn_.OnRemoveAddr(*rm);
    } else if (const auto* prio = std::get_if<wire::MpPrio>(&o)) {
      conn_.counters().Add(MptcpCounter::kMpPrioRx);
      peer_backup = prio->backup;
      conn_.MarkDirty();
    } else if (const auto* fail = std::get_if<wire::MpFail>(&o)) {
      conn_.OnMpFail(*this, fail->data_seq);
    } else if (const auto* fc = std::get_if<wire::MpFastclose>(&o)) {
      OnFastcloseOption(*fc);
    } else if (const auto* mpc = std::get_if<wire::MpCapable>(&o)) {
      // The client repeats its keys until it sees our DSS; its first data segment may come again
      // (a retransmission) with the implied mapping.
      if (kind_ == Kind::kInitial && !active_ && mpc->form == wire::MpCapableForm::kAckData &&
          segment.payload_len > 0) {
        AddRxMapping({.dsn = conn_.remote_idsn() + 1,
                      .start = irs + 1,
                      .len = mpc->data_level_length,
                      .checksum = mpc->checksum},
                     conn_.mptcp_config().max_mappings);
        saw_mapping = true;
      }
    } else if (const auto* join = std::get_if<wire::MpJoin>(&o);
               join != nullptr && join->form == wire::MpJoinForm::kAck && !active_) {
      // The peer repeats its third ACK until our ACK reaches it (RFC 8684 §3.2): expected.
    } else {
      conn_.counters().Add(MptcpCounter::kUnexpectedOption);
    }
  }
  if (kind_ == Kind::kInitial && active_ && !conn_.fully_established()) {
    for (const wire::MptcpOption& o : opts) {
      // RFC 8684 §3.1: the server's first DSS proves it has our key; so does an ADD_ADDR, whose
      // HMAC needs it (the kernel's check_fully_established), and which may come alone when it
      // does not fit beside a DSS.
      if (std::holds_alternative<wire::Dss>(o) || add_addr_proved) {
        conn_.OnMpCapableEstablished(*this);
        break;
      }
    }
  }
  return tcp::InputVerdict::kAccept;
}

void Subflow::OnFastcloseOption(const wire::MpFastclose& option) {
  // RFC 8684 §3.5: only with our own key (on an ACK or an RST) does it end the connection.
  if (option.receiver_key == conn_.local_key()) {
    conn_.counters().Add(MptcpCounter::kFastcloseRx);
    conn_.OnFastclose();
  } else {
    conn_.counters().Add(MptcpCounter::kFastcloseBadKey);
  }
}

tcp::InputVerdict Subflow::OnHandshakeInput(const tcp::SegmentInfo& segment,
                                            std::span<const wire::MptcpOption> options) {
  const wire::MpCapable* mpc = nullptr;
  const wire::MpJoin* join = nullptr;
  for (const wire::MptcpOption& o : options) {
    if (mpc == nullptr) mpc = std::get_if<wire::MpCapable>(&o);
    if (join == nullptr) join = std::get_if<wire::MpJoin>(&o);
  }
  const bool synack = segment.flags.syn() && segment.flags.ack();

  if (kind_ == Kind::kInitial && active_) {
    if (!synack) return tcp::InputVerdict::kAccept;
    if (mpc == nullptr || mpc->form != wire::MpCapableForm::kSynAck) {
      conn_.FallBack(MptcpCounter::kFallbackSynAck);
      return tcp::InputVerdict::kAccept;
    }
    conn_.counters().Add(MptcpCounter::kMpCapableSynAckRx);
    conn_.SetRemoteKey(mpc->sender_key);
    // RFC 8684 §3.1: if either side asks for checksums, both use them.
    if (mpc->checksum_required) conn_.set_checksum(true);
    state = SubflowState::kEstablished;
    return tcp::InputVerdict::kAccept;
  }

  if (kind_ == Kind::kInitial) {  // passive: the third ACK (or data after a lost one)
    if (segment.flags.syn() || !segment.flags.ack()) return tcp::InputVerdict::kAccept;
    if (mpc == nullptr ||
        (mpc->form != wire::MpCapableForm::kAck && mpc->form != wire::MpCapableForm::kAckData)) {
      conn_.FallBack(MptcpCounter::kFallbackAck);
      return tcp::InputVerdict::kAccept;
    }
    if (mpc->receiver_key != conn_.local_key()) {
      // Not the key we gave in the SYN/ACK: whoever sent this did not see our handshake.
      conn_.counters().Add(MptcpCounter::kUnexpectedOption);
      conn_.FallBack(MptcpCounter::kFallbackAck);
      return tcp::InputVerdict::kAccept;
    }
    conn_.counters().Add(MptcpCounter::kMpCapableAckRx);
    conn_.SetRemoteKey(mpc->sender_key);
    if (mpc->form == wire::MpCapableForm::kAckData && segment.payload_len > 0) {
      if (mpc->checksum.has_value() != conn_.checksum()) {
        conn_.counters().Add(MptcpCounter::kCsumMissing);
        rst_reason = wire::MpTcpRstReason::kMptcpSpecific;
        return tcp::InputVerdict::kReset;
      }
      AddRxMapping({.dsn = conn_.remote_idsn() + 1,
                    .start = irs + 1,
                    .len = mpc->data_level_length,
                    .checksum = mpc->checksum},
                   conn_.mptcp_config().max_mappings);
      saw_mapping = true;
    }
    state = SubflowState::kEstablished;
    conn_.OnMpCapableEstablished(*this);
    return tcp::InputVerdict::kAccept;
  }

  // MP_JOIN (RFC 8684 §3.2).
  if (active_) {
    if (state == SubflowState::kPreEstablished) {
      // Any segment from B after our third ACK acknowledges it: the subflow is usable.
      if (!segment.flags.syn() && segment.flags.ack()) {
        state = SubflowState::kEstablished;
        conn_.OnJoinEstablished(*this);
      }
      return tcp::InputVerdict::kAccept;
    }
    if (!synack) return tcp::InputVerdict::kAccept;
    if (join == nullptr || join->form != wire::MpJoinForm::kSynAck) {
      conn_.counters().Add(MptcpCounter::kJoinMissingOption);
      rst_reason = wire::MpTcpRstReason::kMptcpSpecific;
      return tcp::InputVerdict::kReset;
    }
    conn_.counters().Add(MptcpCounter::kJoinSynAckRx);
    const uint64_t expected =
        JoinSynAckHmac(conn_.remote_key(), conn_.local_key(), join->sender_nonce, local_nonce);
    if (join->sender_truncated_hmac != expected) {
      conn_.counters().Add(MptcpCounter::kJoinSynAckHmacFailure);
      rst_reason = wire::MpTcpRstReason::kMptcpSpecific;
      return tcp::InputVerdict::kReset;
    }
    remote_nonce = join->sender_nonce;
    remote_id = join->address_id;
    peer_backup = join->backup;
    state = SubflowState::kPreEstablished;
    join_ack_tries = 1;
    conn_.MarkDirty();
    return tcp::InputVerdict::kAccept;
  }
  // Passive join: the third ACK carries A's full HMAC.
  if (segment.flags.syn() || !segment.flags.ack()) return tcp::InputVerdict::kAccept;
  if (join == nullptr || join->form != wire::MpJoinForm::kAck) {
    conn_.counters().Add(MptcpCounter::kJoinMissingOption);
    rst_reason = wire::MpTcpRstReason::kMptcpSpecific;
    handshake_failed = true;
    conn_.MarkDirty();
    return tcp::InputVerdict::kReset;
  }
  if (join->sender_hmac !=
      JoinAckHmac(conn_.remote_key(), conn_.local_key(), remote_nonce, local_nonce)) {
    conn_.counters().Add(MptcpCounter::kJoinAckHmacFailure);
    rst_reason = wire::MpTcpRstReason::kMptcpSpecific;
    handshake_failed = true;
    conn_.MarkDirty();
    return tcp::InputVerdict::kReset;
  }
  conn_.counters().Add(MptcpCounter::kJoinAckRx);
  state = SubflowState::kEstablished;
  // protocol-facts.md: the kernel client falls back unless a DSS ACK answers its third ACK.
  send_ack_after_join = true;
  conn_.OnJoinEstablished(*this);
  return tcp::InputVerdict::kAccept;
}

// ---- Mappings ------------------------------------------------------------------------------

bool Subflow::AddTxMapping(const TxMapping& m, size_t max_mappings) {
  if (tx_mapping_count() >= max_mappings) return false;
  // One mapping per chunk the connection hands over (at most 64 KiB: the DSS length is 16 bits).
  tx_.push_back(m);
  return true;
}

void Subflow::DropTxMappingsBefore(TcpSeq snd_una) {
  while (tx_head_ < tx_.size() && tx_[tx_head_].end() <= snd_una) ++tx_head_;
  Compact();
}

const TxMapping* Subflow::TxMappingAt(TcpSeq seq) const {
  // Mappings are sorted by start; most lookups are for the newest or oldest.
  size_t lo = tx_head_, hi = tx_.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (tx_[mid].end() <= seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo < tx_.size() && tx_[lo].start <= seq && seq < tx_[lo].end()) return &tx_[lo];
  return nullptr;
}

Subflow::RxAdd Subflow::AddRxMapping(const RxMapping& m, size_t max_mappings) {
  // Bytes already pulled need no mapping.
  if (m.end() <= rx_next && seqs_known) return RxAdd::kDuplicate;
  // Find the insertion point from the back: mappings mostly arrive in order.
  size_t pos = rx_.size();
  while (pos > rx_head_ && rx_[pos - 1].start > m.start) --pos;
  if (pos > rx_head_ && rx_[pos - 1].start == m.start) {
    const RxMapping& old = rx_[pos - 1];
    return old.dsn == m.dsn && old.len == m.len ? RxAdd::kDuplicate : RxAdd::kConflict;
  }
  if (rx_mapping_count() >= max_mappings) return RxAdd::kFull;
  rx_.insert(rx_.begin() + static_cast<std::ptrdiff_t>(pos), m);
  return RxAdd::kAdded;
}

const RxMapping* Subflow::RxMappingFor(TcpSeq seq) {
  while (rx_head_ < rx_.size() && rx_[rx_head_].end() <= seq) ++rx_head_;
  Compact();
  for (size_t i = rx_head_; i < rx_.size(); ++i) {
    if (rx_[i].start > seq) break;
    if (seq < rx_[i].end()) return &rx_[i];
  }
  return nullptr;
}

void Subflow::Compact() {
  if (tx_head_ > 64 && tx_head_ * 2 > tx_.size()) {
    tx_.erase(tx_.begin(), tx_.begin() + static_cast<std::ptrdiff_t>(tx_head_));
    tx_head_ = 0;
  }
  if (rx_head_ > 64 && rx_head_ * 2 > rx_.size()) {
    rx_.erase(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(rx_head_));
    rx_head_ = 0;
  }
}

}  // namespace braid::mptcp
