// The agent's Prometheus exporter (architecture.md §8). Two collectables feed /metrics:
//
//  - the datapath's counters: on every scrape, a snapshot provider (the agent asks each worker,
//    on the worker's thread, for CollectWorkerCounters and CollectServiceCounters) returns
//    per-worker samples plus per-path and per-pod ones, turned into MetricFamily values: one
//    series per worker (`worker="0"`), never summed across workers (PromQL's sum() does that and
//    keeps the per-core view); drop reasons as `reason`; paths as `path`; pods as `namespace` and
//    `pod`. A snapshot that fails is counted and the scrape serves the agent's own metrics only.
//  - the agent's control plane, through a prometheus::Registry: request latency histograms of the
//    CNI verbs and the gRPC methods, `braid_agent_build_info{version}`, `braid_agent_pods`, and
//    the exporter's own errors.
//
// Thread safety: the Observe/Set calls and Collect may come from any thread at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/metrics/counters.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace braid::agent::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Samples that share one label set.
struct LabeledSamples {
  Labels labels;
  std::vector<CounterSample> samples;
};

Labels WorkerLabels(uint32_t worker);                                    // worker="<id>"
Labels PathLabels(std::string_view path);                                // path="<name>"
Labels PodLabels(std::string_view pod_namespace, std::string_view pod);  // namespace, pod

// What one scrape shows of the datapath.
struct MetricsSnapshot {
  std::vector<LabeledSamples> workers;  // WorkerLabels
  std::vector<LabeledSamples> paths;    // PathLabels
  std::vector<LabeledSamples> pods;     // PodLabels
};

using SnapshotProvider = std::function<absl::StatusOr<MetricsSnapshot>()>;

// Why a snapshot's series were not exported (braid_agent_metrics_errors_total{reason}).
enum class SnapshotError : uint8_t {
  kSnapshotFailed,   // the provider returned an error (or threw)
  kBadLabel,         // a label name that is not [a-zA-Z_][a-zA-Z0-9_]*, reserved, or repeated
  kBadName,          // a sample whose metric name is not a valid Prometheus name
  kTypeConflict,     // a sample whose type differs from its family's first sample
  kDuplicateSeries,  // a second sample with the same name and labels: the first one is kept
  kCount,
};
std::string_view SnapshotErrorName(SnapshotError error);

// Turns a snapshot into metric families, sorted by name; series keep the snapshot's order.
// Samples are skipped (and `errors`, when given, counts why) as SnapshotError says.
std::vector<prometheus::MetricFamily> ToMetricFamilies(
    const MetricsSnapshot& snapshot, std::function<void(SnapshotError)> errors = nullptr);

class MetricsExporter {
 public:
  // `version` is braid_agent_build_info's label. `provider` is called on every scrape, on the
  // scraping thread; it must be safe to call from there.
  MetricsExporter(SnapshotProvider provider, std::string_view version);
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  // What /metrics serves: the datapath's collectable and the agent's registry.
  std::vector<std::shared_ptr<prometheus::Collectable>> Collectables() const;

  // braid_agent_cni_request_duration_seconds{verb}: verb as the CNI spec spells it (ADD, DEL,
  // CHECK, STATUS, GC, VERSION).
  void ObserveCniRequest(std::string_view verb, std::chrono::nanoseconds duration);
  // braid_agent_grpc_request_duration_seconds{service,method,code}: the full service name
  // (braid.v1.DebugService), the method (ListCounters), the status code's canonical name (OK,
  // INVALID_ARGUMENT).
  void ObserveGrpcRequest(std::string_view service, std::string_view method, absl::StatusCode code,
                          std::chrono::nanoseconds duration);
  // braid_agent_pods: pods attached to the datapath.
  void SetPods(size_t pods);

  uint64_t snapshot_errors(SnapshotError error) const;

  // The buckets, in seconds.
  static const std::vector<double>& CniBuckets();
  static const std::vector<double>& GrpcBuckets();

 private:
  class DatapathCollectable;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>* cni_ = nullptr;
  prometheus::Family<prometheus::Histogram>* grpc_ = nullptr;
  prometheus::Gauge* pods_ = nullptr;
  std::vector<prometheus::Counter*> errors_;  // by SnapshotError
  std::shared_ptr<DatapathCollectable> datapath_;
};

}  // namespace braid::agent::metrics
