// rte_flow rules that steer a port's TCP traffic to the owning worker's RX queue (steering.h has
// the policy): a worker's client source-port range (as prefix/mask blocks on the TCP destination
// port of the replies), a pinned listen port, one established flow's 4-tuple. Each rule exists for
// IPv4 and IPv6. Every rule is validated before it is created, and creation can still fail (tap
// validates rules its kernel cannot install): both are returned as Status with the PMD's message.
// Control plane only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/io/steering.h"
#include "datapath/tcp/flow.h"

struct rte_flow;

namespace braid::io {

using FlowRuleId = uint32_t;

class FlowRules {
 public:
  explicit FlowRules(uint16_t port) : port_(port) {}
  FlowRules(const FlowRules&) = delete;
  FlowRules& operator=(const FlowRules&) = delete;
  // Destroys the rules it created (errors are lost: call RemoveAll to see them). Before the port
  // is closed.
  ~FlowRules();

  // Can this port steer by TCP destination port? Validates the rule SteerPortRange would create
  // (IPv4 and IPv6), then creates and destroys one to be sure. Unimplemented (ENOSYS/ENOTSUP) on
  // PMDs without rte_flow; the PMD's message otherwise.
  absl::Status Probe(uint16_t queue);

  // Replies to the connections a worker opens from `range` -> `queue`. All-or-nothing: on failure
  // the rules this call created are destroyed.
  absl::StatusOr<std::vector<FlowRuleId>> SteerPortRange(const PortRange& range, uint16_t queue);
  // Segments to a listen port pinned to one worker -> `queue`.
  absl::StatusOr<std::vector<FlowRuleId>> SteerListenPort(uint16_t port, uint16_t queue) {
    return SteerPortRange({port, port}, queue);
  }
  // One flow (local = our side, e.g. an MP_JOIN subflow handed to its connection's worker).
  absl::StatusOr<FlowRuleId> SteerFlow(const tcp::FlowKey& flow, uint16_t queue);

  absl::Status Remove(FlowRuleId id);
  absl::Status RemoveAll();
  size_t size() const;
  uint16_t port() const { return port_; }

 private:
  struct PortMatch {
    bool ipv6 = false;
    PortPrefix dst;
  };
  absl::Status Validate(const PortMatch& match, uint16_t queue);
  absl::StatusOr<FlowRuleId> CreatePortRule(const PortMatch& match, uint16_t queue);
  FlowRuleId Store(rte_flow* flow);

  uint16_t port_;
  std::vector<rte_flow*> rules_;  // index = FlowRuleId; nullptr = free slot
};

}  // namespace braid::io
