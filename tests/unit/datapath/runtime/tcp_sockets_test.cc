// TcpSockets over two complete stacks wired back to back (two_stacks.h): listen, connect and
// accept in both families, the MSS taken from the interface MTU, data both ways checked by
// SHA-256, send-buffer backpressure, half close, close and stale handles, refused and unroutable
// connects, address errors, ephemeral ports released at close (TIME-WAIT included), handlers that
// call back into the API, and a stopped listener.
#include "datapath/runtime/tcp_sockets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/util/stream_check.h"
#include "datapath/wire/address.h"
#include "tests/unit/datapath/runtime/two_stacks.h"

namespace braid::runtime::test {
namespace {

enum class Ev { kConnected, kAccepted, kReadable, kWritable, kPeerFin, kError, kClosed };

struct Event {
  Ev kind;
  SocketId socket;
  SocketError error = SocketError::kReset;
};

// Records every event; reads what becomes readable (unless told not to) and keeps per-socket
// SHA-256 and bytes; optional callbacks let a test act from inside a handler.
class Recorder : public SocketHandler {
 public:
  explicit Recorder(TcpSockets& sockets) : sockets_(sockets) {}

  void OnConnected(SocketId s) override {
    events.push_back({Ev::kConnected, s});
    if (on_connected) on_connected(s);
  }
  void OnAccepted(ListenerId l, SocketId s) override {
    events.push_back({Ev::kAccepted, s});
    accepted.push_back(s);
    listeners.push_back(l);
    if (on_accepted) on_accepted(s);
  }
  void OnReadable(SocketId s, size_t) override {
    events.push_back({Ev::kReadable, s});
    if (auto_read) Read(s);
    if (on_readable) on_readable(s);
  }
  void OnWritable(SocketId s) override {
    events.push_back({Ev::kWritable, s});
    if (on_writable) on_writable(s);
  }
  void OnPeerFin(SocketId s) override {
    events.push_back({Ev::kPeerFin, s});
    if (auto_read) Read(s);
    if (on_peer_fin) on_peer_fin(s);
  }
  void OnError(SocketId s, SocketError e) override { events.push_back({Ev::kError, s, e}); }
  void OnClosed(SocketId s) override {
    events.push_back({Ev::kClosed, s});
    closed.push_back(s);
    if (on_closed) on_closed(s);
  }

  // Reads everything readable now.
  void Read(SocketId s) {
    Bytes buf(16 * 1024);
    for (;;) {
      const tcp::ReceiveResult r = sockets_.Receive(s, buf, sockets_.now());
      if (r.bytes > 0) {
        Stream& st = stream(s);
        st.bytes.insert(st.bytes.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(r.bytes));
        st.hash.Update(std::span<const uint8_t>(buf.data(), r.bytes));
      }
      if (r.fin) stream(s).fin = true;
      if (r.bytes == 0) break;
    }
  }

  size_t Count(Ev kind, std::optional<SocketId> s = std::nullopt) const {
    return std::count_if(events.begin(), events.end(),
                         [&](const Event& e) { return e.kind == kind && (!s || e.socket == *s); });
  }
  std::vector<Ev> KindsOf(SocketId s) const {
    std::vector<Ev> out;
    for (const Event& e : events) {
      if (e.socket == s) out.push_back(e.kind);
    }
    return out;
  }

  struct Stream {
    Bytes bytes;
    util::Sha256 hash;
    bool fin = false;
  };

  std::vector<Event> events;
  std::vector<SocketId> accepted;
  std::vector<ListenerId> listeners;
  std::vector<SocketId> closed;
  std::map<std::pair<uint32_t, uint32_t>, Stream> by_socket;
  Stream& stream(SocketId s) { return by_socket[{s.index, s.generation}]; }
  bool auto_read = true;
  std::function<void(SocketId)> on_connected, on_accepted, on_readable, on_writable, on_peer_fin,
      on_closed;

 private:
  TcpSockets& sockets_;
};

Bytes Pattern(uint64_t stream, size_t n) {
  Bytes b(n);
  util::PatternStream(7, stream).Fill(b);
  return b;
}

std::string Sha(std::span<const uint8_t> bytes) {
  util::Sha256 h;
  h.Update(bytes);
  return util::ToHex(h.Digest());
}

class TcpSocketsTest : public ::testing::TestWithParam<bool> {
 protected:
  TcpSocketsTest() : TcpSocketsTest(DefaultSide(1), DefaultSide(2)) {}
  TcpSocketsTest(const SideConfig& a, const SideConfig& b)
      : stacks_(a, b), client_(stacks_.a().sockets()), server_(stacks_.b().sockets()) {}

  bool v6() const { return GetParam(); }
  TcpSockets& A() { return stacks_.a().sockets(); }
  TcpSockets& B() { return stacks_.b().sockets(); }
  wire::IpAddress AddrA() { return stacks_.a().addr(v6()); }
  wire::IpAddress AddrB() { return stacks_.b().addr(v6()); }

  ListenerId ListenB(uint16_t port = 80, const tcp::TcpConfig& config = {}) {
    absl::StatusOr<ListenerId> l = B().Listen(port, config, &server_);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.value_or(ListenerId{});
  }
  SocketId ConnectA(uint16_t port = 80, const tcp::TcpConfig& config = {}) {
    absl::StatusOr<SocketId> s = A().Connect(AddrB(), port, config, &client_, stacks_.now());
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or(SocketId{});
  }
  // Connects a to b and returns (client socket, server socket) once both are established.
  std::pair<SocketId, SocketId> Establish(uint16_t port = 80, const tcp::TcpConfig& config = {}) {
    const size_t before = server_.accepted.size();
    const SocketId c = ConnectA(port, config);
    EXPECT_TRUE(stacks_.RunUntil(
        [&] { return client_.Count(Ev::kConnected, c) == 1 && server_.accepted.size() > before; }));
    if (server_.accepted.size() <= before) return {c, SocketId{}};
    return {c, server_.accepted.back()};
  }

  TwoStacks stacks_;
  Recorder client_;
  Recorder server_;
};

INSTANTIATE_TEST_SUITE_P(Families, TcpSocketsTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "IPv6" : "IPv4"; });

TEST_P(TcpSocketsTest, ListenConnectAccept) {
  const ListenerId listener = ListenB();
  const SocketId c = ConnectA();
  EXPECT_EQ(A().open_sockets(), 1u);
  ASSERT_TRUE(stacks_.RunUntil([&] { return !server_.accepted.empty(); }));
  stacks_.Pump();
  const SocketId s = server_.accepted[0];
  EXPECT_EQ(server_.listeners[0], listener);
  EXPECT_EQ(client_.KindsOf(c), std::vector<Ev>{Ev::kConnected});
  EXPECT_EQ(server_.KindsOf(s), std::vector<Ev>{Ev::kAccepted});

  // The client's flow: its own address of the family, a port of its slice, and the server's
  // flow is the same seen from the other end.
  const std::optional<tcp::FlowKey> cf = A().Flow(c);
  const std::optional<tcp::FlowKey> sf = B().Flow(s);
  ASSERT_TRUE(cf && sf);
  EXPECT_EQ(cf->local, AddrA());
  EXPECT_EQ(cf->remote, AddrB());
  EXPECT_EQ(cf->remote_port, 80);
  EXPECT_TRUE(A().ports().Owns(cf->local_port));
  EXPECT_TRUE(A().ports().IsReserved(*cf));
  EXPECT_EQ(*sf, cf->Reversed());
  EXPECT_EQ(A().Info(c)->state, tcp::TcpState::kEstablished);
  EXPECT_EQ(B().Info(s)->state, tcp::TcpState::kEstablished);

  EXPECT_EQ(A().counters().connects, 1u);
  EXPECT_EQ(A().counters().connect_failures, 0u);
  EXPECT_EQ(B().counters().accepted, 1u);
  EXPECT_EQ(B().counters().events_unclaimed, 0u);
  EXPECT_EQ(A().counters().events_unclaimed, 0u);
  EXPECT_EQ(A().open_sockets(), 1u);
  EXPECT_EQ(B().open_sockets(), 1u);
  EXPECT_EQ(FormatEndpoint(sf->local, 80), v6() ? "[2001:db8:1::2]:80" : "192.0.2.2:80");
}

TEST_P(TcpSocketsTest, ListenOnOneAddressOnly) {
  // b listens on its address of the other family only: a SYN to this family is refused.
  const wire::IpAddress other = stacks_.b().addr(!v6());
  ASSERT_TRUE(B().Listen(80, {}, &server_, other).ok());
  const SocketId c = ConnectA();
  ASSERT_TRUE(stacks_.RunUntil([&] { return !client_.closed.empty(); }));
  EXPECT_EQ(client_.KindsOf(c), (std::vector<Ev>{Ev::kError, Ev::kClosed}));
  EXPECT_EQ(client_.events[0].error, SocketError::kRefused);
  EXPECT_TRUE(server_.accepted.empty());
}

TEST_P(TcpSocketsTest, DataBothWaysArrivesIntact) {
  ListenB();
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  // 1 MB from a, 700 kB from b, at the same time, offered in odd-sized pieces whenever there is
  // room.
  const Bytes up = Pattern(1, 1'000'000);
  const Bytes down = Pattern(2, 700'000);
  size_t up_off = 0;
  size_t down_off = 0;
  auto push = [&](TcpSockets& sockets, SocketId id, const Bytes& data, size_t& off) {
    while (off < data.size()) {
      const size_t n = std::min<size_t>(data.size() - off, 12'345);
      const size_t took = sockets.Send(id, std::span(data).subspan(off, n), sockets.now());
      off += took;
      if (took < n) break;
    }
    if (off == data.size()) {
      EXPECT_TRUE(sockets.Shutdown(id, sockets.now()).ok());
    }
  };
  client_.on_writable = [&](SocketId id) { push(A(), id, up, up_off); };
  server_.on_writable = [&](SocketId id) { push(B(), id, down, down_off); };
  push(A(), c, up, up_off);
  push(B(), s, down, down_off);
  ASSERT_TRUE(stacks_.RunUntil([&] { return server_.stream(s).fin && client_.stream(c).fin; }));
  EXPECT_EQ(server_.stream(s).bytes.size(), up.size());
  EXPECT_EQ(client_.stream(c).bytes.size(), down.size());
  EXPECT_EQ(util::ToHex(server_.stream(s).hash.Digest()), Sha(up));
  EXPECT_EQ(util::ToHex(client_.stream(c).hash.Digest()), Sha(down));
  EXPECT_EQ(server_.Count(Ev::kPeerFin, s), 1u);
  EXPECT_EQ(client_.Count(Ev::kPeerFin, c), 1u);
}

TEST_P(TcpSocketsTest, SendIsShortWhenTheBufferIsFullAndWritableFollows) {
  tcp::TcpConfig small;
  small.send_buffer = 64 * 1024;
  ListenB();
  auto [c, s] = Establish(80, small);
  ASSERT_TRUE(s.valid());
  const Bytes data = Pattern(3, 1 << 20);
  const size_t first = A().Send(c, data, stacks_.now());
  EXPECT_GT(first, 0u);
  EXPECT_LE(first, small.send_buffer);
  EXPECT_EQ(A().Send(c, std::span(data).subspan(first), stacks_.now()), 0u);
  EXPECT_EQ(client_.Count(Ev::kWritable, c), 0u);

  size_t off = first;
  size_t writable_seen = 0;
  client_.on_writable = [&](SocketId id) {
    ++writable_seen;
    // Room again: the next Send takes something.
    const size_t n = A().Send(id, std::span(data).subspan(off), A().now());
    EXPECT_GT(n, 0u);
    off += n;
    if (off == data.size()) {
      EXPECT_TRUE(A().Shutdown(id, A().now()).ok());
    }
  };
  ASSERT_TRUE(stacks_.RunUntil([&] { return server_.stream(s).fin; }));
  EXPECT_GT(writable_seen, 0u);
  EXPECT_EQ(off, data.size());
  EXPECT_EQ(util::ToHex(server_.stream(s).hash.Digest()), Sha(data));
}

TEST_P(TcpSocketsTest, ShutdownIsAHalfClose) {
  ListenB();
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  const Bytes hello = {'h', 'e', 'l', 'l', 'o'};
  server_.auto_read = false;
  EXPECT_EQ(A().Send(c, hello, stacks_.now()), hello.size());
  EXPECT_TRUE(A().Shutdown(c, stacks_.now()).ok());
  EXPECT_EQ(A().Send(c, hello, stacks_.now()), 0u);  // nothing after our FIN
  ASSERT_TRUE(stacks_.RunUntil([&] { return server_.Count(Ev::kPeerFin, s) == 1; }));
  EXPECT_EQ(server_.Count(Ev::kReadable, s), 1u);

  // The bytes first, then fin (in the same call or the next one).
  Bytes buf(100);
  tcp::ReceiveResult r = B().Receive(s, buf, stacks_.now());
  ASSERT_EQ(r.bytes, hello.size());
  EXPECT_TRUE(std::equal(hello.begin(), hello.end(), buf.begin()));
  if (!r.fin) {
    r = B().Receive(s, buf, stacks_.now());
    EXPECT_EQ(r.bytes, 0u);
  }
  EXPECT_TRUE(r.fin);
  EXPECT_EQ(B().Info(s)->state, tcp::TcpState::kCloseWait);

  // The other direction still works.
  const Bytes world = {'w', 'o', 'r', 'l', 'd', '!'};
  EXPECT_EQ(B().Send(s, world, stacks_.now()), world.size());
  ASSERT_TRUE(stacks_.RunUntil([&] { return client_.stream(c).bytes.size() == 6; }));
  EXPECT_EQ(client_.stream(c).bytes, world);
  EXPECT_FALSE(client_.stream(c).fin);
  EXPECT_EQ(A().Info(c)->state, tcp::TcpState::kFinWait2);

  // b's FIN ends the connection for a, which shut down and has read everything: a is in
  // TIME-WAIT, and its handle is released without a Close (OnClosed says so).
  EXPECT_TRUE(B().Close(s, stacks_.now()).ok());
  ASSERT_TRUE(
      stacks_.RunUntil([&] { return client_.closed.size() == 1 && server_.closed.size() == 1; }));
  EXPECT_TRUE(client_.stream(c).fin);
  EXPECT_EQ(client_.KindsOf(c).back(), Ev::kClosed);
  EXPECT_EQ(A().Close(c, stacks_.now()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(stacks_.a().tcp().time_wait_count(), 1u);
  EXPECT_EQ(client_.Count(Ev::kError), 0u);
  EXPECT_EQ(server_.Count(Ev::kError), 0u);
}

TEST_P(TcpSocketsTest, ClosedOnceAndStaleIdsAreRejected) {
  ListenB();
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  server_.on_peer_fin = [&](SocketId id) { EXPECT_TRUE(B().Close(id, B().now()).ok()); };
  EXPECT_TRUE(A().Close(c, stacks_.now()).ok());
  ASSERT_TRUE(
      stacks_.RunUntil([&] { return client_.closed.size() == 1 && server_.closed.size() == 1; }));
  // Past TIME-WAIT (2 min of scripted time): nothing more is delivered.
  stacks_.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(client_.Count(Ev::kClosed, c), 1u);
  EXPECT_EQ(server_.Count(Ev::kClosed, s), 1u);
  EXPECT_EQ(client_.Count(Ev::kError), 0u);
  EXPECT_EQ(A().open_sockets(), 0u);
  EXPECT_EQ(B().open_sockets(), 0u);
  EXPECT_EQ(A().counters().closed, 1u);
  EXPECT_EQ(B().counters().closed, 1u);
  EXPECT_EQ(A().ports().reserved(), 0u);

  const Bytes data = {1, 2, 3};
  Bytes buf(8);
  for (auto [sockets, id] : {std::pair{&A(), c}, std::pair{&B(), s}}) {
    EXPECT_EQ(sockets->Send(id, data, stacks_.now()), 0u);
    const tcp::ReceiveResult r = sockets->Receive(id, buf, stacks_.now());
    EXPECT_EQ(r.bytes, 0u);
    EXPECT_FALSE(r.fin);
    EXPECT_EQ(sockets->Close(id, stacks_.now()).code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(sockets->Shutdown(id, stacks_.now()).code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(sockets->Abort(id, stacks_.now()).code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(sockets->SetHandler(id, &client_).code(), absl::StatusCode::kNotFound);
    EXPECT_FALSE(sockets->Info(id).has_value());
  }

  // A new connection may take the same slot: the old handle still names nothing.
  auto [c2, s2] = Establish();
  ASSERT_TRUE(s2.valid());
  EXPECT_NE(c2, c);
  EXPECT_EQ(A().Send(c, data, stacks_.now()), 0u);
  EXPECT_EQ(A().Close(c, stacks_.now()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(A().Send(c2, data, stacks_.now()), data.size());
  ASSERT_TRUE(stacks_.RunUntil([&] { return server_.stream(s2).bytes.size() == 3; }));
}

TEST_P(TcpSocketsTest, CloseInsideOnClosedIsRejected) {
  ListenB();
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  absl::Status in_callback;
  client_.on_closed = [&](SocketId id) { in_callback = A().Close(id, A().now()); };
  EXPECT_TRUE(B().Abort(s, stacks_.now()).ok());
  ASSERT_TRUE(stacks_.RunUntil([&] { return client_.closed.size() == 1; }));
  EXPECT_EQ(in_callback.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client_.KindsOf(c), (std::vector<Ev>{Ev::kConnected, Ev::kError, Ev::kClosed}));
  EXPECT_EQ(client_.events[1].error, SocketError::kReset);
  // The side that aborted hears of it too.
  ASSERT_TRUE(stacks_.RunUntil([&] { return server_.closed.size() == 1; }));
  EXPECT_EQ(server_.KindsOf(s), (std::vector<Ev>{Ev::kAccepted, Ev::kError, Ev::kClosed}));
  EXPECT_EQ(server_.events[1].error, SocketError::kAborted);
}

TEST_P(TcpSocketsTest, ConnectToAClosedPortIsRefused) {
  const SocketId c = ConnectA(81);
  ASSERT_TRUE(stacks_.RunUntil([&] { return !client_.closed.empty(); }));
  EXPECT_EQ(client_.KindsOf(c), (std::vector<Ev>{Ev::kError, Ev::kClosed}));
  EXPECT_EQ(client_.events[0].error, SocketError::kRefused);
  EXPECT_EQ(SocketErrorName(client_.events[0].error), "refused");
  EXPECT_EQ(A().counters().errors, 1u);
  EXPECT_EQ(A().open_sockets(), 0u);
  EXPECT_EQ(A().ports().reserved(), 0u);
  EXPECT_EQ(A().Close(c, stacks_.now()).code(), absl::StatusCode::kNotFound);
}

TEST_P(TcpSocketsTest, ConnectWithoutARouteIsUnavailable) {
  // Neither stack has a gateway: only the on-link prefixes are routed.
  const wire::IpAddress far = v6() ? wire::IpAddress(*wire::Ipv6Address::Parse("2001:db8:99::7"))
                                   : wire::IpAddress(*wire::Ipv4Address::Parse("198.51.100.7"));
  const uint64_t frames = stacks_.a().sink().sent;
  absl::StatusOr<SocketId> s = A().Connect(far, 80, {}, &client_, stacks_.now());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find(FormatEndpoint(far, 80)), std::string::npos) << s.status();
  EXPECT_EQ(A().counters().connect_failures, 1u);
  EXPECT_EQ(A().counters().connects, 0u);
  EXPECT_EQ(A().ports().reserved(), 0u);
  EXPECT_EQ(A().open_sockets(), 0u);
  EXPECT_EQ(stacks_.a().sink().sent, frames);
}

TEST_P(TcpSocketsTest, AddressErrors) {
  ListenB();
  // Bind to an address that is not ours.
  const wire::IpAddress stranger =
      v6() ? wire::IpAddress(*wire::Ipv6Address::Parse("2001:db8:1::99"))
           : wire::IpAddress(*wire::Ipv4Address::Parse("192.0.2.99"));
  absl::StatusOr<SocketId> s = A().Connect(AddrB(), 80, {}, &client_, stacks_.now(), stranger);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  // Bind to our address of the other family.
  s = A().Connect(AddrB(), 80, {}, &client_, stacks_.now(), stacks_.a().addr(!v6()));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  // No handler, port 0, an unknown congestion controller.
  s = A().Connect(AddrB(), 80, {}, nullptr, stacks_.now());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  s = A().Connect(AddrB(), 0, {}, &client_, stacks_.now());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  tcp::TcpConfig bad_cc;
  bad_cc.congestion_control = "no-such-cc";
  s = A().Connect(AddrB(), 80, bad_cc, &client_, stacks_.now());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  EXPECT_EQ(A().ports().reserved(), 0u);
  EXPECT_EQ(A().open_sockets(), 0u);
  EXPECT_EQ(A().counters().connects, 0u);

  // Listening on an address that is not ours.
  absl::StatusOr<ListenerId> l = A().Listen(90, {}, &client_, stranger);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument) << l.status();
  EXPECT_EQ(A().Listen(0, {}, &client_).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(A().Listen(90, {}, nullptr).status().code(), absl::StatusCode::kInvalidArgument);

  // Bound to our own address: the flow starts there.
  s = A().Connect(AddrB(), 80, {}, &client_, stacks_.now(), AddrA());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(A().Flow(*s)->local, AddrA());
  ASSERT_TRUE(stacks_.RunUntil([&] { return client_.Count(Ev::kConnected) == 1; }));
}

TEST_P(TcpSocketsTest, ListenTwiceOnAPortIsAlreadyExists) {
  const ListenerId first = ListenB(80);
  absl::StatusOr<ListenerId> again = B().Listen(80, {}, &server_);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  // Another port is fine; the port is free again once the first listener stops.
  EXPECT_TRUE(B().Listen(81, {}, &server_).ok());
  EXPECT_TRUE(B().StopListening(first).ok());
  EXPECT_EQ(B().StopListening(first).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(B().Listen(80, {}, &server_).ok());
  auto [c, s] = Establish(80);
  EXPECT_TRUE(s.valid());
}

TEST_P(TcpSocketsTest, StopListeningThenASynIsRefused) {
  const ListenerId l = ListenB(80);
  EXPECT_TRUE(B().StopListening(l).ok());
  const SocketId c = ConnectA(80);
  ASSERT_TRUE(stacks_.RunUntil([&] { return !client_.closed.empty(); }));
  EXPECT_EQ(client_.KindsOf(c), (std::vector<Ev>{Ev::kError, Ev::kClosed}));
  EXPECT_EQ(client_.events[0].error, SocketError::kRefused);
  EXPECT_TRUE(server_.events.empty());
  EXPECT_EQ(B().counters().accepted, 0u);
}

TEST_P(TcpSocketsTest, HandlersMayCallBackIntoTheApi) {
  ListenB();
  // b greets every connection from OnAccepted and half-closes; a answers from OnConnected,
  // closes once b's FIN is read, and opens the next connection from OnClosed, three times in
  // all. b closes when a's FIN arrives.
  const Bytes greeting = Pattern(10, 3000);
  const Bytes request = Pattern(11, 2000);
  server_.on_accepted = [&](SocketId id) {
    EXPECT_EQ(B().Send(id, greeting, B().now()), greeting.size());
    EXPECT_TRUE(B().Shutdown(id, B().now()).ok());
  };
  server_.on_peer_fin = [&](SocketId id) { EXPECT_TRUE(B().Close(id, B().now()).ok()); };
  client_.on_connected = [&](SocketId id) {
    EXPECT_EQ(A().Send(id, request, A().now()), request.size());
  };
  client_.on_peer_fin = [&](SocketId id) { EXPECT_TRUE(A().Close(id, A().now()).ok()); };
  int opened = 1;
  client_.on_closed = [&](SocketId) {
    if (opened == 3) return;
    ++opened;
    absl::StatusOr<SocketId> next = A().Connect(AddrB(), 80, {}, &client_, A().now());
    EXPECT_TRUE(next.ok()) << next.status();
  };
  ConnectA();
  ASSERT_TRUE(
      stacks_.RunUntil([&] { return client_.closed.size() == 3 && server_.closed.size() == 3; }));
  for (const SocketId id : client_.closed) {
    EXPECT_EQ(client_.stream(id).bytes, greeting);
    EXPECT_TRUE(client_.stream(id).fin);
  }
  for (const SocketId id : server_.closed) {
    EXPECT_EQ(server_.stream(id).bytes, request);
  }
  EXPECT_EQ(client_.Count(Ev::kError), 0u);
  EXPECT_EQ(server_.Count(Ev::kError), 0u);
  EXPECT_EQ(A().counters().connects, 3u);
  EXPECT_EQ(A().open_sockets(), 0u);
  EXPECT_EQ(B().open_sockets(), 0u);
  EXPECT_EQ(A().counters().events_unclaimed, 0u);
  EXPECT_EQ(B().counters().events_unclaimed, 0u);
}

TEST_P(TcpSocketsTest, SetHandlerMovesTheEvents) {
  Recorder other(B());
  server_.on_accepted = [&](SocketId id) {
    EXPECT_TRUE(B().SetHandler(id, &other).ok());
    EXPECT_EQ(B().SetHandler(id, nullptr).code(), absl::StatusCode::kInvalidArgument);
  };
  ListenB();
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  const Bytes data = Pattern(12, 5000);
  EXPECT_EQ(A().Send(c, data, stacks_.now()), data.size());
  EXPECT_TRUE(A().Shutdown(c, stacks_.now()).ok());
  ASSERT_TRUE(stacks_.RunUntil([&] { return other.stream(s).fin; }));
  EXPECT_EQ(other.stream(s).bytes, data);
  EXPECT_EQ(server_.KindsOf(s), std::vector<Ev>{Ev::kAccepted});
}

TEST_P(TcpSocketsTest, CloseWithUnreadDataResetsThePeer) {
  ListenB();
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  server_.auto_read = false;
  const Bytes data = Pattern(13, 1000);
  EXPECT_EQ(A().Send(c, data, stacks_.now()), data.size());
  ASSERT_TRUE(stacks_.RunUntil([&] { return server_.Count(Ev::kReadable, s) == 1; }));
  EXPECT_TRUE(B().Close(s, stacks_.now()).ok());  // RFC 2525 §2.17: unread data -> RST
  ASSERT_TRUE(
      stacks_.RunUntil([&] { return client_.closed.size() == 1 && server_.closed.size() == 1; }));
  EXPECT_EQ(client_.KindsOf(c), (std::vector<Ev>{Ev::kConnected, Ev::kError, Ev::kClosed}));
  EXPECT_EQ(client_.events[1].error, SocketError::kReset);
}

// The MSS each side uses is the smaller interface MTU less the headers, and no IP packet on the
// wire is larger than that MTU.
struct MtuCase {
  bool v6;
  uint16_t mtu_a;
  uint16_t mtu_b;
};

class TcpSocketsMtuTest : public ::testing::TestWithParam<MtuCase> {};

SideConfig WithMtu(uint8_t host, uint16_t mtu) {
  SideConfig c = DefaultSide(host);
  c.mtu = mtu;
  return c;
}

TEST_P(TcpSocketsMtuTest, MssFollowsTheInterfaceMtu) {
  const MtuCase p = GetParam();
  TwoStacks stacks(WithMtu(1, p.mtu_a), WithMtu(2, p.mtu_b));
  TcpSockets& a = stacks.a().sockets();
  TcpSockets& b = stacks.b().sockets();
  Recorder client(a);
  Recorder server(b);
  tcp::TcpConfig config;
  config.timestamps = false;  // full segments then carry exactly MSS bytes
  ASSERT_TRUE(b.Listen(80, config, &server).ok());
  absl::StatusOr<SocketId> c = a.Connect(stacks.b().addr(p.v6), 80, config, &client, stacks.now());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(stacks.RunUntil([&] { return !server.accepted.empty(); }));
  const SocketId s = server.accepted[0];

  const uint16_t mtu = std::min(p.mtu_a, p.mtu_b);
  const uint32_t headers = (p.v6 ? 40 : 20) + 20;  // IP + TCP without options
  EXPECT_EQ(a.Info(*c)->snd_mss, mtu - headers);
  EXPECT_EQ(b.Info(s)->snd_mss, mtu - headers);

  // 300 kB each way: full-sized segments fill the smaller MTU exactly.
  const Bytes data = Pattern(20, 300'000);
  size_t off_a = 0;
  size_t off_b = 0;
  auto push = [&](TcpSockets& sockets, SocketId id, size_t& off) {
    off += sockets.Send(id, std::span(data).subspan(off), sockets.now());
    if (off == data.size()) (void)sockets.Shutdown(id, sockets.now());
  };
  client.on_writable = [&](SocketId id) { push(a, id, off_a); };
  server.on_writable = [&](SocketId id) { push(b, id, off_b); };
  push(a, *c, off_a);
  push(b, s, off_b);
  ASSERT_TRUE(stacks.RunUntil([&] { return client.stream(*c).fin && server.stream(s).fin; }));
  EXPECT_EQ(client.stream(*c).bytes, data);
  EXPECT_EQ(server.stream(s).bytes, data);
  EXPECT_EQ(stacks.a().sink().largest, size_t{14} + mtu);
  EXPECT_EQ(stacks.b().sink().largest, size_t{14} + mtu);
}

INSTANTIATE_TEST_SUITE_P(Mtus, TcpSocketsMtuTest,
                         ::testing::Values(MtuCase{false, 1280, 1280}, MtuCase{true, 1280, 1280},
                                           MtuCase{false, 9000, 9000}, MtuCase{true, 9000, 9000},
                                           MtuCase{false, 1280, 9000}, MtuCase{true, 9000, 1280}),
                         [](const auto& p) {
                           return std::string(p.param.v6 ? "IPv6" : "IPv4") + "_" +
                                  std::to_string(p.param.mtu_a) + "_" +
                                  std::to_string(p.param.mtu_b);
                         });

// Ephemeral ports: a slice of 4 ports serves any number of sequential connections to one
// destination when a is not the side left in TIME-WAIT, and runs out (ResourceExhausted, no SYN
// sent) while 4 of its ports are in TIME-WAIT towards that destination.
class TcpSocketsPortTest : public TcpSocketsTest {
 protected:
  TcpSocketsPortTest() : TcpSocketsTest(TinySlice(), DefaultSide(2)) {}
  static SideConfig TinySlice() {
    SideConfig c = DefaultSide(1);
    c.ephemeral.first = 50000;
    c.ephemeral.last = 50003;
    return c;
  }
};

INSTANTIATE_TEST_SUITE_P(Families, TcpSocketsPortTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "IPv6" : "IPv4"; });

TEST_P(TcpSocketsPortTest, PortsAreReusedWhenThePeerClosesFirst) {
  ListenB();
  // b closes at once (active close: b keeps TIME-WAIT); a closes when it reads b's FIN.
  server_.on_accepted = [&](SocketId id) { EXPECT_TRUE(B().Close(id, B().now()).ok()); };
  client_.on_peer_fin = [&](SocketId id) { EXPECT_TRUE(A().Close(id, A().now()).ok()); };
  std::set<uint16_t> ports;
  for (int i = 0; i < 20; ++i) {
    stacks_.Advance(10ms);
    absl::StatusOr<SocketId> c = A().Connect(AddrB(), 80, {}, &client_, stacks_.now());
    ASSERT_TRUE(c.ok()) << "connection " << i << ": " << c.status();
    ports.insert(A().Flow(*c)->local_port);
    ASSERT_TRUE(stacks_.RunUntil([&] { return client_.Count(Ev::kClosed, *c) == 1; }, 10s))
        << "connection " << i;
    EXPECT_EQ(client_.Count(Ev::kConnected, *c), 1u) << "connection " << i;
  }
  EXPECT_EQ(client_.Count(Ev::kError), 0u);
  EXPECT_EQ(ports, (std::set<uint16_t>{50000, 50001, 50002, 50003}));
  EXPECT_EQ(A().ports().reserved(), 0u);
  EXPECT_EQ(A().counters().connect_failures, 0u);
  EXPECT_EQ(B().counters().accepted, 20u);
}

TEST_P(TcpSocketsPortTest, TimeWaitHoldsPortsUntilItEnds) {
  ListenB();
  // a closes first (a keeps TIME-WAIT for 60 s); b closes when it reads a's FIN.
  client_.on_connected = [&](SocketId id) { EXPECT_TRUE(A().Close(id, A().now()).ok()); };
  server_.on_peer_fin = [&](SocketId id) { EXPECT_TRUE(B().Close(id, B().now()).ok()); };
  std::set<uint16_t> ports;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<SocketId> c = A().Connect(AddrB(), 80, {}, &client_, stacks_.now());
    ASSERT_TRUE(c.ok()) << "connection " << i << ": " << c.status();
    ports.insert(A().Flow(*c)->local_port);
    ASSERT_TRUE(stacks_.RunUntil([&] { return client_.Count(Ev::kClosed, *c) == 1; }, 10s));
    EXPECT_EQ(A().Info(*c), std::nullopt);
  }
  EXPECT_EQ(ports.size(), 4u);
  EXPECT_EQ(stacks_.a().tcp().time_wait_count(), 4u);
  EXPECT_EQ(A().ports().reserved(), 0u);

  // Every port of the slice is in TIME-WAIT towards b:80.
  const uint64_t frames = stacks_.a().sink().sent;
  absl::StatusOr<SocketId> c = A().Connect(AddrB(), 80, {}, &client_, stacks_.now());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted) << c.status();
  EXPECT_EQ(stacks_.a().sink().sent, frames);
  EXPECT_EQ(A().ports().reserved(), 0u);
  EXPECT_EQ(A().counters().connect_failures, 1u);
  // Another destination port is another 4-tuple.
  ASSERT_TRUE(B().Listen(81, {}, &server_).ok());
  c = A().Connect(AddrB(), 81, {}, &client_, stacks_.now());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(stacks_.RunUntil([&] { return client_.Count(Ev::kClosed, *c) == 1; }, 10s));

  // TIME-WAIT over (60 s): the ports are free again.
  stacks_.RunFor(61s);
  EXPECT_EQ(stacks_.a().tcp().time_wait_count(), 0u);
  c = A().Connect(AddrB(), 80, {}, &client_, stacks_.now());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(stacks_.RunUntil([&] { return client_.Count(Ev::kClosed, *c) == 1; }, 10s));
  EXPECT_EQ(client_.Count(Ev::kError), 0u);
}

}  // namespace
}  // namespace braid::runtime::test
