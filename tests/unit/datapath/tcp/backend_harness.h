// Test helpers for the listener and the backend: a sink that records every segment sent, a
// two-backend "wire" that carries segments between a client and a server backend under a
// scripted clock, and builders for hand-made segments.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "datapath/tcp/adapter.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/native_backend.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/siphash.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/tcp.h"

namespace braid::tcp::backend_test {

using namespace std::chrono_literals;
using wire::TcpFlag;
using wire::TcpFlags;
using wire::TcpSeq;

inline const wire::IpAddress kClientAddr = wire::Ipv4Address::FromU32(0xc0000201);  // 192.0.2.1
inline const wire::IpAddress kServerAddr = wire::Ipv4Address::FromU32(0xc0000202);  // 192.0.2.2
inline constexpr uint16_t kServerPort = 80;
inline constexpr SipKey kClientSecret{0x0123456789abcdefULL, 0x1111111111111111ULL};
inline constexpr SipKey kServerSecret{0xfedcba9876543210ULL, 0x2222222222222222ULL};

// Engine time in milliseconds since a scripted epoch well away from zero.
inline Instant T(int64_t ms) { return InstantFromNanos((1'000'000 + ms) * 1'000'000); }

// The server-side flow of a client port.
inline FlowKey ServerFlow(uint16_t client_port) {
  return FlowKey{kServerAddr, kServerPort, kClientAddr, client_port};
}
inline FlowKey ClientFlow(uint16_t client_port) { return ServerFlow(client_port).Reversed(); }

struct Sent {
  FlowKey flow;  // as the sender sees it
  wire::TcpRepr header;
  std::vector<uint8_t> payload;
};

class CaptureSink : public SegmentSink {
 public:
  void Transmit(const FlowKey& flow, const OutboundSegment& segment) override {
    Sent s{flow, segment.header, {}};
    s.payload.assign(segment.payload_head.begin(), segment.payload_head.end());
    s.payload.insert(s.payload.end(), segment.payload_tail.begin(), segment.payload_tail.end());
    sent.push_back(std::move(s));
  }
  std::vector<Sent> Take() {
    std::vector<Sent> out(sent.begin(), sent.end());
    sent.clear();
    return out;
  }
  std::deque<Sent> sent;
};

// A segment as the peer would send it to `flow` (the receiver's view): header fields and payload.
struct Seg {
  TcpFlags flags{};
  TcpSeq seq{};
  TcpSeq ack{};
  uint16_t window = 65535;
  wire::TcpOptionsRepr options{};
  std::vector<uint8_t> payload{};
};

inline void Deliver(TcpBackend& to, const FlowKey& flow, const Seg& s, Instant now) {
  InboundSegment in;
  in.header.src_port = flow.remote_port;
  in.header.dst_port = flow.local_port;
  in.header.seq = s.seq;
  in.header.ack = s.ack;
  in.header.flags = s.flags;
  in.header.window = s.window;
  in.header.options = s.options;
  in.header.payload_len = s.payload.size();
  in.payload = s.payload;
  to.Input(flow, in, now);
}

// Delivers a recorded segment to the other end (flow reversed).
inline void Forward(TcpBackend& to, const Sent& s, Instant now) {
  InboundSegment in;
  in.header = s.header;
  in.header.payload_len = s.payload.size();
  in.payload = s.payload;
  to.Input(s.flow.Reversed(), in, now);
}

inline std::vector<TcpEvent> Drain(TcpBackend& b) {
  std::vector<TcpEvent> events;
  b.DrainEvents([&](const TcpEvent& e) { events.push_back(e); });
  return events;
}

inline bool HasEvent(const std::vector<TcpEvent>& events, TcpEvent::Kind kind) {
  for (const TcpEvent& e : events) {
    if (e.kind == kind) return true;
  }
  return false;
}

// A client and a server backend joined by a lossless wire with zero delay; the test owns time.
struct Pair {
  explicit Pair(NativeTcpBackendConfig client_config = {},
                NativeTcpBackendConfig server_config = {}) {
    client_config.secret = kClientSecret;
    server_config.secret = kServerSecret;
    client.emplace(client_config, client_out);
    server.emplace(server_config, server_out);
  }

  // Carries segments both ways until both sides are quiet; `drop` may discard some (true = drop).
  // Returns how many segments moved.
  size_t Exchange(Instant now, const std::function<bool(const Sent&)>& drop = nullptr) {
    size_t moved = 0;
    for (int round = 0; round < 10000; ++round) {
      if (client_out.sent.empty() && server_out.sent.empty()) break;
      for (const Sent& s : client_out.Take()) {
        ++moved;
        if (drop && drop(s)) continue;
        Forward(*server, s, now);
      }
      for (const Sent& s : server_out.Take()) {
        ++moved;
        if (drop && drop(s)) continue;
        Forward(*client, s, now);
      }
    }
    return moved;
  }

  // Runs both sides' timers from `from` to `to` in steps of `step`, exchanging after each.
  Instant RunTimers(Instant from, Instant to, Duration step = 1ms) {
    for (Instant t = from; t <= to; t += step) {
      client->Poll(t);
      server->Poll(t);
      Exchange(t);
    }
    return to;
  }

  ConnectionId Connect(uint16_t client_port, Instant now, const TcpConfig& config = {}) {
    ConnectRequest req;
    req.flow = ClientFlow(client_port);
    req.config = config;
    ConnectionId id;
    last_error = client->Connect(req, now, &id);
    return id;
  }

  CaptureSink client_out;
  CaptureSink server_out;
  std::optional<NativeTcpBackend> client;
  std::optional<NativeTcpBackend> server;
  TcpError last_error = TcpError::kOk;
};

}  // namespace braid::tcp::backend_test
