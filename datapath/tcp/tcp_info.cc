#include "datapath/tcp/tcp_info.h"

#include <array>

namespace braid::tcp {
namespace {

struct CounterInfo {
  std::string_view metric;
  std::string_view help;
};

constexpr std::array<CounterInfo, kTcpCounterCount> kCounters = {{
#define BRAID_TCP_COUNTER(name, metric, help) {metric, help},
#include "datapath/tcp/tcp_mib.def"
#undef BRAID_TCP_COUNTER
}};

}  // namespace

std::string_view TcpStateName(TcpState state) {
  switch (state) {
    case TcpState::kClosed:
      return "CLOSED";
    case TcpState::kListen:
      return "LISTEN";
    case TcpState::kSynSent:
      return "SYN-SENT";
    case TcpState::kSynReceived:
      return "SYN-RECEIVED";
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kFinWait1:
      return "FIN-WAIT-1";
    case TcpState::kFinWait2:
      return "FIN-WAIT-2";
    case TcpState::kCloseWait:
      return "CLOSE-WAIT";
    case TcpState::kClosing:
      return "CLOSING";
    case TcpState::kLastAck:
      return "LAST-ACK";
    case TcpState::kTimeWait:
      return "TIME-WAIT";
  }
  return "UNKNOWN";
}

std::string_view CaStateName(CaState state) {
  // Linux's names (tcp_ca_state), as ss and tcp_info users know them.
  switch (state) {
    case CaState::kOpen:
      return "open";
    case CaState::kDisorder:
      return "disorder";
    case CaState::kRecovery:
      return "recovery";
    case CaState::kLoss:
      return "loss";
  }
  return "unknown";
}

std::string_view TcpCounterName(TcpCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kCounters.size() ? kCounters[i].metric : "unknown";
}

std::string_view TcpCounterHelp(TcpCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kCounters.size() ? kCounters[i].help : "unknown";
}

}  // namespace braid::tcp
