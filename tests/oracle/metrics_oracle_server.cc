// Serves a realistic /metrics for tests/oracle/promtool_oracle.py: every entry of the counter
// catalog with a value on each of three workers (including the families not exported today, so
// their names are linted before they are), io counters per path, channel counters per pod, and
// the agent's own metrics with observations. The real MetricsExporter and MetricsHttpServer serve
// it on 127.0.0.1:<any port>.
//
// Prints "port <n>" on stdout once listening, then serves until stdin closes.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "agent/metrics/counters.h"
#include "agent/metrics/exporter.h"
#include "agent/metrics/http_server.h"

namespace braid::agent::metrics {
namespace {

MetricsSnapshot RealisticSnapshot() {
  MetricsSnapshot s;
  for (uint32_t w = 0; w < 3; ++w) {
    LabeledSamples worker{WorkerLabels(w), {}};
    uint64_t value = 1000 * (w + 1);
    for (const CatalogEntry& e : Catalog()) worker.samples.push_back(e.Sample(value++));
    s.workers.push_back(std::move(worker));
  }
  for (const char* path : {"path0", "path1"}) {
    io::IoCounters io;
    io.Add(io::IoCounter::kRxFrames, 123456);
    io.Add(io::IoCounter::kRxBytes, 98765432);
    io.AddDrop(io::IoDrop::kTxRingFull, 3);
    LabeledSamples p{PathLabels(path), {}};
    CollectIoCounters(io, p.samples);
    s.paths.push_back(std::move(p));
  }
  for (const char* pod : {"web-0", "cache-\"quoted\"\\slash"}) {
    channel::ServiceCounters counters;
    counters.Add(channel::ServiceCounter::kAppsAttached, 2);
    counters.Add(channel::ServiceCounter::kTxBytes, 1 << 20);
    LabeledSamples p{PodLabels("default", pod), {}};
    CollectServiceCounters(counters, p.samples);
    s.pods.push_back(std::move(p));
  }
  return s;
}

int Main() {
  MetricsExporter exporter([] { return absl::StatusOr<MetricsSnapshot>(RealisticSnapshot()); },
                           "0.1.0");
  for (const char* verb : {"ADD", "DEL", "CHECK", "STATUS", "GC"}) {
    exporter.ObserveCniRequest(verb, std::chrono::milliseconds(12));
  }
  exporter.ObserveGrpcRequest("braid.v1.DebugService", "ListCounters", absl::StatusCode::kOk,
                              std::chrono::microseconds(350));
  exporter.ObserveGrpcRequest("braid.v1.CniService", "Add", absl::StatusCode::kInvalidArgument,
                              std::chrono::milliseconds(3));
  exporter.SetPods(2);

  HttpHandlers handlers;
  handlers.collectables = exporter.Collectables();
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start({.listen = "127.0.0.1:0"}, std::move(handlers));
  if (!server.ok()) {
    std::cerr << "metrics_oracle_server: " << server.status() << "\n";
    return 1;
  }
  std::cout << "port " << (*server)->port() << std::endl;
  // Serve until the script closes our stdin.
  while (std::getchar() != EOF) {
  }
  (*server)->Stop();
  return 0;
}

}  // namespace
}  // namespace braid::agent::metrics

int main() { return braid::agent::metrics::Main(); }
