// CNI results (CNI spec, "Result types") in and out of braid-cni: host-local's addresses split by
// path for the agent, the ADD result built from the agent's answer in the negotiated version
// (0.3.x/0.4.0 write ips[].version, 1.1.0 adds interfaces[].socketPath), chained mode's
// prevResult merged in front, and the attachment's addresses read back from prevResult for
// CHECK.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "braid/v1/cni.pb.h"
#include "braid/v1/common.pb.h"
#include "cni/config.h"
#include "cni/env.h"
#include "cni/error.h"
#include "cni/json.h"

namespace braid::cni {

// host-local's `ips` grouped by the path whose ranges hold each address, every path of `config`
// once and in order, with the path's configured routes. An address outside every path, or a
// path left without an address, is CNI error 5 (host-local did not do what it was asked).
absl::StatusOr<std::vector<v1::PathIpConfig>> SplitByPath(const NetworkConfig& config,
                                                          const JsonValue& host_local_result);

// The ADD result in `config.cni_version`: prevResult's interfaces, ips, routes and dns first
// (chained mode), then the attachment's interface {name: CNI_IFNAME, sandbox: CNI_NETNS,
// socketPath (1.1.0)}, its addresses per path pointing at that interface, and its routes; a
// route without a gateway gets the gateway of the path's address of its family. `ipam_dns`:
// host-local's dns, used when prevResult has none (may be nullptr).
JsonValue BuildAddResult(const NetworkConfig& config, const CniEnv& env,
                         const v1::CniAddResponse& response, const JsonValue* ipam_dns);

// CHECK: the attachment's addresses and routes per path, read from prevResult: the last
// interface named CNI_IFNAME in sandbox CNI_NETNS is the attachment's (braid-cni appends its own
// after any earlier plugin's); its ips are split by path like host-local's; a route is the
// path's whose ranges hold its gateway (earlier plugins' routes do not point into Braid's paths).
// CNI error 7 when prevResult does not hold the attachment.
absl::StatusOr<std::vector<v1::PathIpConfig>> PathsFromPrevResult(const NetworkConfig& config,
                                                                  const CniEnv& env);

// {"cniVersion", "code", "msg", "details"}; details only when there are some.
JsonValue ErrorResult(std::string_view version, const CniError& error);

// VERSION's answer: {"cniVersion", "supportedVersions"}.
JsonValue VersionResult(std::string_view version);

}  // namespace braid::cni
