#include "datapath/tcp/adapter.h"

namespace braid::tcp {

std::string_view TcpEventKindName(TcpEvent::Kind kind) {
  switch (kind) {
    case TcpEvent::Kind::kEstablished:
      return "established";
    case TcpEvent::Kind::kAccepted:
      return "accepted";
    case TcpEvent::Kind::kReadable:
      return "readable";
    case TcpEvent::Kind::kWritable:
      return "writable";
    case TcpEvent::Kind::kAcked:
      return "acked";
    case TcpEvent::Kind::kRetransmitTimeout:
      return "retransmit_timeout";
    case TcpEvent::Kind::kPeerFin:
      return "peer_fin";
    case TcpEvent::Kind::kReset:
      return "reset";
    case TcpEvent::Kind::kClosed:
      return "closed";
  }
  return "unknown";
}

std::string_view ResetReasonName(TcpEvent::ResetReason reason) {
  switch (reason) {
    case TcpEvent::ResetReason::kNone:
      return "none";
    case TcpEvent::ResetReason::kPeerReset:
      return "peer_reset";
    case TcpEvent::ResetReason::kRefused:
      return "refused";
    case TcpEvent::ResetReason::kTimeout:
      return "timeout";
    case TcpEvent::ResetReason::kAbortedLocally:
      return "aborted_locally";
    case TcpEvent::ResetReason::kHookReset:
      return "hook_reset";
  }
  return "unknown";
}

std::string_view TcpErrorName(TcpError error) {
  switch (error) {
    case TcpError::kOk:
      return "ok";
    case TcpError::kInvalidHandle:
      return "invalid_handle";
    case TcpError::kInvalidState:
      return "invalid_state";
    case TcpError::kAddressInUse:
      return "address_in_use";
    case TcpError::kNoResources:
      return "no_resources";
    case TcpError::kUnknownCongestionControl:
      return "unknown_congestion_control";
  }
  return "unknown";
}

}  // namespace braid::tcp
