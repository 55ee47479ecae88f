// braid-cni's side of CniService (proto/braid/v1/cni.proto): one call per CNI verb to the node's
// braid-agent on its unix socket, each with a deadline. A failed call comes back as the agent's
// absl::Status (proto::FromGrpcStatus: same code, same message), prefixed with where and what
// ("agent at unix:/run/braid/agent.sock: Add: ..."); error.h's ToCniError turns its code into the
// CNI error code (proto::CniErrorCode). An agent that is not running is UNAVAILABLE: CNI error 11.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "braid/v1/cni.grpc.pb.h"
#include "braid/v1/cni.pb.h"

namespace braid::cni {

class AgentClient {
 public:
  // `socket_path`: the agent's unix socket ("/run/braid/agent.sock"); `timeout`: each call's.
  AgentClient(std::string_view socket_path, std::chrono::milliseconds timeout);

  // "unix:/run/braid/agent.sock"
  const std::string& target() const { return target_; }

  absl::StatusOr<v1::CniAddResponse> Add(const v1::CniAddRequest& request);
  absl::Status Del(const v1::CniDelRequest& request);
  absl::Status Check(const v1::CniCheckRequest& request);
  absl::StatusOr<v1::CniStatusResponse> Status(const v1::CniStatusRequest& request);
  absl::StatusOr<v1::CniGcResponse> Gc(const v1::CniGcRequest& request);

 private:
  absl::Status Failed(std::string_view rpc, const grpc::Status& status) const;

  std::string target_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<v1::CniService::Stub> stub_;
};

}  // namespace braid::cni
