// The exporter: a scrape of a fake snapshot gives the right families, types, labels and values;
// broken snapshots are counted, never exported half-wrong; the agent's own metrics.
#include "agent/metrics/exporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "prometheus/text_serializer.h"

namespace braid::agent::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Label = prometheus::ClientMetric::Label;

constexpr CounterSample kRx{
    .subsystem = "net", .name = "rx_frames", .help = "frames handed to Receive()", .value = 10};
constexpr CounterSample kTruncated{.subsystem = "net",
                                   .name = "drops",
                                   .reason = "truncated",
                                   .help = "dropped, by reason",
                                   .value = 2,
                                   .reason_help = "too short"};
constexpr CounterSample kBadChecksum{.subsystem = "net",
                                     .name = "drops",
                                     .reason = "ipv4_bad_checksum",
                                     .help = "dropped, by reason",
                                     .value = 1};
constexpr CounterSample kConnections{.subsystem = "tcp",
                                     .name = "connections",
                                     .help = "connections",
                                     .value = 4,
                                     .type = MetricType::kGauge};
constexpr CounterSample kCpu{.subsystem = "worker",
                             .name = "cpu_seconds",
                             .help = "CPU time",
                             .value = 1'500'000'000,
                             .scale = 1e-9};

CounterSample WithValue(CounterSample s, uint64_t value) {
  s.value = value;
  return s;
}

const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& families,
                                     std::string_view name) {
  for (const prometheus::MetricFamily& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

MetricsSnapshot FakeSnapshot() {
  MetricsSnapshot s;
  s.workers.push_back({WorkerLabels(0), {kRx, kTruncated, kBadChecksum, kConnections, kCpu}});
  s.workers.push_back({WorkerLabels(1),
                       {WithValue(kRx, 20), WithValue(kTruncated, 5), WithValue(kConnections, 7)}});
  s.paths.push_back({PathLabels("uplink0"), {WithValue(kRx, 30)}});
  s.pods.push_back({PodLabels("default", "web-0"), {WithValue(kConnections, 2)}});
  return s;
}

TEST(ToMetricFamiliesTest, FamiliesTypesLabelsValues) {
  std::vector<SnapshotError> errors;
  const std::vector<prometheus::MetricFamily> families =
      ToMetricFamilies(FakeSnapshot(), [&errors](SnapshotError e) { errors.push_back(e); });
  EXPECT_THAT(errors, IsEmpty());
  std::vector<std::string> names;
  for (const auto& f : families) names.push_back(f.name);
  // Sorted by name.
  EXPECT_THAT(names, ElementsAre("braid_net_drops_total", "braid_net_rx_frames_total",
                                 "braid_tcp_connections", "braid_worker_cpu_seconds_total"));

  const prometheus::MetricFamily* rx = Find(families, "braid_net_rx_frames_total");
  ASSERT_NE(rx, nullptr);
  EXPECT_EQ(rx->type, prometheus::MetricType::Counter);
  EXPECT_EQ(rx->help, "frames handed to Receive()");
  // One series per worker (not summed), then the path's.
  ASSERT_EQ(rx->metric.size(), 3u);
  EXPECT_THAT(rx->metric[0].label, ElementsAre(Label{"worker", "0"}));
  EXPECT_EQ(rx->metric[0].counter.value, 10);
  EXPECT_THAT(rx->metric[1].label, ElementsAre(Label{"worker", "1"}));
  EXPECT_EQ(rx->metric[1].counter.value, 20);
  EXPECT_THAT(rx->metric[2].label, ElementsAre(Label{"path", "uplink0"}));
  EXPECT_EQ(rx->metric[2].counter.value, 30);

  const prometheus::MetricFamily* drops = Find(families, "braid_net_drops_total");
  ASSERT_NE(drops, nullptr);
  EXPECT_EQ(drops->type, prometheus::MetricType::Counter);
  ASSERT_EQ(drops->metric.size(), 3u);
  EXPECT_THAT(drops->metric[0].label,
              ElementsAre(Label{"worker", "0"}, Label{"reason", "truncated"}));
  EXPECT_EQ(drops->metric[0].counter.value, 2);
  EXPECT_THAT(drops->metric[1].label,
              ElementsAre(Label{"worker", "0"}, Label{"reason", "ipv4_bad_checksum"}));
  EXPECT_EQ(drops->metric[1].counter.value, 1);
  EXPECT_THAT(drops->metric[2].label,
              ElementsAre(Label{"worker", "1"}, Label{"reason", "truncated"}));
  EXPECT_EQ(drops->metric[2].counter.value, 5);

  const prometheus::MetricFamily* conns = Find(families, "braid_tcp_connections");
  ASSERT_NE(conns, nullptr);
  EXPECT_EQ(conns->type, prometheus::MetricType::Gauge);
  ASSERT_EQ(conns->metric.size(), 3u);
  EXPECT_EQ(conns->metric[0].gauge.value, 4);
  EXPECT_EQ(conns->metric[1].gauge.value, 7);
  EXPECT_THAT(conns->metric[2].label,
              ElementsAre(Label{"namespace", "default"}, Label{"pod", "web-0"}));
  EXPECT_EQ(conns->metric[2].gauge.value, 2);

  const prometheus::MetricFamily* cpu = Find(families, "braid_worker_cpu_seconds_total");
  ASSERT_NE(cpu, nullptr);
  ASSERT_EQ(cpu->metric.size(), 1u);
  EXPECT_DOUBLE_EQ(cpu->metric[0].counter.value, 1.5);

  // The text format carries it all.
  const std::string text = prometheus::TextSerializer().Serialize(families);
  EXPECT_THAT(text, HasSubstr("# TYPE braid_net_drops_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE braid_tcp_connections gauge\n"));
  EXPECT_THAT(text, HasSubstr("braid_net_drops_total{worker=\"1\",reason=\"truncated\"} 5"));
  EXPECT_THAT(text, HasSubstr("braid_tcp_connections{namespace=\"default\",pod=\"web-0\"} 2"));
}

TEST(ToMetricFamiliesTest, BrokenSamplesAreCountedAndLeftOut) {
  MetricsSnapshot s;
  // A repeated label, a reserved one, our `reason`, and one that is not a name at all.
  s.workers.push_back({{{"worker", "0"}, {"worker", "1"}}, {kRx}});
  s.workers.push_back({{{"__name__", "x"}}, {kRx}});
  s.workers.push_back({{{"reason", "x"}}, {kRx}});
  s.workers.push_back({{{"bad-label", "x"}}, {kRx}});
  CounterSample bad_name = kRx;
  bad_name.name = "rx frames";
  s.workers.push_back({WorkerLabels(0), {kConnections, kRx, WithValue(kRx, 99), bad_name}});
  s.paths.push_back({PathLabels("p"), {kConnections}});
  std::map<SnapshotError, int> errors;
  const std::vector<prometheus::MetricFamily> families =
      ToMetricFamilies(s, [&errors](SnapshotError e) { ++errors[e]; });
  EXPECT_EQ(errors[SnapshotError::kBadLabel], 4);
  EXPECT_EQ(errors[SnapshotError::kBadName], 1);
  EXPECT_EQ(errors[SnapshotError::kDuplicateSeries], 1);
  const prometheus::MetricFamily* rx = Find(families, "braid_net_rx_frames_total");
  ASSERT_NE(rx, nullptr);
  ASSERT_EQ(rx->metric.size(), 1u);
  EXPECT_EQ(rx->metric[0].counter.value, 10);  // the first of the two
  const prometheus::MetricFamily* conns = Find(families, "braid_tcp_connections");
  ASSERT_NE(conns, nullptr);
  EXPECT_EQ(conns->metric.size(), 2u);  // the worker's and the path's

  // A gauge named like a counter family (its _total included) clashes with it.
  MetricsSnapshot t;
  CounterSample gauge_total = kRx;
  gauge_total.type = MetricType::kGauge;
  gauge_total.name = "rx_frames_total";
  t.workers.push_back({WorkerLabels(0), {kRx, gauge_total}});
  errors.clear();
  const std::vector<prometheus::MetricFamily> clash =
      ToMetricFamilies(t, [&errors](SnapshotError e) { ++errors[e]; });
  EXPECT_EQ(errors[SnapshotError::kTypeConflict], 1);
  ASSERT_EQ(clash.size(), 1u);
  EXPECT_EQ(clash[0].type, prometheus::MetricType::Counter);
}

TEST(MetricsExporterTest, ScrapeAsksTheProviderEachTime) {
  int calls = 0;
  MetricsExporter exporter(
      [&calls]() -> absl::StatusOr<MetricsSnapshot> {
        ++calls;
        MetricsSnapshot s;
        s.workers.push_back({WorkerLabels(0), {WithValue(kRx, static_cast<uint64_t>(calls))}});
        return s;
      },
      "1.2.3");
  const auto collectables = exporter.Collectables();
  ASSERT_EQ(collectables.size(), 2u);
  for (int i = 1; i <= 2; ++i) {
    const std::vector<prometheus::MetricFamily> families = collectables[0]->Collect();
    ASSERT_EQ(families.size(), 1u);
    EXPECT_EQ(families[0].metric[0].counter.value, i);
  }
  EXPECT_EQ(calls, 2);
}

TEST(MetricsExporterTest, FailingProviderIsCounted) {
  bool fail = true;
  bool do_throw = false;
  MetricsExporter exporter(
      [&]() -> absl::StatusOr<MetricsSnapshot> {
        if (do_throw) throw std::runtime_error("boom");
        if (fail) return absl::UnavailableError("worker 1 did not answer");
        return MetricsSnapshot{};
      },
      "1.2.3");
  const auto datapath = exporter.Collectables()[0];
  EXPECT_THAT(datapath->Collect(), IsEmpty());
  do_throw = true;
  EXPECT_THAT(datapath->Collect(), IsEmpty());
  EXPECT_EQ(exporter.snapshot_errors(SnapshotError::kSnapshotFailed), 2u);
  do_throw = false;
  fail = false;
  EXPECT_THAT(datapath->Collect(), IsEmpty());
  EXPECT_EQ(exporter.snapshot_errors(SnapshotError::kSnapshotFailed), 2u);

  MetricsExporter no_provider(nullptr, "1.2.3");
  EXPECT_THAT(no_provider.Collectables()[0]->Collect(), IsEmpty());
  EXPECT_EQ(no_provider.snapshot_errors(SnapshotError::kSnapshotFailed), 1u);
}

TEST(MetricsExporterTest, AgentMetrics) {
  MetricsExporter exporter([] { return absl::StatusOr<MetricsSnapshot>(MetricsSnapshot{}); },
                           "0.1.0");
  exporter.ObserveCniRequest("ADD", std::chrono::milliseconds(30));
  exporter.ObserveCniRequest("ADD", std::chrono::milliseconds(300));
  exporter.ObserveCniRequest("DEL", std::chrono::microseconds(500));
  exporter.ObserveGrpcRequest("braid.v1.DebugService", "ListCounters", absl::StatusCode::kOk,
                              std::chrono::microseconds(200));
  exporter.ObserveGrpcRequest("braid.v1.CniService", "Add", absl::StatusCode::kInvalidArgument,
                              std::chrono::milliseconds(2));
  exporter.SetPods(12);

  const std::vector<prometheus::MetricFamily> families = exporter.Collectables()[1]->Collect();
  const prometheus::MetricFamily* cni = Find(families, "braid_agent_cni_request_duration_seconds");
  ASSERT_NE(cni, nullptr);
  EXPECT_EQ(cni->type, prometheus::MetricType::Histogram);
  ASSERT_EQ(cni->metric.size(), 2u);
  for (const prometheus::ClientMetric& m : cni->metric) {
    ASSERT_EQ(m.label.size(), 1u);
    EXPECT_EQ(m.label[0].name, "verb");
    if (m.label[0].value == "ADD") {
      EXPECT_EQ(m.histogram.sample_count, 2u);
      EXPECT_NEAR(m.histogram.sample_sum, 0.33, 1e-9);
      // One bucket per boundary plus +Inf.
      EXPECT_EQ(m.histogram.bucket.size(), MetricsExporter::CniBuckets().size() + 1);
    } else {
      EXPECT_EQ(m.label[0].value, "DEL");
      EXPECT_EQ(m.histogram.sample_count, 1u);
    }
  }
  const prometheus::MetricFamily* grpc =
      Find(families, "braid_agent_grpc_request_duration_seconds");
  ASSERT_NE(grpc, nullptr);
  ASSERT_EQ(grpc->metric.size(), 2u);
  bool found = false;
  for (const prometheus::ClientMetric& m : grpc->metric) {
    std::map<std::string, std::string> labels;
    for (const Label& l : m.label) labels[l.name] = l.value;
    if (labels["code"] == "INVALID_ARGUMENT") {
      found = true;
      EXPECT_EQ(labels["service"], "braid.v1.CniService");
      EXPECT_EQ(labels["method"], "Add");
      EXPECT_EQ(m.histogram.sample_count, 1u);
    } else {
      EXPECT_EQ(labels["code"], "OK");
    }
  }
  EXPECT_TRUE(found);

  const prometheus::MetricFamily* info = Find(families, "braid_agent_build_info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->type, prometheus::MetricType::Gauge);
  ASSERT_EQ(info->metric.size(), 1u);
  EXPECT_THAT(info->metric[0].label, ElementsAre(Label{"version", "0.1.0"}));
  EXPECT_EQ(info->metric[0].gauge.value, 1);

  const prometheus::MetricFamily* pods = Find(families, "braid_agent_pods");
  ASSERT_NE(pods, nullptr);
  EXPECT_EQ(pods->metric[0].gauge.value, 12);

  const prometheus::MetricFamily* errors = Find(families, "braid_agent_metrics_errors_total");
  ASSERT_NE(errors, nullptr);
  // Every reason is there from the start, at zero.
  EXPECT_EQ(errors->metric.size(), static_cast<size_t>(SnapshotError::kCount));
}

TEST(MetricsExporterTest, BucketsAreIncreasing) {
  for (const std::vector<double>* b :
       {&MetricsExporter::CniBuckets(), &MetricsExporter::GrpcBuckets()}) {
    ASSERT_FALSE(b->empty());
    for (size_t i = 1; i < b->size(); ++i) EXPECT_LT((*b)[i - 1], (*b)[i]);
  }
}

}  // namespace
}  // namespace braid::agent::metrics
