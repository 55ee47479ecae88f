#include "datapath/runtime/worker.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <array>

#include "datapath/io/mbuf.h"
#include "datapath/io/port.h"
#include "datapath/runtime/clock.h"

namespace braid::runtime {
namespace {

tcp::Duration ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return tcp::Duration(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
}

}  // namespace

Worker::Worker(const WorkerConfig& config, std::span<const io::RxQueue> rx,
               std::span<const io::TxQueueConfig> tx, const io::SteeringTable* steering,
               std::span<io::HandoffRing* const> rings)
    : config_(config),
      rx_(rx.begin(), rx.end()),
      wheel_(config.timers, MonotonicNow()),
      idle_(config.idle),
      scratch_(std::max<size_t>(config.net.max_mtu + 64, 16384)) {
  config_.rx_burst = std::clamp<uint16_t>(config_.rx_burst, 1, io::kMaxDispatchBurst);
  for (const io::TxQueueConfig& t : tx) {
    tx_queues_.push_back(std::make_unique<io::TxQueue>(t));
    tx_.Attach(tx_queues_.back().get());
  }
  net_ = std::make_unique<net::NetStack>(config_.net, sink_);
  tcp_ = std::make_unique<tcp::NativeTcpBackend>(config_.tcp, *net_);
  net_->AttachTcp(tcp_.get());
  sockets_ = std::make_unique<TcpSockets>(config_.sockets, *tcp_, *net_);
  if (config_.mptcp) {
    absl::StatusOr<std::unique_ptr<mptcp::MptcpSockets>> m =
        mptcp::MptcpSockets::Create(*config_.mptcp, *sockets_);
    if (m.ok()) mptcp_ = std::move(*m);
  }
  if (steering != nullptr && steering->workers() > 1 && config_.id < rings.size()) {
    steering_ = std::make_unique<io::SoftwareSteering>(steering, config_.id, rings);
    inbox_ = rings[config_.id];
  }
}

Worker::~Worker() {
  // Frames still batched go back to the pool (counted tx_ring_full by the queues).
  tx_.Flush();
}

tcp::SocketApi& Worker::stream_sockets() {
  if (mptcp_) return *mptcp_;
  return *sockets_;
}

size_t Worker::DispatchSockets(tcp::Instant now) {
  return mptcp_ ? mptcp_->Dispatch(now) + sockets_->Dispatch(now) : sockets_->Dispatch(now);
}

void Worker::WatchLinks(std::vector<LinkWatch> watches, tcp::Duration period) {
  if (link_timer_.valid()) wheel_.Cancel(link_timer_);
  link_timer_ = {};
  link_watches_ = std::move(watches);
  link_period_ = period;
}

void Worker::CheckLinks(tcp::Instant now) {
  for (const LinkWatch& w : link_watches_) {
    const net::Interface* iface = net_->interface(w.interface);
    if (iface == nullptr || w.port == nullptr) continue;
    const bool up = w.port->Link().up;
    if (iface->up == up) continue;
    ++stats_.link_changes;
    // Copies: SetInterfaceUp and MPTCP's reaction may change the interface's address list.
    const std::vector<net::Ipv4Cidr> v4 = iface->config.ipv4;
    const std::vector<net::Ipv6Cidr> v6 = iface->config.ipv6;
    net_->SetInterfaceUp(w.interface, up, now);
    if (!mptcp_) continue;
    for (const net::Ipv4Cidr& a : v4) mptcp_->OnPathChange(wire::IpAddress(a.address), up, now);
    for (const net::Ipv6Cidr& a : v6) mptcp_->OnPathChange(wire::IpAddress(a.address), up, now);
  }
}

TimerHandle Worker::ScheduleTimer(tcp::Instant deadline, uint64_t cookie) {
  return wheel_.Schedule(deadline, cookie + kAppTimerBase);
}

size_t Worker::ReceiveFrames(std::span<rte_mbuf* const> frames, tcp::Instant now) {
  io::IoCounters& counters = rx_.empty() ? handoff_counters_ : rx_.front().counters();
  for (rte_mbuf* m : frames) {
    const std::span<const uint8_t> frame = io::ContiguousFrame(m, scratch_, counters);
    if (frame.empty()) continue;
    if (tap_ != nullptr) tap_->OnFrame(m->port, frame, /*tx=*/false, now);
    net_->Receive(m->port, frame, now, io::RxOffloadOf(m));
  }
  io::FreeFrames(frames);
  return frames.size();
}

void Worker::Rearm(TimerHandle& handle, std::optional<tcp::Instant> at,
                   std::optional<tcp::Instant>& armed, uint64_t cookie) {
  if (at == armed) return;
  if (handle.valid()) wheel_.Cancel(handle);
  handle = {};
  armed = at;
  if (at) handle = wheel_.Schedule(*at, cookie);
}

void Worker::ArmEngineTimers() {
  Rearm(tcp_timer_, tcp_->PollAt(), tcp_armed_, kTcpTimer);
  Rearm(net_timer_, net_->PollAt(), net_armed_, kNetTimer);
  if (mptcp_) Rearm(mptcp_timer_, mptcp_->PollAt(), mptcp_armed_, kMptcpTimer);
}

bool Worker::RunOnce(tcp::Instant now) {
  ++stats_.iterations;
  now_ = now;
  net_->SetNow(now);
  size_t work = 0;

  // RX: device queues, split by owner when steering; then frames other workers handed to us.
  std::array<rte_mbuf*, io::kMaxDispatchBurst> burst;
  for (io::RxQueue& q : rx_) {
    uint16_t n = q.Burst(std::span<rte_mbuf*>(burst.data(), config_.rx_burst));
    if (n == 0) continue;
    if (steering_) n = steering_->Dispatch(std::span<rte_mbuf* const>(burst.data(), n), burst);
    work += ReceiveFrames(std::span<rte_mbuf* const>(burst.data(), n), now);
  }
  if (inbox_ != nullptr) {
    const unsigned n = io::ReceiveHandoff(*inbox_, burst, handoff_counters_);
    if (n != 0) work += ReceiveFrames(std::span<rte_mbuf* const>(burst.data(), n), now);
  }
  stats_.rx_frames += work;

  // Events from what arrived, then the app's own work (which may send), then whatever is due.
  work += DispatchSockets(now);
  if (app_ != nullptr && app_->Poll(now)) {
    ++work;
    work += DispatchSockets(now);
  }
  ArmEngineTimers();
  const size_t fired = wheel_.Advance(now, [&](TimerHandle handle, uint64_t cookie) {
    if (cookie == kTcpTimer) {
      if (handle == tcp_timer_) tcp_armed_.reset(), tcp_timer_ = {};
      tcp_->Poll(now);
    } else if (cookie == kNetTimer) {
      if (handle == net_timer_) net_armed_.reset(), net_timer_ = {};
      net_->Poll(now);
    } else if (cookie == kMptcpTimer) {
      if (handle == mptcp_timer_) mptcp_armed_.reset(), mptcp_timer_ = {};
      if (mptcp_) mptcp_->Poll(now);
    } else if (cookie == kLinkTimer) {
      if (handle == link_timer_) link_timer_ = {};
      CheckLinks(now);
    } else if (app_ != nullptr) {
      app_->OnTimer(cookie - kAppTimerBase, now);
    }
  });
  if (!link_watches_.empty() && !link_timer_.valid()) {
    link_timer_ = wheel_.Schedule(now + link_period_, kLinkTimer);
  }
  if (fired != 0) {
    stats_.timers_fired += fired;
    work += fired;
    work += DispatchSockets(now);
  }
  ArmEngineTimers();

  const uint32_t sent = tx_.Flush();
  stats_.tx_frames += sent;
  work += sent;
  if (work != 0) ++stats_.busy_iterations;
  return work != 0;
}

const WorkerStats& Worker::Run(WorkerApp& app, const std::atomic<bool>& stop) {
  app_ = &app;
  // Sleeps are short (IdlePolicy: 10 us to 1 ms); the default 50 us timer slack would dominate
  // them and the latency an idle worker adds to the next packet.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  const tcp::Duration cpu_start = ThreadCpuTime();
  const tcp::Instant start = MonotonicNow();
  now_ = start;
  net_->SetNow(start);
  app.Start(*this, start);
  DispatchSockets(start);
  tx_.Flush();
  while (!stop.load(std::memory_order_relaxed) && !app.Done()) {
    const tcp::Instant now = MonotonicNow();
    const bool did_work = RunOnce(now);
    const tcp::Duration sleep = idle_.OnIteration(now, did_work, wheel_.NextDeadline());
    if (sleep > tcp::Duration::zero()) idle_.Sleep(sleep, app.wake_sources());
  }
  // A last flush: the app's final segments (a FIN, an RST) leave before the worker stops.
  const tcp::Instant end = MonotonicNow();
  RunOnce(end);
  stats_.run_time = end - start;
  stats_.cpu_time = ThreadCpuTime() - cpu_start;
  app_ = nullptr;
  return stats_;
}

io::IoCounters Worker::RxCounters() const {
  io::IoCounters sum = handoff_counters_;
  for (const io::RxQueue& q : rx_) sum.Merge(q.counters());
  if (steering_) sum.Merge(steering_->counters());
  return sum;
}

io::IoCounters Worker::TxCounters() const {
  io::IoCounters sum = tx_.counters();
  for (const auto& q : tx_queues_) sum.Merge(q->counters());
  return sum;
}

}  // namespace braid::runtime
