// TEST DOUBLE of the Braid service (see loopback_service.h).
#include "tests/unit/sdk/loopback_service.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "datapath/channel/byte_fifo.h"
#include "datapath/channel/doorbell.h"
#include "datapath/channel/handover.h"
#include "datapath/channel/region.h"
#include "datapath/channel/spsc_ring.h"

namespace braid::sdk::testing {
namespace {

using channel::Command;
using channel::Event;
using channel::EventKind;
using channel::Op;
using channel::SockAddr;

constexpr int kSolMptcp = 284;

enum class SlotState { kFree, kOpen, kListening, kPosted, kConnected, kClosing };

struct SlotRef {
  size_t app = 0;
  uint32_t index = 0;
  uint32_t handle = 0;
};

struct Slot {
  SlotState state = SlotState::kFree;
  uint32_t handle = 0;
  uint16_t family = AF_INET;
  bool bound = false;
  SockAddr local;
  SockAddr peer_address;
  channel::FifoReader tx;
  channel::FifoWriter rx;
  std::optional<SlotRef> peer;  // the other end of the connection
  bool peer_gone = false;       // the other end closed: bytes sent now go nowhere
  bool fin_pending = false;     // SHUT_WR or kClose: FIN once the TX FIFO is drained
  bool fin_sent = false;
  bool rx_shut = false;
  uint64_t close_cookie = 0;
  // A listener.
  uint32_t backlog = 0;
  std::deque<std::pair<uint32_t, uint64_t>> accept_slots;  // (index, kAcceptInto cookie)
  std::deque<SlotRef> waiting;                             // connections without an app slot
  std::map<std::pair<int32_t, int32_t>, std::vector<uint8_t>> options;
};

struct App {
  channel::UniqueFd connection;
  std::optional<channel::ServiceRegion> region;
  channel::Doorbell bell;
  channel::RingConsumer<channel::CommandRecord> commands;
  channel::RingProducer<channel::EventRecord> events;
  std::vector<Slot> slots;
  std::deque<channel::EventRecord> backlog;  // events waiting for ring room
  bool gone = false;
};

bool Known(int32_t level, int32_t name) {
  static const std::pair<int32_t, int32_t> kKnown[] = {
      {SOL_SOCKET, SO_REUSEADDR},
      {SOL_SOCKET, SO_REUSEPORT},
      {SOL_SOCKET, SO_KEEPALIVE},
      {SOL_SOCKET, SO_LINGER},
      {SOL_SOCKET, SO_SNDBUF},
      {SOL_SOCKET, SO_RCVBUF},
      {IPPROTO_TCP, TCP_NODELAY},
      {IPPROTO_TCP, TCP_MAXSEG},
      {IPPROTO_TCP, TCP_KEEPIDLE},
      {IPPROTO_TCP, TCP_KEEPINTVL},
      {IPPROTO_TCP, TCP_KEEPCNT},
      {IPPROTO_TCP, TCP_INFO},
      {IPPROTO_TCP, TCP_CONGESTION},
      {kSolMptcp, 1},
      {kSolMptcp, 2},
      {kSolMptcp, 3},
      {kSolMptcp, 4},
      {kSolMptcp, 0x4201},
      {kSolMptcp, 0x4202},
      {kSolMptcp, 0x4203},
  };
  return std::find(std::begin(kKnown), std::end(kKnown), std::make_pair(level, name)) !=
         std::end(kKnown);
}

bool LoopbackOrAny(const SockAddr& a) {
  if (a.family == AF_INET) {
    return a.address[0] == 127 || (a.address[0] | a.address[1] | a.address[2] | a.address[3]) == 0;
  }
  const bool any = std::all_of(a.address.begin(), a.address.end(), [](uint8_t b) { return !b; });
  const bool loop =
      std::all_of(a.address.begin(), a.address.end() - 1, [](uint8_t b) { return !b; }) &&
      a.address[15] == 1;
  return any || loop;
}

SockAddr Loopback(uint16_t family, uint16_t port) {
  SockAddr a;
  a.family = family;
  a.port = port;
  if (family == AF_INET) {
    a.address[0] = 127;
    a.address[3] = 1;
  } else {
    a.address[15] = 1;
  }
  return a;
}

}  // namespace

struct LoopbackService::Engine {
  LoopbackOptions options;
  std::optional<channel::ChannelListener> listener;
  std::vector<std::unique_ptr<App>> apps;
  std::map<uint16_t, SlotRef> listeners;  // by port
  uint16_t next_port = 40000;
  std::vector<uint8_t> buffer = std::vector<uint8_t>(1 << 16);
  std::atomic<uint64_t>* commands_counter = nullptr;

  Slot* Find(const SlotRef& r) {
    if (r.app >= apps.size() || apps[r.app] == nullptr || apps[r.app]->gone) return nullptr;
    App& a = *apps[r.app];
    if (r.index >= a.slots.size()) return nullptr;
    Slot& s = a.slots[r.index];
    if (s.state == SlotState::kFree || s.handle != r.handle) return nullptr;
    return &s;
  }

  void Emit(App& a, const Event& e) {
    a.backlog.push_back(channel::EncodeEvent(e));
    Flush(a);
  }
  void EmitRaw(App& a, const channel::EventRecord& r) {
    a.backlog.push_back(r);
    Flush(a);
  }
  void Flush(App& a) {
    bool pushed = false;
    while (!a.backlog.empty() && a.events.TryPush(a.backlog.front()) == channel::RingStatus::kOk) {
      a.backlog.pop_front();
      pushed = true;
    }
    if (pushed) channel::WakePeer(a.region->app_sleeping(), a.bell);
  }
  void Done(App& a, uint32_t handle, uint64_t cookie, Op op, int error) {
    Emit(a, Event{handle, cookie, error, channel::DoneArgs{op}});
  }

  uint16_t EphemeralPort() {
    while (listeners.count(next_port) != 0) ++next_port;
    return next_port++;
  }

  // Lets go of a slot; the other end of its connection keeps running into nothing.
  void Free(App& a, uint32_t index) {
    Slot& s = a.slots[index];
    if (s.peer.has_value()) {
      if (Slot* p = Find(*s.peer)) {
        p->peer_gone = true;
        p->peer.reset();
      }
    }
    s = Slot{};
  }

  void Reset(const SlotRef& r) {
    if (Slot* p = Find(r)) {
      Emit(*apps[r.app], Event{r.handle, 0, ECONNRESET, channel::ErrorArgs{}});
      p->peer.reset();
      p->peer_gone = true;
    }
  }

  void StartSlot(App& a, uint32_t index, uint32_t handle) {
    a.region->ResetSlot(index);
    Slot& s = a.slots[index];
    s.handle = handle;
    s.tx = a.region->TxReader(index);
    s.rx = a.region->RxWriter(index);
  }

  void Pair(size_t app_index, uint32_t listener_index) {
    App& la = *apps[app_index];
    Slot& l = la.slots[listener_index];
    while (!l.waiting.empty() && !l.accept_slots.empty()) {
      const SlotRef connector = l.waiting.front();
      l.waiting.pop_front();
      Slot* c = Find(connector);
      if (c == nullptr) continue;
      const auto [index, cookie] = l.accept_slots.front();
      l.accept_slots.pop_front();
      Slot& n = la.slots[index];
      const uint32_t handle = n.handle;
      StartSlot(la, index, handle);
      n.state = SlotState::kConnected;
      n.family = l.family;
      n.local = c->peer_address;
      n.peer_address = c->local;
      n.peer = connector;
      c->peer = SlotRef{app_index, index, handle};
      Emit(la, Event{handle, cookie, 0, channel::AcceptedArgs{l.handle, c->local}});
    }
  }

  // Moves bytes from slot (a, i)'s TX FIFO to its peer's RX FIFO; true when anything moved.
  bool Move(size_t app_index, uint32_t index) {
    App& a = *apps[app_index];
    Slot& s = a.slots[index];
    if (s.state != SlotState::kConnected && s.state != SlotState::kClosing) return false;
    Slot* p = s.peer.has_value() ? Find(*s.peer) : nullptr;
    if (p == nullptr && !s.peer_gone) return false;  // not accepted yet: bytes wait
    bool moved = false;
    channel::SlotShared* shared = a.region->slot(index);
    shared->tx_pending.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (;;) {
      const size_t available = s.tx.Readable();
      size_t room = available;
      if (p != nullptr) room = std::min(room, p->rx.Writable());
      room = std::min(room, buffer.size());
      if (room == 0) break;
      const channel::FifoResult r = s.tx.Read(std::span<uint8_t>(buffer.data(), room));
      if (r.transition) Emit(a, Event{s.handle, 0, 0, channel::WritableArgs{}});
      moved = true;
      if (p == nullptr || p->rx_shut) continue;  // nobody reads: dropped
      p->rx.Write(std::span<const uint8_t>(buffer.data(), r.bytes));
      App& pa = *apps[s.peer->app];
      if (pa.region->slot(s.peer->index)->rx_pending.exchange(1) == 0) {
        Emit(pa, Event{p->handle, 0, 0, channel::ReadableArgs{}});
      }
    }
    if (s.fin_pending && !s.fin_sent && s.tx.Readable() == 0) {
      s.fin_sent = true;
      if (p != nullptr) Emit(*apps[s.peer->app], Event{p->handle, 0, 0, channel::PeerClosedArgs{}});
      moved = true;
    }
    if (s.state == SlotState::kClosing && s.fin_sent) {
      Emit(a, Event{s.handle, s.close_cookie, 0, channel::ClosedArgs{}});
      Free(a, index);
      moved = true;
    }
    return moved;
  }

  void Close(size_t app_index, uint32_t index, uint64_t cookie, bool abort) {
    App& a = *apps[app_index];
    Slot& s = a.slots[index];
    const uint32_t handle = s.handle;
    if (s.state == SlotState::kListening) {
      listeners.erase(s.local.port);
      for (const auto& [posted, posted_cookie] : s.accept_slots) {
        Emit(a, Event{a.slots[posted].handle, posted_cookie, 0, channel::ClosedArgs{}});
        a.slots[posted] = Slot{};
      }
      for (const SlotRef& c : s.waiting) Reset(c);
    } else if (s.state == SlotState::kConnected) {
      channel::SlotShared* shared = a.region->slot(index);
      const bool unread = shared->rx.write.load() != shared->rx.read.load();
      if (abort || unread || s.peer_gone) {
        if (s.peer.has_value()) Reset(*s.peer);
      } else {
        s.fin_pending = true;
        s.state = SlotState::kClosing;
        s.close_cookie = cookie;
        Move(app_index, index);
        return;
      }
    }
    Emit(a, Event{handle, cookie, 0, channel::ClosedArgs{}});
    Free(a, index);
  }

  void GetOpt(App& a, const Command& c, Slot& s, const channel::GetOptArgs& g) {
    if (!Known(g.level, g.name)) return Done(a, c.handle, c.cookie, Op::kGetOpt, ENOPROTOOPT);
    std::vector<uint8_t> value;
    if ((g.level == IPPROTO_TCP && g.name == TCP_INFO) || (g.level == kSolMptcp && g.name == 2)) {
      tcp_info info{};
      info.tcpi_state = TCP_ESTABLISHED;
      info.tcpi_snd_mss = 1448;
      value.resize(sizeof(info));
      std::memcpy(value.data(), &info, sizeof(info));
    } else if (auto it = s.options.find({g.level, g.name}); it != s.options.end()) {
      value = it->second;
    } else {
      value.assign(sizeof(int), 0);
    }
    // docs/channel-protocol.md: aux = the whole length, flags bit 0 = more records follow.
    size_t at = 0;
    do {
      channel::EventRecord r{};
      r.kind = static_cast<uint16_t>(EventKind::kOptValue);
      r.handle = c.handle;
      r.cookie = c.cookie;
      r.aux = static_cast<uint32_t>(value.size());
      const size_t n = std::min<size_t>(channel::kMaxOptBytes, value.size() - at);
      std::memcpy(r.payload, value.data() + at, n);
      at += n;
      r.flags = at < value.size() ? 1 : 0;
      EmitRaw(a, r);
    } while (at < value.size());
  }

  void Serve(size_t app_index, const Command& c) {
    App& a = *apps[app_index];
    const uint32_t index = channel::HandleIndex(c.handle);
    if (index >= a.slots.size()) return Done(a, c.handle, c.cookie, c.op(), EBADF);
    Slot& s = a.slots[index];
    if (c.op() == Op::kOpen) {
      if (s.state != SlotState::kFree) return Done(a, c.handle, c.cookie, Op::kOpen, EBADF);
      StartSlot(a, index, c.handle);
      s.state = SlotState::kOpen;
      s.family = std::get<channel::OpenArgs>(c.args).family;
      return Done(a, c.handle, c.cookie, Op::kOpen, 0);
    }
    if (s.state == SlotState::kFree || s.handle != c.handle) {
      return Done(a, c.handle, c.cookie, c.op(), EBADF);
    }
    switch (c.op()) {
      case Op::kBind: {
        const SockAddr& addr = std::get<channel::BindArgs>(c.args).address;
        if (s.state != SlotState::kOpen || s.bound)
          return Done(a, c.handle, c.cookie, Op::kBind, EINVAL);
        if (!LoopbackOrAny(addr)) return Done(a, c.handle, c.cookie, Op::kBind, EADDRNOTAVAIL);
        s.bound = true;
        s.local = addr;
        return Done(a, c.handle, c.cookie, Op::kBind, 0);
      }
      case Op::kListen: {
        if (s.state == SlotState::kListening) return Done(a, c.handle, c.cookie, Op::kListen, 0);
        if (s.state != SlotState::kOpen) return Done(a, c.handle, c.cookie, Op::kListen, EINVAL);
        if (!s.bound) s.local = SockAddr{s.family, 0, 0, {}};
        if (s.local.port == 0) s.local.port = EphemeralPort();
        if (listeners.count(s.local.port) != 0) {
          return Done(a, c.handle, c.cookie, Op::kListen, EADDRINUSE);
        }
        listeners[s.local.port] = SlotRef{app_index, index, c.handle};
        s.state = SlotState::kListening;
        s.backlog = std::get<channel::ListenArgs>(c.args).backlog;
        return Done(a, c.handle, c.cookie, Op::kListen, 0);
      }
      case Op::kAcceptInto: {
        const uint32_t new_handle = std::get<channel::AcceptIntoArgs>(c.args).new_handle;
        const uint32_t n = channel::HandleIndex(new_handle);
        if (s.state != SlotState::kListening) {
          return Done(a, c.handle, c.cookie, Op::kAcceptInto, EINVAL);
        }
        if (n >= a.slots.size() || a.slots[n].state != SlotState::kFree) {
          return Done(a, c.handle, c.cookie, Op::kAcceptInto, EBADF);
        }
        a.slots[n].state = SlotState::kPosted;
        a.slots[n].handle = new_handle;
        s.accept_slots.emplace_back(n, c.cookie);
        return Pair(app_index, index);
      }
      case Op::kConnect: {
        const SockAddr& to = std::get<channel::ConnectArgs>(c.args).address;
        if (s.state != SlotState::kOpen) return Done(a, c.handle, c.cookie, Op::kConnect, EISCONN);
        auto l = listeners.find(to.port);
        if (!LoopbackOrAny(to) || l == listeners.end() || Find(l->second) == nullptr) {
          return Done(a, c.handle, c.cookie, Op::kConnect, ECONNREFUSED);
        }
        Slot& target = apps[l->second.app]->slots[l->second.index];
        if (target.waiting.size() > std::max<uint32_t>(target.backlog, 1)) {
          return Done(a, c.handle, c.cookie, Op::kConnect, ECONNREFUSED);
        }
        if (!s.bound || s.local.port == 0) s.local = Loopback(s.family, EphemeralPort());
        s.peer_address = to;
        s.state = SlotState::kConnected;
        Emit(a, Event{c.handle, c.cookie, 0, channel::ConnectedArgs{s.local}});
        target.waiting.push_back(SlotRef{app_index, index, c.handle});
        return Pair(l->second.app, l->second.index);
      }
      case Op::kSend:
      case Op::kRxSpace:
        Move(app_index, index);
        if (s.peer.has_value()) {
          if (Find(*s.peer) != nullptr) Move(s.peer->app, s.peer->index);
        }
        return;
      case Op::kShutdown: {
        if (s.state != SlotState::kConnected) {
          return Done(a, c.handle, c.cookie, Op::kShutdown, ENOTCONN);
        }
        const uint32_t how = std::get<channel::ShutdownArgs>(c.args).how;
        if (how != SHUT_RD) s.fin_pending = true;
        if (how != SHUT_WR) s.rx_shut = true;
        Done(a, c.handle, c.cookie, Op::kShutdown, 0);
        Move(app_index, index);
        return;
      }
      case Op::kClose:
      case Op::kAbort:
      case Op::kRelease:  // no fork children here: the release is a close
        if (s.state == SlotState::kClosing) return;
        return Close(app_index, index, c.cookie, c.op() == Op::kAbort);
      case Op::kSetOpt: {
        const auto& o = std::get<channel::SetOptArgs>(c.args);
        if (!Known(o.level, o.name)) return Done(a, c.handle, c.cookie, Op::kSetOpt, ENOPROTOOPT);
        s.options[{o.level, o.name}].assign(o.value.begin(), o.value.begin() + o.length);
        return Done(a, c.handle, c.cookie, Op::kSetOpt, 0);
      }
      case Op::kGetOpt:
        return GetOpt(a, c, s, std::get<channel::GetOptArgs>(c.args));
      case Op::kGetInfo: {
        const channel::InfoKind what = std::get<channel::GetInfoArgs>(c.args).what;
        channel::InfoArgs info;
        info.what = what;
        if (what == channel::InfoKind::kLocalAddress) {
          info.address = s.local.family != 0 ? s.local : SockAddr{s.family, 0, 0, {}};
        } else if (s.state != SlotState::kConnected) {
          return Done(a, c.handle, c.cookie, Op::kGetInfo, ENOTCONN);
        } else if (what == channel::InfoKind::kPeerAddress) {
          info.address = s.peer_address;
        } else {
          info.connection.state = TCP_ESTABLISHED;
          info.connection.mptcp = 1;
          info.connection.subflows = 1;
        }
        return Emit(a, Event{c.handle, c.cookie, 0, info});
      }
      case Op::kAdopt:  // connections never move between processes here
        return Done(a, c.handle, c.cookie, Op::kAdopt, EOPNOTSUPP);
      case Op::kOpen:
        return;
    }
  }

  // One pass over an app: its commands and every connection it has. True when it did work.
  bool ServeApp(size_t app_index) {
    if (apps[app_index] == nullptr) return false;
    App& a = *apps[app_index];
    Flush(a);
    bool work = false;
    std::array<channel::CommandRecord, 16> batch;
    for (;;) {
      const channel::RingBatch r = a.commands.PopMany(batch);
      if (r.count == 0) break;
      work = true;
      channel::WakePeer(a.region->app_sleeping(), a.bell);  // command ring room freed
      for (uint32_t i = 0; i < r.count; ++i) {
        commands_counter->fetch_add(1);
        Command c;
        if (channel::DecodeCommand(batch[i], c) != channel::RecordError::kOk) {
          Done(a, batch[i].handle & channel::kHandleIndexMask, batch[i].cookie, Op::kOpen, EINVAL);
          continue;
        }
        Serve(app_index, c);
      }
    }
    for (uint32_t i = 0; i < a.slots.size(); ++i) work = Move(app_index, i) || work;
    return work;
  }

  // As the service: the dead app's last commands are served first (a close it made still
  // delivers its bytes and FIN, in one pass here), what is left is reset.
  void DropApp(size_t app_index) {
    ServeApp(app_index);
    App& a = *apps[app_index];
    for (uint32_t i = 0; i < a.slots.size(); ++i) {
      Slot& s = a.slots[i];
      if (s.state == SlotState::kListening) listeners.erase(s.local.port);
      if (s.peer.has_value() && s.peer->app != app_index) Reset(*s.peer);
    }
    a.gone = true;
    apps[app_index].reset();
  }
};

absl::StatusOr<std::unique_ptr<LoopbackService>> LoopbackService::Start(const std::string& path,
                                                                        LoopbackOptions options) {
  auto listener = channel::ChannelListener::Bind(path);
  if (!listener.ok()) return listener.status();
  auto engine = std::make_unique<Engine>();
  engine->options = options;
  engine->listener.emplace(std::move(*listener));
  channel::UniqueFd control(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  std::unique_ptr<LoopbackService> service(
      new LoopbackService(path, std::move(engine), std::move(control)));
  service->engine_->commands_counter = &service->commands_;
  service->thread_ = std::thread([s = service.get()] { s->Run(); });
  return service;
}

LoopbackService::LoopbackService(std::string path, std::unique_ptr<Engine> engine,
                                 channel::UniqueFd control)
    : path_(std::move(path)), engine_(std::move(engine)), control_(std::move(control)) {}

LoopbackService::~LoopbackService() {
  if (thread_.joinable()) Die();
}

void LoopbackService::Send(Request request, bool join) {
  if (!thread_.joinable()) return;
  const uint32_t before = served_.load();
  request_.store(static_cast<uint32_t>(request));
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(control_.get(), &one, sizeof(one));
  if (join) {
    thread_.join();
    return;
  }
  while (served_.load() == before) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void LoopbackService::Die() { Send(Request::kDie, true); }
void LoopbackService::Stop() { Send(Request::kStop, true); }
void LoopbackService::InjectMalformedEvent() { Send(Request::kMalformed, false); }

void LoopbackService::Run() {
  Engine& e = *engine_;
  for (;;) {
    const auto request = static_cast<Request>(request_.exchange(0));
    if (request == Request::kDie || request == Request::kStop) {
      for (auto& a : e.apps) {
        if (a == nullptr) continue;
        if (request == Request::kStop) {
          a->region->SetServiceState(channel::ServiceState::kGone);
          a->bell.Ring();
        }
      }
      e.apps.clear();  // closes connections and doorbells, unmaps regions
      e.listener.reset();
      served_.fetch_add(1);
      return;
    }
    if (request == Request::kMalformed) {
      for (auto& a : e.apps) {
        if (a == nullptr) continue;
        channel::EventRecord r{};
        r.kind = 0x7777;
        e.EmitRaw(*a, r);
      }
      served_.fetch_add(1);
    }

    // New apps.
    for (;;) {
      auto hello = e.listener->AcceptHello();
      if (!hello.ok()) break;
      if (e.options.refuse_as_layout_version != 0) {
        (void)channel::SendRefusal(hello->fd.get(),
                                   "Braid service speaks channel layout " +
                                       std::to_string(e.options.refuse_as_layout_version) +
                                       ", this library speaks " +
                                       std::to_string(hello->hello.layout_version));
        continue;
      }
      if (hello->hello.layout_version != channel::kLayoutVersion) {
        (void)channel::SendRefusal(hello->fd.get(),
                                   channel::VersionRefusal(hello->hello.layout_version));
        continue;
      }
      auto region = channel::ServiceRegion::Create(e.options.geometry, hello->hello.Name());
      auto pair = channel::Doorbell::CreatePair();
      if (!region.ok() || !pair.has_value()) continue;
      if (!channel::SendWelcome(hello->fd.get(), region->size(), region->epoch(), region->fd(),
                                pair->app.fd())
               .ok()) {
        continue;
      }
      auto app = std::make_unique<App>();
      app->connection = std::move(hello->fd);
      app->region.emplace(std::move(*region));
      app->bell = std::move(pair->service);
      app->commands = app->region->CommandConsumer();
      app->events = app->region->EventProducer();
      app->slots.resize(e.options.geometry.slots);
      e.apps.push_back(std::move(app));
      apps_attached_.fetch_add(1);
    }

    bool work = false;
    for (size_t i = 0; i < e.apps.size(); ++i) work = e.ServeApp(i) || work;
    if (work) continue;

    // Sleep (doorbell.h): flag, fence, re-check, block.
    std::vector<pollfd> fds;
    fds.push_back({control_.get(), POLLIN, 0});
    fds.push_back({e.listener->fd(), POLLIN, 0});
    bool pending = false;
    for (auto& a : e.apps) {
      if (a == nullptr) continue;
      channel::AnnounceSleep(a->region->service_sleeping());
      pending = pending || a->commands.Size() > 0 || !a->backlog.empty();
      fds.push_back({a->bell.fd(), POLLIN, 0});
      fds.push_back({a->connection.get(), POLLIN, 0});
    }
    if (!pending) ::poll(fds.data(), fds.size(), 100);
    size_t f = 2;
    for (size_t i = 0; i < e.apps.size(); ++i) {
      auto& a = e.apps[i];
      if (a == nullptr) continue;
      channel::EndSleep(a->region->service_sleeping());
      const bool bell_gone =
          (fds[f].revents & (POLLHUP | POLLERR)) != 0 || (fds[f].revents != 0 && !a->bell.Drain());
      const bool hung_up = fds[f + 1].revents != 0;
      f += 2;
      if (bell_gone || hung_up) e.DropApp(i);
    }
    if (fds[0].revents != 0) {
      uint64_t v;
      [[maybe_unused]] ssize_t n = ::read(control_.get(), &v, sizeof(v));
    }
  }
}

}  // namespace braid::sdk::testing
