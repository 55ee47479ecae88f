// The test application's reports as JSON lines (the format tools/braid-testapp/README.md
// documents): one connection, one request/response run, and the datapath's summary at exit.
#pragma once

#include <string>
#include <vector>

#include "datapath/mptcp/connection.h"
#include "datapath/runtime/datapath.h"
#include "datapath/testapp/test_app.h"

namespace braid::testapp {

std::string ConnectionJson(const ConnectionReport& report);
// An MPTCP connection and its subflows (the "mptcp" member of a connection line).
std::string MptcpJson(const mptcp::MptcpInfo& info,
                      const std::vector<mptcp::SubflowInfo>& subflows);
// Percentiles are nearest-rank over the samples (p50, p90, p99, max, mean, in microseconds).
std::string RrJson(const RrReport& report);
// Per worker and summed: net counters and drops by reason, io counters and drops, TCP engine
// counters, socket counters, loop statistics and CPU time; per path: device statistics.
std::string SummaryJson(const runtime::Datapath& datapath);

}  // namespace braid::testapp
