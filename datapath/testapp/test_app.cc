#include "datapath/testapp/test_app.h"

#include <algorithm>
#include <utility>

#include "datapath/mptcp/socket_manager.h"

namespace braid::testapp {
namespace {

constexpr size_t kChunk = 64 * 1024;

double Mbits(uint64_t bytes, std::optional<tcp::Instant> from, std::optional<tcp::Instant> to) {
  if (!from || !to || *to <= *from) return 0;
  const double seconds = std::chrono::duration<double>(*to - *from).count();
  return static_cast<double>(bytes) * 8 / seconds / 1e6;
}

}  // namespace

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kSink:
      return "sink";
    case Mode::kEcho:
      return "echo";
    case Mode::kSource:
      return "source";
    case Mode::kSend:
      return "send";
    case Mode::kRecv:
      return "recv";
    case Mode::kRr:
      return "rr";
  }
  return "unknown";
}

std::optional<Mode> ParseMode(std::string_view name, bool server) {
  if (name == "echo") return Mode::kEcho;
  if (server) {
    if (name == "sink") return Mode::kSink;
    if (name == "source") return Mode::kSource;
  } else {
    if (name == "send") return Mode::kSend;
    if (name == "recv") return Mode::kRecv;
    if (name == "rr") return Mode::kRr;
  }
  return std::nullopt;
}

TestApp::TestApp(const AppConfig& config, ReportSink& sink, bool client_here,
                 std::atomic<uint32_t>* finished_everywhere)
    : config_(config),
      sink_(sink),
      client_here_(client_here),
      finished_everywhere_(finished_everywhere),
      buffer_(kChunk),
      expect_(kChunk) {}

tcp::Instant TestApp::now() const { return sockets_->now(); }

void TestApp::Start(tcp::SocketApi& sockets, tcp::Instant now) {
  sockets_ = &sockets;
  if (config_.server) {
    absl::StatusOr<runtime::ListenerId> l =
        sockets.Listen(config_.listen_port, config_.tcp, this, std::nullopt);
    if (!l.ok()) start_error_ = std::string(l.status().message());
    return;
  }
  if (!client_here_) return;
  absl::StatusOr<runtime::SocketId> s =
      sockets.Connect(config_.remote, config_.remote_port, config_.tcp, this, now, config_.bind);
  if (!s.ok()) {
    start_error_ = std::string(s.status().message());
    client_done_ = true;
    ++failed_;
    return;
  }
  Conn& c = conns_[s->index];
  c.id = *s;
  c.server = false;
  c.mode = config_.mode;
  c.flow = sockets.Flow(*s).value_or(tcp::FlowKey{});
  ++started_;
  Begin(c);
}

bool TestApp::Done() const {
  if (!start_error_.empty()) return true;
  if (config_.server) {
    const uint32_t finished = finished_everywhere_ != nullptr
                                  ? finished_everywhere_->load(std::memory_order_relaxed)
                                  : finished_;
    return config_.count != 0 && finished >= config_.count && conns_.empty();
  }
  return !client_here_ || client_done_;
}

TestApp::Conn* TestApp::Find(runtime::SocketId socket) {
  auto it = conns_.find(socket.index);
  if (it == conns_.end() || it->second.id != socket) return nullptr;
  return &it->second;
}

void TestApp::Begin(Conn& c) {
  // Each connection's payload is its own stream of the pattern (seed, stream number), so two
  // connections never carry the same bytes.
  c.pattern = util::PatternStream(config_.seed, next_stream_);
  c.expect = util::PatternStream(config_.seed, next_stream_);
  ++next_stream_;
  switch (c.mode) {
    case Mode::kSource:
    case Mode::kSend:
    case Mode::kEcho:
      c.to_generate = c.server ? (c.mode == Mode::kEcho ? 0 : config_.bytes) : config_.bytes;
      break;
    case Mode::kRr:
    case Mode::kSink:
    case Mode::kRecv:
      c.to_generate = 0;
      break;
  }
}

std::optional<ConnectionAction> ParseConnectionAction(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  char* end = nullptr;
  const std::string seconds(text.substr(0, colon));
  const double s = std::strtod(seconds.c_str(), &end);
  if (end != seconds.c_str() + seconds.size() || !(s >= 0)) return std::nullopt;
  ConnectionAction a;
  a.after = std::chrono::duration_cast<tcp::Duration>(std::chrono::duration<double>(s));
  std::string_view rest = text.substr(colon + 1);
  const size_t colon2 = rest.find(':');
  const std::string_view what = rest.substr(0, colon2);
  if (what == "abort") {
    a.kind = ConnectionAction::Kind::kAbort;
    return colon2 == std::string_view::npos ? std::optional(a) : std::nullopt;
  }
  if (what == "remove") {
    a.kind = ConnectionAction::Kind::kRemoveAddr;
  } else if (what == "backup") {
    a.kind = ConnectionAction::Kind::kBackup;
  } else if (what == "nobackup") {
    a.kind = ConnectionAction::Kind::kNoBackup;
  } else {
    return std::nullopt;
  }
  if (colon2 == std::string_view::npos) return std::nullopt;
  const std::string id(rest.substr(colon2 + 1));
  const long v = std::strtol(id.c_str(), &end, 10);
  if (id.empty() || end != id.c_str() + id.size() || v < 0 || v > 255) return std::nullopt;
  a.id = static_cast<uint8_t>(v);
  return a;
}

void TestApp::ScheduleActions(runtime::SocketId socket) {
  if (action_target_ || config_.actions.empty() || worker_ == nullptr) return;
  action_target_ = socket;
  for (size_t i = 0; i < config_.actions.size(); ++i) {
    worker_->ScheduleTimer(now() + config_.actions[i].after, i);
  }
}

void TestApp::OnTimer(uint64_t cookie, tcp::Instant now) {
  if (!action_target_ || cookie >= config_.actions.size()) return;
  const ConnectionAction& a = config_.actions[cookie];
  const runtime::SocketId socket = *action_target_;
  if (a.kind == ConnectionAction::Kind::kAbort) {
    if (Conn* c = Find(socket); c != nullptr) Snapshot(*c);
    (void)sockets_->Abort(socket, now);
    return;
  }
  auto* m = dynamic_cast<mptcp::MptcpSockets*>(sockets_);
  mptcp::PmConnection* pm = m != nullptr ? m->PathControl(socket) : nullptr;
  if (pm == nullptr) return;
  if (a.kind == ConnectionAction::Kind::kRemoveAddr) {
    (void)pm->Remove(a.id);
    return;
  }
  for (const mptcp::PmSubflow& sf : pm->subflows()) {
    if (sf.local_id == a.id) (void)pm->SetBackup(sf.id, a.kind == ConnectionAction::Kind::kBackup);
  }
}

void TestApp::OnConnected(runtime::SocketId socket) {
  Conn* c = Find(socket);
  if (c == nullptr) return;
  c->established = true;
  ScheduleActions(socket);
  if (c->mode == Mode::kRr) {
    SendRequest(*c);
  } else {
    Pump(*c);
  }
}

void TestApp::OnAccepted(runtime::ListenerId, runtime::SocketId socket) {
  Conn& c = conns_[socket.index];
  c = Conn{};
  c.id = socket;
  c.server = true;
  c.mode = config_.mode;
  c.flow = sockets_->Flow(socket).value_or(tcp::FlowKey{});
  c.established = true;
  ScheduleActions(socket);
  ++started_;
  Begin(c);
  Pump(c);
}

size_t TestApp::SendStaged(Conn& c) {
  const std::span<const uint8_t> rest(c.staged.data() + c.staged_off,
                                      c.staged.size() - c.staged_off);
  const size_t n = sockets_->Send(c.id, rest, now());
  if (n == 0) return 0;
  if (!c.first_tx) c.first_tx = now();
  c.tx_hash.Update(rest.first(n));
  c.tx += n;
  c.staged_off += n;
  return n;
}

void TestApp::Pump(Conn& c) {
  if (!c.established || c.close_called) return;
  if (c.server && c.mode == Mode::kEcho) {
    // Alternate: send back what was read, then read the next chunk, until the send buffer is full
    // (OnWritable resumes) or nothing is left to read (OnReadable resumes). One loop, no
    // recursion between sending and reading.
    for (;;) {
      while (c.echo_off < c.echo.size()) {
        const std::span<const uint8_t> rest(c.echo.data() + c.echo_off, c.echo.size() - c.echo_off);
        const size_t n = sockets_->Send(c.id, rest, now());
        if (n == 0) return;
        if (!c.first_tx) c.first_tx = now();
        c.tx_hash.Update(rest.first(n));
        c.tx += n;
        c.echo_off += n;
      }
      c.echo.clear();
      c.echo_off = 0;
      const uint64_t before = c.rx;
      Drain(c);
      if (c.rx == before) break;
    }
    MaybeFinish(c);
    return;
  }
  for (;;) {
    if (c.staged_off == c.staged.size()) {
      if (c.to_generate == 0) break;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, c.to_generate));
      c.staged.resize(n);
      c.pattern.Fill(c.staged);
      c.staged_off = 0;
      c.to_generate -= n;
    }
    if (SendStaged(c) == 0) return;  // buffer full: OnWritable resumes
  }
  MaybeFinish(c);
}

void TestApp::SendRequest(Conn& c) {
  c.staged.resize(config_.rr_size);
  c.pattern.Fill(c.staged);
  c.staged_off = 0;
  c.rr_started = now();
  c.rr_rx_in_current = 0;
  ++c.rr_sent;
  SendStaged(c);  // 64 bytes always fit an empty buffer; OnWritable covers the rest
}

void TestApp::Drain(Conn& c) {
  for (;;) {
    if (c.server && c.mode == Mode::kEcho && !c.echo.empty()) return;  // backpressure
    const tcp::ReceiveResult r = sockets_->Receive(c.id, buffer_, now());
    if (r.bytes > 0) {
      const std::span<const uint8_t> got(buffer_.data(), r.bytes);
      if (!c.first_rx) c.first_rx = now();
      if (!c.steady_at && now() - *c.first_rx >= kSteadyAfter) {
        c.steady_at = now();
        c.rx_before_steady = c.rx + r.bytes;  // what this read returned arrived before
      }
      c.rx_hash.Update(got);
      c.rx += r.bytes;
      if (c.server && c.mode == Mode::kEcho) {
        c.echo.assign(got.begin(), got.end());
        c.echo_off = 0;
      } else if (!c.server && c.mode == Mode::kEcho) {
        const std::span<uint8_t> want(expect_.data(), r.bytes);
        c.expect.Fill(want);
        if (!std::equal(want.begin(), want.end(), got.begin()) && c.error.empty()) {
          c.error = "echo mismatch";
        }
      } else if (c.mode == Mode::kRr) {
        c.rr_rx_in_current += static_cast<uint32_t>(r.bytes);
        if (c.rr_rx_in_current >= config_.rr_size) {
          // Answers are exact echoes, so a request's answer is complete at rr_size bytes.
          c.rr_samples.push_back(now() - c.rr_started);
          c.rr_rx_in_current -= config_.rr_size;
          if (c.rr_sent < config_.rr_count) SendRequest(c);
        }
      }
    }
    if (r.fin) {
      if (!c.eof) {
        c.eof = true;
        c.eof_at = now();
      }
      break;
    }
    if (r.bytes == 0) break;
  }
}

void TestApp::OnReadable(runtime::SocketId socket, size_t) {
  Conn* c = Find(socket);
  if (c == nullptr) return;
  Drain(*c);
  if (c->server && c->mode == Mode::kEcho) Pump(*c);
  MaybeFinish(*c);
}

void TestApp::OnWritable(runtime::SocketId socket) {
  Conn* c = Find(socket);
  if (c == nullptr) return;
  if (c->mode == Mode::kRr && c->staged_off < c->staged.size()) {
    SendStaged(*c);
    return;
  }
  Pump(*c);
}

void TestApp::OnAcked(runtime::SocketId socket, uint64_t bytes) {
  Conn* c = Find(socket);
  if (c == nullptr) return;
  c->acked += bytes;
  // SND.UNA also moves over the SYN and the FIN; `acked >= tx` is reached once every data byte is
  // acknowledged.
  if (c->tx > 0 && c->acked >= c->tx && c->to_generate == 0 && c->staged_off == c->staged.size() &&
      !c->all_acked_at) {
    c->all_acked_at = now();
  }
  MaybeFinish(*c);
}

void TestApp::OnPeerFin(runtime::SocketId socket) {
  Conn* c = Find(socket);
  if (c == nullptr) return;
  Drain(*c);
  MaybeFinish(*c);
}

void TestApp::Snapshot(Conn& c) {
  if (std::optional<tcp::TcpInfo> info = sockets_->Info(c.id)) c.info = std::move(info);
  if (auto* m = dynamic_cast<mptcp::MptcpSockets*>(sockets_); m != nullptr) {
    if (std::optional<mptcp::MptcpInfo> info = m->ConnectionInfo(c.id)) {
      c.mptcp = std::move(info);
      c.subflows = m->SubflowsOf(c.id);
    }
  }
}

void TestApp::MaybeFinish(Conn& c) {
  if (c.close_called) return;
  const bool sending_done = c.to_generate == 0 && c.staged_off == c.staged.size();
  bool shut = false;   // our side has nothing more to send
  bool close = false;  // and we are done reading too
  switch (c.mode) {
    case Mode::kSink:
    case Mode::kRecv:
      close = c.eof;
      break;
    case Mode::kSource:
    case Mode::kSend:
      shut = sending_done;
      close = shut && c.eof;
      break;
    case Mode::kEcho:
      if (c.server) {
        shut = c.eof && c.echo.empty();
        close = shut;
      } else {
        shut = sending_done && c.rx >= config_.bytes;
        close = shut && c.eof;
        if (c.eof && c.rx < config_.bytes && c.error.empty()) c.error = "echo short";
        if (c.eof && !close) close = true;
      }
      break;
    case Mode::kRr:
      shut = c.rr_samples.size() >= config_.rr_count;
      close = shut && c.eof;
      break;
  }
  if ((shut || close) && !c.shut_down) {
    c.shut_down = true;
    Snapshot(c);
    (void)sockets_->Shutdown(c.id, now());
  }
  if (close) {
    c.close_called = true;
    Snapshot(c);
    (void)sockets_->Close(c.id, now());
  }
}

void TestApp::Fail(Conn& c, std::string error) {
  if (c.error.empty()) c.error = std::move(error);
}

void TestApp::OnError(runtime::SocketId socket, runtime::SocketError error) {
  Conn* c = Find(socket);
  if (c == nullptr) return;
  Snapshot(*c);
  Fail(*c, std::string(runtime::SocketErrorName(error)));
}

void TestApp::OnClosed(runtime::SocketId socket) {
  Conn* c = Find(socket);
  if (c == nullptr) return;
  ConnectionReport r;
  r.role = c->server ? "server" : "client";
  r.mode = std::string(ModeName(c->mode));
  r.local = runtime::FormatEndpoint(c->flow.local, c->flow.local_port);
  r.remote = runtime::FormatEndpoint(c->flow.remote, c->flow.remote_port);
  r.bytes_rx = c->rx;
  r.bytes_tx = c->tx;
  r.sha256_rx = util::ToHex(c->rx_hash.Digest());
  r.sha256_tx = util::ToHex(c->tx_hash.Digest());
  r.rx_mbit_s = Mbits(c->rx, c->first_rx, c->eof_at);
  if (c->steady_at)
    r.rx_steady_mbit_s = Mbits(c->rx - c->rx_before_steady, c->steady_at, c->eof_at);
  r.tx_mbit_s = Mbits(c->tx, c->first_tx, c->all_acked_at);
  if (c->error.empty() && !c->close_called) c->error = "closed early";
  if (c->error.empty() && c->mode != Mode::kSink && c->mode != Mode::kRecv &&
      c->mode != Mode::kRr && !(c->server && c->mode == Mode::kEcho) && c->tx < config_.bytes) {
    c->error = "short send";
  }
  r.error = c->error;
  r.tcp = c->info;
  r.mptcp = c->mptcp;
  r.subflows = c->subflows;
  if (c->mode == Mode::kRr) {
    sink_.OnRr({.count = static_cast<uint32_t>(c->rr_samples.size()),
                .size = config_.rr_size,
                .samples = std::move(c->rr_samples)});
  }
  sink_.OnConnection(r);
  ++finished_;
  if (finished_everywhere_ != nullptr)
    finished_everywhere_->fetch_add(1, std::memory_order_relaxed);
  if (!r.error.empty()) ++failed_;
  if (!c->server) client_done_ = true;
  conns_.erase(socket.index);
}

}  // namespace braid::testapp
