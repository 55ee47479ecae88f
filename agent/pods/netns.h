// The sockets the agent binds inside a pod's network namespace at CNI ADD (architecture.md §6):
// the app channel's handover socket (SOCK_SEQPACKET, datapath/channel/handover.h) and the pod's
// EndpointService (gRPC needs SOCK_STREAM), both abstract unix names. An abstract name belongs
// to the network namespace the socket was created in, so only processes in the pod's namespace
// can reach it, and the pod needs no volume mount to find it.
//
// setns(CLONE_NEWNET) moves only the calling thread, and a thread left in a pod's namespace
// would create every later socket there: the sockets are made on a short-lived thread of their
// own that enters the namespace and ends, so the caller's thread never changes namespace.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/channel/unique_fd.h"

namespace braid::agent {

inline constexpr std::string_view kDefaultChannelSocket = "@braid/node";
inline constexpr std::string_view kDefaultEndpointSocket = "@braid/endpoint";

// Abstract names: a leading '@', then 1..106 bytes without NUL.
struct PodSocketNames {
  std::string channel{kDefaultChannelSocket};    // SOCK_SEQPACKET, the app channel's handover
  std::string endpoint{kDefaultEndpointSocket};  // SOCK_STREAM, the EndpointService (gRPC)
};

// Listening sockets, non-blocking and close-on-exec, created in the pod's network namespace.
struct PodSockets {
  channel::UniqueFd channel;
  channel::UniqueFd endpoint;
};

// Binds and listens on both names in the network namespace at `netns_path` ("/var/run/netns/x",
// "/proc/<pid>/ns/net"). Errors name the path and the step: InvalidArgument (a name that is
// not abstract, too long, or both names the same); CheckNetns's errors; setns's errno
// (PermissionDenied without CAP_SYS_ADMIN); AlreadyExists when a name is already bound in that
// namespace; socket/bind/listen's errno otherwise. Nothing stays bound after an error.
absl::StatusOr<PodSockets> BindPodSockets(const std::string& netns_path,
                                          const PodSocketNames& names = {});

// Whether `path` is a network namespace: NotFound when it does not exist (the errno's code for
// other open errors), FailedPrecondition when it is not a namespace (a deleted namespace leaves
// an empty file behind) or a namespace of another type.
absl::Status CheckNetns(const std::string& path);

// The gRPC target of a unix socket name: "@braid/endpoint" -> "unix-abstract:braid/endpoint"
// (CniAddResponse.endpoint_service_address), "/run/x.sock" -> "unix:/run/x.sock".
std::string GrpcTarget(std::string_view socket_name);

}  // namespace braid::agent
