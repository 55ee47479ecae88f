// The agent's worker app (architecture.md §2, §6-7): one ChannelService per pod on the worker's
// socket layers, each scoped to the pod's addresses and MPTCP options, added and removed while the
// worker runs; plus a mailbox through which the agent's control threads run code on the worker's
// thread (adding a pod, reading counters and connections for metrics and braidctl).
//
// Threading: AddPod, RemovePod, Call and RequestStop come from any thread; they post to the
// mailbox, ring its eventfd (which wakes a sleeping worker) and wait for the worker's answer with
// a deadline. Everything else runs on the worker's thread. A call that finds the worker gone
// (stopped, or not answering in time) fails with Unavailable / DeadlineExceeded; its closure,
// if it runs later, touches only state it owns.
#pragma once

#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/channel/handover.h"
#include "datapath/channel/layout.h"
#include "datapath/channel/service/service.h"
#include "datapath/channel/service/service_app.h"
#include "datapath/channel/unique_fd.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/net/interface.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/runtime/worker.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::channel {

// One address of a pod: on which of the worker's interfaces (a path), with its prefix length.
struct PodAddress {
  net::InterfaceId interface = 0;
  wire::IpAddress address;
  uint8_t prefix_len = 0;
};

struct PodServiceSpec {
  std::string id;            // unique among the app's pods (the agent's attachment key)
  ChannelListener listener;  // bound in the pod's network namespace (ChannelListener::Adopt)
  // The pod's addresses; empty: a node-wide service (every address, the worker's defaults).
  std::vector<PodAddress> addresses;
  // The pod's MPTCP options for every connection; null: the worker's defaults.
  std::shared_ptr<const mptcp::ConnectionPolicy> policy;
  // When set, chooses each listen's and connect's policy instead (the pod's endpoints,
  // ServiceScope::policy_for; called on the worker's thread), and hears of accepted connections.
  std::function<std::shared_ptr<const mptcp::ConnectionPolicy>(const wire::IpAddress& address,
                                                               uint16_t port, bool listen)>
      policy_for;
  std::function<void(const wire::IpAddress& local, uint16_t port)> on_accepted;
};

// A pod as the worker sees it (for braidctl and metrics).
struct PodServiceInfo {
  std::string id;
  std::vector<SessionInfo> sessions;
  size_t tracked_sockets = 0;
  ServiceCounters counters;
};

class PodServicesApp final : public runtime::WorkerApp, private runtime::WakeSources {
 public:
  struct Config {
    Geometry geometry = DefaultServiceGeometry();
    ServiceLimits limits;
    tcp::TcpConfig tcp;  // every socket's starting options
    // How long a control call waits for the worker.
    std::chrono::milliseconds call_timeout{5000};
  };

  // InvalidArgument when the geometry or limits are bad.
  static absl::StatusOr<std::unique_ptr<PodServicesApp>> Create(Config config);
  ~PodServicesApp() override;
  PodServicesApp(const PodServicesApp&) = delete;
  PodServicesApp& operator=(const PodServicesApp&) = delete;

  // ---- Any thread ------------------------------------------------------------------------------

  // Adds the pod's addresses to their interfaces (announced at once: gratuitous ARP /
  // unsolicited NA) and starts its service. AlreadyExists for a known id or an address another
  // pod or the node has; InvalidArgument for a bad address or interface; nothing stays half-added
  // on failure.
  absl::Status AddPod(PodServiceSpec spec);
  // Stops the pod's service (its apps see the service gone, its connections are reset towards
  // their peers) and removes its addresses. NotFound for an unknown id.
  absl::Status RemovePod(const std::string& id);
  std::vector<PodServiceInfo> Pods();

  // Runs `fn` on the worker's thread and returns its result. Unavailable once the app is done
  // or before the worker started it; DeadlineExceeded when the worker did not answer in time.
  template <typename T>
  absl::StatusOr<T> Call(std::function<T(runtime::Worker&, tcp::Instant)> fn) {
    auto result = std::make_shared<std::optional<T>>();
    absl::Status s = Post([fn = std::move(fn), result](runtime::Worker& w, tcp::Instant now) {
      result->emplace(fn(w, now));
    });
    if (!s.ok()) return s;
    return std::move(**result);
  }

  // Async-signal-safe: the worker stops every pod's service at its next iteration; then Done.
  void RequestStop();

  // ---- runtime::WorkerApp (the worker's thread) -------------------------------------------------
  void Start(runtime::Worker& worker, tcp::Instant now) override;
  bool Done() const override { return done_; }
  bool Poll(tcp::Instant now) override;
  runtime::WakeSources* wake_sources() override { return this; }

 private:
  struct Pod {
    std::string id;
    std::vector<PodAddress> addresses;
    std::unique_ptr<ChannelService> service;
  };
  struct Job {
    std::function<void(runtime::Worker&, tcp::Instant)> fn;
    // Shared with the poster, who waits on it; the worker marks it done.
    std::shared_ptr<struct JobState> state;
  };

  explicit PodServicesApp(Config config, UniqueFd wake);
  // Queues `fn` and waits for it to have run.
  absl::Status Post(std::function<void(runtime::Worker&, tcp::Instant)> fn);
  bool RunJobs(tcp::Instant now);
  void FailJobs();
  absl::Status AddPodOnWorker(PodServiceSpec& spec, tcp::Instant now);
  absl::Status RemovePodOnWorker(const std::string& id, tcp::Instant now);
  ServiceScope ScopeFor(const PodServiceSpec& spec);

  // runtime::WakeSources.
  bool PrepareSleep(std::vector<pollfd>& fds) override;
  void FinishSleep(std::span<const pollfd> fds) override;

  Config config_;
  UniqueFd wake_;  // eventfd: a job was posted
  runtime::Worker* worker_ = nullptr;
  std::vector<Pod> pods_;
  bool done_ = false;
  std::atomic<bool> stop_requested_{false};

  std::mutex mutex_;
  std::deque<Job> jobs_;    // guarded by mutex_
  bool accepting_ = false;  // guarded by mutex_: the worker started and is not done

  // The sleep: each pod's descriptors in the worker's pollfd array, [begin, end).
  std::vector<std::pair<size_t, size_t>> sleep_ranges_;
};

}  // namespace braid::channel
