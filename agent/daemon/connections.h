// The datapath's MPTCP connections as DebugService shows them (proto/braid/v1/mptcp.proto):
// read on the worker's thread into plain copies, converted to messages on the caller's. A
// connection's id is its socket handle, (index << 32) | generation, stable while it lives.
// Plain TCP sockets (an app's explicit IPPROTO_TCP) are not listed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "braid/v1/mptcp.pb.h"
#include "datapath/mptcp/connection.h"
#include "datapath/runtime/worker.h"
#include "datapath/tcp/flow.h"

namespace braid::agent {

struct ConnectionSnapshot {
  uint64_t id = 0;
  mptcp::MptcpInfo info;
  std::optional<tcp::FlowKey> flow;  // the initial subflow's addresses
  std::vector<mptcp::SubflowInfo> subflows;
  std::vector<std::string> subflow_paths;  // the path name of each subflow's local address
};

uint64_t ConnectionId(tcp::SocketId socket);

// On the worker's thread: every MPTCP connection, in handle order. `path_names[i]` names the
// worker's interface i (the config's paths, in order).
std::vector<ConnectionSnapshot> ReadConnections(runtime::Worker& worker,
                                                const std::vector<std::string>& path_names);

braid::v1::TcpInfo ToProto(const tcp::TcpInfo& info);
braid::v1::Subflow ToProto(const mptcp::SubflowInfo& subflow, uint64_t connection_id,
                           const std::string& path);
// Without subflows unless `with_subflows`.
braid::v1::Connection ToProto(const ConnectionSnapshot& c, bool with_subflows);

}  // namespace braid::agent
