// The simulator matrix: one cell (loss rate, reordering on/off, RTT) of bulk transfers over
// Braid's TCP engine, one transfer per seed. Every transfer must complete byte-exact (SHA-256 of
// the received stream equals the sender's, both ends closed cleanly) and no stall — the gap
// between two deliveries of new in-order data at the receiver, the accept and the FIN counting as
// deliveries — may exceed what the RTO rules of RFC 6298 allow. tests/sim/CMakeLists.txt runs
// the 24 cells as separate CTest tests (label `sim`).
//
// THE STALL BOUND (RFC 6298)
//  1. Largest RTT sample a connection can take, R_max: the propagation RTT, plus a full drop-tail
//     queue's worth of serialization (queue packets x 1500 B / rate), plus one 1500-byte
//     serialization each way, plus the delayed-ACK timeout (TcpConfig::delayed_ack_timeout: the
//     ACK that carries the sample may wait that long), plus the reordering delay when reordering
//     is on, plus twice the jitter bound. R_min is the propagation RTT.
//  2. RTO before backoff (§2.2-2.4): SRTT and every sample lie in [R_min, R_max]; RTTVAR starts
//     at R/2 and then averages |SRTT - R| <= R_max - R_min, so RTTVAR <= V = max(R_max / 2,
//     R_max - R_min), and RTO1 = clamp(R_max + max(G, 4 V), min_rto, max_rto).
//     Before any sample the RTO is initial_rto (1 s), and after a handshake whose SYN was
//     retransmitted it is handshake_fallback_rto (3 s, §5.7): a transfer whose handshake took
//     longer than initial_rto uses max(RTO1, 3 s).
//  3. Backoff (§5.5): a hole that needs k further timeouts because each retransmission was lost
//     too waits RTO1 + 2 RTO1 + ... + 2^k RTO1 = (2^(k+1) - 1) RTO1, each term capped at
//     max_rto (§2.5). The timer runs from the last ACK of new data (§5.3), so the receiver's
//     wait is that plus at most R_max for the ACK to get back and the retransmission to arrive.
//  4. How many consecutive losses are plausible: with Bernoulli loss p on each direction, a
//     given segment and its next k retransmissions are all lost with probability p^(k+1). Over a
//     cell that sends N data segments (seeds x segments per transfer), the expected number of
//     such chains is N p^(k+1); k is the smallest value for which that is below 1e-3, and at least
//     2 (queue overflow drops bursts even at p = 0, and a lost ACK of a retransmission costs one
//     more timeout the same way). For the matrix's 4 MiB transfers (about 2,900 segments) and 100
//     seeds, N is about 290,000: k = 2 at 0 % and 0.1 %, 4 at 1 %, 6 at 5 %.
//  Bound = sum_{i=0..k} min(2^i RTO1, max_rto) + R_max.
//
// Usage: sim_matrix --loss PCT --reorder 0|1 --rtt-ms MS [--seeds N] [--first-seed S]
//                   [--bytes B] [--verbose]
// Exit status 0 when every transfer passes; the summary line says how long the cell took.
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "datapath/sim/scenario.h"
#include "datapath/tcp/tcp_config.h"

namespace {

using braid::sim::ScenarioConfig;
using braid::sim::ScenarioResult;
using braid::tcp::Duration;
using namespace std::chrono_literals;

// The matrix's link: every cell shares it, only loss, reordering and RTT change.
constexpr uint64_t kRateBps = 100'000'000;
constexpr double kReorderProbability = 0.02;
constexpr uint64_t kPacketBytes = 1500;
constexpr double kPlausibleChains = 1e-3;
constexpr int kMinBackoffs = 2;

double Ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

Duration Serialization(uint64_t bytes, uint64_t rate_bps) {
  return Duration(static_cast<int64_t>(bytes * 8 * 1'000'000'000 / rate_bps));
}

struct Bound {
  Duration r_max{0};
  Duration rto1{0};
  int backoffs = 0;
  Duration stall{0};
};

Bound StallBound(const ScenarioConfig& c, uint64_t segments_in_cell, bool slow_handshake) {
  const braid::tcp::TcpConfig t = c.tcp;
  Bound b;
  const Duration queue = Serialization(braid::sim::QueuePackets(c) * kPacketBytes, c.rate_bps) +
                         2 * Serialization(kPacketBytes, c.rate_bps);
  b.r_max = c.rtt + queue + t.delayed_ack_timeout + 2 * c.jitter +
            (c.reorder > 0 ? braid::sim::ReorderDelay(c) : Duration(0));
  const Duration v = std::max<Duration>(b.r_max / 2, b.r_max - c.rtt);
  b.rto1 = std::clamp<Duration>(b.r_max + std::max<Duration>(t.rtt.granularity, 4 * v),
                                t.rtt.min_rto, t.rtt.max_rto);
  if (slow_handshake) b.rto1 = std::max(b.rto1, t.rtt.handshake_fallback_rto);
  // Smallest k with N p^(k+1) < kPlausibleChains.
  int k = kMinBackoffs;
  if (c.loss > 0) {
    const double n = static_cast<double>(std::max<uint64_t>(segments_in_cell, 1));
    const double needed = std::log(kPlausibleChains / n) / std::log(c.loss);  // k + 1 >= needed
    k = std::max(k, static_cast<int>(std::ceil(needed)) - 1);
  }
  b.backoffs = k;
  Duration total{0};
  for (int i = 0; i <= k; ++i) {
    total += std::min<Duration>(b.rto1 * (int64_t{1} << std::min(i, 30)), t.rtt.max_rto);
  }
  b.stall = total + b.r_max;
  return b;
}

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "sim_matrix: %s\nusage: sim_matrix --loss PCT --reorder 0|1 --rtt-ms MS "
               "[--seeds N] [--first-seed S] [--bytes B] [--verbose]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  double loss_pct = -1, rtt_ms = -1;
  int reorder = -1;
  uint64_t seeds = 100, first_seed = 1, bytes = 4 << 20;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) Usage("missing value");
      return std::string(argv[++i]);
    };
    if (a == "--loss") {
      loss_pct = std::stod(next());
    } else if (a == "--reorder") {
      reorder = std::stoi(next());
    } else if (a == "--rtt-ms") {
      rtt_ms = std::stod(next());
    } else if (a == "--seeds") {
      seeds = std::stoull(next());
    } else if (a == "--first-seed") {
      first_seed = std::stoull(next());
    } else if (a == "--bytes") {
      bytes = std::stoull(next());
    } else if (a == "--verbose") {
      verbose = true;
    } else {
      Usage("unknown flag");
    }
  }
  if (loss_pct < 0 || rtt_ms <= 0 || (reorder != 0 && reorder != 1)) Usage("bad cell");

  ScenarioConfig c;
  c.rate_bps = kRateBps;
  c.rtt = std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(rtt_ms));
  c.loss = loss_pct / 100;
  c.reorder = reorder ? kReorderProbability : 0;
  c.bytes = bytes;
  c.time_limit = 30min;
  const uint64_t segments_per_transfer = (bytes + 1447) / 1448 + 4;
  const Bound fast = StallBound(c, segments_per_transfer * seeds, false);
  const Bound slow = StallBound(c, segments_per_transfer * seeds, true);

  const auto t0 = std::chrono::steady_clock::now();
  uint64_t failures = 0, retransmits = 0, rtos = 0;
  Duration worst_stall{0}, worst_completion{0};
  uint64_t worst_seed = 0;
  for (uint64_t s = first_seed; s < first_seed + seeds; ++s) {
    c.seed = s;
    const ScenarioResult r = braid::sim::RunScenario(c);
    const braid::sim::FlowResult& f = r.flows.at(0);
    const bool slow_handshake = f.handshake >= c.tcp.rtt.initial_rto;
    const Bound& b = slow_handshake ? slow : fast;
    retransmits += f.retransmits;
    rtos += f.rto_expirations;
    worst_completion = std::max(worst_completion, f.completion);
    if (f.max_stall > worst_stall) {
      worst_stall = f.max_stall;
      worst_seed = s;
    }
    const bool ok =
        r.all_complete && r.all_match && f.bytes_received == bytes && f.max_stall <= b.stall;
    if (!ok) {
      ++failures;
      std::printf("FAIL seed %" PRIu64 ": complete %d, sha %s, received %" PRIu64 "/%" PRIu64
                  ", stall %.3f ms (bound %.3f ms, ending at %.3f s), client reset '%s', "
                  "server reset '%s', rto expirations %" PRIu64 "\n",
                  s, f.complete ? 1 : 0, f.sha_match ? "match" : "MISMATCH", f.bytes_received,
                  bytes, Ms(f.max_stall), Ms(b.stall),
                  std::chrono::duration<double>(f.max_stall_end).count(), f.client_reset.c_str(),
                  f.server_reset.c_str(), f.rto_expirations);
    } else if (verbose) {
      std::printf("seed %" PRIu64 ": completion %.3f s, stall %.3f ms, retransmits %" PRIu64 "\n",
                  s, std::chrono::duration<double>(f.completion).count(), Ms(f.max_stall),
                  f.retransmits);
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("sim matrix cell loss %.1f%% reorder %s rtt %.1f ms: %" PRIu64 "/%" PRIu64
              " transfers of %" PRIu64 " bytes passed; worst stall %.3f ms (seed %" PRIu64
              ") vs bound %.3f ms (R_max %.3f ms, RTO1 %.3f ms, %d backoffs; %.3f ms after a "
              "retransmitted SYN); worst completion %.3f s; %" PRIu64 " retransmissions, %" PRIu64
              " RTOs; %.2f s wall\n",
              loss_pct, reorder ? "on" : "off", rtt_ms, seeds - failures, seeds, bytes,
              Ms(worst_stall), worst_seed, Ms(fast.stall), Ms(fast.r_max), Ms(fast.rto1),
              fast.backoffs, Ms(slow.stall),
              std::chrono::duration<double>(worst_completion).count(), retransmits, rtos, wall);
  return failures == 0 ? 0 : 1;
}
