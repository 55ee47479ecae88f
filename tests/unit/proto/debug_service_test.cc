// DebugService over a real in-process gRPC server on a unix-abstract address: status with its
// times, counters, log levels, and Capture's server stream (chunks in order, the end reason on
// the last, a refused capture's status, a capture the client cancels).
#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "braid/v1/debug.grpc.pb.h"
#include "braid/v1/debug.pb.h"
#include "gtest/gtest.h"
#include "proto/status.h"
#include "tests/unit/proto/in_process_server.h"

namespace braid::proto {
namespace {

using google::protobuf::util::TimeUtil;
using testing::Deadline;
using testing::InProcessServer;

constexpr int kChunks = 3;

// TEST DOUBLE of the agent's DebugService: fixed status and counters, log levels in a map, and a
// capture that streams kChunks chunks of made-up pcap bytes for connection 42, or streams until
// cancelled for path "path0".
class FakeAgentDebug final : public v1::DebugService::Service {
 public:
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                         v1::GetStatusResponse* response) override {
    response->set_version("0.1.0");
    response->set_node_name("node-a");
    *response->mutable_start_time() = TimeUtil::SecondsToTimestamp(1700000000);
    *response->mutable_uptime() = TimeUtil::MillisecondsToDuration(90500);
    v1::WorkerStatus* w = response->add_workers();
    w->set_id(0);
    w->set_lcore(1);
    w->set_iterations(1000);
    w->set_busy_iterations(10);
    *w->mutable_cpu_time() = TimeUtil::MillisecondsToDuration(250);
    v1::PathStatus* p = response->add_paths();
    p->set_name("path0");
    p->set_port("net_af_packet0,iface=a0");
    p->add_addresses("192.0.2.2/24");
    p->set_link_state(v1::LINK_STATE_UP);
    p->set_speed_mbps(10000);
    p->mutable_counters()->set_rx_packets(5);
    response->set_pod_count(1);
    return grpc::Status::OK;
  }

  grpc::Status ListCounters(grpc::ServerContext*, const v1::ListCountersRequest* request,
                            v1::ListCountersResponse* response) override {
    v1::Counter* c = response->add_counters();
    c->set_subsystem("mptcp");
    c->set_name("mp_capable_syn_tx");
    c->set_value(7);
    c->set_help("MP_CAPABLE SYNs sent (MPCapableSYNTX)");
    if (request->per_worker()) c->set_worker(0);
    c = response->add_counters();
    c->set_subsystem("net");
    c->set_name("drops");
    c->set_reason("truncated");
    c->set_value(1);
    return grpc::Status::OK;
  }

  grpc::Status Capture(grpc::ServerContext* context, const v1::CaptureRequest* request,
                       grpc::ServerWriter<v1::CaptureResponse>* writer) override {
    if (request->target_case() == v1::CaptureRequest::TARGET_NOT_SET) {
      return ToGrpcStatus(absl::InvalidArgumentError("capture: no connection or path"));
    }
    if (request->max_packets() == 0 && request->max_bytes() == 0 && !request->has_max_duration()) {
      return ToGrpcStatus(absl::InvalidArgumentError("capture: no limit"));
    }
    if (request->target_case() == v1::CaptureRequest::kPath) {
      // Until the client cancels (or a generous bound).
      for (int i = 0; i < 1000 && !context->IsCancelled(); ++i) {
        v1::CaptureResponse chunk;
        chunk.set_pcap_data("frame");
        chunk.set_packet_count(1);
        if (!writer->Write(chunk)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      saw_cancel_ = context->IsCancelled();
      return grpc::Status::OK;
    }
    if (request->connection_id() != 42) {
      return ToGrpcStatus(
          absl::NotFoundError("no connection " + std::to_string(request->connection_id())));
    }
    for (int i = 0; i < kChunks; ++i) {
      v1::CaptureResponse chunk;
      chunk.set_pcap_data("chunk" + std::to_string(i) + ";");
      chunk.set_packet_count(i + 1);
      chunk.set_packets_missed(i);
      if (i == kChunks - 1) chunk.set_end_reason(v1::CAPTURE_END_REASON_PACKET_LIMIT);
      if (!writer->Write(chunk)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status GetLogLevel(grpc::ServerContext*, const v1::GetLogLevelRequest* request,
                           v1::GetLogLevelResponse* response) override {
    std::lock_guard lock(mu_);
    auto it = levels_.find(request->component());
    if (it == levels_.end()) return UnknownComponent(request->component());
    response->set_component(request->component());
    response->set_level(it->second);
    return grpc::Status::OK;
  }

  grpc::Status SetLogLevel(grpc::ServerContext*, const v1::SetLogLevelRequest* request,
                           v1::SetLogLevelResponse* response) override {
    std::lock_guard lock(mu_);
    auto it = levels_.find(request->component());
    if (it == levels_.end()) return UnknownComponent(request->component());
    if (request->level() == v1::LOG_LEVEL_UNSPECIFIED) {
      return ToGrpcStatus(absl::InvalidArgumentError("level: LOG_LEVEL_UNSPECIFIED"));
    }
    response->set_previous_level(it->second);
    it->second = request->level();
    return grpc::Status::OK;
  }

  bool saw_cancel() const { return saw_cancel_; }

 private:
  static grpc::Status UnknownComponent(const std::string& component) {
    return ToGrpcStatus(absl::NotFoundError("no log component \"" + component + "\""));
  }

  std::mutex mu_;
  std::map<std::string, v1::LogLevel> levels_ = {{"", v1::LOG_LEVEL_INFO},
                                                 {"dpdk", v1::LOG_LEVEL_WARNING}};
  std::atomic<bool> saw_cancel_{false};
};

class DebugServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.address();
    stub_ = v1::DebugService::NewStub(server_.NewChannel());
  }

  FakeAgentDebug agent_;
  InProcessServer server_{agent_, "debug"};
  std::unique_ptr<v1::DebugService::Stub> stub_;
};

TEST_F(DebugServiceTest, StatusCarriesTimesAsWellKnownTypes) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::GetStatusResponse status;
  ASSERT_TRUE(stub_->GetStatus(&ctx, v1::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.version(), "0.1.0");
  EXPECT_EQ(TimeUtil::TimestampToSeconds(status.start_time()), 1700000000);
  EXPECT_EQ(TimeUtil::DurationToMilliseconds(status.uptime()), 90500);
  ASSERT_EQ(status.workers_size(), 1);
  EXPECT_EQ(TimeUtil::DurationToMilliseconds(status.workers(0).cpu_time()), 250);
  ASSERT_EQ(status.paths_size(), 1);
  EXPECT_EQ(status.paths(0).link_state(), v1::LINK_STATE_UP);
  EXPECT_EQ(status.paths(0).counters().rx_packets(), 5u);
}

TEST_F(DebugServiceTest, CountersKeepTheirListNamesAndOptionalWorker) {
  v1::ListCountersRequest request;
  request.set_per_worker(true);
  grpc::ClientContext ctx;
  v1::ListCountersResponse response;
  ASSERT_TRUE(stub_->ListCounters(&ctx, request, &response).ok());
  ASSERT_EQ(response.counters_size(), 2);
  EXPECT_EQ(response.counters(0).name(), "mp_capable_syn_tx");
  EXPECT_TRUE(response.counters(0).has_worker());
  EXPECT_EQ(response.counters(0).worker(), 0u);  // worker 0, present: not the sum
  EXPECT_FALSE(response.counters(1).has_worker());
  EXPECT_EQ(response.counters(1).reason(), "truncated");
}

TEST_F(DebugServiceTest, CaptureStreamsChunksInOrderAndEndsWithItsReason) {
  v1::CaptureRequest request;
  request.set_connection_id(42);
  request.set_max_packets(6);
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  auto reader = stub_->Capture(&ctx, request);
  std::string pcap;
  uint64_t packets = 0;
  int chunks = 0;
  v1::CaptureResponse chunk;
  v1::CaptureEndReason end = v1::CAPTURE_END_REASON_UNSPECIFIED;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(end, v1::CAPTURE_END_REASON_UNSPECIFIED) << "a message after the last one";
    pcap += chunk.pcap_data();
    packets += chunk.packet_count();
    end = chunk.end_reason();
    ++chunks;
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(chunks, kChunks);
  EXPECT_EQ(pcap, "chunk0;chunk1;chunk2;");
  EXPECT_EQ(packets, 6u);
  EXPECT_EQ(chunk.packets_missed(), 2u);
  EXPECT_EQ(end, v1::CAPTURE_END_REASON_PACKET_LIMIT);
}

TEST_F(DebugServiceTest, RefusedCaptureEndsWithTheAgentsStatus) {
  v1::CaptureRequest request;
  request.set_path("path0");  // no limit
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  auto reader = stub_->Capture(&ctx, request);
  v1::CaptureResponse chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_EQ(FromGrpcStatus(reader->Finish()), absl::InvalidArgumentError("capture: no limit"));

  request.set_connection_id(7);
  request.set_max_packets(1);
  grpc::ClientContext ctx2;
  auto reader2 = stub_->Capture(&ctx2, request);
  EXPECT_FALSE(reader2->Read(&chunk));
  EXPECT_EQ(FromGrpcStatus(reader2->Finish()), absl::NotFoundError("no connection 7"));
}

TEST_F(DebugServiceTest, ClientCancelStopsACapture) {
  v1::CaptureRequest request;
  request.set_path("path0");
  *request.mutable_max_duration() = TimeUtil::SecondsToDuration(60);
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  auto reader = stub_->Capture(&ctx, request);
  v1::CaptureResponse chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  ASSERT_TRUE(reader->Read(&chunk));
  ctx.TryCancel();
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The handler sees the cancellation and returns well before its 1000 chunks (~5 s).
  for (int i = 0; i < 200 && !agent_.saw_cancel(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(agent_.saw_cancel());
}

TEST_F(DebugServiceTest, LogLevelSetThenGet) {
  v1::SetLogLevelRequest set;
  set.set_component("dpdk");
  set.set_level(v1::LOG_LEVEL_DEBUG);
  {
    grpc::ClientContext ctx;
    v1::SetLogLevelResponse response;
    ASSERT_TRUE(stub_->SetLogLevel(&ctx, set, &response).ok());
    EXPECT_EQ(response.previous_level(), v1::LOG_LEVEL_WARNING);
  }
  v1::GetLogLevelRequest get;
  get.set_component("dpdk");
  {
    grpc::ClientContext ctx;
    v1::GetLogLevelResponse response;
    ASSERT_TRUE(stub_->GetLogLevel(&ctx, get, &response).ok());
    EXPECT_EQ(response.level(), v1::LOG_LEVEL_DEBUG);
  }
  get.set_component("flux");
  grpc::ClientContext ctx;
  v1::GetLogLevelResponse response;
  EXPECT_EQ(FromGrpcStatus(stub_->GetLogLevel(&ctx, get, &response)),
            absl::NotFoundError("no log component \"flux\""));
}

}  // namespace
}  // namespace braid::proto
