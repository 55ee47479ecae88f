// braidctl's side of DebugService (proto/braid/v1/debug.proto): one call per command to the
// node's braid-agent on its unix socket. Each call gets the --timeout deadline; the paged lists
// come back whole (every page, in order, one response). A failed call returns the agent's status
// as it sent it (proto::FromGrpcStatus: same code, same message), so braidctl can print the code's
// name.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "braid/v1/debug.grpc.pb.h"
#include "braid/v1/debug.pb.h"

namespace braid::braidctl {

class DebugClient {
 public:
  // `socket_path`: the agent's unix socket; `timeout`: each call's deadline (a capture's is its
  // duration limit plus `timeout`, or none).
  DebugClient(std::string_view socket_path, std::chrono::milliseconds timeout);

  absl::StatusOr<v1::GetStatusResponse> GetStatus();
  absl::StatusOr<v1::ListPodsResponse> ListPods(const v1::ListPodsRequest& request);
  // Follows next_page_token to the last page; the answer holds every connection and no token.
  // INTERNAL when the agent hands out the same token twice (paging would never end).
  absl::StatusOr<v1::ListConnectionsResponse> ListAllConnections(
      v1::ListConnectionsRequest request);
  // As ListAllConnections, for subflows.
  absl::StatusOr<v1::ListSubflowsResponse> ListAllSubflows(v1::ListSubflowsRequest request);
  absl::StatusOr<v1::ListCountersResponse> ListCounters(const v1::ListCountersRequest& request);
  absl::StatusOr<v1::GetLogLevelResponse> GetLogLevel(const v1::GetLogLevelRequest& request);
  absl::StatusOr<v1::SetLogLevelResponse> SetLogLevel(const v1::SetLogLevelRequest& request);

  // Streams a capture, handing each message to `sink` in order. The call is cancelled when
  // `sink` returns false (the output failed) or when `*stop` becomes true (a signal); both then
  // end with CANCELLED. Otherwise: OK when the agent ended the stream, or its error.
  absl::Status Capture(const v1::CaptureRequest& request,
                       const std::function<bool(const v1::CaptureResponse&)>& sink,
                       const std::atomic<bool>* stop);

 private:
  std::chrono::system_clock::time_point Deadline() const;

  std::chrono::milliseconds timeout_;
  std::unique_ptr<v1::DebugService::Stub> stub_;
};

}  // namespace braid::braidctl
