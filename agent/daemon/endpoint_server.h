// EndpointService for every pod (proto/braid/v1/endpoint.proto) on one gRPC server without
// listening ports: each pod's `@braid/endpoint` socket is bound in the pod's namespace
// (BindPodSockets) and served here — a thread accepts on every pod's socket and hands each
// connection to the server (grpc::AddInsecureChannelFromFd), remembering which pod it came from.
// gRPC 1.51 cannot add listening ports after start or listen in another namespace (testbed.md).
//
// A call's pod is its connection's: gRPC names such a peer "fd:<n>", and the descriptor number
// is recorded at accept, before gRPC owns it; a number is reused only after gRPC closed it.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "braid/v1/endpoint.grpc.pb.h"
#include "datapath/channel/unique_fd.h"
#include "grpcpp/server.h"

namespace braid::agent {

class PodEndpoints;

class EndpointServer final : public braid::v1::EndpointService::Service {
 public:
  // The pod's endpoints by attachment id; NotFound when the pod is gone.
  using Lookup = std::function<absl::StatusOr<std::shared_ptr<PodEndpoints>>(const std::string&)>;
  // Called after a change, to persist the pod's endpoints.
  using Changed = std::function<absl::Status(const std::string&)>;
  // Live connections of the pod's endpoints, by endpoint name, and one endpoint's connections.
  using Connections = std::function<absl::StatusOr<std::vector<braid::v1::Connection>>(
      const std::string& id, const std::string& endpoint, bool with_subflows)>;

  static absl::StatusOr<std::unique_ptr<EndpointServer>> Start(Lookup lookup, Changed changed,
                                                               Connections connections);
  ~EndpointServer() override;

  // Serves the pod's listening socket (replacing one it had); Stop closes it.
  void Serve(const std::string& id, channel::UniqueFd listening);
  void Stop(const std::string& id);

  grpc::Status CreateEndpoint(grpc::ServerContext* context,
                              const braid::v1::CreateEndpointRequest* request,
                              braid::v1::CreateEndpointResponse* response) override;
  grpc::Status DeleteEndpoint(grpc::ServerContext* context,
                              const braid::v1::DeleteEndpointRequest* request,
                              braid::v1::DeleteEndpointResponse* response) override;
  grpc::Status GetEndpoint(grpc::ServerContext* context,
                           const braid::v1::GetEndpointRequest* request,
                           braid::v1::GetEndpointResponse* response) override;
  grpc::Status ListEndpoints(grpc::ServerContext* context,
                             const braid::v1::ListEndpointsRequest* request,
                             braid::v1::ListEndpointsResponse* response) override;
  grpc::Status ListEndpointConnections(
      grpc::ServerContext* context, const braid::v1::ListEndpointConnectionsRequest* request,
      braid::v1::ListEndpointConnectionsResponse* response) override;

 private:
  EndpointServer(Lookup lookup, Changed changed, Connections connections);
  void AcceptLoop();
  // The caller's pod: its attachment id and endpoints.
  absl::StatusOr<std::pair<std::string, std::shared_ptr<PodEndpoints>>> PodOf(
      grpc::ServerContext* context);
  void Refresh(const std::string& id, PodEndpoints& endpoints);

  Lookup lookup_;
  Changed changed_;
  Connections connections_;
  std::unique_ptr<grpc::Server> server_;
  channel::UniqueFd wake_;  // eventfd: the set of sockets changed, or stop
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::map<std::string, channel::UniqueFd> listening_;  // by attachment id
  std::map<int, std::string> peers_;                    // accepted fd -> attachment id
};

}  // namespace braid::agent
