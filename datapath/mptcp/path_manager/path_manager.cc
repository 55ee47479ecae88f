#include "datapath/mptcp/path_manager/path_manager.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "datapath/mptcp/path_manager/kernel_pm.h"
#include "datapath/mptcp/path_manager/ndiffports_pm.h"
#include "datapath/mptcp/path_manager/userspace_pm.h"
#include "datapath/wire/address.h"

namespace braid::mptcp {

std::string_view SubflowCloseReasonName(SubflowCloseReason reason) {
  switch (reason) {
    case SubflowCloseReason::kPeerReset:
      return "peer_reset";
    case SubflowCloseReason::kTimeout:
      return "timeout";
    case SubflowCloseReason::kJoinFailed:
      return "join_failed";
    case SubflowCloseReason::kRemoved:
      return "removed";
    case SubflowCloseReason::kLocalClose:
      return "local_close";
    case SubflowCloseReason::kPathDown:
      return "path_down";
    case SubflowCloseReason::kConnectionClosed:
      return "connection_closed";
  }
  return "unknown";
}

namespace {

// "2s", "500ms", "250us", "7ns": the largest unit that shows the value exactly.
std::string FormatDuration(tcp::Duration d) {
  using std::chrono::duration_cast;
  if (d.count() != 0) {
    if (d % std::chrono::seconds(1) == tcp::Duration::zero()) {
      return absl::StrCat(duration_cast<std::chrono::seconds>(d).count(), "s");
    }
    if (d % std::chrono::milliseconds(1) == tcp::Duration::zero()) {
      return absl::StrCat(duration_cast<std::chrono::milliseconds>(d).count(), "ms");
    }
    if (d % std::chrono::microseconds(1) == tcp::Duration::zero()) {
      return absl::StrCat(duration_cast<std::chrono::microseconds>(d).count(), "us");
    }
  }
  return absl::StrCat(d.count(), "ns");
}

absl::Status CheckLimit(std::string_view field, uint32_t value) {
  if (value <= kMaxPmLimit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(field), ": ", value, " exceeds the maximum of ", kMaxPmLimit));
}

absl::Status CheckPositive(std::string_view field, tcp::Duration value) {
  if (value > tcp::Duration::zero()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(field), ": ", FormatDuration(value), " must be positive"));
}

absl::Status CheckEndpoints(const std::vector<Endpoint>& endpoints) {
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const Endpoint& ep = endpoints[i];
    const std::string name = absl::StrCat("endpoints[", i, "]");
    if (ep.id == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ".id: 0 is reserved for the initial address"));
    }
    const bool unspecified =
        std::visit([](const auto& a) { return a.IsUnspecified(); }, ep.address);
    if (unspecified) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ".address: ", wire::ToString(ep.address), " is unspecified"));
    }
    if (ep.port.has_value()) {
      // ip-mptcp(8): the port is where a listener takes the joins to an announced address.
      if (!ep.signal) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ".port: ", *ep.port, " is only allowed with signal"));
      }
      if (*ep.port == 0) {
        return absl::InvalidArgumentError(absl::StrCat(name, ".port: 0 is not a valid port"));
      }
    }
    // The kernel refuses the pair too (pm_netlink.c: "flags mustn't have both signal and
    // fullmesh"): fullmesh is about subflows this side opens, not addresses it announces.
    if (ep.signal && ep.fullmesh) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ".fullmesh: true cannot be combined with signal"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (endpoints[j].id == ep.id) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ".id: ", ep.id, " is already used by endpoints[", j, "]"));
      }
      if (endpoints[j].address == ep.address) {
        return absl::InvalidArgumentError(absl::StrCat(name,
                                                       ".address: ", wire::ToString(ep.address),
                                                       " is already used by endpoints[", j, "]"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePathManagerConfig(const PathManagerConfig& config) {
  if (config.policy.empty()) return absl::InvalidArgumentError("policy: must not be empty");
  if (absl::Status s = CheckLimit("limits.subflows", config.limits.subflows); !s.ok()) return s;
  if (absl::Status s = CheckLimit("limits.add_addr_accepted", config.limits.add_addr_accepted);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckEndpoints(config.endpoints); !s.ok()) return s;
  if (config.ndiffports < 1 || config.ndiffports > kMaxPmLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("ndiffports: ", config.ndiffports, " is outside 1..", kMaxPmLimit));
  }
  if (absl::Status s = CheckPositive("add_addr_timeout", config.add_addr_timeout); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckPositive("recreate_min", config.recreate_min); !s.ok()) return s;
  if (absl::Status s = CheckPositive("recreate_max", config.recreate_max); !s.ok()) return s;
  if (config.recreate_min > config.recreate_max) {
    return absl::InvalidArgumentError(
        absl::StrCat("recreate_min: ", FormatDuration(config.recreate_min),
                     " is above recreate_max (", FormatDuration(config.recreate_max), ")"));
  }
  return absl::OkStatus();
}

PathManagerRegistry::PathManagerRegistry() {
  factories_.emplace(std::string(KernelPathManager::kName), [](const PathManagerConfig& config) {
    return std::make_unique<KernelPathManager>(config);
  });
  factories_.emplace(std::string(NdiffportsPathManager::kName),
                     [](const PathManagerConfig& config) {
                       return std::make_unique<NdiffportsPathManager>(config);
                     });
  factories_.emplace(std::string(UserspacePathManager::kName), [](const PathManagerConfig& config) {
    return std::make_unique<UserspacePathManager>(config);
  });
}

absl::Status PathManagerRegistry::Register(std::string name, PathManagerFactory factory) {
  if (name.empty()) return absl::InvalidArgumentError("path manager name must not be empty");
  if (!factory) {
    return absl::InvalidArgumentError(
        absl::StrCat("path manager \"", name, "\": the factory is empty"));
  }
  if (factories_.contains(name)) {
    return absl::AlreadyExistsError(
        absl::StrCat("path manager \"", name, "\" is already registered"));
  }
  factories_.emplace(std::move(name), std::move(factory));
  return absl::OkStatus();
}

absl::Status PathManagerRegistry::Unregister(std::string_view name) {
  if (name == kDefault) {
    return absl::FailedPreconditionError(absl::StrCat("path manager \"", std::string(name),
                                                      "\" is the default and cannot be removed"));
  }
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown path manager \"", std::string(name),
                                            "\" (known: ", absl::StrJoin(Names(), ", "), ")"));
  }
  factories_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PathManager>> PathManagerRegistry::Create(
    const PathManagerConfig& config) const {
  auto it = factories_.find(config.policy);
  if (it == factories_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown path manager \"", config.policy,
                                            "\" (known: ", absl::StrJoin(Names(), ", "), ")"));
  }
  if (absl::Status s = ValidatePathManagerConfig(config); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("path manager \"", config.policy, "\": ", s.message()));
  }
  std::unique_ptr<PathManager> pm = it->second(config);
  if (pm == nullptr) {
    return absl::InternalError(
        absl::StrCat("path manager \"", config.policy, "\": the factory returned nothing"));
  }
  return pm;
}

bool PathManagerRegistry::Contains(std::string_view name) const {
  return factories_.contains(name);
}

std::vector<std::string> PathManagerRegistry::Names() const {
  std::vector<std::string> names;
  names.reserve(factories_.size());
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;
}

}  // namespace braid::mptcp
