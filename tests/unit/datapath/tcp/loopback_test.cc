// Two TcpConnections wired back to back through an in-memory link (delay, rate, scripted drops),
// on a virtual clock. Every segment goes through the wire codec both ways. The client writes
// 10 MB as fast as the connection takes it, the server reads everything and closes after the
// client's FIN: the bytes must arrive exactly, and both ends must close cleanly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <vector>

#include "datapath/tcp/connection.h"
#include "tests/unit/datapath/tcp/tcp_fixture.h"

namespace braid::tcp::testing {
namespace {

// One direction of the link: a FIFO with propagation delay and a serialization rate.
struct Pending {
  Instant at;
  uint64_t order;
  int to;  // 0: client, 1: server
  wire::TcpRepr header;
  std::vector<uint8_t> payload;
  // > 0: not a segment but the path MTU report a router sent about `header`'s segment.
  uint32_t icmp_mtu = 0;
};

struct Later {
  bool operator()(const Pending& a, const Pending& b) const {
    return a.at != b.at ? a.at > b.at : a.order > b.order;
  }
};

class Loopback {
 public:
  struct Options {
    Duration delay = 5ms;  // one way
    uint64_t rate_bps = 200'000'000;
    // Drop decision per segment: (direction 0 = client->server, index in that direction,
    // header) -> drop.
    std::function<bool(int, uint64_t, const wire::TcpRepr&)> drop = nullptr;
    // Extra delay for a segment (reordering), same arguments.
    std::function<Duration(int, uint64_t, const wire::TcpRepr&)> extra_delay = nullptr;
    // Drop-tail bottleneck: a segment that would wait longer than this in the link's queue is
    // dropped (zero: unbounded).
    Duration max_queue_delay = Duration::zero();
    // A router at the client's end of the link with this MTU at a given time: a client segment
    // whose IPv4 packet (20-byte header) is larger is dropped and reported to the client a
    // one-way delay later, as ICMP "fragmentation needed" is (RFC 1191). nullptr: no limit.
    std::function<uint32_t(Instant)> path_mtu = nullptr;
    TcpConfig client_config;
    TcpConfig server_config;
  };

  explicit Loopback(Options options) : options_(std::move(options)) {}

  class Sink : public SegmentSink {
   public:
    Sink(Loopback* lb, int from) : lb_(lb), from_(from) {}
    void Transmit(const FlowKey&, const OutboundSegment& segment) override {
      lb_->Enqueue(from_, segment);
    }

   private:
    Loopback* lb_;
    int from_;
  };

  void Enqueue(int from, const OutboundSegment& segment) {
    Captured c = RoundTrip(segment, now_);
    const uint64_t index = sent_[from]++;
    if (options_.drop && options_.drop(from, index, c.header)) {
      ++dropped_[from];
      return;
    }
    if (from == 0 && options_.path_mtu) {
      const uint32_t mtu = options_.path_mtu(now_);
      if (20 + c.header.HeaderLen() + c.payload.size() > mtu) {
        ++dropped_[0];
        ++mtu_drops_;
        queue_.push({now_ + options_.delay, order_++, 0, c.header, {}, mtu});
        return;
      }
    }
    const uint64_t bits = (c.header.HeaderLen() + c.payload.size() + 40) * 8;
    const Duration tx = Duration(static_cast<int64_t>(bits * 1'000'000'000 / options_.rate_bps));
    Instant& free_at = link_free_[from];
    if (options_.max_queue_delay > Duration::zero() && free_at - now_ > options_.max_queue_delay) {
      ++dropped_[from];
      ++queue_drops_[from];
      return;
    }
    free_at = std::max(free_at, now_) + tx;
    const Duration extra =
        options_.extra_delay ? options_.extra_delay(from, index, c.header) : Duration::zero();
    queue_.push(
        {free_at + options_.delay + extra, order_++, 1 - from, c.header, std::move(c.payload)});
  }

  FlowKey ClientFlow() const {
    return {wire::Ipv4Address::FromU32(0x0a000001), 33000, wire::Ipv4Address::FromU32(0x0a000002),
            5201};
  }

  // Runs until both sides are closed or `limit` of virtual time passes.
  void Run(size_t total_bytes, Duration limit) {
    Sink client_sink(this, 0);
    Sink server_sink(this, 1);
    std::vector<uint8_t> data(total_bytes);
    for (size_t i = 0; i < total_bytes; ++i) {
      data[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
    }
    TcpError err = TcpError::kInvalidState;
    client_ = TcpConnection::Connect(options_.client_config, ClientFlow(), TcpSeq(0xFFFF0000u),
                                     nullptr, now_, client_sink, &err);
    ASSERT_EQ(err, TcpError::kOk);
    size_t written = 0;
    bool client_shut = false;
    bool server_shut = false;
    std::vector<uint8_t> buf(256 * 1024);
    const Instant end = now_ + limit;
    while (now_ < end) {
      // Next event.
      std::optional<Instant> next;
      if (!queue_.empty()) next = queue_.top().at;
      for (TcpConnection* c : {client_.get(), server_.get()}) {
        if (c == nullptr) continue;
        const auto at = c->PollAt();
        if (at && (!next || *at < *next)) next = at;
      }
      if (!next) break;
      now_ = std::max(now_, *next);
      while (!queue_.empty() && queue_.top().at <= now_) {
        Pending p = queue_.top();
        queue_.pop();
        InboundSegment seg;
        seg.header = p.header;
        seg.payload = p.payload;
        if (p.to == 1) {
          if (!server_) {
            if (!p.header.flags.syn() || p.header.flags.ack()) continue;
            PassiveOpen po;
            po.flow = ClientFlow().Reversed();
            po.irs = p.header.seq;
            po.iss = TcpSeq(0x7FFFFFF0u);
            po.peer_mss = p.header.options.mss.value_or(0);
            po.peer_window_scale = p.header.options.window_scale;
            po.peer_sack_permitted = p.header.options.sack_permitted;
            po.peer_timestamps = p.header.options.timestamps;
            po.peer_window = p.header.window;
            server_ = TcpConnection::AcceptSyn(options_.server_config, po, nullptr, now_,
                                               server_sink, &err);
            ASSERT_EQ(err, TcpError::kOk);
            continue;
          }
          server_->OnSegment(seg, now_, server_sink);
        } else if (p.icmp_mtu > 0) {
          client_->OnPathMtu(p.icmp_mtu, p.header.seq, now_, client_sink);
        } else {
          client_->OnSegment(seg, now_, client_sink);
        }
      }
      for (auto* pair : {&client_, &server_}) {
        TcpConnection* c = pair->get();
        if (c == nullptr) continue;
        const auto at = c->PollAt();
        if (at && *at <= now_) c->OnTimer(now_, pair == &client_ ? client_sink : server_sink);
      }
      // The client application writes whatever fits.
      if (client_->state() == TcpState::kEstablished && written < total_bytes) {
        const SendResult r =
            client_->Send(std::span<const uint8_t>(data.data() + written, total_bytes - written),
                          now_, client_sink);
        written += r.accepted;
      }
      if (written == total_bytes && !client_shut && client_->state() == TcpState::kEstablished) {
        ASSERT_EQ(client_->Shutdown(now_, client_sink), TcpError::kOk);
        client_shut = true;
      }
      // The server application reads everything, and closes after the client's FIN.
      if (server_) {
        for (;;) {
          const ReceiveResult r = server_->Receive(buf, now_, server_sink);
          if (r.bytes > 0) {
            ASSERT_EQ(r.first_seq, TcpSeq(0xFFFF0001u) + static_cast<uint32_t>(received_.size()));
            received_.insert(received_.end(), buf.begin(),
                             buf.begin() + static_cast<ptrdiff_t>(r.bytes));
          }
          if (r.fin && !server_shut) {
            ASSERT_EQ(server_->Shutdown(now_, server_sink), TcpError::kOk);
            server_shut = true;
          }
          if (r.bytes == 0) break;
        }
      }
      client_events_.push_back(client_->TakeEvents());
      if (server_) server_events_.push_back(server_->TakeEvents());
      if (client_->state() == TcpState::kClosed && server_ &&
          server_->state() == TcpState::kClosed) {
        break;
      }
    }
    ASSERT_EQ(received_.size(), total_bytes);
    EXPECT_TRUE(received_ == data) << "payload differs";
  }

  Options options_;
  Instant now_ = Ms(1'000);
  std::priority_queue<Pending, std::vector<Pending>, Later> queue_;
  uint64_t order_ = 0;
  uint64_t sent_[2] = {0, 0};
  uint64_t dropped_[2] = {0, 0};
  uint64_t queue_drops_[2] = {0, 0};
  uint64_t mtu_drops_ = 0;
  Instant link_free_[2] = {Ms(0), Ms(0)};
  std::unique_ptr<TcpConnection> client_;
  std::unique_ptr<TcpConnection> server_;
  std::vector<uint8_t> received_;
  std::vector<ConnectionEvents> client_events_;
  std::vector<ConnectionEvents> server_events_;
};

constexpr size_t k10Mb = 10 * 1000 * 1000;

TcpConfig LoopConfig(std::string cc = "cubic") {
  TcpConfig c;
  c.congestion_control = std::move(cc);
  return c;
}

void ExpectClosedCleanly(const Loopback& lb) {
  ASSERT_NE(lb.client_, nullptr);
  {
    const TcpInfo ci = lb.client_->Info();
    const TcpInfo si = lb.server_->Info();
    std::printf(
        "virtual time %.3f s; client: segs_out %lu retrans %lu fast %lu rto %lu tlp %lu "
        "recoveries %lu spurious %lu dsacks %lu srtt %.2f ms; server: segs_out %lu ooo %lu "
        "dup_in %lu; dropped c->s %lu s->c %lu\n",
        static_cast<double>(NanosSinceEpoch(lb.now_)) / 1e9 - 1.0,
        ci.counters[TcpCounter::kSegmentsOut], ci.counters[TcpCounter::kRetransmits],
        ci.counters[TcpCounter::kFastRetransmits], ci.counters[TcpCounter::kRtoExpirations],
        ci.counters[TcpCounter::kTlpProbes], ci.counters[TcpCounter::kRecoveries],
        ci.counters[TcpCounter::kSpuriousRetransmits], ci.counters[TcpCounter::kDsacksIn],
        static_cast<double>(ci.srtt.count()) / 1e6, si.counters[TcpCounter::kSegmentsOut],
        si.counters[TcpCounter::kOutOfOrderSegments], si.counters[TcpCounter::kDuplicateSegmentsIn],
        lb.dropped_[0], lb.dropped_[1]);
  }
  ASSERT_NE(lb.server_, nullptr);
  EXPECT_EQ(lb.client_->state(), TcpState::kClosed);
  EXPECT_EQ(lb.server_->state(), TcpState::kClosed);
  for (const ConnectionEvents& e : lb.client_events_) {
    EXPECT_EQ(e.reset, TcpEvent::ResetReason::kNone);
  }
  for (const ConnectionEvents& e : lb.server_events_) {
    EXPECT_EQ(e.reset, TcpEvent::ResetReason::kNone);
  }
}

TEST(Loopback, TenMegabytesNoLoss) {
  Loopback lb({.client_config = LoopConfig(), .server_config = LoopConfig()});
  lb.Run(k10Mb, std::chrono::seconds(120));
  ExpectClosedCleanly(lb);
  const TcpInfo ci = lb.client_->Info();
  EXPECT_EQ(ci.counters[TcpCounter::kRetransmits], 0u);
  EXPECT_EQ(ci.counters[TcpCounter::kBytesAcked], k10Mb);
  EXPECT_EQ(lb.server_->Info().counters[TcpCounter::kBytesReceived], k10Mb);
  EXPECT_TRUE(ci.sack_enabled);
  EXPECT_TRUE(ci.timestamps_enabled);
  EXPECT_EQ(ci.snd_mss, 1448u);
}

TEST(Loopback, TenMegabytesScriptedLossSack) {
  Loopback::Options o{.client_config = LoopConfig(), .server_config = LoopConfig()};
  // Every 97th client segment and every 50th server ACK are lost.
  o.drop = [](int dir, uint64_t i, const wire::TcpRepr& h) {
    if (h.flags.syn()) return false;
    return dir == 0 ? (i % 97 == 96) : (i % 50 == 49);
  };
  Loopback lb(std::move(o));
  lb.Run(k10Mb, std::chrono::seconds(300));
  ExpectClosedCleanly(lb);
  const TcpInfo ci = lb.client_->Info();
  EXPECT_GT(ci.counters[TcpCounter::kRetransmits], 0u);
  EXPECT_GT(ci.counters[TcpCounter::kRecoveries], 0u);
}

TEST(Loopback, TenMegabytesScriptedLossNewRenoNoSack) {
  TcpConfig c = LoopConfig("newreno");
  c.sack = false;
  Loopback::Options o{.client_config = c, .server_config = c};
  o.drop = [](int dir, uint64_t i, const wire::TcpRepr& h) {
    if (h.flags.syn()) return false;
    return dir == 0 && i % 101 == 100;
  };
  Loopback lb(std::move(o));
  lb.Run(k10Mb, std::chrono::seconds(300));
  ExpectClosedCleanly(lb);
  const TcpInfo ci = lb.client_->Info();
  EXPECT_FALSE(ci.sack_enabled);
  EXPECT_GT(ci.counters[TcpCounter::kFastRetransmits], 0u);
}

// Segments are dropped, and so is the first retransmission of every third of them.
void RunWithLostRetransmissions(bool rack, bool expect_rto) {
  TcpConfig c = LoopConfig();
  c.rack_tlp = rack;
  Loopback::Options o{.client_config = c, .server_config = c};
  auto seen = std::make_shared<std::map<uint32_t, int>>();
  o.drop = [seen](int dir, uint64_t i, const wire::TcpRepr& h) {
    if (dir != 0 || h.flags.syn() || h.payload_len == 0) return false;
    int& count = (*seen)[h.seq.raw()];
    ++count;
    if (count == 1) return i % 151 == 150;
    return count == 2 && (h.seq.raw() / 1448) % 3 == 0;
  };
  Loopback lb(std::move(o));
  lb.Run(k10Mb, std::chrono::seconds(600));
  ExpectClosedCleanly(lb);
  const TcpInfo ci = lb.client_->Info();
  EXPECT_GT(ci.counters[TcpCounter::kRetransmits], lb.dropped_[0] / 2);
  if (expect_rto) {
    EXPECT_GT(ci.counters[TcpCounter::kRtoExpirations], 0u);
  }
}

// RACK detects a lost retransmission by time (RFC 8985 §6.2): no RTO needed.
TEST(Loopback, TenMegabytesWithLostRetransmissionsRack) { RunWithLostRetransmissions(true, false); }

// RFC 6675 alone cannot see a lost retransmission: the RTO repairs it.
TEST(Loopback, TenMegabytesWithLostRetransmissionsNoRack) {
  RunWithLostRetransmissions(false, true);
}

// A drop-tail bottleneck (100 Mbit/s, 20 ms of queue): the losses come from congestion.
TEST(Loopback, TenMegabytesThroughADropTailBottleneck) {
  Loopback::Options o{.client_config = LoopConfig(), .server_config = LoopConfig()};
  o.rate_bps = 100'000'000;
  o.max_queue_delay = 20ms;
  Loopback lb(std::move(o));
  lb.Run(k10Mb, std::chrono::seconds(300));
  ExpectClosedCleanly(lb);
  EXPECT_GT(lb.queue_drops_[0], 0u);
}

// Every 50th segment is delayed by 3 ms (reordered behind about 25 others at 200 Mbit/s):
// RACK's reordering window grows, and spurious retransmissions are undone by D-SACK.
TEST(Loopback, TenMegabytesWithReordering) {
  Loopback::Options o{.client_config = LoopConfig(), .server_config = LoopConfig()};
  o.extra_delay = [](int dir, uint64_t i, const wire::TcpRepr& h) {
    return dir == 0 && h.payload_len > 0 && i % 50 == 49 ? Duration(3ms) : Duration::zero();
  };
  Loopback lb(std::move(o));
  lb.Run(k10Mb, std::chrono::seconds(300));
  ExpectClosedCleanly(lb);
}

// The path's MTU is 1280 from the start, below what both ends announce, and drops to 1000 in the
// middle of the transfer with a full window in flight. Each drop costs the too-large segments in
// flight one retransmission at the new size, at once (Linux's tcp_simple_retransmit), never an
// RTO; the bytes arrive exactly.
TEST(Loopback, TenMegabytesAcrossPathMtuDrops) {
  Loopback::Options o{.client_config = LoopConfig(), .server_config = LoopConfig()};
  o.path_mtu = [](Instant t) -> uint32_t { return t < Ms(1'200) ? 1280 : 1000; };
  Loopback lb(std::move(o));
  lb.Run(k10Mb, std::chrono::seconds(300));
  ExpectClosedCleanly(lb);
  const TcpInfo ci = lb.client_->Info();
  std::printf("mtu drops %lu, pmtu retransmits %lu, ignored reports %lu\n", lb.mtu_drops_,
              ci.counters[TcpCounter::kPmtuRetransmits], ci.counters[TcpCounter::kPmtuIgnored]);
  EXPECT_EQ(ci.snd_mss, 1000u - 40u - 12u);
  EXPECT_EQ(ci.counters[TcpCounter::kPmtuUpdates], 2u);
  EXPECT_GT(lb.mtu_drops_, 0u);
  EXPECT_GE(ci.counters[TcpCounter::kPmtuRetransmits], lb.mtu_drops_);
  EXPECT_EQ(ci.counters[TcpCounter::kRtoExpirations], 0u);
  EXPECT_EQ(ci.counters[TcpCounter::kRecoveries], 0u);
}

// The same for a peer without SACK or timestamps and IPv4's smallest common MTU: NewReno, whose
// only retransmissions outside recovery are these.
TEST(Loopback, TenMegabytesAcrossAPathMtuDropNewRenoNoSack) {
  TcpConfig c = LoopConfig("newreno");
  c.sack = false;
  c.timestamps = false;
  Loopback::Options o{.client_config = c, .server_config = c};
  o.path_mtu = [](Instant t) -> uint32_t { return t < Ms(1'100) ? 1500 : 576; };
  Loopback lb(std::move(o));
  lb.Run(k10Mb, std::chrono::seconds(300));
  ExpectClosedCleanly(lb);
  const TcpInfo ci = lb.client_->Info();
  EXPECT_EQ(ci.snd_mss, 576u - 40u);
  EXPECT_EQ(ci.counters[TcpCounter::kPmtuUpdates], 1u);
  EXPECT_GT(lb.mtu_drops_, 0u);
  EXPECT_EQ(ci.counters[TcpCounter::kRtoExpirations], 0u);
  // The duplicate ACKs the needless copies bring start no fast recovery.
  EXPECT_EQ(ci.counters[TcpCounter::kRecoveries], 0u);
}

TEST(Loopback, TenMegabytesBurstLossNoTimestamps) {
  TcpConfig c = LoopConfig();
  c.timestamps = false;
  Loopback::Options o{.client_config = c, .server_config = c};
  // Bursts of 5 consecutive segments lost, every 1000.
  o.drop = [](int dir, uint64_t i, const wire::TcpRepr& h) {
    if (h.flags.syn()) return false;
    return dir == 0 && i % 1000 >= 500 && i % 1000 < 505;
  };
  Loopback lb(std::move(o));
  lb.Run(k10Mb, std::chrono::seconds(300));
  ExpectClosedCleanly(lb);
}

// Both ends open at once (RFC 9293 figure 8) and, after exchanging data both ways, close at once
// (figure 13): SYN-SENT -> SYN-RECEIVED -> ESTABLISHED and FIN-WAIT-1 -> CLOSING -> TIME-WAIT on
// both sides, driven by two real engines.
TEST(Loopback, SimultaneousOpenAndCloseBetweenTwoEngines) {
  struct Wire : SegmentSink {
    std::vector<Captured>* queue;
    const Instant* clock;
    void Transmit(const FlowKey&, const OutboundSegment& s) override {
      queue->push_back(RoundTrip(s, *clock));
    }
  };
  Instant now = Ms(5'000);
  std::vector<Captured> to_b, to_a;
  Wire wa, wb;
  wa.queue = &to_b;
  wa.clock = &now;
  wb.queue = &to_a;
  wb.clock = &now;
  const FlowKey fa{wire::Ipv4Address::FromU32(0x0a000001), 1111,
                   wire::Ipv4Address::FromU32(0x0a000002), 2222};
  TcpConfig config;
  TcpError err;
  auto a = TcpConnection::Connect(config, fa, TcpSeq(0xFFFFFFF0u), nullptr, now, wa, &err);
  auto b =
      TcpConnection::Connect(config, fa.Reversed(), TcpSeq(0x7FFFFFF0u), nullptr, now, wb, &err);
  ASSERT_EQ(to_b.size(), 1u);
  ASSERT_EQ(to_a.size(), 1u);
  // Delivers what is in flight, both ways, after 1 ms.
  auto exchange = [&]() {
    now += 1ms;
    std::vector<Captured> for_b = std::exchange(to_b, {});
    std::vector<Captured> for_a = std::exchange(to_a, {});
    for (const Captured& c : for_b) {
      b->OnSegment({c.header, c.payload}, now, wb);
    }
    for (const Captured& c : for_a) {
      a->OnSegment({c.header, c.payload}, now, wa);
    }
  };
  exchange();  // the SYNs cross
  EXPECT_EQ(a->state(), TcpState::kSynReceived);
  EXPECT_EQ(b->state(), TcpState::kSynReceived);
  exchange();  // the SYN-ACKs cross
  EXPECT_EQ(a->state(), TcpState::kEstablished);
  EXPECT_EQ(b->state(), TcpState::kEstablished);
  std::vector<uint8_t> data_a(100'000, 0xaa), data_b(70'000, 0xbb), got_a, got_b;
  size_t sent_a = 0, sent_b = 0;
  std::vector<uint8_t> buf(65536);
  for (int i = 0; i < 2000 && (got_a.size() < data_b.size() || got_b.size() < data_a.size()); ++i) {
    sent_a += a->Send(std::span(data_a).subspan(sent_a), now, wa).accepted;
    sent_b += b->Send(std::span(data_b).subspan(sent_b), now, wb).accepted;
    exchange();
    for (;;) {
      const size_t n = a->Receive(buf, now, wa).bytes;
      if (n == 0) break;
      got_a.insert(got_a.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    }
    for (;;) {
      const size_t n = b->Receive(buf, now, wb).bytes;
      if (n == 0) break;
      got_b.insert(got_b.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    }
    for (auto* c : {a.get(), b.get()}) {
      const auto at = c->PollAt();
      if (at && *at <= now) c->OnTimer(now, c == a.get() ? static_cast<SegmentSink&>(wa) : wb);
    }
  }
  EXPECT_EQ(got_a, data_b);
  EXPECT_EQ(got_b, data_a);
  // Quiet: everything acknowledged (delayed ACKs flushed).
  now += 100ms;
  a->OnTimer(now, wa);
  b->OnTimer(now, wb);
  exchange();
  ASSERT_EQ(a->Shutdown(now, wa), TcpError::kOk);
  ASSERT_EQ(b->Shutdown(now, wb), TcpError::kOk);
  exchange();  // the FINs cross
  EXPECT_EQ(a->state(), TcpState::kClosing);
  EXPECT_EQ(b->state(), TcpState::kClosing);
  exchange();  // the ACKs of the FINs cross
  EXPECT_EQ(a->state(), TcpState::kTimeWait);
  EXPECT_EQ(b->state(), TcpState::kTimeWait);
  now += 60s;
  a->OnTimer(now, wa);
  b->OnTimer(now, wb);
  EXPECT_EQ(a->state(), TcpState::kClosed);
  EXPECT_EQ(b->state(), TcpState::kClosed);
  EXPECT_TRUE(to_a.empty());
  EXPECT_TRUE(to_b.empty());
}

}  // namespace
}  // namespace braid::tcp::testing
