// Fake subflow snapshots and contexts for the scheduler tests: a subflow is built with plain
// numbers (RTT, window, bytes in flight, flags), as conventions.md asks for scheduler tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "datapath/mptcp/scheduler/scheduler.h"
#include "datapath/tcp/time.h"

namespace braid::mptcp::testing {

inline constexpr uint32_t kMss = 1000;

// An established, healthy, non-backup subflow: 10 ms RTT, a window of 10 segments, nothing in
// flight. Setters change one property each.
class FakeSubflow {
 public:
  explicit FakeSubflow(uint32_t id) {
    s_.id = id;
    s_.active = true;
    s_.mss = kMss;
    s_.srtt = std::chrono::milliseconds(10);
    s_.min_rtt = s_.srtt;
    Window(10 * kMss, 0);
  }
  FakeSubflow& Rtt(tcp::Duration srtt, tcp::Duration rttvar = tcp::Duration(0)) {
    s_.srtt = srtt;
    s_.min_rtt = srtt;
    s_.rttvar = rttvar;
    return *this;
  }
  FakeSubflow& MinRtt(tcp::Duration min_rtt) {
    s_.min_rtt = min_rtt;
    return *this;
  }
  FakeSubflow& NoRttSample() { return Rtt(tcp::Duration(0)); }
  // cwnd and in-flight bytes; the send space follows as cwnd - in_flight.
  FakeSubflow& Window(uint64_t cwnd, uint64_t in_flight) {
    s_.cwnd = cwnd;
    s_.in_flight = in_flight;
    s_.send_space = cwnd > in_flight ? cwnd - in_flight : 0;
    return *this;
  }
  FakeSubflow& Space(uint64_t bytes) {
    s_.send_space = bytes;
    return *this;
  }
  FakeSubflow& Full() { return Window(s_.cwnd, s_.cwnd); }
  FakeSubflow& Mss(uint32_t mss) {
    s_.mss = mss;
    return *this;
  }
  FakeSubflow& Backup() {
    s_.backup = true;
    return *this;
  }
  FakeSubflow& Inactive() {
    s_.active = false;
    return *this;
  }
  FakeSubflow& Stale() {
    s_.stale = true;
    return *this;
  }
  operator SubflowSnapshot() const { return s_; }  // NOLINT: a fake reads best without casts

 private:
  SubflowSnapshot s_;
};

inline constexpr uint64_t kPlenty = uint64_t{1} << 30;

// New data waiting, the peer's window wide open.
inline ScheduleContext NewData(uint64_t unsent = kPlenty, uint64_t send_window = kPlenty) {
  ScheduleContext c;
  c.unsent = unsent;
  c.send_window = send_window;
  return c;
}

// A reinjection of data already sent on the subflows in `exclude`.
inline ScheduleContext Reinjection(uint64_t exclude) {
  ScheduleContext c = NewData(0);
  c.reinjection = true;
  c.exclude = exclude;
  return c;
}

inline uint64_t Bit(uint32_t id) { return uint64_t{1} << id; }

inline std::vector<uint32_t> Chosen(const ScheduleDecision& d) {
  return {d.chosen().begin(), d.chosen().end()};
}

}  // namespace braid::mptcp::testing
