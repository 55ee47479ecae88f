#include "datapath/channel/service/pod_services.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <variant>

#include "datapath/net/net_stack.h"

namespace braid::channel {

struct JobState {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  bool ran = false;  // false: the app ended before running the job
};

namespace {

absl::Status NetStatus(net::NetError e, const std::string& what) {
  const std::string message = what + ": " + std::string(net::NetErrorName(e));
  switch (e) {
    case net::NetError::kOk:
      return absl::OkStatus();
    case net::NetError::kDuplicateAddress:
      return absl::AlreadyExistsError(message);
    case net::NetError::kNotFound:
      return absl::NotFoundError(message);
    default:
      return absl::InvalidArgumentError(message);
  }
}

bool SameFamily(const wire::IpAddress& a, const wire::IpAddress& b) {
  return a.index() == b.index();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PodServicesApp>> PodServicesApp::Create(Config config) {
  if (std::string error = config.geometry.Validate(); !error.empty()) {
    return absl::InvalidArgumentError("channel geometry: " + error);
  }
  if (absl::Status s = config.limits.Validate(); !s.ok()) return s;
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake.valid()) return absl::ErrnoToStatus(errno, "pod services: eventfd");
  return std::unique_ptr<PodServicesApp>(new PodServicesApp(std::move(config), std::move(wake)));
}

PodServicesApp::PodServicesApp(Config config, UniqueFd wake)
    : config_(std::move(config)), wake_(std::move(wake)) {}

PodServicesApp::~PodServicesApp() { FailJobs(); }

// ---- Any thread --------------------------------------------------------------------------------

absl::Status PodServicesApp::Post(std::function<void(runtime::Worker&, tcp::Instant)> fn) {
  auto state = std::make_shared<JobState>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!accepting_) return absl::UnavailableError("datapath worker not running");
    jobs_.push_back(Job{std::move(fn), state});
  }
  const uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof(one)) < 0 && errno != EAGAIN) {
    return absl::ErrnoToStatus(errno, "pod services: eventfd write");
  }
  std::unique_lock<std::mutex> lock(state->mutex);
  if (!state->cv.wait_for(lock, config_.call_timeout, [&] { return state->done; })) {
    return absl::DeadlineExceededError("datapath worker did not answer within " +
                                       std::to_string(config_.call_timeout.count()) + " ms");
  }
  if (!state->ran) return absl::UnavailableError("datapath worker stopped");
  return absl::OkStatus();
}

absl::Status PodServicesApp::AddPod(PodServiceSpec spec) {
  // The listener moves into the closure; a call that times out leaves it with the worker, which
  // either serves it or drops it with the closure.
  auto shared = std::make_shared<PodServiceSpec>(std::move(spec));
  absl::StatusOr<absl::Status> r = Call<absl::Status>(
      [this, shared](runtime::Worker&, tcp::Instant now) { return AddPodOnWorker(*shared, now); });
  return r.ok() ? *r : r.status();
}

absl::Status PodServicesApp::RemovePod(const std::string& id) {
  absl::StatusOr<absl::Status> r = Call<absl::Status>(
      [this, id](runtime::Worker&, tcp::Instant now) { return RemovePodOnWorker(id, now); });
  return r.ok() ? *r : r.status();
}

std::vector<PodServiceInfo> PodServicesApp::Pods() {
  absl::StatusOr<std::vector<PodServiceInfo>> r =
      Call<std::vector<PodServiceInfo>>([this](runtime::Worker&, tcp::Instant) {
        std::vector<PodServiceInfo> out;
        for (const Pod& p : pods_) {
          out.push_back(
              {p.id, p.service->Sessions(), p.service->tracked_sockets(), p.service->counters()});
        }
        return out;
      });
  return r.ok() ? std::move(*r) : std::vector<PodServiceInfo>{};
}

void PodServicesApp::RequestStop() {
  stop_requested_.store(true, std::memory_order_relaxed);
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
}

// ---- The worker's thread -----------------------------------------------------------------------

void PodServicesApp::Start(runtime::Worker& worker, tcp::Instant /*now*/) {
  worker_ = &worker;
  std::lock_guard<std::mutex> lock(mutex_);
  accepting_ = true;
}

bool PodServicesApp::Poll(tcp::Instant now) {
  if (done_) return false;
  if (stop_requested_.load(std::memory_order_relaxed)) {
    for (Pod& p : pods_) {
      p.service->Stop(now);
      for (const PodAddress& a : p.addresses) {
        (void)worker_->net().RemoveAddress(a.interface, a.address);
      }
    }
    pods_.clear();
    done_ = true;
    FailJobs();
    return true;  // the resets go out in this iteration's flush
  }
  bool work = RunJobs(now);
  for (Pod& p : pods_) work |= p.service->Poll(now);
  return work;
}

bool PodServicesApp::RunJobs(tcp::Instant now) {
  uint64_t count;
  (void)!::read(wake_.get(), &count, sizeof(count));
  std::deque<Job> jobs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs.swap(jobs_);
  }
  for (Job& job : jobs) {
    job.fn(*worker_, now);
    std::lock_guard<std::mutex> lock(job.state->mutex);
    job.state->ran = true;
    job.state->done = true;
    job.state->cv.notify_all();
  }
  return !jobs.empty();
}

void PodServicesApp::FailJobs() {
  std::deque<Job> jobs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    accepting_ = false;
    jobs.swap(jobs_);
  }
  for (Job& job : jobs) {
    std::lock_guard<std::mutex> lock(job.state->mutex);
    job.state->done = true;
    job.state->cv.notify_all();
  }
}

ServiceScope PodServicesApp::ScopeFor(const PodServiceSpec& spec) {
  const std::vector<PodAddress>& addresses = spec.addresses;
  ServiceScope scope;
  if (!addresses.empty()) {
    for (const PodAddress& a : addresses) scope.addresses.push_back(a.address);
    // The pod's address on the interface the route to `remote` leaves by (architecture.md §7:
    // a pod has an address on each path), so replies come back on the same path.
    scope.source_for =
        [this, addresses](const wire::IpAddress& remote) -> std::optional<wire::IpAddress> {
      const std::optional<net::NextHop> hop = worker_->net().RouteTo(remote);
      if (!hop) return std::nullopt;
      for (const PodAddress& a : addresses) {
        if (a.interface == hop->interface && SameFamily(a.address, remote)) return a.address;
      }
      return std::nullopt;
    };
  }
  if (spec.policy_for) {
    scope.policy_for = spec.policy_for;
  } else if (spec.policy != nullptr) {
    scope.policy_for = [policy = spec.policy](const wire::IpAddress&, uint16_t, bool) {
      return policy;
    };
  }
  scope.on_accepted = spec.on_accepted;
  return scope;
}

absl::Status PodServicesApp::AddPodOnWorker(PodServiceSpec& spec, tcp::Instant now) {
  if (spec.id.empty()) return absl::InvalidArgumentError("pod service: empty id");
  for (const Pod& p : pods_) {
    if (p.id == spec.id) return absl::AlreadyExistsError("pod service " + spec.id + ": exists");
  }
  if (spec.policy != nullptr && worker_->mptcp() != nullptr) {
    if (absl::Status s = worker_->mptcp()->ValidatePolicy(*spec.policy); !s.ok()) {
      return absl::InvalidArgumentError("pod " + spec.id + ": " + std::string(s.message()));
    }
  }
  net::NetStack& net = worker_->net();
  std::vector<PodAddress> added;
  auto undo = [&] {
    for (const PodAddress& a : added) (void)net.RemoveAddress(a.interface, a.address);
  };
  for (const PodAddress& a : spec.addresses) {
    const net::NetError e = net.AddAddress(a.interface, a.address, a.prefix_len, now);
    if (e != net::NetError::kOk) {
      undo();
      return NetStatus(e, "pod " + spec.id + ": address " + wire::ToString(a.address) + "/" +
                              std::to_string(a.prefix_len) + " on interface " +
                              std::to_string(a.interface));
    }
    added.push_back(a);
  }
  auto service =
      std::make_unique<ChannelService>(WorkerSocketApis(*worker_), config_.tcp, ScopeFor(spec));
  if (absl::Status s = service->Listen(std::move(spec.listener), config_.geometry, config_.limits);
      !s.ok()) {
    undo();
    return absl::Status(s.code(), "pod " + spec.id + ": " + std::string(s.message()));
  }
  pods_.push_back(Pod{spec.id, std::move(added), std::move(service)});
  return absl::OkStatus();
}

absl::Status PodServicesApp::RemovePodOnWorker(const std::string& id, tcp::Instant now) {
  auto it = std::find_if(pods_.begin(), pods_.end(), [&](const Pod& p) { return p.id == id; });
  if (it == pods_.end()) return absl::NotFoundError("pod service " + id + ": not found");
  it->service->Stop(now);
  for (const PodAddress& a : it->addresses) {
    (void)worker_->net().RemoveAddress(a.interface, a.address);
  }
  pods_.erase(it);
  return absl::OkStatus();
}

// Every pod's service announces its sleep and lists its descriptors after the mailbox's; each
// one that announced hears the end of the sleep in FinishSleep, also when another one found work
// and the worker does not sleep (the worker then calls FinishSleep at once).
bool PodServicesApp::PrepareSleep(std::vector<pollfd>& fds) {
  sleep_ranges_.clear();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!jobs_.empty()) return false;
  }
  if (stop_requested_.load(std::memory_order_relaxed)) return false;
  fds.push_back(pollfd{wake_.get(), POLLIN, 0});
  bool sleep = true;
  for (Pod& p : pods_) {
    const size_t begin = fds.size();
    sleep &= p.service->PrepareSleep(fds);
    sleep_ranges_.push_back({begin, fds.size()});
  }
  return sleep;
}

void PodServicesApp::FinishSleep(std::span<const pollfd> fds) {
  for (size_t i = 0; i < sleep_ranges_.size() && i < pods_.size(); ++i) {
    const auto [begin, end] = sleep_ranges_[i];
    pods_[i].service->FinishSleep(end <= fds.size() ? fds.subspan(begin, end - begin)
                                                    : std::span<const pollfd>{});
  }
  sleep_ranges_.clear();
}

}  // namespace braid::channel
