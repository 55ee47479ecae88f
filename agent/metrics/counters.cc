#include "agent/metrics/counters.h"

#include <time.h>

#include <array>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <set>

namespace braid::agent::metrics {
namespace {

using Source = CounterSource;

constexpr CatalogEntry Counter(std::string_view subsystem, std::string_view name,
                               std::string_view help, Source source, std::string_view list) {
  return {.subsystem = subsystem, .name = name, .help = help, .source = source, .list = list};
}

constexpr CatalogEntry Reason(std::string_view subsystem, std::string_view name,
                              std::string_view help, std::string_view reason,
                              std::string_view reason_help, Source source, std::string_view list) {
  return {.subsystem = subsystem,
          .name = name,
          .reason = reason,
          .help = help,
          .reason_help = reason_help,
          .source = source,
          .list = list};
}

// --- net ---------------------------------------------------------------------------------------
constexpr std::string_view kNetMibList = "datapath/net/net_mib.def";
constexpr CatalogEntry kNetMib[] = {
#define BRAID_NET_COUNTER(e, metric, help) \
  Counter("net", metric, help, Source::kWorker, kNetMibList),
#include "datapath/net/net_mib.def"
#undef BRAID_NET_COUNTER
};
static_assert(std::size(kNetMib) == net::kNetCounterCount);

constexpr std::string_view kNetDropList = "datapath/net/net_drop.def";
constexpr std::string_view kNetDropHelp =
    "received frames and outgoing segments or frames the net layer dropped, by reason";
constexpr CatalogEntry kNetDrops[] = {
#define BRAID_NET_DROP(e, metric, desc) \
  Reason("net", "drops", kNetDropHelp, metric, desc, Source::kWorker, kNetDropList),
#include "datapath/net/net_drop.def"
#undef BRAID_NET_DROP
};
static_assert(std::size(kNetDrops) == net::kNetDropCount);

// --- io ----------------------------------------------------------------------------------------
constexpr std::string_view kIoMibList = "datapath/io/io_mib.def";
constexpr CatalogEntry kIoMib[] = {
#define BRAID_IO_COUNTER(e, metric, help) Counter("io", metric, help, Source::kWorker, kIoMibList),
#include "datapath/io/io_mib.def"
#undef BRAID_IO_COUNTER
};
static_assert(std::size(kIoMib) == io::kIoCounterCount);

// io_drop.def names its family braid_io_dropped_total.
constexpr std::string_view kIoDropList = "datapath/io/io_drop.def";
constexpr std::string_view kIoDropHelp = "frames the io layer dropped (and freed), by reason";
constexpr CatalogEntry kIoDrops[] = {
#define BRAID_IO_DROP(e, metric, desc) \
  Reason("io", "dropped", kIoDropHelp, metric, desc, Source::kWorker, kIoDropList),
#include "datapath/io/io_drop.def"
#undef BRAID_IO_DROP
};
static_assert(std::size(kIoDrops) == io::kIoDropCount);

// --- tcp ---------------------------------------------------------------------------------------
constexpr std::string_view kBackendList = "datapath/tcp/native_backend_mib.def";
constexpr CatalogEntry kBackend[] = {
#define BRAID_TCP_BACKEND_COUNTER(e, metric, help) \
  Counter("tcp", metric, help, Source::kWorker, kBackendList),
#include "datapath/tcp/native_backend_mib.def"
#undef BRAID_TCP_BACKEND_COUNTER
};
static_assert(std::size(kBackend) == tcp::kBackendCounterCount);

// TcpSocketsCounters is a plain struct without an X-macro list: this one is its list. The
// static_assert below notices a field added to the struct and not here.
#define BRAID_TCP_SOCKETS_COUNTERS(X)                                            \
  X(connects, "sockets_connects", "Connect calls that sent a SYN")               \
  X(connect_failures, "sockets_connect_failures",                                \
    "Connect calls refused before a SYN (no route, no port, table full)")        \
  X(accepted, "sockets_accepted", "connections accepted on a listener")          \
  X(closed, "sockets_closed", "sockets closed")                                  \
  X(errors, "sockets_errors", "errors reported to a socket's handler (OnError)") \
  X(pmtu_events, "sockets_pmtu_events",                                          \
    "ICMP fragmentation-needed / packet-too-big reports for our flows")          \
  X(icmp_errors, "sockets_icmp_errors", "other ICMP errors quoting our flows")   \
  X(events_unclaimed, "sockets_events_unclaimed",                                \
    "engine events for a socket with no handler (none expected)")

constexpr std::string_view kTcpSocketsList = "datapath/runtime/tcp_sockets.h TcpSocketsCounters";
constexpr CatalogEntry kTcpSockets[] = {
#define BRAID_ENTRY(field, metric, help) \
  Counter("tcp", metric, help, Source::kWorker, kTcpSocketsList),
    BRAID_TCP_SOCKETS_COUNTERS(BRAID_ENTRY)
#undef BRAID_ENTRY
};
constexpr uint64_t runtime::TcpSocketsCounters::*kTcpSocketsFields[] = {
#define BRAID_FIELD(field, metric, help) &runtime::TcpSocketsCounters::field,
    BRAID_TCP_SOCKETS_COUNTERS(BRAID_FIELD)
#undef BRAID_FIELD
};
static_assert(sizeof(runtime::TcpSocketsCounters) == std::size(kTcpSockets) * sizeof(uint64_t),
              "TcpSocketsCounters has a field BRAID_TCP_SOCKETS_COUNTERS does not list");

// Gauges of the worker's TCP tables.
enum class TcpGauge : uint8_t { kConnections, kTimeWait, kOpenSockets, kCount };
constexpr std::string_view kTcpGaugeList =
    "datapath/tcp/native_backend.h, datapath/runtime/tcp_sockets.h (table sizes)";
constexpr CatalogEntry kTcpGauges[] = {
    {.subsystem = "tcp",
     .name = "connections",
     .help = "connections in the engine's table (any state but TIME-WAIT)",
     .type = MetricType::kGauge,
     .list = kTcpGaugeList},
    {.subsystem = "tcp",
     .name = "time_wait_connections",
     .help = "compact TIME-WAIT entries",
     .type = MetricType::kGauge,
     .list = kTcpGaugeList},
    {.subsystem = "tcp",
     .name = "sockets_open",
     .help = "sockets the socket layer tracks a handler for",
     .type = MetricType::kGauge,
     .list = kTcpGaugeList},
};
static_assert(std::size(kTcpGauges) == static_cast<size_t>(TcpGauge::kCount));

constexpr std::string_view kConnectionList = "datapath/tcp/tcp_mib.def";
constexpr CatalogEntry kConnection[] = {
#define BRAID_TCP_COUNTER(e, metric, help) \
  Counter("tcp", "connection_" metric, help, Source::kConnection, kConnectionList),
#include "datapath/tcp/tcp_mib.def"
#undef BRAID_TCP_COUNTER
};
static_assert(std::size(kConnection) == tcp::kTcpCounterCount);

constexpr std::string_view kListenerList = "datapath/tcp/listener_mib.def";
constexpr CatalogEntry kListener[] = {
#define BRAID_TCP_LISTENER_COUNTER(e, metric, help) \
  Counter("tcp", "listener_" metric, help, Source::kListener, kListenerList),
#include "datapath/tcp/listener_mib.def"
#undef BRAID_TCP_LISTENER_COUNTER
};
static_assert(std::size(kListener) == tcp::kListenerCounterCount);

constexpr std::string_view kSackList = "datapath/tcp/sack_block_drop.def";
constexpr std::string_view kSackHelp =
    "SACK blocks of incoming ACKs the retransmission queue ignored, wholly or in part, by reason";
constexpr CatalogEntry kSackDrops[] = {
#define BRAID_SACK_BLOCK_DROP(e, metric, desc) \
  Reason("tcp", "sack_block_drops", kSackHelp, metric, desc, Source::kConnection, kSackList),
#include "datapath/tcp/sack_block_drop.def"
#undef BRAID_SACK_BLOCK_DROP
};
static_assert(std::size(kSackDrops) == static_cast<size_t>(tcp::SackBlockDrop::kCount));

constexpr std::string_view kTcpOptionList = "datapath/wire/tcp_option_drop.def";
constexpr std::string_view kTcpOptionHelp =
    "TCP options ignored (or, for window_scale_too_large, clamped) while parsing, by reason";
constexpr CatalogEntry kTcpOptionDrops[] = {
#define BRAID_TCP_OPTION_DROP(e, metric, desc) \
  Reason("tcp", "option_drops", kTcpOptionHelp, metric, desc, Source::kParse, kTcpOptionList),
#include "datapath/wire/tcp_option_drop.def"
#undef BRAID_TCP_OPTION_DROP
};
static_assert(std::size(kTcpOptionDrops) == static_cast<size_t>(wire::TcpOptionDrop::kCount));

// --- mptcp -------------------------------------------------------------------------------------
constexpr std::string_view kMptcpList = "datapath/mptcp/mib.def";
constexpr CatalogEntry kMptcp[] = {
#define BRAID_MPTCP_COUNTER(e, metric, help) \
  Counter("mptcp", metric, help, Source::kWorker, kMptcpList),
#include "datapath/mptcp/mib.def"
#undef BRAID_MPTCP_COUNTER
};
static_assert(std::size(kMptcp) == mptcp::kMptcpCounterCount);

constexpr std::string_view kMptcpOptionList = "datapath/wire/mptcp_option_drop.def";
constexpr std::string_view kMptcpOptionHelp =
    "MPTCP options ignored while parsing (RFC 8684 §3: a malformed option is never trusted), "
    "by reason";
constexpr CatalogEntry kMptcpOptionDrops[] = {
#define BRAID_MPTCP_OPTION_DROP(e, metric, desc) \
  Reason("mptcp", "option_drops", kMptcpOptionHelp, metric, desc, Source::kParse, kMptcpOptionList),
#include "datapath/wire/mptcp_option_drop.def"
#undef BRAID_MPTCP_OPTION_DROP
};
static_assert(std::size(kMptcpOptionDrops) == wire::kMptcpOptionDropCount);

// --- channel -----------------------------------------------------------------------------------
constexpr std::string_view kServiceList = "datapath/channel/service/service_counters.def";
constexpr CatalogEntry kService[] = {
#define BRAID_CHANNEL_COUNTER(e, metric, help) \
  Counter("channel", metric, help, Source::kService, kServiceList),
#include "datapath/channel/service/service_counters.def"
#undef BRAID_CHANNEL_COUNTER
};
static_assert(std::size(kService) == channel::kServiceCounterCount);

// --- timer -------------------------------------------------------------------------------------
constexpr std::string_view kTimerList = "datapath/runtime/timer_wheel.h BRAID_TIMER_WHEEL_COUNTERS";
constexpr CatalogEntry kTimer[] = {
#define BRAID_ENTRY(e, metric, help) \
  Counter("timer", metric, help, Source::kTimerWheel, kTimerList),
    BRAID_TIMER_WHEEL_COUNTERS(BRAID_ENTRY)
#undef BRAID_ENTRY
};
static_assert(std::size(kTimer) == runtime::kTimerWheelCounterCount);

// --- worker ------------------------------------------------------------------------------------
// WorkerStats and IdleStats have no X-macro list: this is theirs. The static_asserts notice a
// field added to either struct. Left out on purpose: WorkerStats::run_time (set only when Run
// returns) and IdleStats' iteration counts (WorkerStats has them).
static_assert(sizeof(runtime::WorkerStats) == 8 * sizeof(uint64_t),
              "WorkerStats changed: update kWorker and CollectWorkerStats");
static_assert(sizeof(runtime::IdleStats) == 7 * sizeof(uint64_t),
              "IdleStats changed: update kWorker and CollectWorkerStats");

enum class WorkerMetric : uint8_t {
  kIterations,
  kBusyIterations,
  kRxFrames,
  kTxFrames,
  kTimersFired,
  kLinkChanges,
  kCpuSeconds,
  kBusyRatio,
  kSleeps,
  kSleepSeconds,
  kSleepsWoken,
  kSleepsSkipped,
  kCount,
};
constexpr double kNanosecondsToSeconds = 1e-9;
// busy_ratio is carried in parts per million.
constexpr double kPpmToRatio = 1e-6;
constexpr std::string_view kWorkerList =
    "datapath/runtime/worker.h WorkerStats, idle_policy.h IdleStats";
constexpr CatalogEntry kWorker[] = {
    Counter("worker", "iterations", "loop iterations", Source::kWorker, kWorkerList),
    Counter("worker", "busy_iterations", "loop iterations that received, sent or fired something",
            Source::kWorker, kWorkerList),
    Counter("worker", "rx_frames",
            "frames handed to the net layer (device queues and handoff ring)", Source::kWorker,
            kWorkerList),
    Counter("worker", "tx_frames", "frames the devices took", Source::kWorker, kWorkerList),
    Counter("worker", "timers_fired", "timers fired (engines' and apps')", Source::kWorker,
            kWorkerList),
    Counter("worker", "link_changes",
            "path links that went down or came back, as the worker saw them (its interfaces and "
            "MPTCP followed)",
            Source::kWorker, kWorkerList),
    {.subsystem = "worker",
     .name = "cpu_seconds",
     .help = "CPU time (user + system) of the worker's thread",
     .scale = kNanosecondsToSeconds,
     .list = kWorkerList},
    {.subsystem = "worker",
     .name = "busy_ratio",
     .help = "busy iterations over all iterations since the worker started",
     .type = MetricType::kGauge,
     .scale = kPpmToRatio,
     .list = kWorkerList},
    Counter("worker", "sleeps", "idle sleeps taken", Source::kWorker, kWorkerList),
    {.subsystem = "worker",
     .name = "sleep_seconds",
     .help = "time spent in idle sleeps",
     .scale = kNanosecondsToSeconds,
     .list = kWorkerList},
    Counter("worker", "sleeps_woken", "idle sleeps ended early by an app's doorbell or connection",
            Source::kWorker, kWorkerList),
    Counter("worker", "sleeps_skipped", "idle sleeps called off: work found on the re-check",
            Source::kWorker, kWorkerList),
};
static_assert(std::size(kWorker) == static_cast<size_t>(WorkerMetric::kCount));

// --- wire --------------------------------------------------------------------------------------
constexpr std::string_view kWireErrorList = "datapath/wire/error.def";
constexpr std::string_view kWireErrorHelp = "headers or options the codecs rejected, by reason";
constexpr CatalogEntry kWireErrors[] = {
#define BRAID_WIRE_ERROR(e, metric, desc) \
  Reason("wire", "errors", kWireErrorHelp, metric, desc, Source::kNotCounted, kWireErrorList),
#include "datapath/wire/error.def"
#undef BRAID_WIRE_ERROR
};
// WireError's kNone is no error, and no entry.
static_assert(std::size(kWireErrors) == static_cast<size_t>(wire::WireError::kCount) - 1);

// Every list, in the order of the reference.
constexpr std::span<const CatalogEntry> kLists[] = {
    kNetMib,           kNetDrops,   kIoMib,    kIoDrops,   kBackend,        kTcpSockets,
    kTcpGauges,        kConnection, kListener, kSackDrops, kTcpOptionDrops, kMptcp,
    kMptcpOptionDrops, kService,    kTimer,    kWorker,    kWireErrors,
};

template <typename Values>
void AppendList(std::span<const CatalogEntry> list, const Values& values,
                std::vector<CounterSample>& out) {
  for (size_t i = 0; i < list.size(); ++i) out.push_back(list[i].Sample(values[i]));
}

uint64_t Nanoseconds(tcp::Duration d) {
  return d.count() > 0 ? static_cast<uint64_t>(d.count()) : 0;
}

tcp::Duration ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return tcp::Duration(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
}

std::string EscapeCell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

void AppendRow(std::string& out, std::initializer_list<std::string> cells) {
  for (const std::string& cell : cells) {
    out += "| ";
    out += cell;
    out += ' ';
  }
  out += "|\n";
}

// The "kept in" column of the reference; only the exported ones reach /metrics.
std::string_view SourceWhere(CounterSource source) {
  switch (source) {
    case CounterSource::kWorker:
      return "worker: exported";
    case CounterSource::kService:
      return "channel service: exported";
    case CounterSource::kConnection:
      return "each connection";
    case CounterSource::kListener:
      return "each listener";
    case CounterSource::kParse:
      return "each option parse";
    case CounterSource::kTimerWheel:
      return "timer wheel (private)";
    case CounterSource::kNotCounted:
      return "not counted";
  }
  return "";
}

}  // namespace

std::string_view MetricTypeName(MetricType type) {
  return type == MetricType::kGauge ? "gauge" : "counter";
}

std::string_view CounterSourceName(CounterSource source) {
  switch (source) {
    case CounterSource::kWorker:
      return "worker";
    case CounterSource::kService:
      return "service";
    case CounterSource::kConnection:
      return "connection";
    case CounterSource::kListener:
      return "listener";
    case CounterSource::kParse:
      return "parse";
    case CounterSource::kTimerWheel:
      return "timer_wheel";
    case CounterSource::kNotCounted:
      return "not_counted";
  }
  return "unknown";
}

std::string MetricName(std::string_view subsystem, std::string_view name, MetricType type) {
  std::string out = "braid_";
  out += subsystem;
  out += '_';
  out += name;
  if (type == MetricType::kCounter) out += "_total";
  return out;
}

std::string MetricName(const CounterSample& sample) {
  return MetricName(sample.subsystem, sample.name, sample.type);
}

std::span<const CatalogEntry> Catalog() {
  static const std::vector<CatalogEntry>* const catalog = [] {
    auto* all = new std::vector<CatalogEntry>();
    for (std::span<const CatalogEntry> list : kLists)
      all->insert(all->end(), list.begin(), list.end());
    return all;
  }();
  return *catalog;
}

std::string CatalogMarkdown() {
  std::string out =
      "| metric | type | labels | kept in | list | help |\n"
      "|---|---|---|---|---|---|\n";
  std::set<std::string> seen;
  for (const CatalogEntry& e : Catalog()) {
    std::string metric = MetricName(e.subsystem, e.name, e.type);
    if (!seen.insert(metric).second) continue;
    const bool exported = e.source == CounterSource::kWorker || e.source == CounterSource::kService;
    std::string labels = exported ? "`worker`" : "";
    if (!e.reason.empty()) labels += labels.empty() ? "`reason`" : ", `reason`";
    AppendRow(out, {"`" + metric + "`", std::string(MetricTypeName(e.type)), labels,
                    std::string(SourceWhere(e.source)), "`" + std::string(e.list) + "`",
                    EscapeCell(e.help)});
  }
  std::string current;
  for (const CatalogEntry& e : Catalog()) {
    if (e.reason.empty()) continue;
    std::string metric = MetricName(e.subsystem, e.name, e.type);
    if (metric != current) {
      current = metric;
      out += "\n### `" + metric + "` reasons\n\n| reason | meaning |\n|---|---|\n";
    }
    AppendRow(out, {"`" + std::string(e.reason) + "`", EscapeCell(e.reason_help)});
  }
  return out;
}

void CollectNetCounters(const net::NetCounters& counters, std::vector<CounterSample>& out) {
  AppendList(kNetMib, counters.values, out);
  AppendList(kNetDrops, counters.drops, out);
}

void CollectIoCounters(const io::IoCounters& counters, std::vector<CounterSample>& out) {
  AppendList(kIoMib, counters.values, out);
  AppendList(kIoDrops, counters.drops, out);
}

void CollectBackendCounters(const tcp::BackendCounters& counters, std::vector<CounterSample>& out) {
  AppendList(kBackend, counters.values, out);
}

void CollectTcpSocketsCounters(const runtime::TcpSocketsCounters& counters,
                               std::vector<CounterSample>& out) {
  for (size_t i = 0; i < std::size(kTcpSockets); ++i) {
    out.push_back(kTcpSockets[i].Sample(counters.*kTcpSocketsFields[i]));
  }
}

void CollectMptcpCounters(const mptcp::MptcpCounters& counters, std::vector<CounterSample>& out) {
  AppendList(kMptcp, counters.values, out);
}

void CollectConnectionCounters(const tcp::TcpCounters& counters, std::vector<CounterSample>& out) {
  AppendList(kConnection, counters.values, out);
}

void CollectListenerCounters(const tcp::ListenerCounters& counters,
                             std::vector<CounterSample>& out) {
  AppendList(kListener, counters.values, out);
}

void CollectSackBlockDrops(const tcp::SackBlockDrops& drops, std::vector<CounterSample>& out) {
  for (size_t i = 0; i < std::size(kSackDrops); ++i) {
    out.push_back(kSackDrops[i].Sample(drops.count(static_cast<tcp::SackBlockDrop>(i))));
  }
}

void CollectTcpOptionDrops(const wire::TcpOptionDrops& drops, std::vector<CounterSample>& out) {
  for (size_t i = 0; i < std::size(kTcpOptionDrops); ++i) {
    out.push_back(kTcpOptionDrops[i].Sample(drops.count(static_cast<wire::TcpOptionDrop>(i))));
  }
}

void CollectMptcpOptionDrops(const wire::MptcpOptionDropCounts& drops,
                             std::vector<CounterSample>& out) {
  AppendList(kMptcpOptionDrops, drops.by_reason, out);
}

void CollectServiceCounters(const channel::ServiceCounters& counters,
                            std::vector<CounterSample>& out) {
  AppendList(kService, counters.values, out);
}

void CollectTimerWheelCounters(const runtime::TimerWheelCounters& counters,
                               std::vector<CounterSample>& out) {
  AppendList(kTimer, counters.values, out);
}

void CollectWorkerStats(const runtime::WorkerStats& stats, const runtime::IdleStats& idle,
                        tcp::Duration cpu_time, std::vector<CounterSample>& out) {
  std::array<uint64_t, static_cast<size_t>(WorkerMetric::kCount)> v{};
  auto set = [&v](WorkerMetric m, uint64_t value) { v[static_cast<size_t>(m)] = value; };
  set(WorkerMetric::kIterations, stats.iterations);
  set(WorkerMetric::kBusyIterations, stats.busy_iterations);
  set(WorkerMetric::kRxFrames, stats.rx_frames);
  set(WorkerMetric::kTxFrames, stats.tx_frames);
  set(WorkerMetric::kTimersFired, stats.timers_fired);
  set(WorkerMetric::kLinkChanges, stats.link_changes);
  set(WorkerMetric::kCpuSeconds, Nanoseconds(cpu_time));
  // In parts per million; busy_iterations <= iterations, so the product stays below 2^64 for
  // any iteration count below 1.8e13.
  set(WorkerMetric::kBusyRatio,
      stats.iterations == 0 ? 0 : stats.busy_iterations * 1'000'000 / stats.iterations);
  set(WorkerMetric::kSleeps, idle.sleeps);
  set(WorkerMetric::kSleepSeconds, Nanoseconds(idle.slept));
  set(WorkerMetric::kSleepsWoken, idle.woken);
  set(WorkerMetric::kSleepsSkipped, idle.sleeps_skipped);
  AppendList(kWorker, v, out);
}

void CollectWorkerCounters(const runtime::Worker& worker, std::vector<CounterSample>& out) {
  CollectNetCounters(worker.net().counters(), out);
  // RX and TX sides count different fields (and different drop reasons): merged, they are the
  // worker's one set.
  io::IoCounters io = worker.RxCounters();
  io.Merge(worker.TxCounters());
  CollectIoCounters(io, out);
  CollectBackendCounters(worker.tcp().counters(), out);
  CollectTcpSocketsCounters(worker.sockets().counters(), out);
  std::array<uint64_t, static_cast<size_t>(TcpGauge::kCount)> gauges{};
  gauges[static_cast<size_t>(TcpGauge::kConnections)] = worker.tcp().connection_count();
  gauges[static_cast<size_t>(TcpGauge::kTimeWait)] = worker.tcp().time_wait_count();
  gauges[static_cast<size_t>(TcpGauge::kOpenSockets)] = worker.sockets().open_sockets();
  AppendList(kTcpGauges, gauges, out);
  if (const mptcp::MptcpSockets* m = worker.mptcp(); m != nullptr) {
    CollectMptcpCounters(m->counters(), out);
  }
  // WorkerStats::cpu_time is set when Run returns; until then the worker's thread (the caller's)
  // is asked.
  const runtime::WorkerStats& stats = worker.stats();
  const tcp::Duration cpu =
      stats.run_time == tcp::Duration::zero() ? ThreadCpuTime() : stats.cpu_time;
  CollectWorkerStats(stats, worker.idle().stats(), cpu, out);
}

}  // namespace braid::agent::metrics
