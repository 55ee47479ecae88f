// CniService over a real in-process gRPC server on a unix-abstract address: what braid-cni sends
// arrives intact, the answers come back, and the agent's absl::Status reaches the plugin
// unchanged and becomes the CNI error code README.md promises.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "braid/v1/cni.grpc.pb.h"
#include "braid/v1/cni.pb.h"
#include "gtest/gtest.h"
#include "proto/status.h"
#include "tests/unit/proto/in_process_server.h"

namespace braid::proto {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::Deadline;
using testing::InProcessServer;

// TEST DOUBLE of the agent's CniService: it keeps attachments in a map and knows two paths. It
// answers errors the way the agent does: an absl::Status turned into the gRPC status by
// ToGrpcStatus.
class FakeCniAgent final : public v1::CniService::Service {
 public:
  grpc::Status Add(grpc::ServerContext*, const v1::CniAddRequest* request,
                   v1::CniAddResponse* response) override {
    std::lock_guard lock(mu_);
    last_add_ = *request;
    for (const v1::PathIpConfig& path : request->paths()) {
      if (path.path() != "path0" && path.path() != "path1") {
        return ToGrpcStatus(
            absl::InvalidArgumentError("paths: unknown path \"" + path.path() + "\""));
      }
    }
    attachments_[Key(request->attachment())] = request->network_name();
    response->set_socket_path("@braid/node");
    response->set_endpoint_service_address("unix-abstract:braid/endpoint");
    *response->mutable_paths() = request->paths();
    return grpc::Status::OK;
  }

  grpc::Status Del(grpc::ServerContext*, const v1::CniDelRequest* request,
                   v1::CniDelResponse*) override {
    std::lock_guard lock(mu_);
    attachments_.erase(Key(request->attachment()));  // already gone is success
    return grpc::Status::OK;
  }

  grpc::Status Check(grpc::ServerContext*, const v1::CniCheckRequest* request,
                     v1::CniCheckResponse*) override {
    std::lock_guard lock(mu_);
    if (!attachments_.contains(Key(request->attachment()))) {
      return ToGrpcStatus(absl::NotFoundError("no attachment " +
                                              request->attachment().container_id() + "/" +
                                              request->attachment().ifname()));
    }
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext*, const v1::CniStatusRequest*,
                      v1::CniStatusResponse* response) override {
    std::lock_guard lock(mu_);
    response->set_readiness(readiness_);
    if (readiness_ != v1::CNI_READINESS_READY) response->set_message("datapath starting");
    return grpc::Status::OK;
  }

  grpc::Status Gc(grpc::ServerContext*, const v1::CniGcRequest* request,
                  v1::CniGcResponse* response) override {
    std::lock_guard lock(mu_);
    std::set<std::pair<std::string, std::string>> valid;
    for (const v1::CniAttachment& a : request->valid_attachments()) valid.insert(Key(a));
    for (auto it = attachments_.begin(); it != attachments_.end();) {
      if (it->second == request->network_name() && !valid.contains(it->first)) {
        v1::CniAttachment* removed = response->add_removed_attachments();
        removed->set_container_id(it->first.first);
        removed->set_ifname(it->first.second);
        it = attachments_.erase(it);
      } else {
        ++it;
      }
    }
    return grpc::Status::OK;
  }

  v1::CniAddRequest last_add() {
    std::lock_guard lock(mu_);
    return last_add_;
  }
  void set_readiness(v1::CniReadiness readiness) {
    std::lock_guard lock(mu_);
    readiness_ = readiness;
  }

 private:
  static std::pair<std::string, std::string> Key(const v1::CniAttachment& a) {
    return {a.container_id(), a.ifname()};
  }

  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::string> attachments_;
  v1::CniAddRequest last_add_;
  v1::CniReadiness readiness_ = v1::CNI_READINESS_READY;
};

v1::CniAttachment Attachment(const std::string& container_id) {
  v1::CniAttachment a;
  a.set_container_id(container_id);
  a.set_ifname("braid0");
  return a;
}

// What braid-cni sends for a pod with two paths and options from both sources.
v1::CniAddRequest AddRequest(const std::string& container_id) {
  v1::CniAddRequest r;
  *r.mutable_attachment() = Attachment(container_id);
  r.set_netns_path("/var/run/netns/cni-1234");
  r.mutable_pod()->set_namespace_("default");
  r.mutable_pod()->set_name("web-0");
  r.mutable_pod()->set_uid("8d7f0a3c-5b7e-4a57-9d1c-2f1e3a4b5c6d");
  r.set_network_name("braid");
  v1::PodOption* o = r.add_options();
  o->set_name("scheduler");
  o->set_value("blest");
  o->set_source(v1::OPTION_SOURCE_POD_ANNOTATION);
  o = r.add_options();
  o->set_name("paths");
  o->set_value("path0,path1");
  o->set_source(v1::OPTION_SOURCE_CNI_ARGS);
  const char* const subnets[] = {"192.0.2", "198.51.100"};
  for (int i = 0; i < 2; ++i) {
    v1::PathIpConfig* path = r.add_paths();
    path->set_path("path" + std::to_string(i));
    v1::IpAddressConfig* ip = path->add_ips();
    ip->set_address(std::string(subnets[i]) + ".10/24");
    ip->set_gateway(std::string(subnets[i]) + ".1");
    v1::Route* route = path->add_routes();
    route->set_destination(std::string(subnets[i]) + ".0/24");
  }
  return r;
}

class CniServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.address();
    stub_ = v1::CniService::NewStub(server_.NewChannel());
  }

  FakeCniAgent agent_;
  InProcessServer server_{agent_, "cni"};
  std::unique_ptr<v1::CniService::Stub> stub_;
};

TEST_F(CniServiceTest, AddArrivesIntactAndAnswersWhatTheCniResultNeeds) {
  const v1::CniAddRequest request = AddRequest("c1");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::CniAddResponse response;
  ASSERT_TRUE(stub_->Add(&ctx, request, &response).ok());

  EXPECT_TRUE(MessageDifferencer::Equals(agent_.last_add(), request))
      << agent_.last_add().DebugString();
  EXPECT_EQ(response.socket_path(), "@braid/node");
  EXPECT_EQ(response.endpoint_service_address(), "unix-abstract:braid/endpoint");
  ASSERT_EQ(response.paths_size(), 2);
  EXPECT_EQ(response.paths(1).path(), "path1");
  EXPECT_EQ(response.paths(1).ips(0).address(), "198.51.100.10/24");
  EXPECT_EQ(response.paths(1).ips(0).gateway(), "198.51.100.1");
}

TEST_F(CniServiceTest, DelThenCheckIsNotFoundAndDelAgainSucceeds) {
  {
    grpc::ClientContext ctx;
    v1::CniAddResponse response;
    ASSERT_TRUE(stub_->Add(&ctx, AddRequest("c1"), &response).ok());
  }
  v1::CniCheckRequest check;
  *check.mutable_attachment() = Attachment("c1");
  {
    grpc::ClientContext ctx;
    v1::CniCheckResponse response;
    EXPECT_TRUE(stub_->Check(&ctx, check, &response).ok());
  }
  v1::CniDelRequest del;
  *del.mutable_attachment() = Attachment("c1");
  del.set_network_name("braid");
  for (int i = 0; i < 2; ++i) {  // the second DEL finds nothing: still a success (CNI)
    grpc::ClientContext ctx;
    v1::CniDelResponse response;
    EXPECT_TRUE(stub_->Del(&ctx, del, &response).ok()) << "DEL #" << i + 1;
  }
  grpc::ClientContext ctx;
  v1::CniCheckResponse response;
  const grpc::Status status = stub_->Check(&ctx, check, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CniErrorCode(FromGrpcStatus(status).code()), kCniUnknownContainer);
}

TEST_F(CniServiceTest, AgentErrorReachesThePluginUnchanged) {
  v1::CniAddRequest request = AddRequest("c2");
  request.mutable_paths(1)->set_path("path7");
  grpc::ClientContext ctx;
  v1::CniAddResponse response;
  const grpc::Status status = stub_->Add(&ctx, request, &response);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "paths: unknown path \"path7\"");
  const absl::Status back = FromGrpcStatus(status);
  EXPECT_EQ(back, absl::InvalidArgumentError("paths: unknown path \"path7\""));
  EXPECT_EQ(CniErrorCode(back.code()), kCniInvalidNetworkConfig);
}

TEST_F(CniServiceTest, StatusReportsReadinessAsCniCodes) {
  for (const auto& [readiness, code] :
       {std::pair{v1::CNI_READINESS_READY, kCniOk},
        std::pair{v1::CNI_READINESS_NOT_READY, kCniNotAvailable},
        std::pair{v1::CNI_READINESS_DEGRADED, kCniNotAvailableMayDisrupt}}) {
    agent_.set_readiness(readiness);
    v1::CniStatusRequest request;
    request.set_network_name("braid");
    grpc::ClientContext ctx;
    v1::CniStatusResponse response;
    const grpc::Status status = stub_->Status(&ctx, request, &response);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(response.readiness(), readiness);
    EXPECT_EQ(response.message().empty(), readiness == v1::CNI_READINESS_READY);
    EXPECT_EQ(CniStatusErrorCode(FromGrpcStatus(status), response.readiness()), code)
        << v1::CniReadiness_Name(readiness);
  }
}

TEST_F(CniServiceTest, GcRemovesWhatIsNotValidInThatNetworkOnly) {
  for (const char* id : {"keep", "stale1", "stale2"}) {
    grpc::ClientContext ctx;
    v1::CniAddResponse response;
    ASSERT_TRUE(stub_->Add(&ctx, AddRequest(id), &response).ok());
  }
  {
    v1::CniAddRequest other = AddRequest("other-net");
    other.set_network_name("braid-b");
    grpc::ClientContext ctx;
    v1::CniAddResponse response;
    ASSERT_TRUE(stub_->Add(&ctx, other, &response).ok());
  }
  v1::CniGcRequest gc;
  gc.set_network_name("braid");
  *gc.add_valid_attachments() = Attachment("keep");
  grpc::ClientContext ctx;
  v1::CniGcResponse response;
  ASSERT_TRUE(stub_->Gc(&ctx, gc, &response).ok());

  std::vector<std::string> removed;
  for (const v1::CniAttachment& a : response.removed_attachments()) {
    EXPECT_EQ(a.ifname(), "braid0");
    removed.push_back(a.container_id());
  }
  EXPECT_EQ(removed, (std::vector<std::string>{"stale1", "stale2"}));
}

// braid-cni's STATUS when no agent listens: the call fails, and the plugin says 50.
TEST(CniServiceNoAgentTest, StatusWithoutAnAgentIsNotAvailable) {
  auto stub = v1::CniService::NewStub(grpc::CreateChannel(testing::UniqueAbstractAddress("nobody"),
                                                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(std::chrono::milliseconds(500)));
  v1::CniStatusResponse response;
  const grpc::Status status = stub->Status(&ctx, v1::CniStatusRequest(), &response);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(CniStatusErrorCode(FromGrpcStatus(status), response.readiness()), kCniNotAvailable);
  EXPECT_EQ(CniErrorCode(FromGrpcStatus(status).code()), kCniTryAgainLater);
}

}  // namespace
}  // namespace braid::proto
