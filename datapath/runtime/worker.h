// One worker: a complete stack instance on one lcore (architecture.md §5, shared nothing), and its
// run-to-completion loop. Each iteration:
//
//   now = MonotonicNow()
//   RX: a burst from each device queue it polls (split by software steering when several workers
//       share a port without rte_flow) and from its handoff ring -> NetStack::Receive -> TCP
//   sockets: the engine's events -> the apps' handlers (which send, receive, close)
//   timers: the TCP engine's and the net layer's deadlines and the apps' timers, on one wheel
//   TX: one burst per port of everything the iteration produced
//   idle: poll again at once, or sleep (IdlePolicy) until work may have arrived or a timer is due
//
// Nothing in a worker is shared with another worker; the only cross-worker traffic is frames in
// handoff rings. Everything the worker owns is created on the control thread before Run, and read
// by the control thread (stats) only after Run returned.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "datapath/io/handoff.h"
#include "datapath/io/io_counters.h"
#include "datapath/io/rx_queue.h"
#include "datapath/io/steering.h"
#include "datapath/io/tx_queue.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/mptcp/socket_manager.h"
#include "datapath/net/frame_sink.h"
#include "datapath/net/net_stack.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/runtime/tcp_sockets.h"
#include "datapath/runtime/timer_wheel.h"
#include "datapath/tcp/native_backend.h"
#include "datapath/tcp/time.h"

namespace braid::io {
class Port;
}  // namespace braid::io

struct rte_mbuf;

namespace braid::runtime {

class Worker;

// An application living in a worker (the test apps; later the app channel). Called on the
// worker's thread only.
class WorkerApp {
 public:
  virtual ~WorkerApp() = default;
  // Once, before the first iteration: listen, connect, schedule timers.
  virtual void Start(Worker& worker, tcp::Instant now) = 0;
  // A timer scheduled with Worker::ScheduleTimer fired.
  virtual void OnTimer(uint64_t /*cookie*/, tcp::Instant /*now*/) {}
  // The worker's loop ends when its app is done (or on Stop).
  virtual bool Done() const = 0;
  // Every iteration, after the sockets' events: work the app finds on its own (an app channel's
  // rings). Returns whether it did any.
  virtual bool Poll(tcp::Instant /*now*/) { return false; }
  // What may wake the worker from an idle sleep besides its timers (nullptr: nothing, the worker
  // sleeps in clock_nanosleep).
  virtual WakeSources* wake_sources() { return nullptr; }
};

// Sees every frame the worker receives (before the net layer) and sends (as the net layer hands
// it to the device, before checksum offload completes it): a packet capture. Called on the
// worker's thread; must not call back into the stack.
class FrameTap {
 public:
  virtual ~FrameTap() = default;
  virtual void OnFrame(uint16_t port, std::span<const uint8_t> frame, bool tx,
                       tcp::Instant now) = 0;
};

struct WorkerConfig {
  uint16_t id = 0;
  uint16_t rx_burst = 32;  // frames per device RX burst, at most io::kMaxDispatchBurst
  IdleConfig idle;
  TimerWheelConfig timers;
  net::NetStackConfig net;
  tcp::NativeTcpBackendConfig tcp;
  TcpSocketsConfig sockets;
  // MPTCP on top of TCP (mptcp/socket_manager.h): apps then get MPTCP sockets (stream_sockets()),
  // which fall back to TCP per connection. Validated by Datapath::Start.
  std::optional<mptcp::MptcpConfig> mptcp;
};

struct WorkerStats {
  uint64_t iterations = 0;
  uint64_t busy_iterations = 0;  // iterations that received, sent or fired something
  uint64_t rx_frames = 0;        // handed to the net layer (device queues and handoff ring)
  uint64_t tx_frames = 0;        // taken by the devices
  uint64_t timers_fired = 0;
  uint64_t link_changes = 0;  // watched ports whose link went down or came back (WatchLinks)
  tcp::Duration run_time{0};  // wall time inside Run
  tcp::Duration cpu_time{0};  // the worker thread's CPU time (user + system) inside Run
};

class Worker {
 public:
  // `tx` gives one TX queue per port the worker sends on (its own queue index on each);
  // `rx` the device queues it polls. `steering` (optional, with `rings`: one per worker, and
  // `inbox` = rings[id]) when several workers share ports without rte_flow.
  Worker(const WorkerConfig& config, std::span<const io::RxQueue> rx,
         std::span<const io::TxQueueConfig> tx, const io::SteeringTable* steering = nullptr,
         std::span<io::HandoffRing* const> rings = {});
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  uint16_t id() const { return config_.id; }
  net::NetStack& net() { return *net_; }
  const net::NetStack& net() const { return *net_; }
  tcp::NativeTcpBackend& tcp() { return *tcp_; }
  const tcp::NativeTcpBackend& tcp() const { return *tcp_; }
  TcpSockets& sockets() { return *sockets_; }
  const TcpSockets& sockets() const { return *sockets_; }
  // MPTCP sockets when configured, else nullptr.
  mptcp::MptcpSockets* mptcp() { return mptcp_.get(); }
  const mptcp::MptcpSockets* mptcp() const { return mptcp_.get(); }
  // What apps use: MPTCP sockets when configured, else plain TCP.
  tcp::SocketApi& stream_sockets();

  // Ports whose link state drives their interface: every `period` the worker reads each port's
  // link (io::Port::Link) and, on a change, sets the interface down or up (net::NetStack::
  // SetInterfaceUp) and tells MPTCP about each of its addresses (MptcpSockets::OnPathChange:
  // subflows there close with kPathDown, the path manager re-creates them when it returns).
  // Set before Run; the ports outlive the worker.
  struct LinkWatch {
    net::InterfaceId interface = 0;
    const io::Port* port = nullptr;
  };
  void WatchLinks(std::vector<LinkWatch> watches, tcp::Duration period);

  // The capture tap (nullptr: none); on the worker's thread only (a WorkerApp's mailbox).
  void SetFrameTap(FrameTap* tap) { tap_ = tap; }

  // App timers (cookie handed back to WorkerApp::OnTimer). Invalid handle when the wheel is full.
  TimerHandle ScheduleTimer(tcp::Instant deadline, uint64_t cookie);
  bool CancelTimer(TimerHandle handle) { return wheel_.Cancel(handle); }

  // Runs the loop until `app` is done or `stop` becomes true. Returns the worker's stats.
  const WorkerStats& Run(WorkerApp& app, const std::atomic<bool>& stop);
  // One iteration at `now` (tests drive the loop by hand); true when it did work.
  bool RunOnce(tcp::Instant now);

  // The time of the iteration in progress (apps pass it to the socket calls they make).
  tcp::Instant now() const { return now_; }
  const WorkerStats& stats() const { return stats_; }
  // Sleeps and the time slept (IdleStats).
  const IdlePolicy& idle() const { return idle_; }
  // RX-side I/O counters (device queues, steering, handoff) and TX-side (every TX queue).
  io::IoCounters RxCounters() const;
  io::IoCounters TxCounters() const;

 private:
  // Cookies of the worker's own timers; app cookies are shifted above them.
  static constexpr uint64_t kTcpTimer = 0;
  static constexpr uint64_t kNetTimer = 1;
  static constexpr uint64_t kMptcpTimer = 2;
  static constexpr uint64_t kLinkTimer = 3;
  static constexpr uint64_t kAppTimerBase = 4;

  size_t DispatchSockets(tcp::Instant now);
  size_t ReceiveFrames(std::span<rte_mbuf* const> frames, tcp::Instant now);
  void ArmEngineTimers();
  void CheckLinks(tcp::Instant now);
  void Rearm(TimerHandle& handle, std::optional<tcp::Instant> at,
             std::optional<tcp::Instant>& armed, uint64_t cookie);

  WorkerConfig config_;
  std::vector<io::RxQueue> rx_;
  std::vector<std::unique_ptr<io::TxQueue>> tx_queues_;
  io::WorkerTx tx_;
  // What the net layer sends through: the tap, when set, then tx_.
  class TappedSink final : public net::FrameSink {
   public:
    explicit TappedSink(Worker& worker) : worker_(worker) {}
    void TransmitFrame(uint16_t port, std::span<const uint8_t> frame,
                       const net::TxOffload& offload) override {
      if (worker_.tap_ != nullptr) worker_.tap_->OnFrame(port, frame, true, worker_.now_);
      worker_.tx_.TransmitFrame(port, frame, offload);
    }

   private:
    Worker& worker_;
  };
  TappedSink sink_{*this};
  FrameTap* tap_ = nullptr;
  std::unique_ptr<net::NetStack> net_;
  std::unique_ptr<tcp::NativeTcpBackend> tcp_;
  std::unique_ptr<TcpSockets> sockets_;
  std::unique_ptr<mptcp::MptcpSockets> mptcp_;
  std::unique_ptr<io::SoftwareSteering> steering_;
  io::HandoffRing* inbox_ = nullptr;
  io::IoCounters handoff_counters_;
  TimerWheel wheel_;
  IdlePolicy idle_;
  WorkerApp* app_ = nullptr;
  TimerHandle tcp_timer_;
  TimerHandle net_timer_;
  TimerHandle mptcp_timer_;
  std::vector<LinkWatch> link_watches_;
  tcp::Duration link_period_{0};
  TimerHandle link_timer_;
  std::optional<tcp::Instant> tcp_armed_;
  std::optional<tcp::Instant> net_armed_;
  std::optional<tcp::Instant> mptcp_armed_;
  std::vector<uint8_t> scratch_;  // linearizes chained frames
  tcp::Instant now_{};
  WorkerStats stats_;
};

}  // namespace braid::runtime
