#include "datapath/mptcp/scheduler/scheduler.h"

#include <string>
#include <utility>
#include <vector>

#include "datapath/mptcp/scheduler/blest.h"
#include "datapath/mptcp/scheduler/ecf.h"
#include "datapath/mptcp/scheduler/lowest_rtt.h"
#include "datapath/mptcp/scheduler/redundant.h"
#include "datapath/mptcp/scheduler/round_robin.h"

namespace braid::mptcp {

namespace {

template <typename T>
SchedulerFactory FactoryOf() {
  return [] { return std::make_unique<T>(); };
}

std::string Quoted(std::string_view name) { return "\"" + std::string(name) + "\""; }

std::string Joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace

SchedulerRegistry::SchedulerRegistry() {
  // Straight into the map: Register() refuses the name "default", which only the constructor
  // may bind.
  factories_.emplace(std::string(kDefault), FactoryOf<LowestRttScheduler>());
  factories_.emplace(std::string(RoundRobinScheduler::kName), FactoryOf<RoundRobinScheduler>());
  factories_.emplace(std::string(RedundantScheduler::kName), FactoryOf<RedundantScheduler>());
  factories_.emplace(std::string(BlestScheduler::kName), FactoryOf<BlestScheduler>());
  factories_.emplace(std::string(EcfScheduler::kName), FactoryOf<EcfScheduler>());
}

absl::Status SchedulerRegistry::Register(std::string name, SchedulerFactory factory) {
  if (name.empty()) return absl::InvalidArgumentError("scheduler name must not be empty");
  if (!factory) {
    return absl::InvalidArgumentError("scheduler " + Quoted(name) + " has no factory");
  }
  if (name == kDefault) {
    return absl::AlreadyExistsError("scheduler " + Quoted(name) +
                                    " is the built-in default and cannot be replaced");
  }
  if (factories_.contains(name)) {
    return absl::AlreadyExistsError("scheduler " + Quoted(name) + " is already registered");
  }
  factories_.emplace(std::move(name), std::move(factory));
  return absl::OkStatus();
}

absl::Status SchedulerRegistry::Unregister(std::string_view name) {
  if (name == kDefault) {
    return absl::FailedPreconditionError("scheduler " + Quoted(name) +
                                         " is the default and cannot be removed");
  }
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    return absl::NotFoundError("unknown scheduler " + Quoted(name) + "; known: " + Joined(Names()));
  }
  factories_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Scheduler>> SchedulerRegistry::Create(std::string_view name) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    return absl::NotFoundError("unknown scheduler " + Quoted(name) + "; known: " + Joined(Names()));
  }
  std::unique_ptr<Scheduler> scheduler = it->second();
  if (scheduler == nullptr) {
    return absl::InternalError("the factory of scheduler " + Quoted(name) + " returned nothing");
  }
  return scheduler;
}

bool SchedulerRegistry::Contains(std::string_view name) const {
  return factories_.find(name) != factories_.end();
}

std::vector<std::string> SchedulerRegistry::Names() const {
  std::vector<std::string> names;
  names.reserve(factories_.size());
  // std::map keeps them sorted.
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;
}

}  // namespace braid::mptcp
