// LIA, the Linked Increases Algorithm of RFC 6356: MPTCP's coupled congestion control.
//
// RFC 6356 §3 changes only the increase of congestion avoidance; slow start, fast retransmit,
// fast recovery and the multiplicative decrease stay those of standard TCP (RFC 5681). So this
// controller is a NewReno (newreno.h) whose avoidance runs at the coupled pace: for an ACK of
// bytes_acked on subflow i,
//   cwnd_i += min(alpha·bytes_acked·SMSS_i/cwnd_total, bytes_acked·SMSS_i/cwnd_i),
// i.e. one SMSS per max(cwnd_total/alpha, cwnd_i) bytes acknowledged — the counter form RFC 6356
// §4 gives for windows kept in packets, here with RFC 3465 byte counting as in NewReno. alpha and
// cwnd_total come from the CoupledGroup (coupled_group.h) its MPTCP connection shares with the
// other subflows. The first term keeps the multipath flow no more aggressive than one TCP flow on
// its best path (goals 1 and 2, RFC 6356 §1); the second keeps each subflow no more aggressive than
// a TCP flow on that path.
//
// Without a group, alone in it, with the group full, or before its subflow has an RTT estimate,
// it is NewReno exactly (cwnd_total/alpha is then its own cwnd).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/coupled_group.h"
#include "datapath/tcp/newreno.h"
#include "datapath/tcp/time.h"

namespace braid::tcp {

class Lia {
 public:
  static constexpr std::string_view kName = "lia";

  // `group`: the MPTCP connection's coupling state (TcpConfig::coupling), or null.
  explicit Lia(const CcCommonConfig& common, const NewRenoConfig& config = {},
               std::shared_ptr<CoupledGroup> group = nullptr);

  // NewReno's slow start, then the coupled increase above.
  void OnAck(const AckEvent& ack);
  // As NewReno (RFC 6356 §3: the decrease is standard TCP's).
  void OnCongestionEvent(const CongestionEvent& ev);
  void OnRecoveryExit(Instant now);
  void OnRetransmitTimeout(const RtoEvent& ev);
  bool OnSpuriousCongestion(Instant now);
  void OnIdleRestart(const IdleRestartEvent& ev);
  void SetSmss(uint32_t smss);

  uint64_t cwnd() const { return reno_.cwnd(); }
  uint64_t ssthresh() const { return reno_.ssthresh(); }
  uint32_t smss() const { return reno_.smss(); }
  bool InSlowStart() const { return reno_.InSlowStart(); }
  bool in_recovery() const { return reno_.in_recovery(); }
  std::string_view name() const { return kName; }

  // Bytes to acknowledge for one SMSS of growth in congestion avoidance now:
  // max(cwnd_total/alpha, cwnd_i), or cwnd_i when uncoupled.
  uint64_t BytesPerSmss() const;
  const CoupledMember& membership() const { return member_; }

 private:
  void Publish();

  NewReno reno_;
  CoupledMember member_;
  Duration srtt_{0};
};

}  // namespace braid::tcp
