// Two complete stacks back to back, for tests of the socket API and the apps above it: on each
// side a NetStack with one interface (an IPv4 address in 192.0.2.0/24 and an IPv6 address in
// 2001:db8:1::/64), Braid's TCP engine and a TcpSockets. Frames each stack sends are queued and
// carried to the other stack by the pump (never from inside a stack call, which would re-enter
// the other engine). Time is scripted: the pump runs every side until nothing moves, then jumps
// to the earliest deadline of the four engines (two NetStacks, two TCP engines).
// A side may also run MPTCP above its TcpSockets (Side::EnableMptcp): the pump then drives its
// MptcpSockets as the worker's loop does (Dispatch, Poll at PollAt), and its timers count among
// the deadlines. TwoStacks::filter is a middlebox on the wire that drops or changes frames by rule.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/mptcp/socket_manager.h"
#include "datapath/net/frame_sink.h"
#include "datapath/net/interface.h"
#include "datapath/net/net_stack.h"
#include "datapath/net/port_allocator.h"
#include "datapath/runtime/tcp_sockets.h"
#include "datapath/tcp/native_backend.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::runtime::test {

using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;
using tcp::Duration;
using tcp::Instant;

// The start of scripted time, well away from zero.
inline constexpr Instant kEpoch = tcp::InstantFromNanos(int64_t{1'000'000} * 1'000'000'000);

struct SideConfig {
  uint8_t host = 1;  // last byte of the addresses and the MAC
  uint16_t mtu = 1500;
  net::EphemeralPortConfig ephemeral;
  uint32_t max_connections = 64;
};

// Queues the frames of one side for the other; the largest frame sent is kept for MTU checks.
class QueueSink : public net::FrameSink {
 public:
  void TransmitFrame(uint16_t, std::span<const uint8_t> frame,
                     const net::TxOffload& offload) override {
    EXPECT_FALSE(offload.tcp_checksum);
    frames.emplace_back(frame.begin(), frame.end());
    largest = std::max(largest, frame.size());
    ++sent;
  }
  std::deque<Bytes> frames;
  size_t largest = 0;
  uint64_t sent = 0;
};

// One stack: NetStack + NativeTcpBackend + TcpSockets on one interface.
class Side {
 public:
  explicit Side(const SideConfig& config)
      : config_(config),
        net_(NetConfig(config), sink_),
        tcp_(TcpConfig(config), net_),
        sockets_(SocketsConfig(config), tcp_, net_) {
    net_.AttachTcp(&tcp_);
    net::InterfaceConfig c;
    c.name = "path0";
    c.port = 0;
    c.mac = wire::MacAddress{{0x02, 0, 0, 0, 0, config.host}};
    c.mtu = config.mtu;
    c.ipv4 = {{ipv4(), 24}};
    c.ipv6 = {{ipv6(), 64}};
    net::InterfaceId id = 0;
    EXPECT_EQ(net_.AddInterface(c, &id), net::NetError::kOk);
    EXPECT_EQ(net_.SetInterfaceUp(id, true, kEpoch), net::NetError::kOk);
  }

  wire::Ipv4Address ipv4() const { return wire::Ipv4Address{{192, 0, 2, config_.host}}; }
  wire::Ipv6Address ipv6() const {
    return wire::Ipv6Address{
        {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, config_.host}};
  }
  wire::IpAddress addr(bool v6) const {
    return v6 ? wire::IpAddress(ipv6()) : wire::IpAddress(ipv4());
  }

  net::NetStack& net() { return net_; }
  tcp::NativeTcpBackend& tcp() { return tcp_; }
  TcpSockets& sockets() { return sockets_; }
  QueueSink& sink() { return sink_; }

  // MPTCP above this side's TcpSockets, built once (later calls return the first instance);
  // nullptr, with a test failure, when MptcpSockets::Create refuses the config. Plain TcpSockets
  // calls keep working beside it.
  mptcp::MptcpSockets* EnableMptcp(const mptcp::MptcpConfig& config) {
    if (!mptcp_) {
      absl::StatusOr<std::unique_ptr<mptcp::MptcpSockets>> m =
          mptcp::MptcpSockets::Create(config, sockets_);
      EXPECT_TRUE(m.ok()) << m.status();
      if (m.ok()) mptcp_ = std::move(*m);
    }
    return mptcp_.get();
  }

  // Delivers the events of the socket layers (MPTCP's first: it drains TCP's events for its
  // subflows, as the worker's loop does); returns how many were delivered.
  size_t Dispatch(Instant now) {
    size_t n = mptcp_ ? mptcp_->Dispatch(now) : 0;
    return n + sockets_.Dispatch(now);
  }

  // Runs the timers that are due; true when one was.
  bool PollDue(Instant now) {
    bool did = false;
    net_.SetNow(now);
    if (const auto at = net_.PollAt(); at && *at <= now) {
      net_.Poll(now);
      did = true;
    }
    if (const auto at = tcp_.PollAt(); at && *at <= now) {
      tcp_.Poll(now);
      did = true;
    }
    if (mptcp_) {
      if (const auto at = mptcp_->PollAt(); at && *at <= now) {
        mptcp_->Poll(now);
        did = true;
      }
    }
    return did;
  }
  std::optional<Instant> NextDeadline() const {
    std::optional<Instant> at = net_.PollAt();
    if (const auto t = tcp_.PollAt(); t && (!at || *t < *at)) at = t;
    if (mptcp_) {
      if (const auto t = mptcp_->PollAt(); t && (!at || *t < *at)) at = t;
    }
    return at;
  }

 private:
  static net::NetStackConfig NetConfig(const SideConfig& config) {
    net::NetStackConfig c;
    c.secret = {0x1111, config.host};
    c.max_mtu = 9000;
    return c;
  }
  static tcp::NativeTcpBackendConfig TcpConfig(const SideConfig& config) {
    tcp::NativeTcpBackendConfig c;
    c.secret = {0x2222, config.host};
    c.max_connections = config.max_connections;
    c.max_time_wait = config.max_connections;
    c.max_listeners = 8;
    return c;
  }
  static TcpSocketsConfig SocketsConfig(const SideConfig& config) {
    TcpSocketsConfig c;
    c.ephemeral = config.ephemeral;
    c.ephemeral.secret = {0x3333, config.host};
    c.max_sockets = config.max_connections;
    return c;
  }

  SideConfig config_;
  QueueSink sink_;
  net::NetStack net_;
  tcp::NativeTcpBackend tcp_;
  TcpSockets sockets_;
  // Last member: destroyed first, since its connections use the layers below it.
  std::unique_ptr<mptcp::MptcpSockets> mptcp_;
};

inline SideConfig DefaultSide(uint8_t host) {
  SideConfig c;
  c.host = host;
  return c;
}

class TwoStacks {
 public:
  explicit TwoStacks(const SideConfig& a = DefaultSide(1), const SideConfig& b = DefaultSide(2))
      : a_(std::make_unique<Side>(a)), b_(std::make_unique<Side>(b)) {
    // The announcements (gratuitous ARP, unsolicited NA) cross, so each side starts with the
    // other's frames already delivered.
    Pump();
  }

  Side& a() { return *a_; }
  Side& b() { return *b_; }
  Instant now() const { return now_; }

  // Frames of a side that match are dropped on the wire instead of delivered.
  std::function<bool(const Bytes& frame, bool from_a)> drop;
  // A middlebox on the wire, after `drop`: sees every frame, may change it in place, and returns
  // false to drop it.
  std::function<bool(Bytes& frame, bool from_a)> filter;

  // Carries frames and dispatches events until nothing moves at the current time; returns the
  // number of frames carried and events delivered.
  size_t Pump() {
    size_t moved = 0;
    for (int round = 0; round < 1'000'000; ++round) {
      size_t n = 0;
      n += Carry(*a_, *b_, true);
      n += Carry(*b_, *a_, false);
      n += a_->Dispatch(now_);
      n += b_->Dispatch(now_);
      if (a_->PollDue(now_)) ++n;
      if (b_->PollDue(now_)) ++n;
      if (n == 0) return moved;
      moved += n;
    }
    ADD_FAILURE() << "the stacks never went quiet";
    return moved;
  }

  // Pumps, jumping time to the next deadline whenever the wire is quiet, until `done` holds
  // (true) or `limit` of scripted time passed or no deadline is left (false).
  bool RunUntil(const std::function<bool()>& done, Duration limit = 10min) {
    const Instant end = now_ + limit;
    for (;;) {
      Pump();
      if (done()) return true;
      std::optional<Instant> next = a_->NextDeadline();
      if (const auto t = b_->NextDeadline(); t && (!next || *t < *next)) next = t;
      if (!next || *next > end) return false;
      now_ = std::max(now_, *next);
    }
  }
  // Runs every deadline up to now + d, then sets the clock there.
  void RunFor(Duration d) {
    const Instant end = now_ + d;
    RunUntil([] { return false; }, d);
    now_ = end;
    Pump();
  }
  void Advance(Duration d) { now_ += d; }

 private:
  size_t Carry(Side& from, Side& to, bool from_a) {
    std::deque<Bytes> frames;
    frames.swap(from.sink().frames);
    for (Bytes& f : frames) {
      if (drop && drop(f, from_a)) continue;
      if (filter && !filter(f, from_a)) continue;
      to.net().Receive(0, f, now_);
    }
    return frames.size();
  }

  std::unique_ptr<Side> a_;
  std::unique_ptr<Side> b_;
  Instant now_ = kEpoch;
};

}  // namespace braid::runtime::test
