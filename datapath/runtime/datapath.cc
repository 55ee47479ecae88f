#include "datapath/runtime/datapath.h"

#include <sys/random.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "datapath/io/eal.h"
#include "datapath/io/lcore.h"
#include "datapath/io/port_spec.h"
#include "datapath/io/text.h"
#include "datapath/runtime/clock.h"

namespace braid::runtime {
namespace {

using io::Cat;

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  return absl::Status(status.code(), Cat(context, ": ", std::string(status.message())));
}

absl::StatusOr<tcp::SipKey> RandomKey() {
  uint64_t words[2];
  if (getrandom(words, sizeof(words), 0) != static_cast<ssize_t>(sizeof(words))) {
    return absl::InternalError(Cat("getrandom: ", std::strerror(errno)));
  }
  return tcp::SipKey{words[0], words[1]};
}

// Frames a worker's handoff ring holds: at least an RX ring's worth, so a worker descheduled for
// a moment (a shared small machine) does not drop what the steering worker handed it.
constexpr unsigned kHandoffRingSize = 4096;

// Distinguishes the pools and rings of several datapaths in one process (tests start more than
// one; their names must be unique in the EAL).
std::atomic<unsigned> instance_counter{0};

// Keeps a worker's loop running until the apps of every worker are done: its RX queue still
// carries frames of the other workers' flows (the device's hash picks the queue, not the flow's
// owner), and only this worker hands them over. A client app lives on worker 0 alone, so the
// other workers' apps are done at once, yet the replies may arrive on their queues.
class UntilAllDone final : public WorkerApp {
 public:
  UntilAllDone(WorkerApp& app, std::atomic<size_t>& done, size_t workers)
      : app_(app), done_(done), workers_(workers) {}
  void Start(Worker& worker, tcp::Instant now) override { app_.Start(worker, now); }
  void OnTimer(uint64_t cookie, tcp::Instant now) override { app_.OnTimer(cookie, now); }
  bool Poll(tcp::Instant now) override { return app_.Poll(now); }
  WakeSources* wake_sources() override { return app_.wake_sources(); }
  bool Done() const override {
    if (!counted_ && app_.Done()) {
      counted_ = true;
      done_.fetch_add(1, std::memory_order_relaxed);
    }
    return done_.load(std::memory_order_relaxed) == workers_;
  }

 private:
  WorkerApp& app_;
  std::atomic<size_t>& done_;
  size_t workers_;
  mutable bool counted_ = false;  // this app's done was added to done_
};

struct Launch {
  Worker* worker;
  WorkerApp* app;
  const std::atomic<bool>* stop;
};

int RunWorker(void* arg) {
  auto* l = static_cast<Launch*>(arg);
  l->worker->Run(*l->app, *l->stop);
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Datapath>> Datapath::Start(const DatapathConfig& config) {
  if (config.workers == 0 || config.workers > io::kMaxWorkers) {
    return absl::InvalidArgumentError(
        Cat("workers: ", config.workers, " (1..", io::kMaxWorkers, ")"));
  }
  if (config.paths.empty()) return absl::InvalidArgumentError("no paths: nothing to run on");
  if (absl::Status s = config.idle.Validate(); !s.ok()) return Annotate(s, "idle");
  if (config.mptcp && config.workers > 1) {
    // Joins to a listener arrive on whichever worker the 4-tuple hashes to, not the one that owns
    // the connection's token; handing them over (architecture.md §5) is not built yet.
    return absl::UnimplementedError(
        Cat("mptcp with ", config.workers, " workers: MPTCP runs on one worker for now"));
  }
  if (config.mptcp) {
    if (absl::Status s = mptcp::ValidatePathManagerConfig(config.mptcp->path_manager); !s.ok()) {
      return Annotate(s, "mptcp path manager");
    }
    if (!mptcp::PathManagerRegistry().Contains(config.mptcp->path_manager.policy)) {
      return absl::InvalidArgumentError(
          Cat("mptcp path manager: unknown policy ", config.mptcp->path_manager.policy));
    }
    if (!mptcp::SchedulerRegistry().Contains(config.mptcp->scheduler)) {
      return absl::InvalidArgumentError(Cat("mptcp scheduler: unknown ", config.mptcp->scheduler));
    }
  }

  std::unique_ptr<Datapath> dp(new Datapath());
  dp->config_ = config;
  if (absl::Status s = io::Eal::Init(config.eal); !s.ok()) return Annotate(s, "EAL");

  dp->lcores_.push_back(io::MainLcore());
  for (unsigned lcore : io::WorkerLcores()) {
    if (dp->lcores_.size() == config.workers) break;
    dp->lcores_.push_back(lcore);
  }
  if (dp->lcores_.size() < config.workers) {
    return absl::InvalidArgumentError(
        Cat(config.workers, " workers need as many EAL lcores; the EAL has ", dp->lcores_.size()));
  }

  const unsigned instance = instance_counter.fetch_add(1);
  const auto npaths = static_cast<uint32_t>(config.paths.size());
  for (uint16_t w = 0; w < config.workers; ++w) {
    absl::StatusOr<std::string> name = io::MempoolName(Cat("d", instance), w, 0);
    if (!name.ok()) return name.status();
    const io::MempoolSizing sizing{.rx_queues = npaths,
                                   .rx_desc = config.rx_desc,
                                   .tx_queues = npaths,
                                   .tx_desc = config.tx_desc,
                                   .tx_batch = io::kMaxTxBatch,
                                   .handoff_ring = config.workers > 1 ? kHandoffRingSize : 0u,
                                   .cache_size = 256,
                                   .extra = 2048};
    absl::StatusOr<io::Mempool> pool =
        io::Mempool::Create({.name = *name,
                             .mbufs = io::MbufsFor(sizing),
                             .cache_size = 256,
                             .data_room = io::kDefaultDataRoom,
                             .socket = io::LcoreSocket(dp->lcores_[w])});
    if (!pool.ok()) return Annotate(pool.status(), Cat("worker ", w, " mempool"));
    dp->pools_.push_back(std::move(*pool));
  }

  std::vector<rte_mempool*> rx_pools;
  for (const io::Mempool& p : dp->pools_) rx_pools.push_back(p.get());
  for (size_t i = 0; i < config.paths.size(); ++i) {
    const PathConfig& path = config.paths[i];
    const std::string where = Cat("path ", i, " (", path.port, ")");
    absl::StatusOr<io::PortSpec> spec = io::ParsePortSpec(path.port);
    if (!spec.ok()) return Annotate(spec.status(), where);
    io::PortConfig pc;
    pc.spec = *spec;
    pc.rx_queues = config.workers;
    pc.tx_queues = config.workers;
    pc.rx_desc = config.rx_desc;
    pc.tx_desc = config.tx_desc;
    pc.mtu = path.mtu;
    absl::StatusOr<std::unique_ptr<io::Port>> port = io::Port::Open(pc, rx_pools);
    if (!port.ok()) return Annotate(port.status(), where);
    if (absl::StatusOr<io::LinkState> link = (*port)->WaitForLink(config.link_timeout);
        !link.ok()) {
      return Annotate(link.status(), Cat(where, ": link"));
    }
    dp->ports_.push_back(std::move(*port));
  }

  // Several workers: every frame is steered in software to the worker that owns its flow
  // (architecture.md §5). Client ports are split so replies find the worker that connected.
  std::vector<io::PortRange> client_ranges(config.workers, config.ephemeral);
  if (config.workers > 1) {
    client_ranges = io::SplitPortRange(config.ephemeral, config.workers);
    if (client_ranges.size() != config.workers) {
      return absl::InvalidArgumentError("ephemeral port range too small for the workers");
    }
    io::SteeringConfig sc;
    sc.workers = config.workers;
    sc.client_ranges = client_ranges;
    if (config.fixed_secrets) {
      sc.hash_key = config.net.secret;
    } else {
      absl::StatusOr<tcp::SipKey> key = RandomKey();
      if (!key.ok()) return key.status();
      sc.hash_key = *key;
    }
    absl::StatusOr<io::SteeringTable> table = io::SteeringTable::Create(sc);
    if (!table.ok()) return Annotate(table.status(), "steering");
    dp->steering_ = std::make_unique<io::SteeringTable>(std::move(*table));
    for (uint16_t w = 0; w < config.workers; ++w) {
      absl::StatusOr<io::HandoffRing> ring = io::HandoffRing::Create(
          Cat("braid_h", instance, "_", w), kHandoffRingSize, io::LcoreSocket(dp->lcores_[w]));
      if (!ring.ok()) return Annotate(ring.status(), Cat("worker ", w, " handoff ring"));
      dp->rings_.push_back(std::move(*ring));
    }
    for (io::HandoffRing& r : dp->rings_) dp->ring_ptrs_.push_back(&r);
  }

  const tcp::Instant now = MonotonicNow();
  for (uint16_t w = 0; w < config.workers; ++w) {
    WorkerConfig wc;
    wc.id = w;
    wc.rx_burst = config.rx_burst;
    wc.idle = config.idle;
    wc.net = config.net;
    wc.net.max_mtu = 0;
    for (const PathConfig& p : config.paths) wc.net.max_mtu = std::max(wc.net.max_mtu, p.mtu);
    wc.tcp = config.tcp;
    wc.mptcp = config.mptcp;
    wc.sockets.ephemeral.first = client_ranges[w].first;
    wc.sockets.ephemeral.last = client_ranges[w].last;
    if (!config.fixed_secrets) {
      for (tcp::SipKey* key : {&wc.net.secret, &wc.tcp.secret, &wc.sockets.ephemeral.secret}) {
        absl::StatusOr<tcp::SipKey> k = RandomKey();
        if (!k.ok()) return k.status();
        *key = *k;
      }
    }
    std::vector<io::RxQueue> rx;
    std::vector<io::TxQueueConfig> tx;
    for (const auto& port : dp->ports_) {
      rx.push_back(port->rx_queue(w));
      tx.push_back({.port = port->id(),
                    .queue = w,
                    .pool = dp->pools_[w].get(),
                    .offloads = port->offloads(),
                    .batch = 32});
    }
    auto worker = std::make_unique<Worker>(wc, rx, tx, dp->steering_.get(), dp->ring_ptrs_);
    std::vector<Worker::LinkWatch> watches;
    for (size_t i = 0; i < config.paths.size(); ++i) {
      const PathConfig& p = config.paths[i];
      const io::Port& port = *dp->ports_[i];
      net::InterfaceConfig ic;
      ic.name = Cat("path", i);
      ic.port = port.id();
      ic.mac = p.mac.value_or(port.mac());
      ic.vlan = p.vlan;
      ic.mtu = p.mtu;
      ic.ipv4 = p.ipv4;
      ic.ipv6 = p.ipv6;
      ic.ipv4_gateway = p.ipv4_gateway;
      ic.ipv6_gateway = p.ipv6_gateway;
      ic.tx_tcp_checksum_offload = port.offloads().tx_tcp_checksum;
      net::InterfaceId id = 0;
      if (net::NetError e = worker->net().AddInterface(ic, &id); e != net::NetError::kOk) {
        return absl::InvalidArgumentError(Cat("path ", i, " interface: ", net::NetErrorName(e)));
      }
      for (const PathConfig::Route& r : p.routes) {
        std::optional<wire::IpAddress> gateway = r.gateway;
        if (!gateway) {
          if (wire::IsIpv4(r.prefix) && p.ipv4_gateway) gateway = *p.ipv4_gateway;
          if (!wire::IsIpv4(r.prefix) && p.ipv6_gateway) gateway = *p.ipv6_gateway;
        }
        const net::NetError e = worker->net().AddRoute(
            {.prefix = r.prefix, .prefix_len = r.prefix_len, .interface = id, .gateway = gateway});
        if (e != net::NetError::kOk) {
          return absl::InvalidArgumentError(Cat("path ", i, " route ", wire::ToString(r.prefix),
                                                "/", r.prefix_len, ": ", net::NetErrorName(e)));
        }
      }
      // Every worker's stack announces its addresses (gratuitous ARP / unsolicited NA): a few
      // duplicate frames at start, in exchange for every worker's neighbour state being its own.
      worker->net().SetInterfaceUp(id, true, now);
      watches.push_back({.interface = id, .port = &port});
    }
    if (config.link_poll.count() > 0) {
      worker->WatchLinks(std::move(watches),
                         std::chrono::duration_cast<tcp::Duration>(config.link_poll));
    }
    dp->workers_.push_back(std::move(worker));
  }
  return dp;
}

Datapath::~Datapath() {
  workers_.clear();
  rings_.clear();
  for (auto& port : ports_) {
    if (port) (void)port->Close();
  }
  ports_.clear();
  pools_.clear();
}

absl::Status Datapath::Run(std::span<WorkerApp* const> apps) {
  if (apps.size() != workers_.size()) {
    return absl::InvalidArgumentError(Cat(apps.size(), " apps for ", workers_.size(), " workers"));
  }
  std::atomic<size_t> done{0};
  std::vector<std::unique_ptr<UntilAllDone>> wrapped;
  std::vector<Launch> launches(workers_.size());
  for (size_t w = 0; w < workers_.size(); ++w) {
    wrapped.push_back(std::make_unique<UntilAllDone>(*apps[w], done, workers_.size()));
    launches[w] = {workers_[w].get(), wrapped.back().get(), &stop_};
  }
  for (size_t w = 1; w < workers_.size(); ++w) {
    if (absl::Status s = io::LaunchOnLcore(lcores_[w], RunWorker, &launches[w]); !s.ok()) {
      Stop();
      for (size_t v = 1; v < w; ++v) io::WaitLcore(lcores_[v]);
      return Annotate(s, Cat("worker ", w));
    }
  }
  RunWorker(&launches[0]);
  // Every app is done (or Stop was called): the other workers leave their loops too.
  for (size_t w = 1; w < workers_.size(); ++w) io::WaitLcore(lcores_[w]);
  return absl::OkStatus();
}

}  // namespace braid::runtime
