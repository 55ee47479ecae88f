// The agent's catalog of the datapath's counters (architecture.md §8): every X-macro counter list
// of the datapath (datapath/**/*.def, the timer wheel's list, and the few stats structs without
// one) becomes metric families named `braid_<subsystem>_<name>_total` (counters) or
// `braid_<subsystem>_<name>` (gauges). A drop-reason list is ONE family with a `reason` label
// (`braid_net_drops_total{reason="truncated"}`), as DebugService.ListCounters names them too.
//
// The names, help texts and reasons come from the lists themselves, so the C++ enums, the debug
// output and the metrics cannot disagree; agent/metrics/README.md is the generated reference
// (CatalogMarkdown, checked by tests/unit/agent/metrics/counters_test.cc).
//
// Not every list is kept per worker today. A list's CounterSource says where its values live;
// only kWorker and kService lists are collected from a running datapath (CollectWorkerCounters,
// CollectServiceCounters). The others are per connection, per listener or per parsed option list
// and summed nowhere the agent can read, so they have Collect functions for one such object
// (braidctl's per-connection view) but no per-worker series.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datapath/channel/service/service.h"
#include "datapath/io/io_counters.h"
#include "datapath/mptcp/mib.h"
#include "datapath/net/net_counters.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/runtime/tcp_sockets.h"
#include "datapath/runtime/timer_wheel.h"
#include "datapath/runtime/worker.h"
#include "datapath/tcp/listener.h"
#include "datapath/tcp/native_backend.h"
#include "datapath/tcp/retransmit_queue.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/error.h"
#include "datapath/wire/mptcp_options.h"
#include "datapath/wire/tcp_options.h"

namespace braid::agent::metrics {

enum class MetricType : uint8_t { kCounter, kGauge };
std::string_view MetricTypeName(MetricType type);  // "counter", "gauge"

// Where a list's values are kept while the datapath runs.
enum class CounterSource : uint8_t {
  kWorker,      // an object of runtime::Worker: CollectWorkerCounters
  kService,     // the worker's channel::ChannelService: CollectServiceCounters
  kConnection,  // one TCP connection (TcpInfo::counters; its retransmission queue)
  kListener,    // one TCP listener (TcpListener::counters)
  kParse,       // one parsed option list, summed nowhere by reason (MPTCP keeps the total)
  kTimerWheel,  // the worker's timer wheel, which runtime::Worker does not expose
  kNotCounted,  // a parser's error code; the frame is counted under a net drop reason
};
std::string_view CounterSourceName(CounterSource source);

// One value of one series. The strings point at the catalog (static storage), so a sample is
// cheap to copy and a snapshot holds no text of its own.
struct CounterSample {
  std::string_view subsystem = {};  // net, io, tcp, mptcp, channel, worker, timer, wire
  std::string_view name = {};       // braid_<subsystem>_<name>, plus _total on counters
  std::string_view reason = {};     // the `reason` label of a drop list; empty otherwise
  std::string_view help = {};       // the family's help text
  uint64_t value = 0;
  MetricType type = MetricType::kCounter;
  // The exported value is value × scale, in base units: 1e-9 turns nanoseconds into seconds.
  double scale = 1.0;
  std::string_view reason_help = {};  // what the reason means; empty without a reason
};

// The metric name of a family: braid_<subsystem>_<name>, with _total for counters.
std::string MetricName(std::string_view subsystem, std::string_view name, MetricType type);
std::string MetricName(const CounterSample& sample);

// One catalog entry: a family without a reason label, or one reason of a drop family.
struct CatalogEntry {
  std::string_view subsystem = {};
  std::string_view name = {};
  std::string_view reason = {};
  std::string_view help = {};
  std::string_view reason_help = {};
  MetricType type = MetricType::kCounter;
  double scale = 1.0;
  CounterSource source = CounterSource::kWorker;
  std::string_view list = {};  // the list it comes from: "datapath/net/net_drop.def"

  CounterSample Sample(uint64_t value) const {
    return {subsystem, name, reason, help, value, type, scale, reason_help};
  }
};

// Every entry of every list, in list order (each list in its enum's order).
std::span<const CatalogEntry> Catalog();

// agent/metrics/README.md's generated part: the families, where their values live, and the
// reasons of each drop family.
std::string CatalogMarkdown();

// Everything a worker keeps, appended to `out`: net (counters and drops), io (RX and TX sides
// merged, with drops), tcp (the backend's counters, the socket layer's, connection gauges),
// mptcp (when the worker runs it) and the worker's loop (iterations, CPU seconds, busy ratio,
// sleeps). Call it on the worker's thread (the caller guarantees it): nothing it reads is atomic,
// and while Run has not returned the CPU time read is the calling thread's.
void CollectWorkerCounters(const runtime::Worker& worker, std::vector<CounterSample>& out);
// A worker's app channel service (its ChannelService::counters()).
void CollectServiceCounters(const channel::ServiceCounters& counters,
                            std::vector<CounterSample>& out);

// One list each, for the object that holds it.
void CollectNetCounters(const net::NetCounters& counters, std::vector<CounterSample>& out);
void CollectIoCounters(const io::IoCounters& counters, std::vector<CounterSample>& out);
void CollectBackendCounters(const tcp::BackendCounters& counters, std::vector<CounterSample>& out);
void CollectTcpSocketsCounters(const runtime::TcpSocketsCounters& counters,
                               std::vector<CounterSample>& out);
void CollectMptcpCounters(const mptcp::MptcpCounters& counters, std::vector<CounterSample>& out);
void CollectConnectionCounters(const tcp::TcpCounters& counters, std::vector<CounterSample>& out);
void CollectListenerCounters(const tcp::ListenerCounters& counters,
                             std::vector<CounterSample>& out);
void CollectSackBlockDrops(const tcp::SackBlockDrops& drops, std::vector<CounterSample>& out);
void CollectTcpOptionDrops(const wire::TcpOptionDrops& drops, std::vector<CounterSample>& out);
void CollectMptcpOptionDrops(const wire::MptcpOptionDropCounts& drops,
                             std::vector<CounterSample>& out);
void CollectTimerWheelCounters(const runtime::TimerWheelCounters& counters,
                               std::vector<CounterSample>& out);
// The loop's figures: `cpu_time` is the worker thread's CPU time so far.
void CollectWorkerStats(const runtime::WorkerStats& stats, const runtime::IdleStats& idle,
                        tcp::Duration cpu_time, std::vector<CounterSample>& out);

}  // namespace braid::agent::metrics
