// MPTCP over two complete stacks back to back (runtime/two_stacks.h with an MptcpSockets on each
// side): a recorder of app events that reads and hashes what arrives, a bulk sender driven by
// OnWritable, a reader of the frames on the wire (the MPTCP options of a TCP segment, with where
// they sit in the frame) and the TCP checksum fix a tampering middlebox needs.
//
// Side a (192.0.2.1, 2001:db8:1::1) is the client, side b (192.0.2.2, 2001:db8:1::2) the server;
// each has one IPv4 and one IPv6 address, which give two paths between the same two hosts.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/mptcp/connection.h"
#include "datapath/mptcp/mib.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/mptcp/socket_manager.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/util/stream_check.h"
#include "datapath/wire/address.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/mptcp_options.h"
#include "datapath/wire/tcp.h"
#include "datapath/wire/tcp_options.h"
#include "tests/unit/datapath/runtime/two_stacks.h"

namespace braid::mptcp::test {

using namespace std::chrono_literals;
using runtime::test::Bytes;
using runtime::test::TwoStacks;
using tcp::Duration;
using tcp::Instant;
using tcp::ListenerId;
using tcp::SocketError;
using tcp::SocketId;
using Counter = MptcpCounter;

inline constexpr uint16_t kPort = 80;

// The addresses of the side whose SideConfig::host is `host` (two_stacks.h): 192.0.2.<host> and
// 2001:db8:1::<host>, known before the stacks are built (for endpoints in a config).
inline wire::IpAddress HostAddress(uint8_t host, bool v6) {
  if (!v6) return wire::Ipv4Address{{192, 0, 2, host}};
  return wire::Ipv6Address{{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, host}};
}
inline constexpr uint8_t kHostA = 1;
inline constexpr uint8_t kHostB = 2;

// ---- Frames on the wire ------------------------------------------------------------------------

// One MPTCP option of a segment and where its bytes start in the frame.
struct MptcpOptionAt {
  size_t offset = 0;
  size_t len = 0;
  wire::MptcpOption option;
};

// What a tampering rule needs to know about a TCP frame.
struct TcpFrame {
  bool v6 = false;
  wire::IpAddress src, dst;
  uint16_t src_port = 0, dst_port = 0;
  wire::TcpFlags flags;
  wire::TcpSeq seq;
  uint16_t window = 0;    // the field, unscaled
  size_t tcp_offset = 0;  // the TCP header's first byte in the frame
  size_t tcp_len = 0;     // header, options and payload
  size_t payload_offset = 0;
  size_t payload_len = 0;
  std::vector<MptcpOptionAt> mptcp;

  template <typename T>
  const MptcpOptionAt* Find() const {
    for (const MptcpOptionAt& o : mptcp) {
      if (std::holds_alternative<T>(o.option)) return &o;
    }
    return nullptr;
  }
  template <typename T>
  const T* Get() const {
    const MptcpOptionAt* o = Find<T>();
    return o == nullptr ? nullptr : &std::get<T>(o->option);
  }
};

// Parses an Ethernet frame carrying IPv4 or IPv6 (no extension headers) and TCP; nullopt for
// anything else (ARP, neighbour discovery).
inline std::optional<TcpFrame> ParseTcpFrame(std::span<const uint8_t> frame) {
  const auto eth = wire::EthernetFrame::Check(frame);
  if (!eth) return std::nullopt;
  TcpFrame f;
  std::span<const uint8_t> segment;
  const size_t ip_offset = frame.size() - eth->payload().size();
  if (eth->ethertype() == wire::kEtherTypeIpv4) {
    const auto ip = wire::Ipv4Packet::Check(eth->payload());
    if (!ip || ip->protocol() != wire::IpProtocol::kTcp) return std::nullopt;
    f.src = ip->source();
    f.dst = ip->destination();
    segment = ip->payload();
    f.tcp_offset = ip_offset + ip->header_len();
  } else if (eth->ethertype() == wire::kEtherTypeIpv6) {
    const auto ip = wire::Ipv6Packet::Check(eth->payload());
    if (!ip || ip->next_header() != wire::IpProtocol::kTcp) return std::nullopt;
    f.v6 = true;
    f.src = ip->source();
    f.dst = ip->destination();
    segment = ip->payload();
    f.tcp_offset = ip_offset + wire::kIpv6HeaderLen;
  } else {
    return std::nullopt;
  }
  const auto tcp = wire::TcpSegment::Check(segment);
  if (!tcp) return std::nullopt;
  f.src_port = tcp->src_port();
  f.dst_port = tcp->dst_port();
  f.flags = tcp->flags();
  f.seq = tcp->seq();
  f.window = tcp->window();
  f.tcp_len = segment.size();
  f.payload_offset = f.tcp_offset + tcp->header_len();
  f.payload_len = tcp->payload().size();
  const wire::MptcpSegmentContext ctx{
      .syn = f.flags.syn(), .ack = f.flags.ack(), .rst = f.flags.rst()};
  const std::span<const uint8_t> options = tcp->options();
  for (size_t i = 0; i < options.size();) {
    const uint8_t kind = options[i];
    if (kind == wire::kTcpOptionEol) break;
    if (kind == wire::kTcpOptionNop) {
      ++i;
      continue;
    }
    if (i + 1 >= options.size() || options[i + 1] < 2 || i + options[i + 1] > options.size()) break;
    const size_t len = options[i + 1];
    if (kind == wire::kTcpOptionMptcp) {
      const wire::MptcpParseResult r = wire::ParseMptcpOption(options.subspan(i, len), ctx);
      if (r) {
        f.mptcp.push_back(
            {.offset = f.tcp_offset + wire::kTcpHeaderLen + i, .len = len, .option = *r});
      }
    }
    i += len;
  }
  return f;
}

// Recomputes the TCP checksum of a frame a rule changed, so that the change reaches MPTCP (a
// middlebox that rewrites a segment fixes its checksum).
inline void FixTcpChecksum(Bytes& frame, const TcpFrame& f) {
  const std::span<uint8_t> segment(frame.data() + f.tcp_offset, f.tcp_len);
  bool ok = false;
  if (f.v6) {
    ok = wire::TcpRepr::FillChecksumV6(segment, std::get<wire::Ipv6Address>(f.src),
                                       std::get<wire::Ipv6Address>(f.dst));
  } else {
    ok = wire::TcpRepr::FillChecksumV4(segment, std::get<wire::Ipv4Address>(f.src),
                                       std::get<wire::Ipv4Address>(f.dst));
  }
  EXPECT_TRUE(ok);
}

// The client-side port of a frame between a and b (the subflow it belongs to).
inline uint16_t ClientPort(const TcpFrame& f, bool from_a) {
  return from_a ? f.src_port : f.dst_port;
}

// ---- Payload -----------------------------------------------------------------------------------

inline Bytes Pattern(uint64_t stream, size_t n) {
  Bytes b(n);
  util::PatternStream(7, stream).Fill(b);
  return b;
}

inline std::string Sha(std::span<const uint8_t> bytes) {
  util::Sha256 h;
  h.Update(bytes);
  return util::ToHex(h.Digest());
}

// ---- App events --------------------------------------------------------------------------------

enum class Ev { kConnected, kAccepted, kReadable, kWritable, kPeerFin, kError, kClosed };

struct Event {
  Ev kind;
  SocketId socket;
  SocketError error = SocketError::kReset;
};

// Records every event of the sockets it handles; reads what becomes readable (unless auto_read
// is off) and keeps each socket's byte count and SHA-256; on_writable lets a sender refill.
class Recorder : public tcp::SocketHandler {
 public:
  explicit Recorder(tcp::SocketApi& api) : api_(api) {}

  void OnConnected(SocketId s) override { events.push_back({Ev::kConnected, s}); }
  void OnAccepted(ListenerId, SocketId s) override {
    events.push_back({Ev::kAccepted, s});
    accepted.push_back(s);
  }
  void OnReadable(SocketId s, size_t) override {
    events.push_back({Ev::kReadable, s});
    if (auto_read) Read(s);
  }
  void OnWritable(SocketId s) override {
    events.push_back({Ev::kWritable, s});
    if (on_writable) on_writable(s);
  }
  void OnPeerFin(SocketId s) override {
    events.push_back({Ev::kPeerFin, s});
    if (auto_read) Read(s);
  }
  void OnError(SocketId s, SocketError e) override { events.push_back({Ev::kError, s, e}); }
  void OnClosed(SocketId s) override {
    events.push_back({Ev::kClosed, s});
    closed.push_back(s);
  }

  // Reads everything readable now.
  void Read(SocketId s) {
    Bytes buf(16 * 1024);
    for (;;) {
      const tcp::ReceiveResult r = api_.Receive(s, buf, api_.now());
      if (r.bytes > 0) {
        Stream& st = stream(s);
        st.bytes += r.bytes;
        st.hash.Update(std::span<const uint8_t>(buf.data(), r.bytes));
      }
      if (r.fin) stream(s).fin = true;
      if (r.bytes == 0) break;
    }
  }

  size_t Count(Ev kind, std::optional<SocketId> s = std::nullopt) const {
    return static_cast<size_t>(std::count_if(events.begin(), events.end(), [&](const Event& e) {
      return e.kind == kind && (!s || e.socket == *s);
    }));
  }
  std::vector<Ev> KindsOf(SocketId s) const {
    std::vector<Ev> out;
    for (const Event& e : events) {
      if (e.socket == s) out.push_back(e.kind);
    }
    return out;
  }
  std::optional<SocketError> ErrorOf(SocketId s) const {
    for (const Event& e : events) {
      if (e.socket == s && e.kind == Ev::kError) return e.error;
    }
    return std::nullopt;
  }

  struct Stream {
    size_t bytes = 0;
    util::Sha256 hash;
    bool fin = false;
  };
  Stream& stream(SocketId s) { return streams[{s.index, s.generation}]; }
  std::string Digest(SocketId s) { return util::ToHex(stream(s).hash.Digest()); }

  std::vector<Event> events;
  std::vector<SocketId> accepted;
  std::vector<SocketId> closed;
  std::map<std::pair<uint32_t, uint32_t>, Stream> streams;
  bool auto_read = true;
  std::function<void(SocketId)> on_writable;

 private:
  tcp::SocketApi& api_;
};

// Offers `data` to a socket in odd-sized pieces whenever it has room (call Push from OnWritable),
// and shuts the socket down after the last byte when `shutdown` is set.
class BulkSender {
 public:
  BulkSender(tcp::SocketApi& api, SocketId socket, Bytes data, bool shutdown = true)
      : api_(api), socket_(socket), data_(std::move(data)), shutdown_(shutdown) {}

  void Push() {
    while (offset_ < data_.size()) {
      const size_t n = std::min<size_t>(data_.size() - offset_, 12'345);
      const size_t took = api_.Send(socket_, std::span(data_).subspan(offset_, n), api_.now());
      offset_ += took;
      if (took < n) return;
    }
    if (shutdown_ && !shut_) {
      shut_ = true;
      EXPECT_TRUE(api_.Shutdown(socket_, api_.now()).ok());
    }
  }
  size_t offset() const { return offset_; }
  const Bytes& data() const { return data_; }

 private:
  tcp::SocketApi& api_;
  SocketId socket_;
  Bytes data_;
  bool shutdown_;
  bool shut_ = false;
  size_t offset_ = 0;
};

// ---- The fixture -------------------------------------------------------------------------------

// A config with the kernel's defaults and re-creation off unless a test turns it on, so that a
// failed subflow stays failed where a test counts subflows.
inline MptcpConfig Config() {
  MptcpConfig c;
  c.path_manager.recreate_subflows = false;
  return c;
}

// Path-manager endpoints (`ip mptcp endpoint add ADDR id ID signal|subflow`).
inline Endpoint SignalEndpoint(uint8_t id, const wire::IpAddress& address) {
  Endpoint e;
  e.id = id;
  e.address = address;
  e.signal = true;
  return e;
}
inline Endpoint SubflowEndpoint(uint8_t id, const wire::IpAddress& address) {
  Endpoint e;
  e.id = id;
  e.address = address;
  e.subflow = true;
  return e;
}

// A config whose path manager opens `n` subflows over the initial address pair.
inline MptcpConfig Ndiffports(uint32_t n) {
  MptcpConfig c = Config();
  c.path_manager.policy = "ndiffports";
  c.path_manager.ndiffports = n;
  return c;
}

class MptcpStacksTest : public ::testing::Test {
 protected:
  // Builds both stacks with MPTCP on each; call once at the start of a test.
  void Start(const MptcpConfig& a, const MptcpConfig& b) {
    stacks_ = std::make_unique<TwoStacks>();
    a_ = stacks_->a().EnableMptcp(a);
    b_ = stacks_->b().EnableMptcp(b);
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
    client_ = std::make_unique<Recorder>(*a_);
    server_ = std::make_unique<Recorder>(*b_);
  }

  TwoStacks& stacks() { return *stacks_; }
  MptcpSockets& A() { return *a_; }
  MptcpSockets& B() { return *b_; }
  Recorder& client() { return *client_; }
  Recorder& server() { return *server_; }
  Instant now() const { return stacks_->now(); }
  wire::IpAddress AddrA(bool v6 = false) { return stacks_->a().addr(v6); }
  wire::IpAddress AddrB(bool v6 = false) { return stacks_->b().addr(v6); }

  ListenerId ListenB(uint16_t port = kPort, const tcp::TcpConfig& config = {}) {
    absl::StatusOr<ListenerId> l = B().Listen(port, config, &server(), std::nullopt);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.value_or(ListenerId{});
  }
  SocketId ConnectA(bool v6 = false, const tcp::TcpConfig& config = {}) {
    absl::StatusOr<SocketId> s =
        A().Connect(AddrB(v6), kPort, config, &client(), now(), std::nullopt);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or(SocketId{});
  }
  // Listens on b, connects a to it and returns (client socket, server socket) once the app on
  // each side has its socket.
  std::pair<SocketId, SocketId> Establish(bool v6 = false) {
    ListenB();
    const SocketId c = ConnectA(v6);
    EXPECT_TRUE(stacks_->RunUntil(
        [&] { return client().Count(Ev::kConnected, c) == 1 && !server().accepted.empty(); }, 10s));
    if (server().accepted.empty()) return {c, SocketId{}};
    return {c, server().accepted.back()};
  }

  // One byte from b to a: its DSS proves to the client that the server has its key (RFC 8684
  // §3.1), so the client's path manager starts. The byte is then forgotten by the recorder.
  bool Poke(SocketId c, SocketId s) {
    const uint8_t byte = 0x42;
    EXPECT_EQ(B().Send(s, std::span(&byte, 1), now()), 1u);
    const bool ok = stacks_->RunUntil(
        [&] {
          const std::optional<MptcpInfo> info = A().ConnectionInfo(c);
          return client().stream(c).bytes == 1 && info && info->fully_established;
        },
        5s);
    client().streams.clear();
    return ok;
  }

  // Runs until the live subflows of both ends of the connection number `n` and are established.
  bool WaitForSubflows(SocketId c, SocketId s, size_t n, Duration limit = 10s) {
    return stacks_->RunUntil([&] { return Established(A(), c) == n && Established(B(), s) == n; },
                             limit);
  }
  static size_t Established(const MptcpSockets& m, SocketId socket) {
    size_t n = 0;
    for (const SubflowInfo& i : m.SubflowsOf(socket)) {
      n += i.state == SubflowState::kEstablished ? 1 : 0;
    }
    return n;
  }
  static std::optional<SubflowInfo> SubflowById(const MptcpSockets& m, SocketId socket,
                                                uint32_t id) {
    for (const SubflowInfo& i : m.SubflowsOf(socket)) {
      if (i.id == id) return i;
    }
    return std::nullopt;
  }

  // Sends `up` from a and `down` from b at the same time. With `close`, each side shuts down
  // after its last byte and the run lasts until both have read the other's DATA_FIN; without,
  // until both have read every byte. The senders live in the fixture so OnWritable reaches them.
  bool Exchange(SocketId c, SocketId s, Bytes up, Bytes down, bool close = true,
                Duration limit = 2min) {
    up_ = std::make_unique<BulkSender>(A(), c, std::move(up), close);
    down_ = std::make_unique<BulkSender>(B(), s, std::move(down), close);
    client().on_writable = [this](SocketId) { up_->Push(); };
    server().on_writable = [this](SocketId) { down_->Push(); };
    up_->Push();
    down_->Push();
    return stacks_->RunUntil(
        [&] {
          if (close) return server().stream(s).fin && client().stream(c).fin;
          return server().stream(s).bytes == up_->data().size() &&
                 client().stream(c).bytes == down_->data().size();
        },
        limit);
  }
  // Both sides shut down; runs until both apps heard OnClosed.
  bool CloseBoth(SocketId c, SocketId s, Duration limit = 1min) {
    EXPECT_TRUE(A().Shutdown(c, now()).ok());
    EXPECT_TRUE(B().Shutdown(s, now()).ok());
    return stacks_->RunUntil(
        [&] { return client().Count(Ev::kClosed, c) == 1 && server().Count(Ev::kClosed, s) == 1; },
        limit);
  }
  // Checks what Exchange delivered, byte for byte (length and SHA-256).
  void ExpectDelivered(SocketId c, SocketId s) {
    EXPECT_EQ(server().stream(s).bytes, up_->data().size());
    EXPECT_EQ(server().Digest(s), Sha(up_->data()));
    EXPECT_EQ(client().stream(c).bytes, down_->data().size());
    EXPECT_EQ(client().Digest(c), Sha(down_->data()));
  }

  // Both ends of a connection and their subflows, for failure messages.
  std::string Describe(SocketId c, SocketId s) const {
    std::string out;
    const auto one = [&](const char* side, const MptcpSockets& m, SocketId id) {
      const std::optional<MptcpInfo> i = m.ConnectionInfo(id);
      out += std::string("\n") + side + ": ";
      if (!i) {
        out += "no connection";
        return;
      }
      out += "fallback=" + std::to_string(i->fallback) +
             " fully_established=" + std::to_string(i->fully_established) +
             " subflows=" + std::to_string(i->subflows) +
             " send_queue=" + std::to_string(i->send_queue) +
             " receive_queue=" + std::to_string(i->receive_queue) +
             " ofo=" + std::to_string(i->out_of_order) + " sent=" + std::to_string(i->bytes_sent) +
             " received=" + std::to_string(i->bytes_received) +
             " reinjected=" + std::to_string(i->bytes_reinjected);
      for (const SubflowInfo& f : m.SubflowsOf(id)) {
        out += "\n  subflow " + std::to_string(f.id) + " " +
               std::string(SubflowStateName(f.state)) + " " + wire::ToString(f.local_address) +
               ":" + std::to_string(f.local_port) + " -> " + wire::ToString(f.remote_address) +
               ":" + std::to_string(f.remote_port) + " backup=" + std::to_string(f.backup) +
               " stale=" + std::to_string(f.stale) + " sent=" + std::to_string(f.bytes_sent) +
               " received=" + std::to_string(f.bytes_received);
        if (f.tcp) {
          out += " tcp: state=" + std::to_string(static_cast<int>(f.tcp->state)) +
                 " send_queue=" + std::to_string(f.tcp->send_queue) +
                 " unsent=" + std::to_string(f.tcp->unsent) +
                 " in_flight=" + std::to_string(f.tcp->bytes_in_flight) +
                 " cwnd=" + std::to_string(f.tcp->cwnd) +
                 " snd_wnd=" + std::to_string(f.tcp->snd_wnd) +
                 " rcv_wnd=" + std::to_string(f.tcp->rcv_wnd) +
                 " receive_queue=" + std::to_string(f.tcp->receive_queue) +
                 " backoff=" + std::to_string(f.tcp->backoff);
        }
      }
      std::string counters;
      for (size_t k = 0; k < kMptcpCounterCount; ++k) {
        if (m.counters().values[k] == 0) continue;
        counters += " " + std::string(MptcpCounterName(static_cast<Counter>(k))) + "=" +
                    std::to_string(m.counters().values[k]);
      }
      out += "\n  counters:" + counters;
    };
    one("a", *a_, c);
    one("b", *b_, s);
    return out;
  }

  uint64_t CountA(Counter c) const { return a_->counters()[c]; }
  uint64_t CountB(Counter c) const { return b_->counters()[c]; }

  std::unique_ptr<TwoStacks> stacks_;
  MptcpSockets* a_ = nullptr;
  MptcpSockets* b_ = nullptr;
  std::unique_ptr<Recorder> client_;
  std::unique_ptr<Recorder> server_;
  std::unique_ptr<BulkSender> up_;
  std::unique_ptr<BulkSender> down_;
};

}  // namespace braid::mptcp::test
