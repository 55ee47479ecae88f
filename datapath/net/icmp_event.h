// What an ICMP error quoting one of our TCP segments means for its flow, queued by the net layer
// for the TCP side to drain (sans-I/O: an event, never a callback into the engine).
//
// The TCP side hands each event to the engine (TcpSockets::DeliverIcmp) through TcpBackend
// (adapter.h, which has the full rules):
//
//   // kPathMtu. Ignored unless a connection has the flow and SND.UNA <= seq < SND.NXT
//   // (RFC 5927 §4.1), or when it would not lower the path MTU estimate (RFC 1191 §3,
//   // RFC 8201 §4). Otherwise the MSS used for sending becomes min(current, mtu - IP header - 20)
//   // (Linux's tcp_mtu_to_mss: options come off as for any MSS, never below 48), and segments
//   // already sent that no longer fit are retransmitted at once in pieces of the new size,
//   // without a congestion response (Linux's tcp_simple_retransmit; RFC 8201 §5.4).
//   void OnPathMtu(const FlowKey& flow, uint32_t path_mtu, wire::TcpSeq quoted_seq, Instant now);
//   // Every other kind, a soft error: remembered (TcpInfo::soft_error) so that a connection that
//   // then times out can say why (RFC 1122 §4.2.3.9, RFC 5461 §4); never aborts a connection.
//   void OnSoftError(const FlowKey& flow, wire::TcpSeq quoted_seq, Instant now);
//
// The engine relies on this layer's floor for `mtu` (NetStackConfig::ipv4_min_pmtu, 1280 for
// IPv6): a forged report cannot make it send tiny segments. MPTCP learns of a new path MTU through
// the subflow's TcpInfo::snd_mss.
#pragma once

#include <cstdint>
#include <string_view>

#include "datapath/net/interface.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"

namespace braid::net {

struct IcmpEvent {
  enum class Kind : uint8_t {
    // ICMPv4 fragmentation needed (RFC 1191) or ICMPv6 packet too big (RFC 8201): `mtu` is the
    // path MTU to use.
    kPathMtu,
    // Destination unreachable with any other code: a soft error (RFC 1122 §4.2.3.9).
    kUnreachable,
    kTimeExceeded,
    kParameterProblem,  // ICMPv6 only
  };
  Kind kind = Kind::kPathMtu;
  // From our side, as TcpBackend::Input names flows: the quoted packet's source is flow.local.
  tcp::FlowKey flow;
  // The quoted segment's sequence number, for the RFC 5927 §4.1 check.
  wire::TcpSeq seq;
  // kPathMtu: IP packet bytes, below the interface MTU and at least the family's floor
  // (NetStackConfig::ipv4_min_pmtu, 1280 for IPv6).
  uint32_t mtu = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  InterfaceId interface = 0;  // where the ICMP message arrived
  tcp::Instant at;
};

std::string_view IcmpEventKindName(IcmpEvent::Kind kind);

}  // namespace braid::net
