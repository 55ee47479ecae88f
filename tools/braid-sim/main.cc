// braid-sim: runs one simulated scenario (datapath/sim/scenario.h) — Braid's TCP engine on two
// simulated hosts joined by one link — and prints what happened: per-flow goodput, link
// utilization, retransmissions by kind, RTT, completion time and whether the SHA-256 of the
// received stream matches the sender's. `--json` prints the same as one JSON object for scripts.
// Runs are deterministic: the same flags and seed give the same output.
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "datapath/sim/scenario.h"

namespace {

using braid::sim::FlowResult;
using braid::sim::ScenarioConfig;
using braid::sim::ScenarioResult;
using braid::tcp::Duration;

constexpr char kUsage[] = R"(usage: braid-sim [flags]

Runs Braid's TCP engine over a simulated link between two hosts and reports the result.

Link (applies to both directions; each direction draws its own seeded random stream):
  --rate RATE           link rate in bit/s, with k/M/G suffixes (default 100M)
  --rtt MS              round-trip propagation delay in milliseconds (default 10)
  --jitter MS           uniform jitter bound per packet, FIFO-preserving (default 0)
  --loss PCT            random loss per packet, percent (default 0)
  --reorder PCT         percent of packets held back by --reorder-delay (default 0)
  --reorder-delay MS    extra delay of a reordered packet (default max(1, rtt/4))
  --queue PACKETS       drop-tail queue limit (default: one bandwidth-delay product, min 16)

TCP:
  --cc NAME             congestion control: cubic, newreno (default cubic)
  --no-timestamps       turn RFC 7323 timestamps off
  --no-sack             turn SACK (RFC 2018) off
  --ipv6                use IPv6 addresses instead of IPv4

Workload:
  --mode bulk|rr        bulk transfer (default) or request/response
  --flows N             bulk: parallel connections over the link (default 1)
  --bytes SIZE          bulk: bytes per flow, k/M/G (1000s) or Ki/Mi/Gi (1024s) (default 1Mi)
  --duration S          bulk: send for S seconds instead of a fixed size
  --measure-from S      bulk: goodput window starts at S seconds (default 0)
  --request SIZE        rr: request bytes (default 64Ki)
  --response SIZE       rr: response bytes (default 64Ki)
  --requests N          rr: exchanges on one connection (default 100)
  --think MS            rr: pause between exchanges (default 0)

Run:
  --seed N              random seed for links, ISNs and payload (default 1)
  --time-limit S        give up after S seconds of virtual time (default 1800)
  --json                print one JSON object instead of the human summary
  --help                this text

Exit status: 0 when every flow completed byte-exact, 1 otherwise, 2 on bad flags.
)";

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "braid-sim: %s (see --help)\n", message.c_str());
  std::exit(2);
}

double ParseNumber(std::string_view flag, std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) {
    Fail(std::string(flag) + ": expected a non-negative number, got \"" + s + "\"");
  }
  return v;
}

// "100M", "1.5G", "64Ki": a number with an optional decimal or binary multiplier.
double ParseScaled(std::string_view flag, std::string_view text) {
  std::string_view number = text;
  double scale = 1;
  auto ends = [&](std::string_view suffix) {
    return number.size() > suffix.size() && number.substr(number.size() - suffix.size()) == suffix;
  };
  struct Suffix {
    std::string_view text;
    double scale;
  };
  static constexpr Suffix kSuffixes[] = {{"Ki", 1024.0},
                                         {"Mi", 1024.0 * 1024},
                                         {"Gi", 1073741824.0},
                                         {"k", 1e3},
                                         {"K", 1e3},
                                         {"M", 1e6},
                                         {"G", 1e9}};
  for (const Suffix& s : kSuffixes) {
    if (ends(s.text)) {
      number = number.substr(0, number.size() - s.text.size());
      scale = s.scale;
      break;
    }
  }
  return ParseNumber(flag, number) * scale;
}

Duration Millis(double ms) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(ms));
}
Duration Secs(double s) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}
double ToMs(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double ToS(Duration d) { return std::chrono::duration<double>(d).count(); }

struct Options {
  ScenarioConfig config;
  bool json = false;
};

Options Parse(int argc, char** argv) {
  Options o;
  ScenarioConfig& c = o.config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) Fail(std::string(flag) + " needs a value");
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (flag == "--rate") {
      c.rate_bps = static_cast<uint64_t>(ParseScaled(flag, value()));
      if (c.rate_bps == 0) Fail("--rate must be above 0");
    } else if (flag == "--rtt") {
      c.rtt = Millis(ParseNumber(flag, value()));
    } else if (flag == "--jitter") {
      c.jitter = Millis(ParseNumber(flag, value()));
    } else if (flag == "--loss") {
      c.loss = ParseNumber(flag, value()) / 100;
      if (c.loss >= 1) Fail("--loss must be below 100");
    } else if (flag == "--reorder") {
      c.reorder = ParseNumber(flag, value()) / 100;
      if (c.reorder > 1) Fail("--reorder must be at most 100");
    } else if (flag == "--reorder-delay") {
      c.reorder_delay = Millis(ParseNumber(flag, value()));
    } else if (flag == "--queue") {
      c.queue_packets = static_cast<uint64_t>(ParseNumber(flag, value()));
    } else if (flag == "--cc") {
      c.congestion_control = std::string(value());
    } else if (flag == "--no-timestamps") {
      c.timestamps = false;
    } else if (flag == "--no-sack") {
      c.sack = false;
    } else if (flag == "--ipv6") {
      c.ipv6 = true;
    } else if (flag == "--mode") {
      const std::string_view m = value();
      if (m == "bulk") {
        c.mode = ScenarioConfig::Mode::kBulk;
      } else if (m == "rr") {
        c.mode = ScenarioConfig::Mode::kRequestResponse;
      } else {
        Fail("--mode: expected bulk or rr, got \"" + std::string(m) + "\"");
      }
    } else if (flag == "--flows") {
      c.flows = static_cast<uint32_t>(ParseNumber(flag, value()));
      if (c.flows == 0 || c.flows > 1000) Fail("--flows must be 1..1000");
    } else if (flag == "--bytes") {
      c.bytes = static_cast<uint64_t>(ParseScaled(flag, value()));
      if (c.bytes == 0) Fail("--bytes must be above 0 (use --duration for a timed run)");
    } else if (flag == "--duration") {
      c.duration = Secs(ParseNumber(flag, value()));
      c.bytes = 0;
    } else if (flag == "--measure-from") {
      c.measure_from = Secs(ParseNumber(flag, value()));
    } else if (flag == "--request") {
      c.request_size = static_cast<uint32_t>(ParseScaled(flag, value()));
    } else if (flag == "--response") {
      c.response_size = static_cast<uint32_t>(ParseScaled(flag, value()));
    } else if (flag == "--requests") {
      c.requests = static_cast<uint32_t>(ParseNumber(flag, value()));
    } else if (flag == "--think") {
      c.think_time = Millis(ParseNumber(flag, value()));
    } else if (flag == "--seed") {
      c.seed = static_cast<uint64_t>(ParseNumber(flag, value()));
    } else if (flag == "--time-limit") {
      c.time_limit = Secs(ParseNumber(flag, value()));
    } else if (flag == "--json") {
      o.json = true;
    } else {
      Fail("unknown flag \"" + std::string(flag) + "\"");
    }
  }
  if (c.bytes == 0 && c.measure_from >= c.duration) Fail("--measure-from must be below --duration");
  return o;
}

std::string Rate(double bps) {
  char buf[64];
  if (bps >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.3f Gbit/s", bps / 1e9);
  } else if (bps >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2f Mbit/s", bps / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f kbit/s", bps / 1e3);
  }
  return buf;
}

void PrintHuman(const ScenarioConfig& c, const ScenarioResult& r, double wall_s) {
  const bool bulk = c.mode == ScenarioConfig::Mode::kBulk;
  std::printf(
      "braid-sim: %s, %u flow(s), %s over %s, RTT %.3f ms, jitter %.3f ms, loss %.3f%%, "
      "reorder %.3f%%, queue %" PRIu64 " packets, seed %" PRIu64 "\n",
      bulk ? "bulk" : "request/response", bulk ? c.flows : 1u, c.congestion_control.c_str(),
      Rate(static_cast<double>(c.rate_bps)).c_str(), ToMs(c.rtt), ToMs(c.jitter), c.loss * 100,
      c.reorder * 100, braid::sim::QueuePackets(c), c.seed);
  for (size_t i = 0; i < r.flows.size(); ++i) {
    const FlowResult& f = r.flows[i];
    std::printf("flow %zu: %s", i, f.complete ? "complete" : "INCOMPLETE");
    if (!f.client_reset.empty()) std::printf(", client reset (%s)", f.client_reset.c_str());
    if (!f.server_reset.empty()) std::printf(", server reset (%s)", f.server_reset.c_str());
    std::printf("\n");
    if (bulk) {
      std::printf("  bytes: sent %" PRIu64 ", received %" PRIu64 "; sha256 %s (%s)\n", f.bytes_sent,
                  f.bytes_received, f.sha_match ? "match" : "MISMATCH",
                  f.sha_received.substr(0, 16).c_str());
      // Two rates: the flow's own (its bytes over its connect-to-FIN time) and its share of the
      // common measurement window (what the total and fairness figures add up).
      const double own_bps =
          ToS(f.completion) > 0 ? static_cast<double>(f.bytes_received) * 8 / ToS(f.completion) : 0;
      std::printf(
          "  goodput %s over its %.3f s (%s in the common %.3f s window); handshake %.3f ms;"
          " longest stall %.3f ms\n",
          Rate(own_bps).c_str(), ToS(f.completion), Rate(f.goodput_bps).c_str(), r.measured_seconds,
          ToMs(f.handshake), ToMs(f.max_stall));
    }
    std::printf("  retransmissions: %" PRIu64 " segments (fast %" PRIu64 ", after RTO %" PRIu64
                ", TLP probes %" PRIu64 ", spurious %" PRIu64 "), %" PRIu64
                " bytes; RTO expirations %" PRIu64 "; segments sent %" PRIu64 "\n",
                f.retransmits, f.fast_retransmits, f.rto_retransmits, f.tlp_probes,
                f.spurious_retransmits, f.bytes_retransmitted, f.rto_expirations, f.segments_out);
    std::printf("  rtt: min %.3f ms, avg (srtt) %.3f ms; final RTO %.1f ms\n", ToMs(f.min_rtt),
                ToMs(f.avg_srtt), ToMs(f.final_rto));
  }
  if (bulk) {
    std::printf("total goodput %s over %.3f s; link utilization %.4f (IP bytes / capacity)\n",
                Rate(r.goodput_bps).c_str(), r.measured_seconds, r.link_utilization);
  } else {
    std::printf("exchanges: %zu of %u; completion median %.3f ms, p99 %.3f ms, max %.3f ms\n",
                r.completions.size(), c.requests, ToMs(braid::sim::Quantile(r.completions, 0.5)),
                ToMs(braid::sim::Quantile(r.completions, 0.99)),
                ToMs(braid::sim::Quantile(r.completions, 1.0)));
  }
  const auto& d = r.data_link;
  std::printf("data link: %" PRIu64 " packets sent, %" PRIu64 " lost, %" PRIu64
              " queue drops, %" PRIu64 " reordered, queue high water %" PRIu64 " packets\n",
              d.sent_packets, d.Dropped(braid::sim::DropReason::kRandomLoss),
              d.Dropped(braid::sim::DropReason::kQueueFull), d.reordered,
              d.queue_high_water_packets);
  const auto& a = r.ack_link;
  std::printf("ack link: %" PRIu64 " packets sent, %" PRIu64 " lost\n", a.sent_packets,
              a.Dropped(braid::sim::DropReason::kRandomLoss));
  std::printf("result: %s; %.3f s of virtual time in %.3f s of wall time\n",
              r.all_complete && r.all_match ? "every flow complete and byte-exact" : "FAILED",
              ToS(r.end), wall_s);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  return out + "\"";
}

void PrintJson(const ScenarioConfig& c, const ScenarioResult& r, double wall_s) {
  const bool bulk = c.mode == ScenarioConfig::Mode::kBulk;
  std::printf("{\"config\":{\"mode\":\"%s\",\"rate_bps\":%" PRIu64
              ",\"rtt_ms\":%.6f,\"jitter_ms\":%.6f,\"loss\":%.6f,\"reorder\":%.6f,"
              "\"reorder_delay_ms\":%.6f,\"queue_packets\":%" PRIu64
              ",\"flows\":%u,\"cc\":%s,\"timestamps\":%s,\"sack\":%s,\"ipv6\":%s,"
              "\"bytes\":%" PRIu64 ",\"duration_s\":%.6f,\"seed\":%" PRIu64 "},",
              bulk ? "bulk" : "rr", c.rate_bps, ToMs(c.rtt), ToMs(c.jitter), c.loss, c.reorder,
              ToMs(braid::sim::ReorderDelay(c)), braid::sim::QueuePackets(c), c.flows,
              JsonString(c.congestion_control).c_str(), c.timestamps ? "true" : "false",
              c.sack ? "true" : "false", c.ipv6 ? "true" : "false", c.bytes, ToS(c.duration),
              c.seed);
  std::printf("\"flows\":[");
  for (size_t i = 0; i < r.flows.size(); ++i) {
    const FlowResult& f = r.flows[i];
    std::printf(
        "%s{\"complete\":%s,\"sha_match\":%s,\"sha_sent\":%s,\"sha_received\":%s,"
        "\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%" PRIu64
        ",\"goodput_bps\":%.1f,\"completion_s\":%.6f,\"handshake_ms\":%.6f,"
        "\"max_stall_ms\":%.6f,\"retransmits\":{\"total\":%" PRIu64 ",\"fast\":%" PRIu64
        ",\"rto\":%" PRIu64 ",\"tlp_probes\":%" PRIu64 ",\"spurious\":%" PRIu64
        ",\"bytes\":%" PRIu64 "},\"rto_expirations\":%" PRIu64 ",\"segments_out\":%" PRIu64
        ",\"rtt_min_ms\":%.6f,\"rtt_avg_ms\":%.6f,\"final_rto_ms\":%.6f,"
        "\"client_reset\":%s,\"server_reset\":%s}",
        i == 0 ? "" : ",", f.complete ? "true" : "false", f.sha_match ? "true" : "false",
        JsonString(f.sha_sent).c_str(), JsonString(f.sha_received).c_str(), f.bytes_sent,
        f.bytes_received, f.goodput_bps, ToS(f.completion), ToMs(f.handshake), ToMs(f.max_stall),
        f.retransmits, f.fast_retransmits, f.rto_retransmits, f.tlp_probes, f.spurious_retransmits,
        f.bytes_retransmitted, f.rto_expirations, f.segments_out, ToMs(f.min_rtt), ToMs(f.avg_srtt),
        ToMs(f.final_rto), JsonString(f.client_reset).c_str(), JsonString(f.server_reset).c_str());
  }
  std::printf("],\"goodput_bps\":%.1f,\"measured_s\":%.6f,\"link_utilization\":%.6f,",
              r.goodput_bps, r.measured_seconds, r.link_utilization);
  std::printf("\"rr\":{\"exchanges\":%zu,\"median_ms\":%.6f,\"p99_ms\":%.6f,\"max_ms\":%.6f},",
              r.completions.size(), ToMs(braid::sim::Quantile(r.completions, 0.5)),
              ToMs(braid::sim::Quantile(r.completions, 0.99)),
              ToMs(braid::sim::Quantile(r.completions, 1.0)));
  std::printf("\"data_link\":{\"sent_packets\":%" PRIu64 ",\"random_loss\":%" PRIu64
              ",\"queue_drops\":%" PRIu64 ",\"reordered\":%" PRIu64 "},",
              r.data_link.sent_packets, r.data_link.Dropped(braid::sim::DropReason::kRandomLoss),
              r.data_link.Dropped(braid::sim::DropReason::kQueueFull), r.data_link.reordered);
  std::printf("\"ack_link\":{\"sent_packets\":%" PRIu64 ",\"random_loss\":%" PRIu64 "},",
              r.ack_link.sent_packets, r.ack_link.Dropped(braid::sim::DropReason::kRandomLoss));
  std::printf("\"all_complete\":%s,\"all_match\":%s,\"virtual_s\":%.6f,\"wall_s\":%.6f}\n",
              r.all_complete ? "true" : "false", r.all_match ? "true" : "false", ToS(r.end),
              wall_s);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  const auto t0 = std::chrono::steady_clock::now();
  const ScenarioResult r = braid::sim::RunScenario(o.config);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.json) {
    PrintJson(o.config, r, wall);
  } else {
    PrintHuman(o.config, r, wall);
  }
  return r.all_complete && r.all_match ? 0 : 1;
}
