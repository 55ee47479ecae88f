#include "agent/metrics/exporter.h"

#include <algorithm>
#include <exception>
#include <map>
#include <set>

#include "prometheus/check_names.h"
#include "prometheus/client_metric.h"
#include "prometheus/labels.h"
#include "prometheus/metric_type.h"

namespace braid::agent::metrics {
namespace {

constexpr std::string_view kSnapshotErrorNames[] = {
    "snapshot_failed", "bad_label", "bad_name", "type_conflict", "duplicate_series",
};
static_assert(std::size(kSnapshotErrorNames) == static_cast<size_t>(SnapshotError::kCount));

constexpr std::string_view kReasonLabel = "reason";

// Label names Prometheus accepts for our series: not reserved (__*), not our `reason`, each once.
bool ValidLabels(const Labels& labels) {
  std::set<std::string_view> names;
  for (const auto& [name, value] : labels) {
    if (!prometheus::CheckLabelName(name) || name == kReasonLabel) return false;
    if (!names.insert(name).second) return false;
  }
  return true;
}

// The identity of a series: its name and its labels, sorted.
std::string SeriesKey(const std::string& name,
                      std::vector<prometheus::ClientMetric::Label> labels) {
  std::sort(labels.begin(), labels.end());
  std::string key = name;
  for (const auto& l : labels) {
    key += '\0';
    key += l.name;
    key += '\0';
    key += l.value;
  }
  return key;
}

}  // namespace

std::string_view SnapshotErrorName(SnapshotError error) {
  const auto i = static_cast<size_t>(error);
  return i < std::size(kSnapshotErrorNames) ? kSnapshotErrorNames[i] : "unknown";
}

Labels WorkerLabels(uint32_t worker) { return {{"worker", std::to_string(worker)}}; }

Labels PathLabels(std::string_view path) { return {{"path", std::string(path)}}; }

Labels PodLabels(std::string_view pod_namespace, std::string_view pod) {
  return {{"namespace", std::string(pod_namespace)}, {"pod", std::string(pod)}};
}

std::vector<prometheus::MetricFamily> ToMetricFamilies(const MetricsSnapshot& snapshot,
                                                       std::function<void(SnapshotError)> errors) {
  auto count = [&errors](SnapshotError e) {
    if (errors) errors(e);
  };
  std::vector<prometheus::MetricFamily> families;
  std::map<std::string, size_t> by_name;
  std::set<std::string> series;
  for (const std::vector<LabeledSamples>* groups :
       {&snapshot.workers, &snapshot.paths, &snapshot.pods}) {
    for (const LabeledSamples& group : *groups) {
      if (!ValidLabels(group.labels)) {
        count(SnapshotError::kBadLabel);
        continue;
      }
      for (const CounterSample& sample : group.samples) {
        const std::string name = MetricName(sample);
        if (!prometheus::CheckMetricName(name)) {
          count(SnapshotError::kBadName);
          continue;
        }
        const prometheus::MetricType type = sample.type == MetricType::kGauge
                                                ? prometheus::MetricType::Gauge
                                                : prometheus::MetricType::Counter;
        auto [it, added] = by_name.try_emplace(name, families.size());
        if (added) {
          prometheus::MetricFamily& f = families.emplace_back();
          f.name = name;
          f.help = std::string(sample.help);
          f.type = type;
        } else if (families[it->second].type != type) {
          count(SnapshotError::kTypeConflict);
          continue;
        }
        prometheus::ClientMetric metric;
        metric.label.reserve(group.labels.size() + 1);
        for (const auto& [label, value] : group.labels) metric.label.push_back({label, value});
        if (!sample.reason.empty()) {
          metric.label.push_back({std::string(kReasonLabel), std::string(sample.reason)});
        }
        if (!series.insert(SeriesKey(name, metric.label)).second) {
          count(SnapshotError::kDuplicateSeries);
          continue;
        }
        const double value = static_cast<double>(sample.value) * sample.scale;
        if (type == prometheus::MetricType::Gauge) {
          metric.gauge.value = value;
        } else {
          metric.counter.value = value;
        }
        families[it->second].metric.push_back(std::move(metric));
      }
    }
  }
  std::sort(families.begin(), families.end(),
            [](const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) {
              return a.name < b.name;
            });
  return families;
}

// Asks the provider on every scrape; never throws (a failing provider is counted).
class MetricsExporter::DatapathCollectable final : public prometheus::Collectable {
 public:
  DatapathCollectable(SnapshotProvider provider, std::vector<prometheus::Counter*> errors)
      : provider_(std::move(provider)), errors_(std::move(errors)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    absl::StatusOr<MetricsSnapshot> snapshot = absl::UnavailableError("no snapshot provider");
    if (provider_) {
      try {
        snapshot = provider_();
      } catch (const std::exception& e) {
        snapshot = absl::InternalError(e.what());
      } catch (...) {
        snapshot = absl::InternalError("the snapshot provider threw");
      }
    }
    if (!snapshot.ok()) {
      Count(SnapshotError::kSnapshotFailed);
      return {};
    }
    return ToMetricFamilies(*snapshot, [this](SnapshotError e) { Count(e); });
  }

 private:
  void Count(SnapshotError e) const { errors_[static_cast<size_t>(e)]->Increment(); }

  SnapshotProvider provider_;
  std::vector<prometheus::Counter*> errors_;
};

const std::vector<double>& MetricsExporter::CniBuckets() {
  // A verb runs from well under a millisecond (VERSION, STATUS) to seconds (ADD on a busy node:
  // IPAM, the datapath's addresses, the pod's sockets); the runtime's CNI timeout is minutes.
  static const std::vector<double> buckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10,   30};
  return buckets;
}

const std::vector<double>& MetricsExporter::GrpcBuckets() {
  // Unary calls on a unix socket take tens of microseconds to milliseconds; paged lists and
  // captures (a stream, observed when it ends) run longer.
  static const std::vector<double> buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1,      2.5,     5,      10,    60};
  return buckets;
}

MetricsExporter::MetricsExporter(SnapshotProvider provider, std::string_view version)
    : registry_(std::make_shared<prometheus::Registry>()) {
  cni_ = &prometheus::BuildHistogram()
              .Name("braid_agent_cni_request_duration_seconds")
              .Help("time the agent took to answer a CNI verb (CniService), by verb")
              .Register(*registry_);
  grpc_ = &prometheus::BuildHistogram()
               .Name("braid_agent_grpc_request_duration_seconds")
               .Help("time the agent took to answer a gRPC call, by service, method and status")
               .Register(*registry_);
  prometheus::BuildGauge()
      .Name("braid_agent_build_info")
      .Help("always 1; the agent's version as a label")
      .Register(*registry_)
      .Add({{"version", std::string(version)}})
      .Set(1);
  pods_ = &prometheus::BuildGauge()
               .Name("braid_agent_pods")
               .Help("pods attached to the datapath")
               .Register(*registry_)
               .Add({});
  auto& errors = prometheus::BuildCounter()
                     .Name("braid_agent_metrics_errors_total")
                     .Help("datapath series a scrape could not export, by reason")
                     .Register(*registry_);
  for (std::string_view name : kSnapshotErrorNames) {
    errors_.push_back(&errors.Add({{"reason", std::string(name)}}));
  }
  datapath_ = std::make_shared<DatapathCollectable>(std::move(provider), errors_);
}

std::vector<std::shared_ptr<prometheus::Collectable>> MetricsExporter::Collectables() const {
  return {datapath_, registry_};
}

void MetricsExporter::ObserveCniRequest(std::string_view verb, std::chrono::nanoseconds duration) {
  cni_->Add({{"verb", std::string(verb)}}, CniBuckets())
      .Observe(std::chrono::duration<double>(duration).count());
}

void MetricsExporter::ObserveGrpcRequest(std::string_view service, std::string_view method,
                                         absl::StatusCode code, std::chrono::nanoseconds duration) {
  grpc_
      ->Add({{"service", std::string(service)},
             {"method", std::string(method)},
             {"code", absl::StatusCodeToString(code)}},
            GrpcBuckets())
      .Observe(std::chrono::duration<double>(duration).count());
}

void MetricsExporter::SetPods(size_t pods) { pods_->Set(static_cast<double>(pods)); }

uint64_t MetricsExporter::snapshot_errors(SnapshotError error) const {
  const auto i = static_cast<size_t>(error);
  return i < errors_.size() ? static_cast<uint64_t>(errors_[i]->Value()) : 0;
}

}  // namespace braid::agent::metrics
