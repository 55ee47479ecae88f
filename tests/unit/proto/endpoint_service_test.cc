// EndpointService over a real in-process gRPC server on a unix-abstract address (the agent serves
// it per pod on an abstract socket): endpoints are created, listed, read with their connections
// and subflows a page at a time, and deleted; the agent's errors arrive unchanged.
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "braid/v1/endpoint.grpc.pb.h"
#include "braid/v1/endpoint.pb.h"
#include "braid/v1/mptcp.pb.h"
#include "gtest/gtest.h"
#include "proto/status.h"
#include "tests/unit/proto/in_process_server.h"

namespace braid::proto {
namespace {

using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;
using testing::Deadline;
using testing::InProcessServer;

// One live connection of the pod as the datapath would report it: two subflows, one a backup.
v1::Connection CannedConnection(uint64_t id, bool with_subflows) {
  v1::Connection c;
  c.set_id(id);
  c.set_worker(1);
  c.set_endpoint("web");
  c.set_role(v1::CONNECTION_ROLE_SERVER);
  c.mutable_local()->set_address("192.0.2.10");
  c.mutable_local()->set_port(8080);
  c.mutable_remote()->set_address("203.0.113.5");
  c.mutable_remote()->set_port(40000 + static_cast<uint32_t>(id));
  c.set_fully_established(true);
  c.set_local_token(0xdeadbeef);
  c.set_remote_token(0x01020304);
  c.set_data_una(1000);
  c.set_data_nxt(5000);
  c.set_rcv_nxt(777);
  c.set_subflow_count(2);
  c.set_scheduler("blest");
  c.set_path_manager("kernel");
  c.set_bytes_sent(4000);
  if (!with_subflows) return c;
  for (uint32_t i = 0; i < 2; ++i) {
    v1::Subflow* sf = c.add_subflows();
    sf->set_connection_id(id);
    sf->set_id(i);
    sf->set_state(v1::SUBFLOW_STATE_ESTABLISHED);
    sf->set_initial(i == 0);
    sf->set_backup(i == 1);
    sf->set_local_address_id(i);
    sf->set_path("path" + std::to_string(i));
    sf->mutable_local()->set_address(i == 0 ? "192.0.2.10" : "198.51.100.10");
    sf->mutable_local()->set_port(8080);
    sf->mutable_remote()->set_address("203.0.113.5");
    sf->mutable_remote()->set_port(40000);
    sf->set_bytes_sent(i == 0 ? 4000 : 0);
    v1::TcpInfo* tcp = sf->mutable_tcp();
    tcp->set_state(v1::TCP_STATE_ESTABLISHED);
    tcp->set_congestion_state(v1::CONGESTION_STATE_OPEN);
    tcp->set_congestion_control("cubic");
    tcp->set_cwnd_bytes(14600);
    *tcp->mutable_srtt() = TimeUtil::MicrosecondsToDuration(1500 + 1000 * i);
    *tcp->mutable_rto() = TimeUtil::MillisecondsToDuration(200);
    (*tcp->mutable_counters())["retransmits"] = i;
  }
  return c;
}

// TEST DOUBLE of the agent's per-pod EndpointService: endpoints in a map, three canned live
// connections of endpoint "web", and the defaults an agent would fill in.
class FakePodEndpoints final : public v1::EndpointService::Service {
 public:
  grpc::Status CreateEndpoint(grpc::ServerContext*, const v1::CreateEndpointRequest* request,
                              v1::CreateEndpointResponse* response) override {
    std::lock_guard lock(mu_);
    const v1::Endpoint& e = request->endpoint();
    if (e.name().empty() || e.kind_case() == v1::Endpoint::KIND_NOT_SET) {
      return ToGrpcStatus(absl::InvalidArgumentError("endpoint: name and kind are required"));
    }
    if (endpoints_.contains(e.name())) {
      return ToGrpcStatus(absl::AlreadyExistsError("endpoint \"" + e.name() + "\" exists"));
    }
    v1::EndpointStatus& status = endpoints_[e.name()];
    *status.mutable_endpoint() = e;
    v1::MptcpOptions& effective = *status.mutable_effective_options();
    effective = e.options();
    if (effective.scheduler().empty()) effective.set_scheduler("default");
    if (effective.path_manager().policy() == v1::PATH_MANAGER_POLICY_UNSPECIFIED) {
      effective.mutable_path_manager()->set_policy(v1::PATH_MANAGER_POLICY_KERNEL);
    }
    if (effective.paths().empty()) {
      effective.add_paths("path0");
      effective.add_paths("path1");
    }
    if (effective.subflows_per_path() == 0) effective.set_subflows_per_path(1);
    if (!effective.has_checksum()) effective.set_checksum(false);
    *status.mutable_create_time() = TimeUtil::SecondsToTimestamp(1700000000);
    *response->mutable_endpoint() = status;
    return grpc::Status::OK;
  }

  grpc::Status DeleteEndpoint(grpc::ServerContext*, const v1::DeleteEndpointRequest* request,
                              v1::DeleteEndpointResponse*) override {
    std::lock_guard lock(mu_);
    if (endpoints_.erase(request->name()) == 0) return NotFound(request->name());
    return grpc::Status::OK;
  }

  grpc::Status GetEndpoint(grpc::ServerContext*, const v1::GetEndpointRequest* request,
                           v1::GetEndpointResponse* response) override {
    std::lock_guard lock(mu_);
    auto it = endpoints_.find(request->name());
    if (it == endpoints_.end()) return NotFound(request->name());
    *response->mutable_endpoint() = it->second;
    response->mutable_endpoint()->set_connection_count(Live(request->name()));
    return grpc::Status::OK;
  }

  grpc::Status ListEndpoints(grpc::ServerContext*, const v1::ListEndpointsRequest*,
                             v1::ListEndpointsResponse* response) override {
    std::lock_guard lock(mu_);
    for (const auto& [name, status] : endpoints_) {  // std::map: by name
      *response->add_endpoints() = status;
      response->mutable_endpoints()->rbegin()->set_connection_count(Live(name));
    }
    return grpc::Status::OK;
  }

  // Pages of two; the token is the id the next page starts at.
  grpc::Status ListEndpointConnections(grpc::ServerContext*,
                                       const v1::ListEndpointConnectionsRequest* request,
                                       v1::ListEndpointConnectionsResponse* response) override {
    std::lock_guard lock(mu_);
    if (!endpoints_.contains(request->endpoint())) return NotFound(request->endpoint());
    uint64_t first = 1;
    if (!request->page_token().empty()) first = std::stoull(request->page_token());
    const uint64_t page = request->page_size() == 0 ? 2 : request->page_size();
    const uint64_t live = Live(request->endpoint());
    for (uint64_t id = first; id <= live && id < first + page; ++id) {
      *response->add_connections() = CannedConnection(id, request->include_subflows());
    }
    if (first + page <= live) response->set_next_page_token(std::to_string(first + page));
    return grpc::Status::OK;
  }

 private:
  static grpc::Status NotFound(const std::string& name) {
    return ToGrpcStatus(absl::NotFoundError("no endpoint \"" + name + "\""));
  }
  static uint32_t Live(const std::string& name) { return name == "web" ? 3 : 0; }

  std::mutex mu_;
  std::map<std::string, v1::EndpointStatus> endpoints_;
};

v1::Endpoint Listener() {
  v1::Endpoint e;
  e.set_name("web");
  e.mutable_listener()->set_port(8080);
  e.mutable_options()->set_scheduler("blest");
  e.mutable_options()->add_paths("path0");
  e.mutable_options()->add_paths("path1");
  e.mutable_options()->add_backup_paths("path1");
  e.mutable_options()->set_subflows_per_path(2);
  e.mutable_options()->set_checksum(true);
  return e;
}

v1::Endpoint Outgoing() {
  v1::Endpoint e;
  e.set_name("backend");
  e.mutable_outgoing()->add_destination_prefixes("203.0.113.0/24");
  v1::PortRange* ports = e.mutable_outgoing()->add_destination_ports();
  ports->set_first(5432);
  ports->set_last(5432);
  e.mutable_options()->mutable_path_manager()->set_policy(v1::PATH_MANAGER_POLICY_NDIFFPORTS);
  e.mutable_options()->mutable_path_manager()->set_ndiffports_subflows(4);
  return e;
}

class EndpointServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.address();
    stub_ = v1::EndpointService::NewStub(server_.NewChannel());
  }

  grpc::Status Create(const v1::Endpoint& e, v1::CreateEndpointResponse* response) {
    v1::CreateEndpointRequest request;
    *request.mutable_endpoint() = e;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    return stub_->CreateEndpoint(&ctx, request, response);
  }

  FakePodEndpoints pod_;
  InProcessServer server_{pod_, "endpoint"};
  std::unique_ptr<v1::EndpointService::Stub> stub_;
};

TEST_F(EndpointServiceTest, CreateThenListShowsBothKindsWithTheirOptions) {
  v1::CreateEndpointResponse created;
  ASSERT_TRUE(Create(Listener(), &created).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(created.endpoint().endpoint(), Listener()));
  EXPECT_TRUE(created.endpoint().effective_options().has_checksum());
  EXPECT_TRUE(created.endpoint().effective_options().checksum());
  EXPECT_EQ(created.endpoint().effective_options().path_manager().policy(),
            v1::PATH_MANAGER_POLICY_KERNEL);
  ASSERT_TRUE(Create(Outgoing(), &created).ok());
  // Unset checksum (proto3 optional) crossed the wire as unset and was defaulted.
  EXPECT_FALSE(Outgoing().options().has_checksum());
  EXPECT_TRUE(created.endpoint().effective_options().has_checksum());
  EXPECT_FALSE(created.endpoint().effective_options().checksum());

  grpc::ClientContext ctx;
  v1::ListEndpointsResponse list;
  ASSERT_TRUE(stub_->ListEndpoints(&ctx, v1::ListEndpointsRequest(), &list).ok());
  ASSERT_EQ(list.endpoints_size(), 2);
  const v1::EndpointStatus& backend = list.endpoints(0);
  const v1::EndpointStatus& web = list.endpoints(1);
  EXPECT_EQ(backend.endpoint().kind_case(), v1::Endpoint::kOutgoing);
  EXPECT_EQ(backend.endpoint().outgoing().destination_prefixes(0), "203.0.113.0/24");
  EXPECT_EQ(backend.endpoint().outgoing().destination_ports(0).first(), 5432u);
  EXPECT_EQ(backend.effective_options().path_manager().ndiffports_subflows(), 4u);
  EXPECT_EQ(web.endpoint().kind_case(), v1::Endpoint::kListener);
  EXPECT_EQ(web.endpoint().listener().port(), 8080u);
  EXPECT_EQ(web.endpoint().options().backup_paths(0), "path1");
  EXPECT_EQ(web.connection_count(), 3u);
  EXPECT_EQ(TimeUtil::TimestampToSeconds(web.create_time()), 1700000000);
}

TEST_F(EndpointServiceTest, ConnectionsComeAPageAtATimeWithSubflowState) {
  v1::CreateEndpointResponse created;
  ASSERT_TRUE(Create(Listener(), &created).ok());

  std::vector<v1::Connection> all;
  v1::ListEndpointConnectionsRequest request;
  request.set_endpoint("web");
  request.set_include_subflows(true);
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    v1::ListEndpointConnectionsResponse page;
    ASSERT_TRUE(stub_->ListEndpointConnections(&ctx, request, &page).ok());
    all.insert(all.end(), page.connections().begin(), page.connections().end());
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);

  EXPECT_EQ(pages, 2);
  ASSERT_EQ(all.size(), 3u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(all[i], CannedConnection(i + 1, true)))
        << all[i].DebugString();
  }
  const v1::Subflow& backup = all[0].subflows(1);
  EXPECT_TRUE(backup.backup());
  EXPECT_EQ(backup.path(), "path1");
  EXPECT_EQ(TimeUtil::DurationToMicroseconds(backup.tcp().srtt()), 2500);
  EXPECT_EQ(backup.tcp().counters().at("retransmits"), 1u);
  EXPECT_EQ(all[0].local_token(), 0xdeadbeefu);
}

TEST_F(EndpointServiceTest, DeleteThenGetIsNotFound) {
  v1::CreateEndpointResponse created;
  ASSERT_TRUE(Create(Outgoing(), &created).ok());
  v1::DeleteEndpointRequest del;
  del.set_name("backend");
  {
    grpc::ClientContext ctx;
    v1::DeleteEndpointResponse response;
    ASSERT_TRUE(stub_->DeleteEndpoint(&ctx, del, &response).ok());
  }
  v1::GetEndpointRequest get;
  get.set_name("backend");
  grpc::ClientContext ctx;
  v1::GetEndpointResponse response;
  const grpc::Status status = stub_->GetEndpoint(&ctx, get, &response);
  EXPECT_EQ(FromGrpcStatus(status), absl::NotFoundError("no endpoint \"backend\""));
}

TEST_F(EndpointServiceTest, AgentErrorsArriveUnchanged) {
  v1::CreateEndpointResponse created;
  ASSERT_TRUE(Create(Listener(), &created).ok());
  EXPECT_EQ(FromGrpcStatus(Create(Listener(), &created)),
            absl::AlreadyExistsError("endpoint \"web\" exists"));
  v1::Endpoint no_kind;
  no_kind.set_name("nothing");
  EXPECT_EQ(FromGrpcStatus(Create(no_kind, &created)),
            absl::InvalidArgumentError("endpoint: name and kind are required"));
}

}  // namespace
}  // namespace braid::proto
