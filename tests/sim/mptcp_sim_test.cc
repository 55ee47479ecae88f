// MPTCP in the simulator: Braid's MptcpSockets on both hosts of a MptcpNetwork (datapath/sim/
// mptcp_network.h), every scheduler and path-manager policy, reinjection and coupled congestion
// control, on fixed seeds. Assertions are on outcomes (bytes, counters, which paths carried what,
// queue peaks and latencies in virtual time), never on wall-clock time. Each test prints one
// summary line with the figures it judged.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "datapath/mptcp/mib.h"
#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/sim/mptcp_network.h"
#include "datapath/sim/scenario.h"

namespace braid::sim {
namespace {

using namespace std::chrono_literals;
using mptcp::MptcpCounter;

double Ms(tcp::Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The paths and both hosts' MPTCP settings of one test network.
struct Hosts {
  std::vector<LinkConfig> paths;
  mptcp::MptcpConfig client;
  mptcp::MptcpConfig server;
  uint64_t seed = 1;
};

// The client opens one subflow from each path's address after the first (kernel policy,
// `subflow` endpoints), limits.subflows = paths - 1.
Hosts SubflowPerPath(std::vector<LinkConfig> paths, const std::string& scheduler) {
  Hosts s;
  s.paths = std::move(paths);
  for (size_t i = 1; i < s.paths.size(); ++i) {
    mptcp::Endpoint e = MptcpNetwork::ClientEndpoint(i);
    e.subflow = true;
    s.client.path_manager.endpoints.push_back(e);
  }
  s.client.path_manager.limits.subflows = static_cast<uint32_t>(s.paths.size() - 1);
  s.server.path_manager.limits.subflows = static_cast<uint32_t>(s.paths.size() - 1);
  s.client.scheduler = scheduler;
  s.server.scheduler = scheduler;
  // MptcpConnection::OpenSubflow refuses new subflows once the app shut down, and a sender that
  // fits its whole transfer in the send buffer shuts down at once: keep the buffer below the
  // transfer sizes so that the path manager's subflows can open.
  s.client.send_buffer = 1 << 20;
  return s;
}

std::unique_ptr<MptcpNetwork> Build(const Hosts& s) {
  MptcpNetworkConfig c;
  c.seed = s.seed;
  c.paths = s.paths;
  c.client = s.client;
  c.server = s.server;
  absl::StatusOr<std::unique_ptr<MptcpNetwork>> net = MptcpNetwork::Create(c);
  EXPECT_TRUE(net.ok()) << net.status();
  return net.ok() ? std::move(*net) : nullptr;
}

// Data-level bytes each path carried from the client, by the local address of the subflows.
std::vector<uint64_t> BytesPerPath(const MptcpSnapshot& snap, size_t paths) {
  std::vector<uint64_t> out(paths, 0);
  for (const mptcp::SubflowInfo& sf : snap.subflows) {
    for (size_t p = 0; p < paths; ++p) {
      if (sf.local_address == MptcpNetwork::ClientAddress(p)) out[p] += sf.bytes_sent;
    }
  }
  return out;
}

std::string Join(const std::vector<uint64_t>& v) {
  std::string s;
  for (uint64_t x : v) s += (s.empty() ? "" : "/") + std::to_string(x);
  return s;
}

// Every byte arrived in order and the data-level FIN after them; with `closed`, both apps also
// heard OnClosed.
void ExpectByteExact(const SocketBulkResult& r, uint64_t bytes, bool closed = true) {
  if (closed) {
    EXPECT_TRUE(r.complete);
    EXPECT_TRUE(r.stats.flow.client_closed_at.has_value()) << "run ended at " << Ms(r.network.end);
    EXPECT_TRUE(r.stats.flow.server_closed_at.has_value()) << "run ended at " << Ms(r.network.end);
  }
  EXPECT_TRUE(r.stats.flow.fin_at.has_value());
  EXPECT_EQ(r.stats.flow.bytes_sent, bytes);
  EXPECT_EQ(r.stats.flow.bytes_received, bytes);
  EXPECT_TRUE(r.stats.flow.HashesMatch());
  EXPECT_FALSE(r.stats.client_error.has_value());
  EXPECT_FALSE(r.stats.server_error.has_value());
  ASSERT_TRUE(r.stats.client_mptcp.info.has_value());
  EXPECT_FALSE(r.stats.client_mptcp.info->fallback);
}

// ---- Schedulers --------------------------------------------------------------------------------

// Three paths: fast and short, faster but long, slow and longest.
std::vector<LinkConfig> ThreePaths() {
  return {PathLink(10'000'000, 10ms), PathLink(20'000'000, 40ms), PathLink(5'000'000, 80ms)};
}

constexpr uint64_t kSchedulerBytes = 3 << 20;

SocketBulkResult RunScheduler(const std::string& scheduler, std::vector<uint64_t>* per_path) {
  auto net = Build(SubflowPerPath(ThreePaths(), scheduler));
  SocketBulkRun run;
  run.bytes = kSchedulerBytes;
  SocketBulkResult r = RunSocketBulk(*net, run);
  *per_path = BytesPerPath(r.stats.client_mptcp, 3);
  if (!r.stats.client_mptcp.info) return r;
  const auto& info = *r.stats.client_mptcp.info;
  std::printf(
      "[%s] %s: %.0f ms, data-level sent %lu for %lu delivered, per path %s, "
      "reinjected %lu, peak out-of-order %lu B\n",
      ::testing::UnitTest::GetInstance()->current_test_info()->name(), scheduler.c_str(),
      Ms(r.completion), static_cast<unsigned long>(info.bytes_sent),
      static_cast<unsigned long>(r.stats.flow.bytes_received), Join(*per_path).c_str(),
      static_cast<unsigned long>(info.bytes_reinjected),
      static_cast<unsigned long>(r.network.peak_out_of_order));
  return r;
}

// A bulk transfer fills every path whatever the policy (each subflow takes what its congestion
// window allows), so the bulk tests check delivery and what each policy must still show; the
// preferences show on app-limited traffic below.
TEST(MptcpSimScheduler, DefaultBulkIsByteExactOverThreePaths) {
  std::vector<uint64_t> per_path;
  const SocketBulkResult r = RunScheduler("default", &per_path);
  ExpectByteExact(r, kSchedulerBytes);
  EXPECT_EQ(r.stats.client_mptcp.info->scheduler, "default");
  EXPECT_EQ(r.stats.client_mptcp.subflows.size(), 3u);
  for (uint64_t b : per_path) EXPECT_GT(b, 0u);
}

TEST(MptcpSimScheduler, RoundRobinBulkSpreadsOverEveryPath) {
  std::vector<uint64_t> per_path;
  const SocketBulkResult r = RunScheduler("roundrobin", &per_path);
  ExpectByteExact(r, kSchedulerBytes);
  for (uint64_t b : per_path) EXPECT_GT(b, kSchedulerBytes / 10);
}

TEST(MptcpSimScheduler, RedundantBulkSendsMoreThanItDelivers) {
  std::vector<uint64_t> per_path;
  const SocketBulkResult r = RunScheduler("redundant", &per_path);
  ExpectByteExact(r, kSchedulerBytes);
  // A chunk is copied to every subflow with room at that moment; under a bulk load the windows
  // seldom open together, so only part of the data is duplicated (all of it when app-limited).
  EXPECT_GT(r.stats.client_mptcp.info->bytes_sent, r.stats.flow.bytes_received);
  EXPECT_GT(r.network.server_counters[MptcpCounter::kDuplicateData], 0u);
}

TEST(MptcpSimScheduler, BlestBulkIsByteExact) {
  std::vector<uint64_t> per_path;
  ExpectByteExact(RunScheduler("blest", &per_path), kSchedulerBytes);
}

TEST(MptcpSimScheduler, EcfBulkIsByteExact) {
  std::vector<uint64_t> per_path;
  ExpectByteExact(RunScheduler("ecf", &per_path), kSchedulerBytes);
}

// App-limited traffic shows a scheduler's preference: 100 requests of 1000 bytes from the client
// over the same three paths, each answered with 1000 bytes. Returns the request bytes per path.
std::vector<uint64_t> RequestBytesPerPath(const std::string& scheduler, uint64_t* sent,
                                          uint64_t* delivered) {
  auto net = Build(SubflowPerPath(ThreePaths(), scheduler));
  SocketRrRun run;
  run.shape = {.request_size = 1000, .response_size = 1000, .count = 100, .think_time = 5ms};
  const SocketRrResult r = RunSocketRr(*net, run);
  EXPECT_TRUE(r.complete);
  const std::vector<uint64_t> per_path = BytesPerPath(r.client, 3);
  *sent = r.client.info ? r.client.info->bytes_sent : 0;
  *delivered = uint64_t{run.shape.request_size} * run.shape.count;
  std::printf("[%s] %s requests: data-level sent %lu for %lu, per path %s\n",
              ::testing::UnitTest::GetInstance()->current_test_info()->name(), scheduler.c_str(),
              static_cast<unsigned long>(*sent), static_cast<unsigned long>(*delivered),
              Join(per_path).c_str());
  return per_path;
}

uint64_t Sum(const std::vector<uint64_t>& v) { return std::accumulate(v.begin(), v.end(), 0ull); }

TEST(MptcpSimScheduler, AppLimitedDefaultUsesTheLowestRttPath) {
  uint64_t sent, delivered;
  const std::vector<uint64_t> p = RequestBytesPerPath("default", &sent, &delivered);
  EXPECT_GE(p[0], Sum(p) * 95 / 100);
}

TEST(MptcpSimScheduler, AppLimitedRoundRobinRotates) {
  uint64_t sent, delivered;
  const std::vector<uint64_t> p = RequestBytesPerPath("roundrobin", &sent, &delivered);
  for (uint64_t b : p) EXPECT_GE(b, Sum(p) / 5);
}

TEST(MptcpSimScheduler, AppLimitedRedundantCopiesEveryRequest) {
  uint64_t sent, delivered;
  const std::vector<uint64_t> p = RequestBytesPerPath("redundant", &sent, &delivered);
  EXPECT_GE(sent, delivered * 5 / 2);
}

TEST(MptcpSimScheduler, AppLimitedBlestAndEcfKeepToTheFastPath) {
  for (const char* name : {"blest", "ecf"}) {
    uint64_t sent, delivered;
    const std::vector<uint64_t> p = RequestBytesPerPath(name, &sent, &delivered);
    EXPECT_GE(p[0], Sum(p) * 95 / 100) << name;
  }
}

// ---- Head-of-line blocking
// -----------------------------------------------------------------------

// Two paths of equal rate, 10 ms and 100 ms. The receiver's TCP receive buffer (512 KiB) is what
// its subflows advertise, so it bounds the data-level window (RFC 8684 §3.3.4): data in flight on
// the slow path takes window the fast path could use, and what the fast path delivers beyond a
// byte still on the slow one waits out of order. The figure is the mean head-of-line delay per
// byte, by Little's law the mean out-of-order occupancy over the goodput.
constexpr uint32_t kHolWindow = 512 * 1024;

struct HolFigures {
  double delay_ms = 0;
  uint64_t peak = 0;
};

HolFigures RunHol(const std::string& scheduler, tcp::Duration slow_delay) {
  auto net = Build(
      SubflowPerPath({PathLink(10'000'000, 10ms), PathLink(10'000'000, slow_delay)}, scheduler));
  SocketBulkRun run;
  run.bytes = 4 << 20;
  run.tcp.receive_buffer = kHolWindow;
  const SocketBulkResult r = RunSocketBulk(*net, run);
  ExpectByteExact(r, run.bytes);
  const std::vector<uint64_t> per_path = BytesPerPath(r.stats.client_mptcp, 2);
  const double goodput = static_cast<double>(run.bytes) / Ms(r.completion);  // bytes per ms
  const HolFigures f{.delay_ms = r.network.mean_out_of_order / goodput,
                     .peak = r.network.peak_out_of_order};
  std::printf(
      "[HoL] %-10s slow path %3.0f ms: head-of-line delay %5.1f ms per byte (mean out-of-order "
      "%6.0f B, peak %6lu B), completion %5.0f ms, per path %s, head-of-line reinjections %lu, "
      "silent %lu\n",
      scheduler.c_str(), Ms(slow_delay), f.delay_ms, r.network.mean_out_of_order,
      static_cast<unsigned long>(f.peak), Ms(r.completion), Join(per_path).c_str(),
      static_cast<unsigned long>(r.network.client_counters[MptcpCounter::kHolReinjections]),
      static_cast<unsigned long>(r.network.client_counters[MptcpCounter::kSubflowSilent]));
  return f;
}

// Sized writes on the same two paths: the server answers each request with 128 KiB, which the
// client can use only once its last byte arrived, so a response's completion time is the delivery
// delay of its last byte. Returns the mean over 40 responses.
double HolResponseMeanMs(const std::string& scheduler, tcp::Duration slow_delay) {
  auto net = Build(
      SubflowPerPath({PathLink(10'000'000, 10ms), PathLink(10'000'000, slow_delay)}, scheduler));
  SocketRrRun run;
  run.shape = {.request_size = 100, .response_size = 128 * 1024, .count = 40, .think_time = 50ms};
  const SocketRrResult r = RunSocketRr(*net, run);
  EXPECT_TRUE(r.complete);
  double sum = 0;
  for (tcp::Duration d : r.completions) sum += Ms(d);
  const double mean = r.completions.empty() ? 0 : sum / static_cast<double>(r.completions.size());
  std::printf("[HoL responses] %-10s slow path %3.0f ms: mean %.1f ms, p50 %.1f ms, p90 %.1f ms\n",
              scheduler.c_str(), Ms(slow_delay), mean, Ms(Quantile(r.completions, 0.5)),
              Ms(Quantile(r.completions, 0.9)));
  return mean;
}

// The slow path's delay takes these values and the figures are their means. At one delay alone a
// figure jumps by 10 to 60 % with any change of segment sizes (each scheduler's decisions fall
// differently round after round; round-robin's at 80 ms once took 61 head-of-line reinjections
// where the others took one), which is not the property these tests are about.
constexpr std::array<tcp::Duration, 5> kSlowDelays = {60ms, 80ms, 100ms, 120ms, 140ms};

// One figure per scheduler, each the mean over kSlowDelays of `measure(scheduler, slow delay)`.
struct PerScheduler {
  double rr = 0, def = 0, blest = 0, ecf = 0;
};

PerScheduler MeansOverSlowDelays(
    const char* what, const std::function<double(const std::string&, tcp::Duration)>& measure) {
  const auto mean = [&](const std::string& scheduler) {
    double sum = 0;
    for (tcp::Duration d : kSlowDelays) sum += measure(scheduler, d);
    return sum / kSlowDelays.size();
  };
  const PerScheduler m{
      .rr = mean("roundrobin"), .def = mean("default"), .blest = mean("blest"), .ecf = mean("ecf")};
  std::printf("[%s] means: roundrobin %.1f, default %.1f, blest %.1f, ecf %.1f\n", what, m.rr,
              m.def, m.blest, m.ecf);
  return m;
}

TEST(MptcpSimHeadOfLine, SizedResponsesCompleteSoonerWithBlestAndEcf) {
  const auto [rr, def, blest, ecf] = MeansOverSlowDelays("HoL responses, ms", HolResponseMeanMs);
  EXPECT_LT(blest, rr * 0.95);
  EXPECT_LT(ecf, rr * 0.95);
  // Not worse than the default scheduler by more than 10 % (ECF) or 15 % (BLEST). BLEST is a bulk
  // policy: its estimate does not look at where a response ends, as ECF's does, and it trails the
  // default here (by 8 %; by 6 to 12 % at 100 ms alone, depending on how segments are sized).
  EXPECT_LE(blest, def * 1.15);
  EXPECT_LE(ecf, def * 1.1);
}

// A long transfer fills both paths whatever the policy; BLEST keeps less of the window waiting out
// of order. ECF's rule only spares the slow path when little data is left (the end of a transfer,
// the responses above): on a bulk transfer it behaves like the default scheduler.
TEST(MptcpSimHeadOfLine, BulkBlestHoldsLessOutOfOrderThanRoundRobin) {
  const auto [rr, def, blest, ecf] = MeansOverSlowDelays(
      "HoL, ms per byte",
      [](const std::string& scheduler, tcp::Duration d) { return RunHol(scheduler, d).delay_ms; });
  // 19 % less with these delays (37 % when every data segment carried a DSS; at 100 ms alone that
  // was 23 %, this is 21 %).
  EXPECT_LT(blest, rr * 0.9);
  // Not worse than the default scheduler by more than 10 %.
  EXPECT_LE(blest, def * 1.1);
  EXPECT_LE(ecf, def * 1.1);
}

// ---- Request/response over a lossy path --------------------------------------------------------

tcp::Duration RrP99(const std::string& scheduler) {
  Hosts s =
      SubflowPerPath({PathLink(20'000'000, 10ms, 0.01), PathLink(20'000'000, 20ms)}, scheduler);
  auto net = Build(s);
  SocketRrRun run;
  run.shape = {.request_size = 200, .response_size = 1000, .count = 500, .think_time = 2ms};
  const SocketRrResult r = RunSocketRr(*net, run);
  EXPECT_TRUE(r.complete);
  const tcp::Duration p50 = Quantile(r.completions, 0.5);
  const tcp::Duration p99 = Quantile(r.completions, 0.99);
  std::printf("[RR 1%% loss] %-10s p50 %.1f ms, p99 %.1f ms, max %.1f ms over %zu exchanges\n",
              scheduler.c_str(), Ms(p50), Ms(p99), Ms(Quantile(r.completions, 1.0)),
              r.completions.size());
  return p99;
}

TEST(MptcpSimLossyPath, RedundantCutsTheTailLatency) {
  const tcp::Duration def = RrP99("default");
  const tcp::Duration red = RrP99("redundant");
  EXPECT_LT(red * 2, def);
}

// ---- Reinjection
// ---------------------------------------------------------------------------------

// A bulk transfer of `bytes` whose path 1 is blackholed at `at`; prints what was reinjected and the
// receiver's longest stall. Not `closed`: the blackholed subflow's FIN is retransmitted until TCP
// gives up, and the connection reports OnClosed only once every subflow is gone.
SocketBulkResult RunBlackhole(const std::vector<LinkConfig>& paths, const std::string& scheduler,
                              tcp::Duration at, uint64_t bytes) {
  auto net = Build(SubflowPerPath(paths, scheduler));
  net->SetPathState(1, SimTime(at), LinkState::kBlackhole);
  SocketBulkRun run;
  run.bytes = bytes;
  run.time_limit = 30s;
  SocketBulkResult r = RunSocketBulk(*net, run);
  ExpectByteExact(r, run.bytes, /*closed=*/false);
  const auto count = [&](MptcpCounter c) {
    return static_cast<unsigned long>(r.network.client_counters[c]);
  };
  std::printf(
      "[%s] completion %.0f ms, reinjected %lu B (head-of-line %lu, stale %lu, silent %lu, "
      "data-level RTOs %lu), longest stall %.0f ms ending at %.0f ms, per path %s\n",
      ::testing::UnitTest::GetInstance()->current_test_info()->name(), Ms(r.completion),
      static_cast<unsigned long>(r.stats.client_mptcp.info->bytes_reinjected),
      count(MptcpCounter::kHolReinjections), count(MptcpCounter::kSubflowStale),
      count(MptcpCounter::kSubflowSilent), count(MptcpCounter::kRetransmits),
      Ms(r.stats.flow.max_gap), Ms(r.stats.flow.max_gap_end->time_since_epoch()),
      Join(BytesPerPath(r.stats.client_mptcp, paths.size())).c_str());
  return r;
}

TEST(MptcpSimReinjection, BlackholedPathMidTransfer) {
  const SocketBulkResult r = RunBlackhole({PathLink(10'000'000, 20ms), PathLink(10'000'000, 40ms)},
                                          "roundrobin", 1s, 4 << 20);
  const mptcp::MptcpInfo& info = *r.stats.client_mptcp.info;
  const std::vector<uint64_t> per_path = BytesPerPath(r.stats.client_mptcp, 2);
  EXPECT_GT(info.bytes_reinjected, 0u);
  EXPECT_EQ(info.bytes_reinjected, r.network.client_counters[MptcpCounter::kReinjectedBytes]);
  EXPECT_GE(r.network.client_counters[MptcpCounter::kSubflowStale], 1u);
  // Found silent while it held the head of line, before its first RTO.
  EXPECT_GE(r.network.client_counters[MptcpCounter::kSubflowSilent], 1u);
  EXPECT_EQ(r.network.client_counters[MptcpCounter::kRetransmits], 0u);  // no data-level RTO
  // Path 1 carried data before the blackhole, path 0 finished the transfer.
  EXPECT_GT(per_path[1], 0u);
  EXPECT_GT(per_path[0], 2u << 20);
  EXPECT_LT(r.stats.flow.max_gap, 250ms);
}

// Three equal paths, one blackholed: what the silent subflow held goes again over the two others,
// split between them as their windows open, and nothing waits for the data-level RTO (200 ms at
// least, doubling): the receiver's longest stall stays within a few RTTs of the paths.
TEST(MptcpSimReinjection, BlackholedPathOfThreeIsReinjectedOverTheOtherTwo) {
  const SocketBulkResult r = RunBlackhole(
      {PathLink(10'000'000, 20ms), PathLink(10'000'000, 20ms), PathLink(10'000'000, 20ms)},
      "default", 1500ms, 8 << 20);
  EXPECT_GE(r.network.client_counters[MptcpCounter::kSubflowSilent], 1u);
  EXPECT_GT(r.stats.client_mptcp.info->bytes_reinjected, 0u);
  EXPECT_EQ(r.network.client_counters[MptcpCounter::kRetransmits], 0u);
  EXPECT_LT(r.stats.flow.max_gap, 200ms);
}

// ---- Path managers
// -------------------------------------------------------------------------------

// The (local, remote) address pairs of the client's subflows, as "c<path>>s<path>".
std::set<std::string> Pairs(const MptcpSnapshot& snap) {
  std::set<std::string> out;
  for (const mptcp::SubflowInfo& sf : snap.subflows) {
    std::string pair;
    for (size_t p = 0; p < 4; ++p) {
      if (sf.local_address == MptcpNetwork::ClientAddress(p)) pair += "c" + std::to_string(p);
    }
    for (size_t p = 0; p < 4; ++p) {
      if (sf.remote_address == MptcpNetwork::ServerAddress(p)) pair += ">s" + std::to_string(p);
    }
    out.insert(pair);
  }
  return out;
}

std::vector<LinkConfig> EqualPaths(size_t n) {
  return std::vector<LinkConfig>(n, PathLink(10'000'000, 20ms));
}

SocketBulkResult RunPm(const Hosts& setup, uint64_t bytes = 2 << 20,
                       std::vector<ClientAction> actions = {}) {
  auto net = Build(setup);
  SocketBulkRun run;
  run.bytes = bytes;
  run.actions = std::move(actions);
  SocketBulkResult r = RunSocketBulk(*net, run);
  ExpectByteExact(r, bytes);
  std::string pairs;
  for (const std::string& p : Pairs(r.stats.client_mptcp)) pairs += " " + p;
  std::string sent;
  for (uint64_t b : r.stats.client_mptcp.SubflowBytesSent()) sent += " " + std::to_string(b);
  std::printf("[%s] %s: subflows%s, bytes%s, subflows_opened %lu\n",
              ::testing::UnitTest::GetInstance()->current_test_info()->name(),
              setup.client.path_manager.policy.c_str(), pairs.c_str(), sent.c_str(),
              static_cast<unsigned long>(r.network.client_counters[MptcpCounter::kSubflowsOpened]));
  return r;
}

void ExpectEverySubflowCarried(const SocketBulkResult& r) {
  for (const mptcp::SubflowInfo& sf : r.stats.client_mptcp.subflows) {
    EXPECT_GT(sf.bytes_sent, 0u) << "subflow " << sf.id;
  }
}

TEST(MptcpSimPathManager, KernelSubflowEndpointsWithinTheLimit) {
  Hosts one = SubflowPerPath(EqualPaths(3), "default");
  one.client.path_manager.limits.subflows = 1;
  const SocketBulkResult r1 = RunPm(one);
  // The first endpoint in order gets the one extra subflow.
  EXPECT_EQ(Pairs(r1.stats.client_mptcp), (std::set<std::string>{"c0>s0", "c1>s0"}));
  EXPECT_EQ(r1.network.client_counters[MptcpCounter::kSubflowsOpened], 1u);

  const SocketBulkResult r2 = RunPm(SubflowPerPath(EqualPaths(3), "default"));
  EXPECT_EQ(Pairs(r2.stats.client_mptcp), (std::set<std::string>{"c0>s0", "c1>s0", "c2>s0"}));
  EXPECT_EQ(r2.network.client_counters[MptcpCounter::kSubflowsOpened], 2u);
  EXPECT_EQ(r2.network.server_counters[MptcpCounter::kJoinAckRx], 2u);
  ExpectEverySubflowCarried(r2);
}

Hosts SignalSetup(uint32_t add_addr_accepted) {
  Hosts s;
  s.paths = EqualPaths(3);
  for (size_t p = 1; p < 3; ++p) {
    mptcp::Endpoint e = MptcpNetwork::ServerEndpoint(p);
    e.signal = true;
    s.server.path_manager.endpoints.push_back(e);
  }
  s.server.path_manager.limits.subflows = 2;
  s.client.path_manager.limits = {.subflows = 2, .add_addr_accepted = add_addr_accepted};
  s.client.send_buffer = 1 << 20;
  return s;
}

TEST(MptcpSimPathManager, KernelSignalEndpointsAnnouncedAndJoined) {
  const SocketBulkResult r = RunPm(SignalSetup(2));
  EXPECT_EQ(r.network.server_counters[MptcpCounter::kEchoAddRx], 2u);
  EXPECT_GE(r.network.client_counters[MptcpCounter::kAddAddrRx], 2u);
  // The route to each announced address picks the client's address on the same path.
  EXPECT_EQ(Pairs(r.stats.client_mptcp), (std::set<std::string>{"c0>s0", "c1>s1", "c2>s2"}));
  ExpectEverySubflowCarried(r);

  // Linux's default add_addr_accepted of 0: announcements are echoed, never joined.
  const SocketBulkResult none = RunPm(SignalSetup(0));
  EXPECT_EQ(none.network.server_counters[MptcpCounter::kEchoAddRx], 2u);
  EXPECT_EQ(Pairs(none.stats.client_mptcp), (std::set<std::string>{"c0>s0"}));
  EXPECT_EQ(none.network.client_counters[MptcpCounter::kJoinSynTx], 0u);
}

TEST(MptcpSimPathManager, KernelFullmeshReachesEveryPeerAddressFromEveryEndpoint) {
  Hosts s;
  s.paths = EqualPaths(2);
  for (size_t p = 0; p < 2; ++p) {
    mptcp::Endpoint e = MptcpNetwork::ClientEndpoint(p);
    e.subflow = true;
    e.fullmesh = true;
    s.client.path_manager.endpoints.push_back(e);
  }
  mptcp::Endpoint announced = MptcpNetwork::ServerEndpoint(1);
  announced.signal = true;
  s.server.path_manager.endpoints = {announced};
  s.client.path_manager.limits = {.subflows = 3, .add_addr_accepted = 1};
  s.server.path_manager.limits.subflows = 3;
  s.client.send_buffer = 1 << 20;
  const SocketBulkResult r = RunPm(s);
  EXPECT_EQ(Pairs(r.stats.client_mptcp),
            (std::set<std::string>{"c0>s0", "c1>s0", "c0>s1", "c1>s1"}));
  ExpectEverySubflowCarried(r);
}

TEST(MptcpSimPathManager, NdiffportsOpensSubflowsFromDifferentPorts) {
  Hosts s;
  s.paths = EqualPaths(1);
  s.client.path_manager.policy = "ndiffports";
  s.client.path_manager.ndiffports = 3;
  s.server.path_manager.limits.subflows = 2;
  s.client.send_buffer = 1 << 20;
  const SocketBulkResult r = RunPm(s);
  const std::vector<mptcp::SubflowInfo>& subflows = r.stats.client_mptcp.subflows;
  ASSERT_EQ(subflows.size(), 3u);
  std::set<uint16_t> ports;
  for (const mptcp::SubflowInfo& sf : subflows) {
    EXPECT_EQ(sf.local_address, MptcpNetwork::ClientAddress(0));
    EXPECT_EQ(sf.remote_address, MptcpNetwork::ServerAddress(0));
    EXPECT_EQ(sf.remote_port, 5001);
    ports.insert(sf.local_port);
  }
  EXPECT_EQ(ports.size(), 3u);
  ExpectEverySubflowCarried(r);
}

TEST(MptcpSimPathManager, UserspaceOpensOnlyWhatTheControllerAsks) {
  Hosts s;
  s.paths = EqualPaths(2);
  s.client.path_manager.policy = "userspace";
  s.client.path_manager.limits.subflows = 2;
  s.client.send_buffer = 1 << 20;
  const SocketBulkResult alone = RunPm(s);
  EXPECT_EQ(Pairs(alone.stats.client_mptcp), (std::set<std::string>{"c0>s0"}));
  EXPECT_EQ(alone.network.client_counters[MptcpCounter::kJoinSynTx], 0u);

  bool opened = false;
  const ClientAction open_path1{
      .after = 300ms, .call = [&opened](MptcpNetwork& net, tcp::SocketId socket) {
        mptcp::PmConnection* pm = net.client().mptcp().PathControl(socket);
        ASSERT_NE(pm, nullptr);
        opened = pm->OpenSubflow({.local = MptcpNetwork::ClientEndpoint(1),
                                  .remote = MptcpNetwork::ServerAddress(0),
                                  .remote_port = 5001,
                                  .remote_id = 0,
                                  .backup = false});
      }};
  const SocketBulkResult driven = RunPm(s, 2 << 20, {open_path1});
  EXPECT_TRUE(opened);
  EXPECT_EQ(Pairs(driven.stats.client_mptcp), (std::set<std::string>{"c0>s0", "c1>s0"}));
  EXPECT_EQ(driven.network.client_counters[MptcpCounter::kSubflowsOpened], 1u);
  ExpectEverySubflowCarried(driven);
}

TEST(MptcpSimPathManager, SubflowRecreatedAfterItsPathCameBack) {
  Hosts s = SubflowPerPath({PathLink(10'000'000, 20ms), PathLink(10'000'000, 40ms)}, "default");
  // Room on the server for the new subflow: it still counts the old one, which it cannot tell is
  // gone (it has nothing to send on it, so nothing times out there).
  s.server.path_manager.limits.subflows = 2;
  auto net = Build(s);
  // Path 1 fails at 0.5 s and comes back at 5 s. Its subflow closes as the path goes down (its
  // data goes to path 0 at once), and the path manager opens it again once the path is up.
  net->SetPathState(1, SimTime(500ms), LinkState::kDown);
  net->SetPathState(1, SimTime(5s), LinkState::kUp);
  SocketBulkRun run;
  run.bytes = 10 << 20;
  run.tcp.max_retransmits = 3;
  const SocketBulkResult r = RunSocketBulk(*net, run);
  ExpectByteExact(r, run.bytes);
  const std::vector<mptcp::SubflowInfo>& subflows = r.stats.client_mptcp.subflows;
  std::string line;
  for (const mptcp::SubflowInfo& sf : subflows) {
    line += " #" + std::to_string(sf.id) + " " + wire::ToString(sf.local_address) + ":" +
            std::to_string(sf.local_port) + " " + std::string(mptcp::SubflowStateName(sf.state)) +
            " " + std::to_string(sf.bytes_sent);
  }
  std::printf("[recreate] completion %.0f ms, subflows_opened %lu, subflows:%s\n", Ms(r.completion),
              static_cast<unsigned long>(r.network.client_counters[MptcpCounter::kSubflowsOpened]),
              line.c_str());
  EXPECT_GE(r.network.client_counters[MptcpCounter::kSubflowsOpened], 2u);
  EXPECT_EQ(r.network.client_counters[MptcpCounter::kSubflowsPathDown], 1u);
  // The newest subflow is the re-created one on path 1, and it carried data.
  ASSERT_GE(subflows.size(), 3u);
  const mptcp::SubflowInfo& last = subflows.back();
  EXPECT_EQ(last.local_address, MptcpNetwork::ClientAddress(1));
  EXPECT_GT(last.bytes_sent, 0u);
}

// ---- Coupled congestion control
// ------------------------------------------------------------------

struct Share {
  uint64_t mptcp = 0;
  uint64_t tcp = 0;
};

// One 20 Mbit/s, 20 ms bottleneck: an MPTCP connection with two subflows over it (ndiffports)
// with `mptcp_cc`, and a plain TCP connection with `tcp_cc` from the same hosts, both sending for
// 30 s. Returns the bytes each delivered.
Share RunBottleneck(const std::string& mptcp_cc, const std::string& tcp_cc) {
  Hosts s;
  s.paths = {PathLink(20'000'000, 20ms)};
  s.client.path_manager.policy = "ndiffports";
  s.client.path_manager.ndiffports = 2;
  s.server.path_manager.limits.subflows = 1;
  auto net = Build(s);
  constexpr uint64_t kEndless = uint64_t{1} << 40;
  SocketFlowConfig mp;
  mp.server = MptcpNetwork::ServerAddress(0);
  mp.server_port = 5001;
  mp.client_config.congestion_control = mptcp_cc;
  mp.server_config.congestion_control = mptcp_cc;
  mp.client_mptcp = &net->client().mptcp();
  SocketFlowConfig tcp = mp;
  tcp.server_port = 5002;
  tcp.client_config.congestion_control = tcp_cc;
  tcp.server_config.congestion_control = tcp_cc;
  tcp.client_mptcp = nullptr;
  tcp.seed = 2;
  SocketBulkStats mp_stats, tcp_stats;
  BulkSocketSender mp_sender(mp, kEndless, net->client().sockets(), mp_stats);
  BulkSocketReceiver mp_receiver(mp, net->server().sockets(), mp_stats);
  BulkSocketSender tcp_sender(tcp, kEndless, net->client().tcp_sockets(), tcp_stats);
  BulkSocketReceiver tcp_receiver(tcp, net->server().tcp_sockets(), tcp_stats);
  EXPECT_TRUE(mp_receiver.Listen().ok());
  EXPECT_TRUE(tcp_receiver.Listen().ok());
  for (SocketApp* app : std::initializer_list<SocketApp*>{&mp_sender, &tcp_sender}) {
    net->client().AddApp(app);
  }
  net->server().AddApp(&mp_receiver);
  net->server().AddApp(&tcp_receiver);
  // Shares settle after the first few seconds of slow start and loss; count what comes after.
  net->sim().Run(SimTime(5s));
  const Share start{mp_stats.flow.bytes_received, tcp_stats.flow.bytes_received};
  net->sim().Run(SimTime(30s));
  const Share share{mp_stats.flow.bytes_received - start.mptcp,
                    tcp_stats.flow.bytes_received - start.tcp};
  const size_t subflows = net->client().mptcp().SubflowsOf(mp_sender.socket()).size();
  std::printf(
      "[coupled cc] MPTCP (%s, %zu subflows) %.2f Mbit/s vs TCP (%s) %.2f Mbit/s: "
      "MPTCP/TCP = %.2f\n",
      mptcp_cc.c_str(), subflows, static_cast<double>(share.mptcp) * 8 / 25e6, tcp_cc.c_str(),
      static_cast<double>(share.tcp) * 8 / 25e6,
      static_cast<double>(share.mptcp) / static_cast<double>(share.tcp));
  EXPECT_EQ(subflows, 2u);
  for (SocketApp* app : std::initializer_list<SocketApp*>{&mp_sender, &tcp_sender}) {
    net->client().RemoveApp(app);
  }
  net->server().RemoveApp(&mp_receiver);
  net->server().RemoveApp(&tcp_receiver);
  return share;
}

// RFC 6356 §2 goal 2: a multipath flow takes no more than one TCP flow would on the best path.
// LIA is NewReno coupled, so the TCP flow beside it runs NewReno; 25 % of slack for a 25 s sample.
TEST(MptcpSimCoupledCc, LiaTakesNoMoreThanAboutOneTcpFlow) {
  const Share lia = RunBottleneck("lia", "newreno");
  EXPECT_LE(lia.mptcp, lia.tcp * 5 / 4);
}

// Uncoupled subflows compete as two TCP flows: two CUBIC subflows should take about twice what
// one CUBIC flow takes. MPTCP/TCP is 1.92 here; it was 1.58 while every segment repeated its DSS
// mapping (28 bytes less payload per packet than the TCP flow's, 8 since), and 1.01 when this
// test was written and skipped.
TEST(MptcpSimCoupledCc, UncoupledCubicSubflowsTakeMore) {
  const Share cubic = RunBottleneck("cubic", "cubic");
  EXPECT_GT(cubic.mptcp, cubic.tcp * 3 / 2);
}

// ---- Determinism
// ---------------------------------------------------------------------------------

TEST(MptcpSimDeterminism, SameSeedSameRun) {
  // MPTCP keys and nonces come from the system's CSPRNG, so the bytes on the wire differ between
  // runs; nothing that decides timing depends on them, and every figure repeats.
  const SocketBulkResult a = RunSocketBulk(*Build(SubflowPerPath(ThreePaths(), "roundrobin")), {});
  const SocketBulkResult b = RunSocketBulk(*Build(SubflowPerPath(ThreePaths(), "roundrobin")), {});
  EXPECT_TRUE(a.complete);
  EXPECT_EQ(a.completion, b.completion);
  EXPECT_EQ(a.stats.client_mptcp.SubflowBytesSent(), b.stats.client_mptcp.SubflowBytesSent());
  EXPECT_EQ(a.network.peak_out_of_order, b.network.peak_out_of_order);
  EXPECT_EQ(a.network.client_counters.values, b.network.client_counters.values);
  for (size_t p = 0; p < a.network.forward.size(); ++p) {
    EXPECT_EQ(a.network.forward[p].delivered_bytes, b.network.forward[p].delivered_bytes);
  }
}

}  // namespace
}  // namespace braid::sim
