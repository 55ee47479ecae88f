// The channel service on two complete stacks (tests/unit/datapath/runtime/two_stacks.h): the
// service runs on side A's socket API (TCP, or MPTCP above it), a peer app on side B uses the
// socket API directly, and the test plays the app: it attaches through a real ChannelListener /
// ConnectChannel handover and drives the region by hand (AppDriver). The main cases run over TCP
// and over MPTCP.
#include "datapath/channel/service/service.h"

#include <gtest/gtest.h>
#include <linux/mptcp.h>
#include <linux/tcp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "datapath/channel/byte_fifo.h"
#include "datapath/channel/doorbell.h"
#include "datapath/channel/handover.h"
#include "datapath/channel/layout.h"
#include "datapath/channel/region.h"
#include "datapath/channel/spsc_ring.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/mptcp/socket_manager.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/tcp/socket_api.h"
#include "tests/unit/datapath/channel/channel_test_support.h"
#include "tests/unit/datapath/runtime/two_stacks.h"

namespace braid::channel {
namespace {

using namespace std::chrono_literals;
using runtime::test::Bytes;
using runtime::test::TwoStacks;

constexpr int kSolMptcp = 284;
constexpr int kBraidMptcpScheduler = 0x4201;
constexpr int kBraidMptcpPathManager = 0x4202;

// Byte `i` of stream `seed`: every position checkable on its own.
uint8_t Pattern(uint64_t i, uint8_t seed) {
  return static_cast<uint8_t>((i * 131) ^ (i >> 9) ^ (i >> 17) ^ seed);
}

bool MatchesPattern(const Bytes& b, uint8_t seed) {
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] != Pattern(i, seed)) {
      ADD_FAILURE() << "byte " << i << " is " << int{b[i]} << ", expected "
                    << int{Pattern(i, seed)};
      return false;
    }
  }
  return true;
}

SockAddr V4(const wire::Ipv4Address& a, uint16_t port) {
  SockAddr s;
  s.family = AF_INET;
  s.port = port;
  std::memcpy(s.address.data(), a.bytes.data(), 4);
  return s;
}

Geometry SmallGeometry() {
  Geometry g;
  g.slots = 16;
  g.tx_fifo_bytes = 64 << 10;  // far smaller than the transfers
  g.rx_fifo_bytes = 64 << 10;
  g.command_entries = 64;
  g.event_entries = 64;
  return g;
}

// ---------------------------------------------------------------------------------------------
// The app, played by hand on its side of the region.

class AppDriver {
 public:
  AppDriver(ChannelConnection connection, AppRegion region)
      : connection_(std::move(connection)),
        region_(std::move(region)),
        commands_(region_.CommandProducer()),
        events_(region_.EventConsumer()),
        bell_(Doorbell::FromFd(std::move(connection_.doorbell))),
        generations_(region_.layout().geometry.slots),
        busy_(region_.layout().geometry.slots) {}

  AppRegion& region() { return region_; }
  const Doorbell& bell() const { return bell_; }
  RingProducer<CommandRecord>& commands() { return commands_; }
  void Hangup() { connection_.connection.Reset(); }

  // A free slot with its generation bumped.
  uint32_t NewHandle() {
    for (uint32_t i = 0; i < busy_.size(); ++i) {
      if (busy_[i]) continue;
      busy_[i] = true;
      generations_[i] = (generations_[i] + 1) & kMaxHandleGeneration;
      if (generations_[i] == 0) generations_[i] = 1;
      return MakeHandle(i, generations_[i]);
    }
    ADD_FAILURE() << "no free slot";
    return 0;
  }
  void Free(uint32_t handle) {
    busy_[HandleIndex(handle)] = false;
    tx_.erase(HandleIndex(handle));
    rx_.erase(HandleIndex(handle));
  }

  uint64_t Push(uint32_t handle, CommandArgs args) {
    const uint64_t cookie = next_cookie_++;
    PushRecord(EncodeCommand(Command{handle, cookie, std::move(args)}));
    return cookie;
  }
  void PushRecord(const CommandRecord& r) {
    EXPECT_EQ(commands_.TryPush(r), RingStatus::kOk);
    WakePeer(region_.service_sleeping(), bell_);
  }

  void Collect() {
    EventRecord r;
    while (events_.TryPop(r) == RingStatus::kOk) {
      Event e;
      EXPECT_EQ(DecodeEvent(r, e), RecordError::kOk);
      inbox_.push_back(e);
    }
  }
  // Takes the first event collected that matches.
  std::optional<Event> Take(const std::function<bool(const Event&)>& match) {
    Collect();
    for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
      if (match(*it)) {
        Event e = *it;
        inbox_.erase(it);
        return e;
      }
    }
    return std::nullopt;
  }
  std::optional<Event> TakeAnswer(uint64_t cookie) {
    return Take([cookie](const Event& e) { return e.cookie == cookie; });
  }
  bool Has(uint32_t handle, EventKind kind) {
    Collect();
    for (const Event& e : inbox_) {
      if (e.handle == handle && e.kind() == kind) return true;
    }
    return false;
  }

  // The slot's FIFO ends, taken once per use of the slot (region.h).
  FifoWriter& Tx(uint32_t handle) {
    const uint32_t i = HandleIndex(handle);
    auto it = tx_.find(i);
    if (it == tx_.end()) it = tx_.emplace(i, region_.TxWriter(i)).first;
    return it->second;
  }
  FifoReader& Rx(uint32_t handle) {
    const uint32_t i = HandleIndex(handle);
    auto it = rx_.find(i);
    if (it == rx_.end()) it = rx_.emplace(i, region_.RxReader(i)).first;
    return it->second;
  }

  // As the SDK writes: bytes into the TX FIFO, kSend only when tx_pending goes 0 -> 1.
  size_t Write(uint32_t handle, std::span<const uint8_t> bytes) {
    Collect();  // as a real app, which reads its events as they come
    const FifoResult r = Tx(handle).Write(bytes);
    if (r.bytes > 0 &&
        region_.slot(HandleIndex(handle))->tx_pending.exchange(1, std::memory_order_seq_cst) == 0) {
      Push(handle, SendArgs{});
    }
    return r.bytes;
  }
  // As the SDK reads: clear rx_pending, fence, read; kRxSpace when the FIFO was full.
  size_t Read(uint32_t handle, std::span<uint8_t> out) {
    Collect();
    region_.slot(HandleIndex(handle))->rx_pending.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const FifoResult r = Rx(handle).Read(out);
    if (r.transition) Push(handle, RxSpaceArgs{});
    return r.bytes;
  }

 private:
  ChannelConnection connection_;
  AppRegion region_;
  RingProducer<CommandRecord> commands_;
  RingConsumer<EventRecord> events_;
  Doorbell bell_;
  std::vector<uint32_t> generations_;
  std::vector<bool> busy_;
  std::map<uint32_t, FifoWriter> tx_;
  std::map<uint32_t, FifoReader> rx_;
  std::deque<Event> inbox_;
  uint64_t next_cookie_ = 1;
};

// ---------------------------------------------------------------------------------------------
// The peer on side B: plain socket API calls.

class PeerApp : public tcp::SocketHandler {
 public:
  struct Conn {
    tcp::SocketId id;
    Bytes received;
    bool fin = false;
    bool error = false;
    bool closed = false;
    tcp::SocketError why = tcp::SocketError::kReset;
    uint64_t to_send = 0;  // bytes of the pattern to send
    uint64_t sent = 0;
    uint8_t seed = 0;
    bool shutdown_after = false;
    bool shut = false;
    bool connected = false;
  };

  explicit PeerApp(tcp::SocketApi& api) : api_(api) {}

  void Listen(uint16_t port, const tcp::TcpConfig& config = {}) {
    auto l = api_.Listen(port, config, this, std::nullopt);
    ASSERT_TRUE(l.ok()) << l.status();
  }
  Conn& Connect(const wire::IpAddress& to, uint16_t port) {
    auto id = api_.Connect(to, port, tcp::TcpConfig{}, this, api_.now(), std::nullopt);
    EXPECT_TRUE(id.ok()) << id.status();
    Conn& c = conns_[id->index];
    c.id = *id;
    order_.push_back(id->index);
    return c;
  }

  std::vector<Conn*> conns() {
    std::vector<Conn*> out;
    for (uint32_t i : order_) out.push_back(&conns_[i]);
    return out;
  }
  Conn& conn(size_t n) { return conns_[order_.at(n)]; }
  size_t count() const { return order_.size(); }
  bool reading = true;

  void Step() {
    for (auto& [index, c] : conns_) {
      if (c.error || c.closed) continue;
      Send(c);
      if (reading) Drain(c);
    }
  }

  void OnConnected(tcp::SocketId s) override {
    if (Conn* c = Find(s)) c->connected = true;
  }
  void OnAccepted(tcp::ListenerId, tcp::SocketId s) override {
    Conn& c = conns_[s.index];
    c = Conn{};
    c.id = s;
    c.connected = true;
    order_.push_back(s.index);
  }
  void OnReadable(tcp::SocketId s, size_t) override {
    if (Conn* c = Find(s); c && reading) Drain(*c);
  }
  void OnWritable(tcp::SocketId s) override {
    if (Conn* c = Find(s)) Send(*c);
  }
  void OnPeerFin(tcp::SocketId s) override {
    if (Conn* c = Find(s); c && reading) Drain(*c);
  }
  void OnError(tcp::SocketId s, tcp::SocketError e) override {
    if (Conn* c = Find(s)) {
      c->error = true;
      c->why = e;
    }
  }
  void OnClosed(tcp::SocketId s) override {
    if (Conn* c = Find(s)) c->closed = true;
  }

 private:
  Conn* Find(tcp::SocketId s) {
    auto it = conns_.find(s.index);
    return it == conns_.end() || !(it->second.id == s) ? nullptr : &it->second;
  }
  void Send(Conn& c) {
    if (!c.connected) return;
    uint8_t chunk[16384];
    while (c.sent < c.to_send) {
      const size_t n = std::min<uint64_t>(sizeof(chunk), c.to_send - c.sent);
      for (size_t i = 0; i < n; ++i) chunk[i] = Pattern(c.sent + i, c.seed);
      const size_t took = api_.Send(c.id, std::span<const uint8_t>(chunk, n), api_.now());
      c.sent += took;
      if (took < n) return;
    }
    if (c.shutdown_after && !c.shut) {
      c.shut = true;
      EXPECT_TRUE(api_.Shutdown(c.id, api_.now()).ok());
    }
  }
  void Drain(Conn& c) {
    uint8_t buf[16384];
    for (;;) {
      const tcp::ReceiveResult r = api_.Receive(c.id, buf, api_.now());
      c.received.insert(c.received.end(), buf, buf + r.bytes);
      if (r.fin) c.fin = true;
      if (r.bytes < sizeof(buf)) break;
    }
  }

  tcp::SocketApi& api_;
  std::map<uint32_t, Conn> conns_;
  std::vector<uint32_t> order_;
};

// ---------------------------------------------------------------------------------------------

class ServiceTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { Build(GetParam()); }

  void Build(bool mptcp, ServiceLimits limits = {}) {
    SocketApis apis;
    apis.tcp = &net_.a().sockets();
    tcp::SocketApi* peer_api = &net_.b().sockets();
    if (mptcp) {
      // Data-level buffers smaller than the transfers, so that back-pressure reaches the peer.
      mptcp::MptcpConfig config;
      config.send_buffer = 1 << 20;
      config.receive_buffer = 1 << 20;
      apis.mptcp = net_.a().EnableMptcp(config);
      peer_api = net_.b().EnableMptcp(config);
    }
    mptcp_ = mptcp;
    service_ = std::make_unique<ChannelService>(apis);
    path_ = testing::TestSocketPath("service");
    ASSERT_TRUE(service_->Listen(path_, SmallGeometry(), limits).ok());
    peer_ = std::make_unique<PeerApp>(*peer_api);
  }

  Protocol protocol() const { return mptcp_ ? Protocol::kMptcp : Protocol::kTcp; }

  // Attaches an app through the real handover; the service is polled meanwhile.
  std::unique_ptr<AppDriver> Attach(const std::string& name, const std::string& path = {}) {
    const std::string& to = path.empty() ? path_ : path;
    auto answer = std::async(std::launch::async, [&] { return ConnectChannel(to, name); });
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (answer.wait_for(1ms) != std::future_status::ready &&
           std::chrono::steady_clock::now() < end) {
      service_->Poll(net_.now());
      for (auto& pod : pods_) pod.service->Poll(net_.now());
    }
    absl::StatusOr<ChannelConnection> c = answer.get();
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    absl::StatusOr<AppRegion> region = AppRegion::Attach(c->memfd.get());
    EXPECT_TRUE(region.ok()) << region.status();
    if (!region.ok()) return nullptr;
    return std::make_unique<AppDriver>(std::move(*c), std::move(*region));
  }

  // Polls the service, runs the app's `step`, pumps the stacks; jumps scripted time to the next
  // deadline when nothing moves. True once `done` holds; false after `rounds`.
  bool Drive(const std::function<bool()>& done, const std::function<void()>& step = {},
             int rounds = 400000) {
    for (int i = 0; i < rounds; ++i) {
      if (step) step();
      bool work = service_->Poll(net_.now());
      for (auto& pod : pods_) work |= pod.service->Poll(net_.now());
      peer_->Step();
      work |= net_.Pump() > 0;
      if (done()) return true;
      if (!work) {
        std::optional<tcp::Instant> next = net_.a().NextDeadline();
        if (const auto t = net_.b().NextDeadline(); t && (!next || *t < *next)) next = t;
        if (next && *next > net_.now()) {
          net_.Advance(std::min<tcp::Duration>(*next - net_.now(), 200ms));
        } else if (!next) {
          net_.Advance(1ms);
        }
      }
    }
    return false;
  }

  // Opens a socket of the test's protocol: the handle, answered kDone 0.
  uint32_t Open(AppDriver& app) {
    const uint32_t h = app.NewHandle();
    const uint64_t cookie = app.Push(h, OpenArgs{AF_INET, protocol()});
    std::optional<Event> done;
    EXPECT_TRUE(Drive([&] { return (done = app.TakeAnswer(cookie)).has_value(); }));
    EXPECT_EQ(done->kind(), EventKind::kDone);
    EXPECT_EQ(done->error, 0);
    return h;
  }

  // The answer to a command.
  Event Answer(AppDriver& app, uint32_t handle, CommandArgs args) {
    const uint64_t cookie = app.Push(handle, std::move(args));
    std::optional<Event> e;
    EXPECT_TRUE(Drive([&] { return (e = app.TakeAnswer(cookie)).has_value(); }));
    return e.value_or(Event{});
  }

  // Opens and connects to the peer on `port`: the handle after kConnected.
  uint32_t ConnectToPeer(AppDriver& app, uint16_t port) {
    const uint32_t h = Open(app);
    const Event e = Answer(app, h, ConnectArgs{V4(net_.b().ipv4(), port)});
    EXPECT_EQ(e.kind(), EventKind::kConnected) << "error " << e.error;
    if (const auto* c = std::get_if<ConnectedArgs>(&e.args)) {
      EXPECT_EQ(c->local.family, AF_INET);
      EXPECT_NE(c->local.port, 0);
    }
    return h;
  }

  // The app reads what the handle's RX FIFO holds into `into`.
  void ReadAll(AppDriver& app, uint32_t h, Bytes& into) {
    uint8_t buf[32768];
    for (size_t n; (n = app.Read(h, buf)) > 0;) into.insert(into.end(), buf, buf + n);
  }

  uint64_t Counter(ServiceCounter c) const { return service_->counters()[c]; }

  // A pod's service on the same stack (ServiceScope): `address` is added to side a's interface
  // and is the pod's only address; `policy` is every MPTCP connection's. Returns its path.
  std::string AddPod(const wire::Ipv4Address& address,
                     std::shared_ptr<const mptcp::ConnectionPolicy> policy = nullptr) {
    EXPECT_EQ(net_.a().net().AddAddress(0, address, 24, net_.now()), net::NetError::kOk);
    SocketApis apis{&net_.a().sockets(), mptcp_ ? net_.a().EnableMptcp({}) : nullptr};
    ServiceScope scope;
    scope.addresses = {address};
    scope.source_for = [address](const wire::IpAddress&) -> std::optional<wire::IpAddress> {
      return address;
    };
    scope.policy_for = [policy](const wire::IpAddress&, uint16_t, bool) { return policy; };
    Pod pod{std::make_unique<ChannelService>(apis, tcp::TcpConfig{}, scope),
            testing::TestSocketPath("pod")};
    EXPECT_TRUE(pod.service->Listen(pod.path, SmallGeometry()).ok());
    pods_.push_back(std::move(pod));
    return pods_.back().path;
  }

  TwoStacks net_;
  bool mptcp_ = false;
  std::unique_ptr<ChannelService> service_;
  struct Pod {
    std::unique_ptr<ChannelService> service;
    std::string path;
  };
  std::vector<Pod> pods_;
  std::unique_ptr<PeerApp> peer_;
  std::string path_;
};

INSTANTIATE_TEST_SUITE_P(Protocols, ServiceTest, ::testing::Values(false, true),
                         [](const auto& param) { return param.param ? "Mptcp" : "Tcp"; });

TEST_P(ServiceTest, ConnectsAndMoves8MiBEachWayThroughSmallFifos) {
  constexpr uint64_t kBytes = 8 << 20;
  peer_->Listen(5001);
  auto app = Attach("bulk");
  ASSERT_NE(app, nullptr);
  const uint32_t h = ConnectToPeer(*app, 5001);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  PeerApp::Conn& peer = peer_->conn(0);
  peer.to_send = kBytes;
  peer.seed = 2;

  uint64_t written = 0;
  Bytes got;
  uint8_t chunk[20000];
  const bool ok = Drive([&] { return got.size() == kBytes && peer.received.size() == kBytes; },
                        [&] {
                          while (written < kBytes) {
                            const size_t n = std::min<uint64_t>(sizeof(chunk), kBytes - written);
                            for (size_t i = 0; i < n; ++i) chunk[i] = Pattern(written + i, 1);
                            const size_t took = app->Write(h, std::span<const uint8_t>(chunk, n));
                            written += took;
                            if (took < n) break;
                          }
                          ReadAll(*app, h, got);
                        });
  ASSERT_TRUE(ok) << "app got " << got.size() << ", peer got " << peer.received.size()
                  << " app wrote " << written << " peer sent " << peer.sent << " txfifo "
                  << app->Tx(h).Writable() << " rxfifo " << app->Rx(h).Readable() << " tx_pending "
                  << app->region().slot(HandleIndex(h))->tx_pending.load() << " rx_pending "
                  << app->region().slot(HandleIndex(h))->rx_pending.load();
  EXPECT_TRUE(MatchesPattern(got, 2));
  EXPECT_TRUE(MatchesPattern(peer.received, 1));
  EXPECT_EQ(Counter(ServiceCounter::kTxBytes), kBytes);
  EXPECT_EQ(Counter(ServiceCounter::kRxBytes), kBytes);
  EXPECT_GT(Counter(ServiceCounter::kRxFull), 0u);  // the 64 KiB FIFO filled on the way
  EXPECT_TRUE(app->Has(h, EventKind::kReadable));
}

TEST_P(ServiceTest, ListensAndAcceptsSeveralConnectionsIntoPostedSlots) {
  auto app = Attach("server");
  ASSERT_NE(app, nullptr);
  const uint32_t l = Open(*app);
  EXPECT_EQ(Answer(*app, l, BindArgs{V4(net_.a().ipv4(), 6001)}).error, 0);
  EXPECT_EQ(Answer(*app, l, ListenArgs{8}).error, 0);
  // One slot posted before the connections arrive, two after: both orders work.
  std::vector<std::pair<uint32_t, uint64_t>> posted;
  const uint32_t first = app->NewHandle();
  posted.push_back({first, app->Push(l, AcceptIntoArgs{first})});
  for (int i = 0; i < 3; ++i) peer_->Connect(net_.a().ipv4(), 6001);
  ASSERT_TRUE(Drive([&] { return app->Has(first, EventKind::kAccepted); }));
  for (int i = 0; i < 2; ++i) {
    const uint32_t h = app->NewHandle();
    posted.push_back({h, app->Push(l, AcceptIntoArgs{h})});
  }
  std::vector<uint16_t> peer_ports;
  for (auto* c : peer_->conns()) {
    const auto flow = (mptcp_ ? static_cast<tcp::SocketApi&>(*net_.b().EnableMptcp({}))
                              : static_cast<tcp::SocketApi&>(net_.b().sockets()))
                          .Flow(c->id);
    ASSERT_TRUE(flow.has_value());
    peer_ports.push_back(flow->local_port);
  }
  for (auto [h, cookie] : posted) {
    std::optional<Event> e;
    ASSERT_TRUE(Drive([&, cookie = cookie] { return (e = app->TakeAnswer(cookie)).has_value(); }));
    ASSERT_EQ(e->kind(), EventKind::kAccepted);
    EXPECT_EQ(e->handle, h);
    const auto& a = std::get<AcceptedArgs>(e->args);
    EXPECT_EQ(a.listener, l);
    EXPECT_EQ(a.peer, V4(net_.b().ipv4(), a.peer.port));
    EXPECT_NE(std::find(peer_ports.begin(), peer_ports.end(), a.peer.port), peer_ports.end());
  }
  EXPECT_EQ(Counter(ServiceCounter::kAccepted), 3u);
  // Each accepted socket echoes its own bytes back: the sockets are apart.
  for (size_t i = 0; i < 3; ++i) {
    peer_->conn(i).to_send = 1000 + i * 777;
    peer_->conn(i).seed = static_cast<uint8_t>(10 + i);
  }
  std::map<uint32_t, Bytes> got;
  ASSERT_TRUE(Drive(
      [&] {
        for (size_t i = 0; i < 3; ++i) {
          if (peer_->conn(i).received.size() != 1000 + i * 777) return false;
        }
        return true;
      },
      [&] {
        for (auto [h, cookie] : posted) {
          Bytes in;
          ReadAll(*app, h, in);
          if (!in.empty()) {
            EXPECT_EQ(app->Write(h, in), in.size());
          }
        }
      }));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(MatchesPattern(peer_->conn(i).received, static_cast<uint8_t>(10 + i))) << i;
  }
  // The local address of an accepted socket, and the listener's.
  const Event local = Answer(*app, posted[0].first, GetInfoArgs{InfoKind::kLocalAddress});
  EXPECT_EQ(std::get<InfoArgs>(local.args).address, V4(net_.a().ipv4(), 6001));
  const Event peer = Answer(*app, l, GetInfoArgs{InfoKind::kPeerAddress});
  EXPECT_EQ(peer.kind(), EventKind::kDone);
  EXPECT_EQ(peer.error, ENOTCONN);
}

TEST_P(ServiceTest, BackPressureStallsThePeerWithoutLosingBytes) {
  constexpr uint64_t kBytes = 2 << 20;
  tcp::TcpConfig small;
  small.send_buffer = 128 << 10;
  peer_->Listen(5002, small);
  auto app = Attach("slow");
  ASSERT_NE(app, nullptr);
  // SO_RCVBUF bounds the socket's own buffer, under the FIFO's.
  const uint32_t h = Open(*app);
  SetOptArgs rcvbuf{SOL_SOCKET, SO_RCVBUF, 4, {}};
  const int32_t bytes = 128 << 10;
  std::memcpy(rcvbuf.value.data(), &bytes, 4);
  EXPECT_EQ(Answer(*app, h, rcvbuf).error, 0);
  ASSERT_EQ(Answer(*app, h, ConnectArgs{V4(net_.b().ipv4(), 5002)}).kind(), EventKind::kConnected);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  PeerApp::Conn& peer = peer_->conn(0);
  peer.to_send = kBytes;
  peer.seed = 7;
  // The app does not read: the FIFO fills, then the socket's buffer, then the window closes.
  Drive([] { return false; }, {}, 3000);
  // The peer's sends stall: its socket keeps what it took (MPTCP's data-level buffer takes
  // more than a TCP socket's).
  uint64_t held = 0;
  if (mptcp_) {
    held = net_.b().EnableMptcp({})->ConnectionInfo(peer.id)->send_queue;
  } else {
    held = net_.b().sockets().Info(peer.id)->send_queue;
  }
  EXPECT_TRUE(peer.sent < kBytes || held > 0) << "sent " << peer.sent << " held " << held;
  EXPECT_GT(held, 0u);
  EXPECT_EQ(app->region().slot(HandleIndex(h))->rx.write.load() -
                app->region().slot(HandleIndex(h))->rx.read.load(),
            SmallGeometry().rx_fifo_bytes);
  EXPECT_GT(Counter(ServiceCounter::kRxFull), 0u);
  const uint64_t stalled_at = peer.sent;
  const uint64_t received_at = Counter(ServiceCounter::kRxBytes);
  Drive([] { return false; }, {}, 3000);
  EXPECT_EQ(peer.sent, stalled_at);
  EXPECT_EQ(Counter(ServiceCounter::kRxBytes), received_at);
  // Reading again resumes (kRxSpace) and the stream completes byte-exact.
  Bytes got;
  ASSERT_TRUE(Drive([&] { return got.size() == kBytes; }, [&] { ReadAll(*app, h, got); }));
  EXPECT_TRUE(MatchesPattern(got, 7));
}

TEST_P(ServiceTest, ShutdownCloseAndAbortReachThePeerInOrder) {
  peer_->Listen(5003);
  auto app = Attach("closer");
  ASSERT_NE(app, nullptr);
  const uint32_t h = ConnectToPeer(*app, 5003);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  PeerApp::Conn& peer = peer_->conn(0);

  // The app's last bytes, then SHUT_WR: the peer sees every byte, then the FIN.
  Bytes out(100000);
  for (size_t i = 0; i < out.size(); ++i) out[i] = Pattern(i, 3);
  size_t written = 0;
  ASSERT_TRUE(Drive([&] { return written == out.size(); },
                    [&] { written += app->Write(h, std::span(out).subspan(written)); }));
  EXPECT_EQ(Answer(*app, h, ShutdownArgs{SHUT_WR}).error, 0);
  ASSERT_TRUE(Drive([&] { return peer.fin; }));
  EXPECT_EQ(peer.received, out);

  // The peer's last bytes and FIN: kPeerClosed comes after the last byte is in the FIFO.
  peer.to_send = 5000;
  peer.seed = 4;
  peer.shutdown_after = true;
  ASSERT_TRUE(Drive([&] { return app->Has(h, EventKind::kPeerClosed); }));
  Bytes got;
  ReadAll(*app, h, got);
  EXPECT_EQ(got.size(), 5000u);
  EXPECT_TRUE(MatchesPattern(got, 4));

  // kClose frees the slot; the old generation is refused afterwards.
  const Event closed = Answer(*app, h, CloseArgs{});
  EXPECT_EQ(closed.kind(), EventKind::kClosed);
  EXPECT_EQ(closed.error, 0);
  app->Free(h);
  ASSERT_TRUE(Drive([&] { return peer.closed || peer.error; }));
  EXPECT_FALSE(peer.error);
  const Event stale = Answer(*app, h, GetInfoArgs{InfoKind::kLocalAddress});
  EXPECT_EQ(stale.kind(), EventKind::kDone);
  EXPECT_EQ(stale.error, EBADF);

  // The slot reused with a new generation works; kAbort resets the peer at once.
  const uint32_t again = ConnectToPeer(*app, 5003);
  EXPECT_EQ(HandleIndex(again), HandleIndex(h));
  EXPECT_NE(again, h);
  EXPECT_EQ(Answer(*app, h, GetInfoArgs{InfoKind::kLocalAddress}).error, EBADF);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 2; }));
  const Event aborted = Answer(*app, again, AbortArgs{});
  EXPECT_EQ(aborted.kind(), EventKind::kClosed);
  ASSERT_TRUE(Drive([&] { return peer_->conn(1).error; }));
  EXPECT_EQ(peer_->conn(1).why, tcp::SocketError::kReset);
  EXPECT_GE(Counter(ServiceCounter::kSocketsReset), 1u);
}

// Two pods on one stack, each a scoped service with its own address (architecture.md §7): both
// listen on the same port with a wildcard address, each gets only the connections to its own
// address, and the node's own address has no listener at that port.
TEST_P(ServiceTest, PodsListenOnTheSamePortAtTheirOwnAddresses) {
  const wire::Ipv4Address pod_a{{192, 0, 2, 11}};
  const wire::Ipv4Address pod_b{{192, 0, 2, 12}};
  auto app_a = Attach("pod-a", AddPod(pod_a));
  auto app_b = Attach("pod-b", AddPod(pod_b));
  ASSERT_NE(app_a, nullptr);
  ASSERT_NE(app_b, nullptr);
  std::vector<std::pair<AppDriver*, uint32_t>> accepts;
  for (AppDriver* app : {app_a.get(), app_b.get()}) {
    const uint32_t l = Open(*app);
    EXPECT_EQ(Answer(*app, l, BindArgs{V4(wire::Ipv4Address{}, 7001)}).error, 0);
    ASSERT_EQ(Answer(*app, l, ListenArgs{8}).error, 0);
    const uint32_t h = app->NewHandle();
    app->Push(l, AcceptIntoArgs{h});
    accepts.push_back({app, h});
  }
  peer_->Connect(pod_a, 7001);
  peer_->Connect(pod_b, 7001);
  PeerApp::Conn& to_node = peer_->Connect(net_.a().ipv4(), 7001);
  ASSERT_TRUE(Drive([&] {
    return accepts[0].first->Has(accepts[0].second, EventKind::kAccepted) &&
           accepts[1].first->Has(accepts[1].second, EventKind::kAccepted) && to_node.error;
  }));
  EXPECT_EQ(to_node.why, tcp::SocketError::kRefused);
  const wire::Ipv4Address want[] = {pod_a, pod_b};
  for (size_t i = 0; i < 2; ++i) {
    auto [app, h] = accepts[i];
    const Event local = Answer(*app, h, GetInfoArgs{InfoKind::kLocalAddress});
    EXPECT_EQ(std::get<InfoArgs>(local.args).address, V4(want[i], 7001)) << i;
  }
  // Port 0 finds a port free at the pod's addresses.
  const uint32_t any_port = Open(*app_a);
  ASSERT_EQ(Answer(*app_a, any_port, ListenArgs{8}).error, 0);
  const Event bound = Answer(*app_a, any_port, GetInfoArgs{InfoKind::kLocalAddress});
  EXPECT_NE(std::get<InfoArgs>(bound.args).address.port, 0);
}

// A pod's app connects from the pod's address, cannot bind the node's or another pod's, and its
// MPTCP connections take the pod's policy.
TEST_P(ServiceTest, APodsConnectionsLeaveFromItsAddressWithItsPolicy) {
  const wire::Ipv4Address pod{{192, 0, 2, 21}};
  auto policy = std::make_shared<mptcp::ConnectionPolicy>();
  policy->scheduler = "roundrobin";
  auto app = Attach("pod", AddPod(pod, policy));
  ASSERT_NE(app, nullptr);
  peer_->Listen(5002);
  const uint32_t h = ConnectToPeer(*app, 5002);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  const Event local = Answer(*app, h, GetInfoArgs{InfoKind::kLocalAddress});
  const SockAddr from = std::get<InfoArgs>(local.args).address;
  EXPECT_EQ(from, V4(pod, from.port));
  tcp::SocketApi& peer_api = mptcp_ ? static_cast<tcp::SocketApi&>(*net_.b().EnableMptcp({}))
                                    : static_cast<tcp::SocketApi&>(net_.b().sockets());
  const std::optional<tcp::FlowKey> flow = peer_api.Flow(peer_->conn(0).id);
  ASSERT_TRUE(flow);
  EXPECT_EQ(flow->remote, wire::IpAddress(pod));
  if (mptcp_) {
    mptcp::MptcpSockets& m = *net_.a().EnableMptcp({});
    ASSERT_EQ(m.Connections().size(), 1u);
    EXPECT_EQ(m.ConnectionInfo(m.Connections()[0])->scheduler, "roundrobin");
  }
  const uint64_t refused = pods_[0].service->counters()[ServiceCounter::kOutOfScopeRefused];
  const uint32_t other = Open(*app);
  EXPECT_EQ(Answer(*app, other, BindArgs{V4(net_.a().ipv4(), 0)}).error, EADDRNOTAVAIL);
  EXPECT_EQ(pods_[0].service->counters()[ServiceCounter::kOutOfScopeRefused], refused + 1);
  // An IPv6 listener of a pod with only an IPv4 address listens at that one (dual stack).
  const uint32_t six = app->NewHandle();
  const uint64_t cookie = app->Push(six, OpenArgs{AF_INET6, protocol()});
  ASSERT_TRUE(Drive([&] { return app->TakeAnswer(cookie).has_value(); }));
  EXPECT_EQ(Answer(*app, six, ListenArgs{4}).error, 0);
}

TEST_P(ServiceTest, TheAppsUnreadBytesMakeCloseAReset) {
  peer_->Listen(5004);
  auto app = Attach("unread");
  ASSERT_NE(app, nullptr);
  const uint32_t h = ConnectToPeer(*app, 5004);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  peer_->conn(0).to_send = 1000;
  ASSERT_TRUE(Drive([&] { return app->Has(h, EventKind::kReadable); }));
  EXPECT_EQ(Answer(*app, h, CloseArgs{}).kind(), EventKind::kClosed);
  ASSERT_TRUE(Drive([&] { return peer_->conn(0).error; }));
}

// An app that writes, closes and exits is gone before the service took its last commands:
// what it closed still delivers every byte and a FIN; what it left open is reset.
TEST_P(ServiceTest, AnAppThatClosesAndDiesStillDeliversItsLastBytes) {
  peer_->Listen(5005);
  auto app = Attach("brief");
  ASSERT_NE(app, nullptr);
  const uint32_t closed = ConnectToPeer(*app, 5005);
  const uint32_t open = ConnectToPeer(*app, 5005);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 2; }));
  // A FIFO's worth written, closed and hung up without the service running in between.
  Bytes out(SmallGeometry().tx_fifo_bytes);
  for (size_t i = 0; i < out.size(); ++i) out[i] = Pattern(i, 5);
  ASSERT_EQ(app->Write(closed, out), out.size());
  app->Write(open, std::span(out).first(1000));
  app->Push(closed, CloseArgs{});
  app->Hangup();
  ASSERT_TRUE(Drive([&] { return peer_->conn(0).fin && peer_->conn(1).error; }));
  EXPECT_EQ(peer_->conn(0).received, out);
  EXPECT_FALSE(peer_->conn(0).error);
  ASSERT_TRUE(Drive([&] { return service_->sessions() == 0; }));
  EXPECT_EQ(Counter(ServiceCounter::kAppHangups), 1u);
  EXPECT_EQ(Counter(ServiceCounter::kSocketsReset), 1u);
  EXPECT_EQ(Counter(ServiceCounter::kOrphanLingerExpired), 0u);
}

// A dead app's closed socket whose peer stops reading is reset after orphan_linger, and the
// session's region goes with it; commands that would open anything are ignored.
TEST_P(ServiceTest, ADeadAppsClosedSocketsLingerOnlySoLong) {
  ServiceLimits limits;
  limits.orphan_linger = 2s;
  limits.liveness_interval = 1ns;  // every Poll sees the hang-up before the commands
  Build(mptcp_, limits);
  tcp::TcpConfig small;
  small.receive_buffer = 16 << 10;
  peer_->Listen(5006, small);
  auto app = Attach("lingering");
  ASSERT_NE(app, nullptr);
  const uint32_t h = ConnectToPeer(*app, 5006);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  peer_->reading = false;
  Bytes out(SmallGeometry().tx_fifo_bytes, 0x5a);
  size_t written = 0;
  // Fill the peer's window, the socket's buffer and the FIFO.
  Drive([] { return false; }, [&] { written += app->Write(h, out); }, 3000);
  ASSERT_GT(written, 0u);
  app->Hangup();
  app->Push(h, CloseArgs{});
  app->Push(app->NewHandle(), OpenArgs{AF_INET, protocol()});
  ASSERT_TRUE(
      Drive([&] { return !service_->Sessions().empty() && service_->Sessions()[0].orphaned; }));
  const tcp::Instant died = net_.now();
  ASSERT_TRUE(Drive([&] { return service_->sessions() == 0; }));
  EXPECT_GE(net_.now() - died, 2s);
  EXPECT_EQ(Counter(ServiceCounter::kOrphanLingerExpired), 1u);
  EXPECT_EQ(Counter(ServiceCounter::kOrphanCommandsIgnored), 1u);
  ASSERT_TRUE(Drive([&] { return peer_->conn(0).error; }));
}

// Fork per connection: the parent released the connection it accepted, its child adopts it and
// carries on, with the bytes the parent neither read nor had sent, in order.
TEST_P(ServiceTest, AForkChildAdoptsTheConnectionItsParentReleased) {
  peer_->Listen(5007);
  auto parent = Attach("parent");
  auto child = Attach("child");
  ASSERT_NE(parent, nullptr);
  ASSERT_NE(child, nullptr);
  const uint32_t h = ConnectToPeer(*parent, 5007);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  PeerApp::Conn& peer = peer_->conn(0);
  peer.to_send = 3000;
  peer.seed = 8;
  ASSERT_TRUE(Drive([&] { return parent->Has(h, EventKind::kReadable); }));
  Bytes first(1000);
  first.resize(parent->Read(h, first));  // the parent read some, not all
  ASSERT_GT(first.size(), 0u);
  Bytes out(40000);
  for (size_t i = 0; i < out.size(); ++i) out[i] = Pattern(i, 9);
  ASSERT_EQ(parent->Write(h, std::span(out).first(20000)), 20000u);

  // The child asks first: the adoption waits for the parent's release.
  const uint32_t c = child->NewHandle();
  const uint64_t adopt = child->Push(c, AdoptArgs{parent->region().adopt_token(), h});
  for (int i = 0; i < 20; ++i) service_->Poll(net_.now());
  EXPECT_FALSE(child->TakeAnswer(adopt).has_value());
  const uint64_t release = parent->Push(h, ReleaseArgs{});
  std::optional<Event> adopted;
  ASSERT_TRUE(Drive([&] { return (adopted = child->TakeAnswer(adopt)).has_value(); }));
  EXPECT_EQ(adopted->kind(), EventKind::kDone);
  EXPECT_EQ(adopted->error, 0);
  std::optional<Event> closed;
  ASSERT_TRUE(Drive([&] { return (closed = parent->TakeAnswer(release)).has_value(); }));
  EXPECT_EQ(closed->kind(), EventKind::kClosed);
  EXPECT_EQ(Counter(ServiceCounter::kAdopted), 1u);

  // The child reads what the parent left and everything after; writes after the parent's.
  Bytes got(first);
  size_t written = 20000;
  ASSERT_TRUE(Drive([&] { return got.size() == 3000 && written == out.size(); },
                    [&] {
                      ReadAll(*child, c, got);
                      written += child->Write(c, std::span(out).subspan(written));
                    }));
  EXPECT_TRUE(MatchesPattern(got, 8));
  EXPECT_EQ(Answer(*child, c, ShutdownArgs{SHUT_WR}).error, 0);
  ASSERT_TRUE(Drive([&] { return peer.fin; }));
  EXPECT_EQ(peer.received, out);
  EXPECT_FALSE(peer.error);
  // The old handle is the parent's no more.
  EXPECT_EQ(Answer(*parent, h, GetInfoArgs{InfoKind::kLocalAddress}).error, EBADF);
}

// A release nobody adopts is a close (the test process has no child: at once); kAdopt of what
// is not a released connection of another region is refused.
TEST_P(ServiceTest, ReleaseWithoutAdopterClosesAndBadAdoptionsAreRefused) {
  peer_->Listen(5008);
  auto owner = Attach("owner");
  auto other = Attach("other");
  ASSERT_NE(owner, nullptr);
  ASSERT_NE(other, nullptr);
  const uint32_t h = ConnectToPeer(*owner, 5008);
  const uint32_t l = Open(*owner);
  EXPECT_EQ(Answer(*owner, l, ListenArgs{4}).error, 0);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  const uint64_t token = owner->region().adopt_token();
  auto refused = [&](AppDriver& app, uint64_t t, uint32_t handle) {
    const uint32_t n = app.NewHandle();
    const Event e = Answer(app, n, AdoptArgs{t, handle});
    app.Free(n);
    return e.error;
  };
  EXPECT_EQ(refused(*other, token ^ 1, h), EBADF);             // no such region
  EXPECT_EQ(refused(*other, token, MakeHandle(9, 1)), EBADF);  // no such socket
  EXPECT_EQ(refused(*other, token, l), ENOTCONN);              // a listener
  EXPECT_EQ(refused(*owner, token, h), EBADF);                 // its own
  EXPECT_EQ(Counter(ServiceCounter::kAdoptRefused), 4u);

  const uint64_t release = owner->Push(h, ReleaseArgs{});
  std::optional<Event> closed;
  ASSERT_TRUE(Drive([&] { return (closed = owner->TakeAnswer(release)).has_value(); },
                    [] { std::this_thread::sleep_for(50us); }));
  EXPECT_EQ(closed->kind(), EventKind::kClosed);
  ASSERT_TRUE(Drive([&] { return peer_->conn(0).fin || peer_->conn(0).error; }))
      << Counter(ServiceCounter::kSocketsReset) << " resets";
  EXPECT_FALSE(peer_->conn(0).error);
  EXPECT_EQ(Counter(ServiceCounter::kReleasesClosed), 1u);
  EXPECT_EQ(Counter(ServiceCounter::kAdopted), 0u);
}

// SO_KEEPALIVE set after connect, as apps set it on accepted sockets, takes effect: the idle
// connection probes (TCP_KEEPIDLE / TCP_KEEPINTVL set before, as Linux allows), and the peer
// sees the probes arrive.
TEST_P(ServiceTest, KeepaliveSetAfterConnectProbes) {
  peer_->Listen(5010);
  auto app = Attach("keepalive");
  ASSERT_NE(app, nullptr);
  const auto set_int = [&](uint32_t h, int level, int name, int32_t v) {
    SetOptArgs a{level, name, 4, {}};
    std::memcpy(a.value.data(), &v, 4);
    return Answer(*app, h, a).error;
  };
  const uint32_t h = Open(*app);
  EXPECT_EQ(set_int(h, IPPROTO_TCP, TCP_KEEPIDLE, 1), 0);
  EXPECT_EQ(set_int(h, IPPROTO_TCP, TCP_KEEPINTVL, 1), 0);
  ASSERT_EQ(Answer(*app, h, ConnectArgs{V4(net_.b().ipv4(), 5010)}).kind(), EventKind::kConnected);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  tcp::SocketApi& peer_api = mptcp_ ? static_cast<tcp::SocketApi&>(*net_.b().EnableMptcp({}))
                                    : static_cast<tcp::SocketApi&>(net_.b().sockets());
  const auto segments_in = [&] {
    const std::optional<tcp::TcpInfo> info = peer_api.Info(peer_->conn(0).id);
    return info ? info->counters[tcp::TcpCounter::kSegmentsIn] : 0;
  };
  Drive([] { return false; }, {}, 200);
  const uint64_t quiet = segments_in();
  EXPECT_FALSE(Drive([&] { return segments_in() > quiet; }, {}, 300)) << "traffic without probes";
  EXPECT_EQ(set_int(h, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
  const uint64_t before = segments_in();
  EXPECT_TRUE(Drive([&] { return segments_in() >= before + 2; }, {}, 3000))
      << "no keepalive probe reached the peer";
  EXPECT_FALSE(peer_->conn(0).error);
}

TEST_P(ServiceTest, SocketOptionsRoundTripAndInfoComesInRecords) {
  peer_->Listen(5005);
  auto app = Attach("options");
  ASSERT_NE(app, nullptr);
  const auto set_int = [&](uint32_t h, int level, int name, int32_t v) {
    SetOptArgs a{level, name, 4, {}};
    std::memcpy(a.value.data(), &v, 4);
    return Answer(*app, h, a).error;
  };
  // A getsockopt answer, reassembled from its records.
  const auto get = [&](uint32_t h, int level, int name, int* error) {
    const uint64_t cookie = app->Push(h, GetOptArgs{level, name, kMaxOptBytes});
    Bytes value;
    *error = 0;
    for (;;) {
      std::optional<Event> e;
      EXPECT_TRUE(Drive([&] { return (e = app->TakeAnswer(cookie)).has_value(); }));
      if (!e) return value;
      if (e->kind() == EventKind::kDone) {
        *error = e->error;
        return value;
      }
      const auto& v = std::get<OptValueArgs>(e->args);
      const size_t piece = std::min<size_t>(kMaxOptBytes, v.length - value.size());
      value.insert(value.end(), v.value.begin(), v.value.begin() + piece);
      if (!v.more) {
        EXPECT_EQ(value.size(), v.length);
        return value;
      }
    }
  };
  const auto get_int = [&](uint32_t h, int level, int name) {
    int error = 0;
    const Bytes v = get(h, level, name, &error);
    EXPECT_EQ(error, 0) << name;
    int32_t out = -1;
    if (v.size() >= 4) std::memcpy(&out, v.data(), 4);
    return out;
  };

  const uint32_t h = Open(*app);
  EXPECT_EQ(set_int(h, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  EXPECT_EQ(get_int(h, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(set_int(h, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
  EXPECT_EQ(get_int(h, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(set_int(h, SOL_SOCKET, SO_RCVBUF, 1 << 20), 0);
  EXPECT_EQ(get_int(h, SOL_SOCKET, SO_RCVBUF), 1 << 20);
  EXPECT_EQ(set_int(h, IPPROTO_TCP, TCP_KEEPIDLE, 30), 0);
  EXPECT_EQ(get_int(h, IPPROTO_TCP, TCP_KEEPIDLE), 30);
  EXPECT_EQ(set_int(h, IPPROTO_TCP, TCP_MAXSEG, 10), EINVAL);
  EXPECT_EQ(get_int(h, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(get_int(h, SOL_SOCKET, SO_DOMAIN), AF_INET);
  EXPECT_EQ(get_int(h, SOL_SOCKET, SO_PROTOCOL), mptcp_ ? 262 : IPPROTO_TCP);
  EXPECT_EQ(get_int(h, SOL_SOCKET, SO_ACCEPTCONN), 0);
  EXPECT_EQ(get_int(h, SOL_SOCKET, SO_ERROR), 0);
  SetOptArgs cc{IPPROTO_TCP, TCP_CONGESTION, 7, {}};
  std::memcpy(cc.value.data(), "newreno", 7);
  EXPECT_EQ(Answer(*app, h, cc).error, 0);
  std::memcpy(cc.value.data(), "bogus\0\0", 7);
  EXPECT_EQ(Answer(*app, h, cc).error, ENOENT);
  int error = 0;
  const Bytes name = get(h, IPPROTO_TCP, TCP_CONGESTION, &error);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(name.data())), "newreno");
  // Unknown options, as Linux answers them.
  EXPECT_EQ(set_int(h, SOL_SOCKET, SO_BROADCAST, 1), ENOPROTOOPT);
  get(h, IPPROTO_TCP, TCP_REPAIR, &error);
  EXPECT_EQ(error, ENOPROTOOPT);
  get(h, 12345, 1, &error);
  EXPECT_EQ(error, ENOPROTOOPT);
  EXPECT_GE(Counter(ServiceCounter::kOptUnknown), 3u);

  ASSERT_EQ(Answer(*app, h, ConnectArgs{V4(net_.b().ipv4(), 5005)}).kind(), EventKind::kConnected);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  // After connect: TCP_NODELAY changes on the live connection; the same value is fine; a
  // change the connection cannot take is refused.
  EXPECT_EQ(set_int(h, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  EXPECT_EQ(set_int(h, IPPROTO_TCP, TCP_NODELAY, 0), 0);
  EXPECT_EQ(get_int(h, IPPROTO_TCP, TCP_NODELAY), 0);
  EXPECT_EQ(set_int(h, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  EXPECT_EQ(set_int(h, IPPROTO_TCP, TCP_MAXSEG, 1000), EINVAL);
  // Some traffic so that the counters move.
  Bytes out(50000, 9);
  peer_->conn(0).to_send = 30000;
  Bytes in;
  size_t written = 0;
  ASSERT_TRUE(
      Drive([&] { return peer_->conn(0).received.size() == out.size() && in.size() == 30000; },
            [&] {
              written += app->Write(h, std::span(out).subspan(written));
              ReadAll(*app, h, in);
            }));

  const Bytes info = get(h, IPPROTO_TCP, TCP_INFO, &error);
  ASSERT_EQ(error, 0);
  ASSERT_EQ(info.size(), sizeof(tcp_info));
  tcp_info ti;
  std::memcpy(&ti, info.data(), sizeof(ti));
  EXPECT_EQ(ti.tcpi_state, 1);  // TCP_ESTABLISHED
  EXPECT_GT(ti.tcpi_snd_mss, 500u);
  EXPECT_GT(ti.tcpi_rto, 0u);  // the links have no delay: the RTT itself may be 0
  EXPECT_GT(ti.tcpi_snd_cwnd, 0u);
  if (!mptcp_) {
    EXPECT_GT(ti.tcpi_bytes_acked, 0u);
    EXPECT_EQ(ti.tcpi_bytes_received, 30000u);
  }
  const Event conn = Answer(*app, h, GetInfoArgs{InfoKind::kConnection});
  ASSERT_EQ(conn.kind(), EventKind::kInfo);
  const ConnectionInfo& ci = std::get<InfoArgs>(conn.args).connection;
  EXPECT_EQ(ci.state, 1);
  EXPECT_EQ(ci.mptcp, mptcp_ ? 1 : 0);
  EXPECT_EQ(ci.subflows, 1);
  EXPECT_GE(ci.bytes_sent, out.size());
  EXPECT_EQ(ci.bytes_received, 30000u);

  if (mptcp_) {
    const Bytes mi = get(h, kSolMptcp, MPTCP_INFO, &error);
    ASSERT_EQ(error, 0);
    ASSERT_EQ(mi.size(), sizeof(mptcp_info));
    mptcp_info m;
    std::memcpy(&m, mi.data(), sizeof(m));
    EXPECT_EQ(m.mptcpi_subflows, 0);  // besides the initial one, as the kernel counts
    EXPECT_EQ(m.mptcpi_flags & MPTCP_INFO_FLAG_FALLBACK, 0u);
    EXPECT_NE(m.mptcpi_flags & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED, 0u);
    EXPECT_NE(m.mptcpi_token, 0u);
    EXPECT_GE(m.mptcpi_write_seq - m.mptcpi_snd_una, 0u);
    const Bytes sub = get(h, kSolMptcp, MPTCP_TCPINFO, &error);
    ASSERT_EQ(error, 0);
    mptcp_subflow_data header;
    ASSERT_GE(sub.size(), sizeof(header));
    std::memcpy(&header, sub.data(), sizeof(header));
    EXPECT_EQ(header.num_subflows, 1u);
    EXPECT_EQ(header.size_kernel, sizeof(tcp_info));
    EXPECT_EQ(sub.size(), sizeof(header) + sizeof(tcp_info));
    const Bytes addrs = get(h, kSolMptcp, MPTCP_SUBFLOW_ADDRS, &error);
    ASSERT_EQ(error, 0);
    EXPECT_EQ(addrs.size(), sizeof(header) + sizeof(mptcp_subflow_addrs));
    SetOptArgs sched{kSolMptcp, kBraidMptcpScheduler, 7, {}};
    std::memcpy(sched.value.data(), "default", 7);
    EXPECT_EQ(Answer(*app, h, sched).error, 0);
    const Bytes s = get(h, kSolMptcp, kBraidMptcpScheduler, &error);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(s.data())), "default");
    const Bytes pm = get(h, kSolMptcp, kBraidMptcpPathManager, &error);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(pm.data())), "kernel");
    SetOptArgs set_pm{kSolMptcp, kBraidMptcpPathManager, 6, {}};
    std::memcpy(set_pm.value.data(), "kernel", 6);
    EXPECT_EQ(Answer(*app, h, set_pm).error, ENOPROTOOPT);
    get(h, kSolMptcp, 4 /* MPTCP_FULL_INFO */, &error);
    EXPECT_EQ(error, ENOPROTOOPT);
  } else {
    get(h, kSolMptcp, MPTCP_INFO, &error);
    EXPECT_EQ(error, ENOPROTOOPT);  // a TCP socket has no MPTCP level
  }
}

// ---------------------------------------------------------------------------------------------
// Malformed commands, corruption, death: TCP is enough (nothing here depends on the layer).

class ServiceTcpTest : public ServiceTest {
 protected:
  void SetUp() override { Build(false); }
};

TEST_F(ServiceTcpTest, EveryMalformedCommandIsAnsweredAndCounted) {
  auto app = Attach("malformed");
  ASSERT_NE(app, nullptr);
  const auto answer_raw = [&](CommandRecord r) {
    app->PushRecord(r);
    std::optional<Event> e;
    EXPECT_TRUE(Drive([&] { return (e = app->TakeAnswer(r.cookie)).has_value(); }));
    return e.value_or(Event{});
  };
  // Records that do not decode: EINVAL, or the open's own errors.
  CommandRecord bad_op{};
  bad_op.op = 999;
  bad_op.cookie = 1001;
  Event e = answer_raw(bad_op);
  EXPECT_EQ(e.kind(), EventKind::kDone);
  EXPECT_EQ(e.error, EINVAL);
  CommandRecord flags = EncodeCommand({MakeHandle(0, 1), 1002, OpenArgs{}});
  flags.flags = 1;
  EXPECT_EQ(answer_raw(flags).error, EINVAL);
  CommandRecord family = EncodeCommand({MakeHandle(0, 1), 1003, OpenArgs{}});
  family.payload[0] = 99;
  EXPECT_EQ(answer_raw(family).error, EAFNOSUPPORT);
  CommandRecord proto = EncodeCommand({MakeHandle(0, 1), 1004, OpenArgs{}});
  proto.payload[2] = 17;
  EXPECT_EQ(answer_raw(proto).error, EPROTONOSUPPORT);
  CommandRecord handle = EncodeCommand({kNoHandle, 1005, CloseArgs{}});
  e = answer_raw(handle);
  EXPECT_EQ(e.error, EINVAL);
  EXPECT_EQ(Counter(ServiceCounter::kMalformedCommands), 5u);

  // Handles the app does not own: EBADF.
  EXPECT_EQ(Answer(*app, MakeHandle(3, 1), CloseArgs{}).error, EBADF);
  EXPECT_EQ(Answer(*app, MakeHandle(15, 2), ConnectArgs{V4(net_.b().ipv4(), 1)}).error, EBADF);
  EXPECT_EQ(Answer(*app, MakeHandle(16, 1), OpenArgs{AF_INET, Protocol::kTcp}).error, EBADF);
  const uint32_t h = Open(*app);
  EXPECT_EQ(Answer(*app, h, OpenArgs{AF_INET, Protocol::kTcp}).error, EBADF);  // double open
  EXPECT_EQ(Answer(*app, MakeHandle(HandleIndex(h), HandleGeneration(h) + 1), CloseArgs{}).error,
            EBADF);
  EXPECT_GE(Counter(ServiceCounter::kBadHandleCommands), 5u);

  // Wrong states: EINVAL; addresses: EADDRNOTAVAIL.
  EXPECT_EQ(Answer(*app, h, AcceptIntoArgs{MakeHandle(5, 1)}).error, EINVAL);
  EXPECT_EQ(Answer(*app, h, ShutdownArgs{SHUT_WR}).error, ENOTCONN);
  EXPECT_EQ(Answer(*app, h, BindArgs{V4(wire::Ipv4Address{{198, 51, 100, 1}}, 80)}).error,
            EADDRNOTAVAIL);
  EXPECT_EQ(Answer(*app, h, BindArgs{V4(net_.a().ipv4(), 7001)}).error, 0);
  EXPECT_EQ(Answer(*app, h, BindArgs{V4(net_.a().ipv4(), 7002)}).error, EINVAL);
  EXPECT_EQ(Answer(*app, h, ListenArgs{4}).error, 0);
  EXPECT_EQ(Answer(*app, h, ConnectArgs{V4(net_.b().ipv4(), 1)}).error, EINVAL);
  EXPECT_EQ(Answer(*app, h, SendArgs{}).error, EINVAL);
  // A second listener on the same port.
  const uint32_t other = Open(*app);
  EXPECT_EQ(Answer(*app, other, BindArgs{V4(net_.a().ipv4(), 7001)}).error, 0);
  EXPECT_EQ(Answer(*app, other, ListenArgs{4}).error, EADDRINUSE);
  // Accept into a slot in use, and into the listener itself.
  EXPECT_EQ(Answer(*app, h, AcceptIntoArgs{other}).error, EBADF);
  EXPECT_EQ(Answer(*app, h, AcceptIntoArgs{h}).error, EBADF);
  EXPECT_GE(Counter(ServiceCounter::kWrongStateCommands), 4u);
  // Closing the listener refuses its posted slot, then frees the listener.
  const uint32_t posted = app->NewHandle();
  const uint64_t accept = app->Push(h, AcceptIntoArgs{posted});
  const Event closed = Answer(*app, h, CloseArgs{});
  EXPECT_EQ(closed.kind(), EventKind::kClosed);
  const std::optional<Event> refused = app->TakeAnswer(accept);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->kind(), EventKind::kDone);
  EXPECT_EQ(refused->error, ECONNABORTED);
  // The session survived all of it.
  EXPECT_EQ(service_->sessions(), 1u);
}

TEST_F(ServiceTcpTest, CorruptIndicesEndOnlyThatAppsSession) {
  peer_->Listen(5010);
  auto bad = Attach("bad");
  auto good = Attach("good");
  ASSERT_NE(bad, nullptr);
  ASSERT_NE(good, nullptr);
  const uint32_t b1 = ConnectToPeer(*bad, 5010);
  const uint32_t b2 = ConnectToPeer(*bad, 5010);
  const uint32_t g = ConnectToPeer(*good, 5010);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 3; }));
  (void)b2;

  // A TX FIFO write index far ahead of anything possible, announced with kSend.
  bad->region().slot(HandleIndex(b1))->tx.write.store(uint64_t{1} << 40);
  bad->Push(b1, SendArgs{});
  ASSERT_TRUE(Drive([&] { return service_->sessions() == 1; }));
  EXPECT_EQ(Counter(ServiceCounter::kCorruptFifo), 1u);
  EXPECT_EQ(bad->region().service_state(), ServiceState::kGone);
  ASSERT_TRUE(Drive([&] { return peer_->conn(0).error && peer_->conn(1).error; }));
  EXPECT_EQ(peer_->conn(0).why, tcp::SocketError::kReset);

  // The other app keeps working.
  peer_->conn(2).to_send = 100000;
  peer_->conn(2).seed = 5;
  Bytes got;
  ASSERT_TRUE(Drive([&] { return got.size() == 100000; }, [&] { ReadAll(*good, g, got); }));
  EXPECT_TRUE(MatchesPattern(got, 5));
  EXPECT_FALSE(peer_->conn(2).error);

  // A command ring tail beyond its capacity ends that session too.
  good->region().bytes()[0] = good->region().bytes()[0];  // the region is still mapped
  auto* ring = reinterpret_cast<RingIndices*>(good->region().bytes().data() +
                                              good->region().layout().command_ring_offset);
  ring->tail.store(ring->tail.load() + 1000);
  ASSERT_TRUE(Drive([&] { return service_->sessions() == 0; }));
  EXPECT_EQ(Counter(ServiceCounter::kCorruptCommandRing), 1u);
  ASSERT_TRUE(Drive([&] { return peer_->conn(2).error; }));
  EXPECT_EQ(net_.a().sockets().open_sockets(), 0u);
}

TEST_F(ServiceTcpTest, AnAppThatHangsUpLosesItsConnections) {
  peer_->Listen(5011);
  auto app = Attach("mortal");
  ASSERT_NE(app, nullptr);
  const uint32_t l = Open(*app);
  EXPECT_EQ(Answer(*app, l, BindArgs{V4(net_.a().ipv4(), 6011)}).error, 0);
  EXPECT_EQ(Answer(*app, l, ListenArgs{4}).error, 0);
  ConnectToPeer(*app, 5011);
  ConnectToPeer(*app, 5011);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 2; }));
  app->Hangup();
  ASSERT_TRUE(Drive([&] { return service_->sessions() == 0; }));
  ASSERT_TRUE(Drive([&] { return peer_->conn(0).error && peer_->conn(1).error; }));
  EXPECT_EQ(Counter(ServiceCounter::kAppHangups), 1u);
  EXPECT_EQ(Counter(ServiceCounter::kSocketsReset), 2u);
  ASSERT_TRUE(Drive([&] { return net_.a().sockets().open_sockets() == 0; }));
  // The listener is gone with the app: the port is free again.
  EXPECT_TRUE(net_.a().sockets().Listen(6011, tcp::TcpConfig{}, peer_.get()).ok());
}

TEST_F(ServiceTcpTest, AKilledChildProcessLosesItsConnections) {
  peer_->Listen(5012);
  testing::SharedReport report;
  ASSERT_TRUE(report.valid());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child: attach, open, connect, report, then wait to be killed.
    absl::StatusOr<ChannelConnection> c = ConnectChannel(path_, "child");
    if (!c.ok()) ::_exit(report.Fail(std::string(c.status().message())));
    absl::StatusOr<AppRegion> region = AppRegion::Attach(c->memfd.get());
    if (!region.ok()) ::_exit(report.Fail("attach"));
    RingProducer<CommandRecord> commands = region->CommandProducer();
    RingConsumer<EventRecord> events = region->EventConsumer();
    const uint32_t h = MakeHandle(0, 1);
    commands.TryPush(EncodeCommand({h, 1, OpenArgs{AF_INET, Protocol::kTcp}}));
    SockAddr to;
    to.family = AF_INET;
    to.port = 5012;
    to.address = {192, 0, 2, 2};
    commands.TryPush(EncodeCommand({h, 2, ConnectArgs{to}}));
    report->stage.store(1);
    for (int i = 0; i < 100000; ++i) {
      EventRecord r;
      if (events.TryPop(r) == RingStatus::kOk &&
          r.kind == static_cast<uint16_t>(EventKind::kConnected)) {
        report->stage.store(2);
        break;
      }
      ::usleep(100);
    }
    for (;;) ::pause();
  }
  // Accept the child's hello while it waits, then serve it until it is connected.
  ASSERT_TRUE(
      Drive([&] { return report->stage.load() == 2; }, [] { std::this_thread::sleep_for(50us); }))
      << report.message();
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  EXPECT_EQ(service_->Sessions().at(0).pid, child);
  EXPECT_EQ(service_->Sessions().at(0).name, "child");
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(Drive([&] { return service_->sessions() == 0; }));
  ASSERT_TRUE(Drive([&] { return peer_->conn(0).error; }));
  EXPECT_EQ(Counter(ServiceCounter::kAppHangups), 1u);
  ASSERT_TRUE(Drive([&] { return net_.a().sockets().open_sockets() == 0; }));
}

TEST_F(ServiceTcpTest, StopResetsConnectionsAndTellsTheApps) {
  peer_->Listen(5013);
  auto app = Attach("stopped");
  ASSERT_NE(app, nullptr);
  ConnectToPeer(*app, 5013);
  ASSERT_TRUE(Drive([&] { return peer_->count() == 1; }));
  service_->Stop(net_.now());
  EXPECT_EQ(app->region().service_state(), ServiceState::kGone);
  EXPECT_EQ(Counter(ServiceCounter::kSessionsStopped), 1u);
  EXPECT_FALSE(service_->Poll(net_.now()));
  ASSERT_TRUE(Drive([&] { return peer_->conn(0).error; }));
  // The app's doorbell tells it the service went away.
  EXPECT_EQ(app->bell().Wait(1s), WaitResult::kPeerGone);
  // No new app gets in.
  EXPECT_FALSE(ConnectChannel(path_, "late", ConnectOptions{.timeout = 200ms}).ok());
}

TEST_F(ServiceTcpTest, RefusesAppsBeyondTheLimit) {
  service_ = std::make_unique<ChannelService>(SocketApis{&net_.a().sockets(), nullptr});
  path_ = testing::TestSocketPath("limit");
  ServiceLimits limits;
  limits.max_apps = 1;
  ASSERT_TRUE(service_->Listen(path_, SmallGeometry(), limits).ok());
  auto first = Attach("first");
  ASSERT_NE(first, nullptr);
  auto answer = std::async(std::launch::async, [&] { return ConnectChannel(path_, "second"); });
  while (answer.wait_for(1ms) != std::future_status::ready) service_->Poll(net_.now());
  const absl::StatusOr<ChannelConnection> second = answer.get();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_EQ(Counter(ServiceCounter::kAppsRefused), 1u);
}

TEST_F(ServiceTcpTest, ACommandRungDuringTheWorkersSleepWakesIt) {
  auto app = Attach("sleeper");
  ASSERT_NE(app, nullptr);
  runtime::IdlePolicy idle(runtime::IdleConfig{});
  // The worker's sleep, with a timeout far beyond the test's wait.
  std::atomic<bool> slept{false};
  std::thread worker([&] {
    idle.Sleep(std::chrono::seconds(30), service_.get());
    slept.store(true);
  });
  // Once the service announced its sleep, the app pushes a command and rings.
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (app->region().service_sleeping().load() == 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(100us);
  }
  ASSERT_EQ(app->region().service_sleeping().load(), 1u);
  const uint32_t h = app->NewHandle();
  const uint64_t cookie = app->Push(h, OpenArgs{AF_INET, Protocol::kTcp});
  while (!slept.load() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(100us);
  }
  ASSERT_TRUE(slept.load()) << "the doorbell did not wake the sleeping worker";
  worker.join();
  EXPECT_EQ(idle.stats().woken, 1u);
  EXPECT_EQ(app->region().service_sleeping().load(), 0u);
  EXPECT_EQ(Counter(ServiceCounter::kWakeups), 1u);
  std::optional<Event> e;
  ASSERT_TRUE(Drive([&] { return (e = app->TakeAnswer(cookie)).has_value(); }));
  EXPECT_EQ(e->error, 0);

  // With a command already waiting, the sleep is called off at the re-check.
  app->Push(app->NewHandle(), OpenArgs{AF_INET, Protocol::kTcp});
  idle.Sleep(std::chrono::seconds(30), service_.get());
  EXPECT_EQ(idle.stats().sleeps_skipped, 1u);
}

}  // namespace
}  // namespace braid::channel
