#include "datapath/io/flow_rules.h"

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_flow.h>

#include <cstring>
#include <iomanip>
#include <sstream>
#include <variant>

#include "datapath/io/errors.h"
#include "datapath/io/text.h"

namespace braid::io {
namespace {

// A probe rule's destination port: the discard service, unlikely to carry traffic during the
// microseconds the rule exists.
constexpr uint16_t kProbePort = 9;

// "<context>: <strerror> [PMD: <its message>, rte_flow error type N]"
absl::Status FlowError(int ret, const rte_flow_error& error, std::string_view context) {
  const absl::Status st = ReturnStatus(ret < 0 ? ret : -EINVAL, context);
  std::string pmd = Cat(" [PMD: ", error.message != nullptr ? error.message : "no message",
                        ", rte_flow error type ", static_cast<int>(error.type), "]");
  return absl::Status(st.code(), Cat(st.message(), pmd));
}

std::string Describe(bool ipv6, const PortPrefix& p, uint16_t queue) {
  std::ostringstream os;
  os << (ipv6 ? "ipv6" : "ipv4") << " tcp dst " << p.value << "/0x" << std::hex << std::setfill('0')
     << std::setw(4) << p.mask << std::dec << " -> queue " << queue;
  return os.str();
}

// The pattern and action arrays of one rule, with storage for their specs.
struct RuleParts {
  rte_flow_attr attr{};
  rte_flow_item_ipv4 ipv4_spec{};
  rte_flow_item_ipv4 ipv4_mask{};
  rte_flow_item_ipv6 ipv6_spec{};
  rte_flow_item_ipv6 ipv6_mask{};
  rte_flow_item_tcp tcp_spec{};
  rte_flow_item_tcp tcp_mask{};
  rte_flow_item pattern[4]{};
  rte_flow_action_queue queue{};
  rte_flow_action actions[2]{};

  // `with_addresses`: the IP items carry the spec/mask set by the caller; else they match any.
  void Build(bool ipv6, bool with_addresses, uint16_t queue_index) {
    attr.ingress = 1;
    pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
    if (ipv6) {
      pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV6;
      if (with_addresses) {
        pattern[1].spec = &ipv6_spec;
        pattern[1].mask = &ipv6_mask;
      }
    } else {
      pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
      if (with_addresses) {
        pattern[1].spec = &ipv4_spec;
        pattern[1].mask = &ipv4_mask;
      }
    }
    pattern[2].type = RTE_FLOW_ITEM_TYPE_TCP;
    pattern[2].spec = &tcp_spec;
    pattern[2].mask = &tcp_mask;
    pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
    queue.index = queue_index;
    actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
    actions[0].conf = &queue;
    actions[1].type = RTE_FLOW_ACTION_TYPE_END;
  }
};

void SetPortMatch(RuleParts& r, bool ipv6, const PortPrefix& dst, uint16_t queue) {
  r.tcp_spec.hdr.dst_port = rte_cpu_to_be_16(dst.value);
  r.tcp_mask.hdr.dst_port = rte_cpu_to_be_16(dst.mask);
  r.Build(ipv6, /*with_addresses=*/false, queue);
}

}  // namespace

FlowRules::~FlowRules() { RemoveAll().IgnoreError(); }

FlowRuleId FlowRules::Store(rte_flow* flow) {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i] == nullptr) {
      rules_[i] = flow;
      return static_cast<FlowRuleId>(i);
    }
  }
  rules_.push_back(flow);
  return static_cast<FlowRuleId>(rules_.size() - 1);
}

size_t FlowRules::size() const {
  size_t n = 0;
  for (rte_flow* f : rules_) n += f != nullptr ? 1 : 0;
  return n;
}

absl::Status FlowRules::Validate(const PortMatch& match, uint16_t queue) {
  RuleParts r;
  SetPortMatch(r, match.ipv6, match.dst, queue);
  rte_flow_error error{};
  const int ret = rte_flow_validate(port_, &r.attr, r.pattern, r.actions, &error);
  if (ret != 0) {
    return FlowError(
        ret, error,
        Cat("rte_flow_validate(port ", port_, ", ", Describe(match.ipv6, match.dst, queue), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<FlowRuleId> FlowRules::CreatePortRule(const PortMatch& match, uint16_t queue) {
  if (absl::Status st = Validate(match, queue); !st.ok()) return st;
  RuleParts r;
  SetPortMatch(r, match.ipv6, match.dst, queue);
  rte_flow_error error{};
  rte_flow* flow = rte_flow_create(port_, &r.attr, r.pattern, r.actions, &error);
  if (flow == nullptr) {
    return FlowError(
        -rte_errno, error,
        Cat("rte_flow_create(port ", port_, ", ", Describe(match.ipv6, match.dst, queue), ")"));
  }
  return Store(flow);
}

absl::Status FlowRules::Probe(uint16_t queue) {
  const PortPrefix probe{kProbePort, 0xffff};
  for (bool ipv6 : {false, true}) {
    if (absl::Status st = Validate({ipv6, probe}, queue); !st.ok()) return st;
  }
  absl::StatusOr<FlowRuleId> id = CreatePortRule({false, probe}, queue);
  if (!id.ok()) return id.status();
  return Remove(*id);
}

absl::StatusOr<std::vector<FlowRuleId>> FlowRules::SteerPortRange(const PortRange& range,
                                                                  uint16_t queue) {
  if (range.size() == 0 || range.first == 0) {
    return absl::InvalidArgumentError(
        Cat("port ", port_, ": empty or zero port range ", range.first, "-", range.last));
  }
  std::vector<FlowRuleId> ids;
  for (const PortPrefix& prefix : PortRangeToPrefixes(range)) {
    for (bool ipv6 : {false, true}) {
      absl::StatusOr<FlowRuleId> id = CreatePortRule({ipv6, prefix}, queue);
      if (!id.ok()) {
        for (FlowRuleId done : ids) Remove(done).IgnoreError();
        return absl::Status(id.status().code(), Cat(id.status().message(), " [range ", range.first,
                                                    "-", range.last, "]"));
      }
      ids.push_back(*id);
    }
  }
  return ids;
}

absl::StatusOr<FlowRuleId> FlowRules::SteerFlow(const tcp::FlowKey& flow, uint16_t queue) {
  if (flow.local.index() != flow.remote.index()) {
    return absl::InvalidArgumentError(
        "SteerFlow: local and remote addresses of different families");
  }
  RuleParts r;
  const bool ipv6 = !flow.is_ipv4();
  // Received segments: source = remote, destination = local.
  r.tcp_spec.hdr.src_port = rte_cpu_to_be_16(flow.remote_port);
  r.tcp_spec.hdr.dst_port = rte_cpu_to_be_16(flow.local_port);
  r.tcp_mask.hdr.src_port = 0xffff;
  r.tcp_mask.hdr.dst_port = 0xffff;
  if (ipv6) {
    const auto& local = std::get<wire::Ipv6Address>(flow.local);
    const auto& remote = std::get<wire::Ipv6Address>(flow.remote);
    std::memcpy(r.ipv6_spec.hdr.src_addr, remote.bytes.data(), 16);
    std::memcpy(r.ipv6_spec.hdr.dst_addr, local.bytes.data(), 16);
    std::memset(r.ipv6_mask.hdr.src_addr, 0xff, 16);
    std::memset(r.ipv6_mask.hdr.dst_addr, 0xff, 16);
  } else {
    const auto& local = std::get<wire::Ipv4Address>(flow.local);
    const auto& remote = std::get<wire::Ipv4Address>(flow.remote);
    std::memcpy(&r.ipv4_spec.hdr.src_addr, remote.bytes.data(), 4);
    std::memcpy(&r.ipv4_spec.hdr.dst_addr, local.bytes.data(), 4);
    r.ipv4_mask.hdr.src_addr = 0xffffffff;
    r.ipv4_mask.hdr.dst_addr = 0xffffffff;
  }
  r.Build(ipv6, /*with_addresses=*/true, queue);
  std::ostringstream what;
  what << "port " << port_ << ", flow " << flow << " -> queue " << queue;
  rte_flow_error error{};
  int ret = rte_flow_validate(port_, &r.attr, r.pattern, r.actions, &error);
  if (ret != 0) return FlowError(ret, error, Cat("rte_flow_validate(", what.str(), ")"));
  error = {};
  rte_flow* created = rte_flow_create(port_, &r.attr, r.pattern, r.actions, &error);
  if (created == nullptr) {
    return FlowError(-rte_errno, error, Cat("rte_flow_create(", what.str(), ")"));
  }
  return Store(created);
}

absl::Status FlowRules::Remove(FlowRuleId id) {
  if (id >= rules_.size() || rules_[id] == nullptr) {
    return absl::NotFoundError(Cat("port ", port_, ": no flow rule ", id));
  }
  rte_flow_error error{};
  const int ret = rte_flow_destroy(port_, rules_[id], &error);
  rules_[id] = nullptr;
  if (ret != 0) {
    return FlowError(ret, error, Cat("rte_flow_destroy(port ", port_, ", rule ", id, ")"));
  }
  return absl::OkStatus();
}

absl::Status FlowRules::RemoveAll() {
  absl::Status first;
  for (FlowRuleId id = 0; id < rules_.size(); ++id) {
    if (rules_[id] == nullptr) continue;
    absl::Status st = Remove(id);
    if (first.ok()) first = st;
  }
  rules_.clear();
  return first;
}

}  // namespace braid::io
