// `make bench` figures of the TCP engine, each beside a baseline measured or computed in the same
// run, written in run-bench's schema {name: {value, unit, baseline, ratio, note}} to the file
// given by --out (scripts/run-bench passes build/bench/parts/sim.json):
//
//  sim.cubic.utilization.loss0        one CUBIC flow, 1 Gbit/s, 10 ms RTT, drop-tail queue of one
//                                     BDP: payload goodput / link rate; baseline 0.95 (what Linux
//                                     CUBIC reaches on such a path, iperf-style goodput).
//  sim.cubic.utilization.loss1e-4     the same with 0.01 % / 0.1 % random loss per packet; baseline
//  sim.cubic.utilization.loss1e-3     the response-function bound as a fraction of the link rate:
//                                     max(Mathis, CUBIC) with Mathis = MSS/RTT x sqrt(3/2)/sqrt(p)
//                                     (Mathis et al. 1997; also CUBIC's Reno-friendly region,
//                                     RFC 9438 §4.3) and CUBIC = MSS/RTT x (C(3+b)/(4(1-b)))^(1/4)
//                                     x (RTT/p)^(3/4) with RTT in s, C = 0.4, b = 0.7 (RFC 9438
//                                     §5.1), MSS = 1448 B, RTT = 10 ms, capped at 1.
//  sim.fairness.jain.2flows           two CUBIC flows on that bottleneck: Jain's index of their
//                                     goodputs; baseline 0.95.
//  sim.rr64k.completion_ms.loss1pct   64 KiB request then 64 KiB response on one connection,
//  sim.rr64k.completion_ms.loss1pct.p99  1 Gbit/s, 10 ms RTT, 1 % loss each way: median and 99th
//                                     percentile completion; baseline the same run at 0 % loss.
//  tcp.cpu.goodput_gbps_per_core      two NativeTcpBackends back to back in one thread over an
//  tcp.cpu.goodput_gbps_per_core.no_ts_sack  in-memory wire, 1448-byte segments: payload Gbit/s
//                                     per CPU second (CLOCK_PROCESS_CPUTIME_ID); baseline: the
//                                     same bytes copied in 1448-byte pieces through the same wire
//                                     (memcpy into a wire slot with its header, memcpy out), i.e.
//                                     the copies any stack must make, with no protocol work.
//
// Virtual durations (why): CUBIC's first reduction comes at the end of slow start (~0.2 s); with
// a one-BDP queue the window after it, 0.7 x 2 BDP, still exceeds the BDP, so the link stays full
// from then on although the CUBIC epoch (K = cbrt(W_max (1 - b) / C), about 11 s here) is longer
// than the run: loss0 runs 6 s and measures [2 s, 6 s]. With random loss the steady state is the
// loss-driven sawtooth (an event every ~1/p packets: ~0.6 s at 1e-4, ~0.2 s at 1e-3): those runs
// last 25 s and measure [5 s, 25 s], 30+ and 100+ loss events. The fairness run lasts 10 s and
// measures [3 s, 10 s] (both flows start together). `--quick` shortens everything (smoke test).
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "datapath/sim/scenario.h"
#include "datapath/tcp/native_backend.h"

namespace {

using braid::sim::ScenarioConfig;
using braid::sim::ScenarioResult;
using braid::tcp::Duration;
using namespace std::chrono_literals;

struct Figure {
  double value = 0;
  std::string unit;
  double baseline = 0;
  std::string note;
};

constexpr uint64_t kGigabit = 1'000'000'000;
constexpr double kMss = 1448;  // payload of a 1500-byte packet with timestamps
constexpr double kRttSeconds = 0.010;

// The response-function bound of one flow at loss probability p, in bit/s.
double ResponseFunctionBps(double p) {
  const double mathis_segments_per_rtt = std::sqrt(1.5) / std::sqrt(p);
  const double c = 0.4, beta = 0.7;
  const double cubic_segments_per_rtt =
      std::pow(c * (3 + beta) / (4 * (1 - beta)), 0.25) * std::pow(kRttSeconds / p, 0.75);
  return std::max(mathis_segments_per_rtt, cubic_segments_per_rtt) * kMss * 8 / kRttSeconds;
}

ScenarioConfig GigabitPath() {
  ScenarioConfig c;
  c.rate_bps = kGigabit;
  c.rtt = 10ms;
  c.congestion_control = "cubic";
  return c;
}

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

braid::tcp::Instant MonotonicNow() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return braid::tcp::InstantFromNanos(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
}

double Ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ---- The in-memory wire ------------------------------------------------------------------------

// One direction of the wire: segments in order, header and payload copied into preallocated slots
// (grown on the first rounds only).
class WireQueue : public braid::tcp::SegmentSink {
 public:
  struct Slot {
    braid::tcp::FlowKey flow;
    braid::wire::TcpRepr header;
    uint32_t len = 0;
    std::array<uint8_t, 2048> payload;
  };

  void Transmit(const braid::tcp::FlowKey& flow,
                const braid::tcp::OutboundSegment& segment) override {
    Slot& s = Next();
    s.flow = flow;
    s.header = segment.header;
    const size_t head = std::min(segment.payload_head.size(), s.payload.size());
    std::memcpy(s.payload.data(), segment.payload_head.data(), head);
    const size_t tail = std::min(segment.payload_tail.size(), s.payload.size() - head);
    std::memcpy(s.payload.data() + head, segment.payload_tail.data(), tail);
    s.len = static_cast<uint32_t>(head + tail);
  }

  // The baseline's "segment": a header and a payload copy, no protocol.
  void Put(const braid::tcp::FlowKey& flow, const braid::wire::TcpRepr& header,
           const uint8_t* bytes, size_t n) {
    Slot& s = Next();
    s.flow = flow;
    s.header = header;
    std::memcpy(s.payload.data(), bytes, n);
    s.len = static_cast<uint32_t>(n);
  }

  template <typename Fn>
  void DeliverAll(Fn&& fn) {
    for (size_t i = 0; i < used_; ++i) fn(slots_[i]);
    used_ = 0;
  }
  bool empty() const { return used_ == 0; }

 private:
  Slot& Next() {
    if (used_ == slots_.size()) slots_.emplace_back();
    return slots_[used_++];
  }
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

// Moves `bytes` from one backend to the other; returns payload Gbit/s per CPU second.
double EngineGoodputPerCore(bool timestamps_and_sack, uint64_t bytes) {
  braid::tcp::TcpConfig cfg;
  cfg.timestamps = timestamps_and_sack;
  cfg.sack = timestamps_and_sack;
  cfg.mss = timestamps_and_sack ? 1460 : 1448;  // 1448-byte payloads either way
  WireQueue a_out, b_out;
  braid::tcp::NativeTcpBackendConfig bc;
  bc.secret = {1, 2};
  braid::tcp::NativeTcpBackend a(bc, a_out);
  bc.secret = {3, 4};
  braid::tcp::NativeTcpBackend b(bc, b_out);
  const braid::wire::IpAddress ia = braid::wire::Ipv4Address::FromU32(0x0a000001);
  const braid::wire::IpAddress ib = braid::wire::Ipv4Address::FromU32(0x0a000002);
  braid::tcp::ListenerId lid;
  b.Listen(&ib, 5001, cfg, nullptr, &lid);
  braid::tcp::ConnectRequest req;
  req.flow = braid::tcp::FlowKey{ia, 40000, ib, 5001};
  req.config = cfg;
  braid::tcp::ConnectionId ca, cb;
  a.Connect(req, MonotonicNow(), &ca);

  std::vector<uint8_t> source(256 * 1024);
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<uint8_t>(i * 131 + 7);
  std::vector<uint8_t> sink(256 * 1024);
  uint64_t sent = 0, received = 0;
  bool established = false, accepted = false;

  const double cpu0 = CpuSeconds();
  auto carry = [](WireQueue& q, braid::tcp::NativeTcpBackend& to, braid::tcp::Instant now) {
    q.DeliverAll([&](const WireQueue::Slot& s) {
      braid::tcp::InboundSegment in;
      in.header = s.header;
      in.payload = std::span<const uint8_t>(s.payload.data(), s.len);
      to.Input(s.flow.Reversed(), in, now);
    });
  };
  for (uint64_t round = 0; received < bytes; ++round) {
    const braid::tcp::Instant now = MonotonicNow();
    braid::tcp::TcpEvent e;
    while (a.NextEvent(&e)) {
      if (e.kind == braid::tcp::TcpEvent::Kind::kEstablished) established = true;
    }
    if (established) {
      for (;;) {
        const size_t off = sent % source.size();
        const size_t n = std::min<uint64_t>(source.size() - off, bytes - sent);
        if (n == 0) break;
        const size_t got =
            a.Send(ca, std::span<const uint8_t>(source).subspan(off, n), now).accepted;
        sent += got;
        if (got < n) break;
      }
    }
    carry(a_out, b, now);
    while (b.NextEvent(&e)) {
      if (e.kind == braid::tcp::TcpEvent::Kind::kAccepted) {
        cb = e.connection;
        accepted = true;
      }
    }
    if (accepted) {
      for (;;) {
        const size_t n = b.Receive(cb, sink, now).bytes;
        if (n == 0) break;
        received += n;
      }
    }
    carry(b_out, a, now);
    if (a.PollAt() && *a.PollAt() <= now) a.Poll(now);
    if (b.PollAt() && *b.PollAt() <= now) b.Poll(now);
    if (round > 100'000'000) break;  // never: a stuck transfer must not hang `make bench`
  }
  const double cpu = CpuSeconds() - cpu0;
  return static_cast<double>(received) * 8 / 1e9 / cpu;
}

// The baseline: the same bytes through the same wire in 1448-byte pieces, copied in and out.
double MemcpyGoodputPerCore(uint64_t bytes) {
  WireQueue q;
  std::vector<uint8_t> source(256 * 1024);
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<uint8_t>(i * 131 + 7);
  std::vector<uint8_t> sink(256 * 1024);
  const braid::tcp::FlowKey flow{braid::wire::Ipv4Address::FromU32(0x0a000001), 40000,
                                 braid::wire::Ipv4Address::FromU32(0x0a000002), 5001};
  braid::wire::TcpRepr header;
  uint64_t sent = 0, received = 0;
  volatile uint8_t keep = 0;
  const double cpu0 = CpuSeconds();
  while (received < bytes) {
    // A window's worth per round, as the engine's rounds carry.
    for (int i = 0; i < 64 && sent < bytes; ++i) {
      const size_t off = sent % (source.size() - 1448);
      const size_t n = std::min<uint64_t>(1448, bytes - sent);
      header.seq = braid::wire::TcpSeq(static_cast<uint32_t>(sent));
      q.Put(flow, header, source.data() + off, n);
      sent += n;
    }
    q.DeliverAll([&](const WireQueue::Slot& s) {
      const size_t off = received % (sink.size() - 1448);
      std::memcpy(sink.data() + off, s.payload.data(), s.len);
      received += s.len;
    });
    keep = keep + sink[received % sink.size()];
  }
  const double cpu = CpuSeconds() - cpu0;
  return static_cast<double>(received) * 8 / 1e9 / cpu;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// ---- Output ------------------------------------------------------------------------------------

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  return out;
}

void Write(const std::map<std::string, Figure>& figures, const std::string& path) {
  std::string json = "{\n";
  bool first = true;
  for (const auto& [name, f] : figures) {
    char buf[256];
    const double ratio = f.baseline != 0 ? f.value / f.baseline : 0;
    std::snprintf(buf, sizeof(buf),
                  "  \"%s\": {\"value\": %.6g, \"unit\": \"%s\", \"baseline\": %.6g, "
                  "\"ratio\": %.4f, ",
                  name.c_str(), f.value, f.unit.c_str(), f.baseline, ratio);
    json += first ? "" : ",\n";
    json += buf;
    json += "\"note\": \"" + JsonEscape(f.note) + "\"}";
    first = false;
  }
  json += "\n}\n";
  if (path.empty()) {
    std::fputs(json.c_str(), stdout);
    return;
  }
  FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr) {
    std::fprintf(stderr, "sim_figures: cannot write %s\n", path.c_str());
    std::exit(1);
  }
  std::fputs(json.c_str(), out);
  std::fclose(out);
}

void Check(const ScenarioResult& r, const char* what) {
  if (!r.all_complete || !r.all_match) {
    std::fprintf(stderr, "sim_figures: %s did not complete byte-exact\n", what);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else if (a == "--quick") {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: sim_figures [--out FILE] [--quick]\n");
      return 2;
    }
  }
  const double scale = quick ? 0.1 : 1.0;
  auto secs = [&](double s) {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s * scale));
  };
  std::map<std::string, Figure> figures;
  const auto wall0 = std::chrono::steady_clock::now();
  auto progress = [&](const char* what) {
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    std::fprintf(stderr, "sim_figures: %-40s done at %6.1f s\n", what, t);
  };

  // Utilization.
  {
    ScenarioConfig c = GigabitPath();
    c.bytes = 0;
    c.duration = secs(6);
    c.measure_from = secs(2);
    const ScenarioResult r = braid::sim::RunScenario(c);
    Check(r, "utilization loss0");
    figures["sim.cubic.utilization.loss0"] = {
        r.goodput_bps / static_cast<double>(c.rate_bps), "fraction", 0.95,
        "one CUBIC flow, 1 Gbit/s, 10 ms RTT, one-BDP drop-tail queue, no loss: payload goodput "
        "over [2 s, 6 s] / link rate; baseline 0.95 = Linux CUBIC on such a path"};
    progress("utilization loss0");
  }
  for (const auto& [p, name] : {std::pair{1e-4, "sim.cubic.utilization.loss1e-4"},
                                std::pair{1e-3, "sim.cubic.utilization.loss1e-3"}}) {
    ScenarioConfig c = GigabitPath();
    c.loss = p;
    c.bytes = 0;
    c.duration = secs(25);
    c.measure_from = secs(5);
    const ScenarioResult r = braid::sim::RunScenario(c);
    Check(r, name);
    const double bound = std::min(1.0, ResponseFunctionBps(p) / static_cast<double>(c.rate_bps));
    figures[name] = {r.goodput_bps / static_cast<double>(c.rate_bps), "fraction", bound,
                     "one CUBIC flow, 1 Gbit/s, 10 ms RTT, random loss per packet both ways, "
                     "goodput over [5 s, 25 s] / link rate; baseline max(Mathis MSS/RTT*sqrt(3/2)"
                     "/sqrt(p), RFC 9438 CUBIC response) / link rate, MSS 1448 B, RTT 10 ms"};
    progress(name);
  }
  // Fairness.
  {
    ScenarioConfig c = GigabitPath();
    c.flows = 2;
    c.bytes = 0;
    c.duration = secs(10);
    c.measure_from = secs(3);
    const ScenarioResult r = braid::sim::RunScenario(c);
    Check(r, "fairness");
    const double x0 = r.flows[0].goodput_bps, x1 = r.flows[1].goodput_bps;
    const double jain = (x0 + x1) * (x0 + x1) / (2 * (x0 * x0 + x1 * x1));
    figures["sim.fairness.jain.2flows"] = {
        jain, "index", 0.95,
        "two CUBIC flows started together, 1 Gbit/s, 10 ms RTT, one-BDP queue, no loss: Jain's "
        "index of their goodputs over [3 s, 10 s]; baseline 0.95"};
    progress("fairness");
  }
  // Request/response.
  {
    std::vector<Duration> at[2];
    for (int lossy = 0; lossy < 2; ++lossy) {
      ScenarioConfig c = GigabitPath();
      c.mode = ScenarioConfig::Mode::kRequestResponse;
      c.request_size = 64 * 1024;
      c.response_size = 64 * 1024;
      c.requests = quick ? 200 : 2000;
      c.loss = lossy ? 0.01 : 0;
      const ScenarioResult r = braid::sim::RunScenario(c);
      Check(r, "rr64k");
      at[lossy] = r.completions;
    }
    const char* note =
        "64 KiB request then 64 KiB response, repeated on one connection, 1 Gbit/s, 10 ms RTT, 1 %"
        " random loss each way; baseline: the same at 0 % loss";
    figures["sim.rr64k.completion_ms.loss1pct"] = {Ms(braid::sim::Quantile(at[1], 0.5)), "ms",
                                                   Ms(braid::sim::Quantile(at[0], 0.5)),
                                                   std::string("median; ") + note};
    figures["sim.rr64k.completion_ms.loss1pct.p99"] = {Ms(braid::sim::Quantile(at[1], 0.99)), "ms",
                                                       Ms(braid::sim::Quantile(at[0], 0.99)),
                                                       std::string("99th percentile; ") + note};
    progress("rr64k");
  }
  // CPU cost of the engine.
  {
    const uint64_t bytes = quick ? (32ull << 20) : (256ull << 20);
    for (const bool ts_sack : {true, false}) {
      std::vector<double> ours, base;
      for (int rep = 0; rep < 3; ++rep) {  // interleaved, medians reported
        ours.push_back(EngineGoodputPerCore(ts_sack, bytes));
        base.push_back(MemcpyGoodputPerCore(bytes));
      }
      const std::string name =
          ts_sack ? "tcp.cpu.goodput_gbps_per_core" : "tcp.cpu.goodput_gbps_per_core.no_ts_sack";
      figures[name] = {
          Median(ours), "Gbit/s per CPU second", Median(base),
          std::string("two NativeTcpBackends back to back in one thread over an in-memory wire, "
                      "1448-byte segments, timestamps and SACK ") +
              (ts_sack ? "on" : "off") +
              ", CLOCK_PROCESS_CPUTIME_ID, median of 3; baseline: the same bytes memcpy'd in "
              "1448-byte pieces into and out of the same wire"};
      progress(name.c_str());
    }
  }
  Write(figures, out);
  for (const auto& [name, f] : figures) {
    std::fprintf(stderr, "%-42s %12.4f %12.4f %8.4f %s\n", name.c_str(), f.value, f.baseline,
                 f.baseline != 0 ? f.value / f.baseline : 0, f.unit.c_str());
  }
  return 0;
}
