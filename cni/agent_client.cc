#include "cni/agent_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <string>

#include "proto/status.h"

namespace braid::cni {
namespace {

void SetDeadline(grpc::ClientContext& context, std::chrono::milliseconds timeout) {
  context.set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace

AgentClient::AgentClient(std::string_view socket_path, std::chrono::milliseconds timeout)
    : target_("unix:" + std::string(socket_path)),
      timeout_(timeout),
      stub_(v1::CniService::NewStub(
          grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()))) {}

absl::Status AgentClient::Failed(std::string_view rpc, const grpc::Status& status) const {
  const absl::Status answer = proto::FromGrpcStatus(status);
  return absl::Status(answer.code(), "agent at " + target_ + ": " + std::string(rpc) + ": " +
                                         std::string(answer.message()));
}

absl::StatusOr<v1::CniAddResponse> AgentClient::Add(const v1::CniAddRequest& request) {
  grpc::ClientContext context;
  SetDeadline(context, timeout_);
  v1::CniAddResponse response;
  const grpc::Status status = stub_->Add(&context, request, &response);
  if (!status.ok()) return Failed("Add", status);
  return response;
}

absl::Status AgentClient::Del(const v1::CniDelRequest& request) {
  grpc::ClientContext context;
  SetDeadline(context, timeout_);
  v1::CniDelResponse response;
  const grpc::Status status = stub_->Del(&context, request, &response);
  return status.ok() ? absl::OkStatus() : Failed("Del", status);
}

absl::Status AgentClient::Check(const v1::CniCheckRequest& request) {
  grpc::ClientContext context;
  SetDeadline(context, timeout_);
  v1::CniCheckResponse response;
  const grpc::Status status = stub_->Check(&context, request, &response);
  return status.ok() ? absl::OkStatus() : Failed("Check", status);
}

absl::StatusOr<v1::CniStatusResponse> AgentClient::Status(const v1::CniStatusRequest& request) {
  grpc::ClientContext context;
  SetDeadline(context, timeout_);
  v1::CniStatusResponse response;
  const grpc::Status status = stub_->Status(&context, request, &response);
  if (!status.ok()) return Failed("Status", status);
  return response;
}

absl::StatusOr<v1::CniGcResponse> AgentClient::Gc(const v1::CniGcRequest& request) {
  grpc::ClientContext context;
  SetDeadline(context, timeout_);
  v1::CniGcResponse response;
  const grpc::Status status = stub_->Gc(&context, request, &response);
  if (!status.ok()) return Failed("Gc", status);
  return response;
}

}  // namespace braid::cni
