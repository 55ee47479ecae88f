// The agent's gRPC services on its unix socket (proto/braid/v1): CniService for braid-cni and
// DebugService for braidctl. Each call's absl::Status goes out unchanged (proto::ToGrpcStatus)
// and its duration is observed in the agent's histograms.
#pragma once

#include "braid/v1/cni.grpc.pb.h"
#include "braid/v1/debug.grpc.pb.h"

namespace braid::agent {

class Agent;

class CniServiceImpl final : public braid::v1::CniService::Service {
 public:
  explicit CniServiceImpl(Agent& agent) : agent_(agent) {}
  grpc::Status Add(grpc::ServerContext*, const braid::v1::CniAddRequest* request,
                   braid::v1::CniAddResponse* response) override;
  grpc::Status Del(grpc::ServerContext*, const braid::v1::CniDelRequest* request,
                   braid::v1::CniDelResponse* response) override;
  grpc::Status Check(grpc::ServerContext*, const braid::v1::CniCheckRequest* request,
                     braid::v1::CniCheckResponse* response) override;
  grpc::Status Status(grpc::ServerContext*, const braid::v1::CniStatusRequest* request,
                      braid::v1::CniStatusResponse* response) override;
  grpc::Status Gc(grpc::ServerContext*, const braid::v1::CniGcRequest* request,
                  braid::v1::CniGcResponse* response) override;

 private:
  Agent& agent_;
};

// GetStatus, ListPods, ListCounters, ListConnections and ListSubflows (the MPTCP connections,
// paged), Capture (a path's or a connection's frames as one pcap stream; one capture at a
// time), Get/SetLogLevel.
class DebugServiceImpl final : public braid::v1::DebugService::Service {
 public:
  explicit DebugServiceImpl(Agent& agent) : agent_(agent) {}
  grpc::Status GetStatus(grpc::ServerContext*, const braid::v1::GetStatusRequest* request,
                         braid::v1::GetStatusResponse* response) override;
  grpc::Status ListPods(grpc::ServerContext*, const braid::v1::ListPodsRequest* request,
                        braid::v1::ListPodsResponse* response) override;
  grpc::Status ListCounters(grpc::ServerContext*, const braid::v1::ListCountersRequest* request,
                            braid::v1::ListCountersResponse* response) override;
  grpc::Status GetLogLevel(grpc::ServerContext*, const braid::v1::GetLogLevelRequest* request,
                           braid::v1::GetLogLevelResponse* response) override;
  grpc::Status SetLogLevel(grpc::ServerContext*, const braid::v1::SetLogLevelRequest* request,
                           braid::v1::SetLogLevelResponse* response) override;
  grpc::Status ListConnections(grpc::ServerContext*,
                               const braid::v1::ListConnectionsRequest* request,
                               braid::v1::ListConnectionsResponse* response) override;
  grpc::Status ListSubflows(grpc::ServerContext*, const braid::v1::ListSubflowsRequest* request,
                            braid::v1::ListSubflowsResponse* response) override;
  grpc::Status Capture(grpc::ServerContext*, const braid::v1::CaptureRequest* request,
                       grpc::ServerWriter<braid::v1::CaptureResponse>* writer) override;

 private:
  Agent& agent_;
};

}  // namespace braid::agent
