// What an ICMP error quoting one of our TCP segments means for its flow, queued by the net layer
// for the TCP side to drain (sans-I/O: an event, never a callback into the engine).
//
// The TCP engine has no path-MTU entry point yet. The one it should adopt (TcpBackend):
//
//   // A router reported that `flow`'s path carries at most `path_mtu` bytes per IP packet
//   // (RFC 1191 §6.3, RFC 8201 §5.2). Ignored unless a connection has the flow and
//   // SND.UNA <= quoted_seq < SND.NXT (RFC 5927 §4.1). Otherwise the MSS used for sending
//   // becomes min(current, path_mtu - IP header - 20), never below 536 (IPv4) / 1220 (IPv6)
//   // minus options, and segments already sent that no longer fit are retransmitted at once
//   // without a congestion response (Linux's tcp_simple_retransmit; RFC 8201 §5.4).
//   virtual void OnPathMtu(const FlowKey& flow, uint32_t path_mtu, wire::TcpSeq quoted_seq,
//                          Instant now) = 0;
//   // A soft error (unreachable, time exceeded, parameter problem): remembered and reported
//   // only if the connection then times out (RFC 1122 §4.2.3.9, RFC 5461 §4); never aborts an
//   // established connection.
//   virtual void OnSoftError(const FlowKey& flow, wire::TcpSeq quoted_seq, Instant now) = 0;
//
// MPTCP learns of it through the subflow's TcpInfo::snd_mss, which the engine already reports.
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
