// The test applications in pairs over two complete stacks wired back to back
// (tests/unit/datapath/runtime/two_stacks.h): every server/client pairing moves its bytes, the
// digests of one side match the other's, failures are reported by name; and the JSON lines
// braid-testapp prints from the reports.
#include "datapath/testapp/test_app.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "datapath/testapp/json.h"
#include "datapath/testapp/report.h"
#include "datapath/util/stream_check.h"
#include "tests/unit/datapath/runtime/two_stacks.h"

namespace braid::testapp {
namespace {

using runtime::test::TwoStacks;
using namespace std::chrono_literals;

class RecordingSink : public ReportSink {
 public:
  void OnConnection(const ConnectionReport& report) override { connections.push_back(report); }
  void OnRr(const RrReport& report) override { rr.push_back(report); }
  std::vector<ConnectionReport> connections;
  std::vector<RrReport> rr;
};

// SHA-256 of the first n bytes of stream `stream` of the pattern with `seed`.
std::string PatternSha(uint64_t seed, uint64_t stream, uint64_t n) {
  util::PatternStream p(seed, stream);
  util::Sha256 h;
  std::vector<uint8_t> chunk(64 * 1024);
  while (n > 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, chunk.size()));
    p.Fill(std::span(chunk.data(), k));
    h.Update(std::span<const uint8_t>(chunk.data(), k));
    n -= k;
  }
  return util::ToHex(h.Digest());
}

const std::string kEmptySha = PatternSha(1, 0, 0);

class TestAppTest : public ::testing::TestWithParam<bool> {
 protected:
  bool v6() const { return GetParam(); }

  AppConfig Server(Mode mode, uint32_t count = 1) {
    AppConfig c;
    c.server = true;
    c.mode = mode;
    c.listen_port = 5000;
    c.count = count;
    return c;
  }
  AppConfig Client(Mode mode, uint64_t bytes = 0) {
    AppConfig c;
    c.server = false;
    c.mode = mode;
    c.remote = stacks_.b().addr(v6());
    c.remote_port = 5000;
    c.bytes = bytes;
    c.seed = 99;
    return c;
  }

  // Starts the server on b and the client on a, and runs until both are done.
  void Run(const AppConfig& server, const AppConfig& client, tcp::Duration limit = 10min) {
    server_ = std::make_unique<TestApp>(server, server_sink_, false);
    client_ = std::make_unique<TestApp>(client, client_sink_, true);
    server_->Start(stacks_.b().sockets(), stacks_.now());
    ASSERT_EQ(server_->start_error(), "");
    client_->Start(stacks_.a().sockets(), stacks_.now());
    ASSERT_TRUE(stacks_.RunUntil([&] { return server_->Done() && client_->Done(); }, limit))
        << "server finished " << server_->finished() << ", client finished " << client_->finished();
  }

  // One report on each side, without errors; returns them (server, client).
  std::pair<ConnectionReport, ConnectionReport> OnePair() {
    EXPECT_EQ(server_sink_.connections.size(), 1u);
    EXPECT_EQ(client_sink_.connections.size(), 1u);
    if (server_sink_.connections.size() != 1 || client_sink_.connections.size() != 1) return {};
    const ConnectionReport s = server_sink_.connections[0];
    const ConnectionReport c = client_sink_.connections[0];
    EXPECT_EQ(s.role, "server");
    EXPECT_EQ(c.role, "client");
    EXPECT_EQ(s.error, "");
    EXPECT_EQ(c.error, "");
    EXPECT_EQ(s.remote, c.local);
    EXPECT_EQ(s.local, c.remote);
    // What one side received is what the other sent.
    EXPECT_EQ(s.bytes_rx, c.bytes_tx);
    EXPECT_EQ(c.bytes_rx, s.bytes_tx);
    EXPECT_EQ(s.sha256_rx, c.sha256_tx);
    EXPECT_EQ(c.sha256_rx, s.sha256_tx);
    EXPECT_TRUE(s.tcp.has_value());
    EXPECT_TRUE(c.tcp.has_value());
    EXPECT_EQ(server_->failed(), 0u);
    EXPECT_EQ(client_->failed(), 0u);
    EXPECT_EQ(server_->finished(), 1u);
    EXPECT_EQ(client_->finished(), 1u);
    return {s, c};
  }

  TwoStacks stacks_;
  RecordingSink server_sink_;
  RecordingSink client_sink_;
  std::unique_ptr<TestApp> server_;
  std::unique_ptr<TestApp> client_;
};

INSTANTIATE_TEST_SUITE_P(Families, TestAppTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "IPv6" : "IPv4"; });

TEST_P(TestAppTest, SinkAndSend) {
  Run(Server(Mode::kSink), Client(Mode::kSend, 3'000'000));
  auto [s, c] = OnePair();
  EXPECT_EQ(s.mode, "sink");
  EXPECT_EQ(c.mode, "send");
  EXPECT_EQ(c.bytes_tx, 3'000'000u);
  EXPECT_EQ(s.bytes_tx, 0u);
  EXPECT_EQ(c.sha256_tx, PatternSha(99, 0, 3'000'000));
  EXPECT_EQ(s.sha256_tx, kEmptySha);
}

TEST_P(TestAppTest, SourceAndRecv) {
  AppConfig server = Server(Mode::kSource);
  server.bytes = 2'500'000;
  server.seed = 5;
  Run(server, Client(Mode::kRecv));
  auto [s, c] = OnePair();
  EXPECT_EQ(s.mode, "source");
  EXPECT_EQ(c.mode, "recv");
  EXPECT_EQ(c.bytes_rx, 2'500'000u);
  EXPECT_EQ(s.sha256_tx, PatternSha(5, 0, 2'500'000));
  EXPECT_EQ(c.sha256_tx, kEmptySha);
}

TEST_P(TestAppTest, EchoAndEchoWithBackpressure) {
  // Small buffers on both sides make the echo server stop reading while its echo cannot be sent.
  AppConfig server = Server(Mode::kEcho);
  server.tcp.send_buffer = 32 * 1024;
  server.tcp.receive_buffer = 32 * 1024;
  server.tcp.receive_buffer_autotune = false;
  server.tcp.initial_receive_window = 32 * 1024;
  AppConfig client = Client(Mode::kEcho, 8 << 20);
  client.tcp.send_buffer = 64 * 1024;
  client.tcp.receive_buffer = 64 * 1024;
  client.tcp.receive_buffer_autotune = false;
  client.tcp.initial_receive_window = 64 * 1024;
  Run(server, client);
  auto [s, c] = OnePair();
  EXPECT_EQ(c.bytes_tx, uint64_t{8} << 20);
  EXPECT_EQ(c.bytes_rx, uint64_t{8} << 20);
  EXPECT_EQ(s.bytes_rx, uint64_t{8} << 20);
  EXPECT_EQ(c.sha256_tx, PatternSha(99, 0, 8 << 20));
  EXPECT_EQ(c.sha256_rx, c.sha256_tx);
  EXPECT_EQ(s.sha256_rx, s.sha256_tx);
}

TEST_P(TestAppTest, EchoServerAndRequestResponse) {
  AppConfig client = Client(Mode::kRr);
  client.rr_size = 300;
  client.rr_count = 40;
  client.tcp.nagle = false;
  AppConfig server = Server(Mode::kEcho);
  server.tcp.nagle = false;
  Run(server, client);
  auto [s, c] = OnePair();
  EXPECT_EQ(c.mode, "rr");
  EXPECT_EQ(c.bytes_tx, 300u * 40);
  EXPECT_EQ(c.bytes_rx, 300u * 40);
  ASSERT_EQ(client_sink_.rr.size(), 1u);
  const RrReport& rr = client_sink_.rr[0];
  EXPECT_EQ(rr.count, 40u);
  EXPECT_EQ(rr.size, 300u);
  EXPECT_EQ(rr.samples.size(), 40u);
  EXPECT_TRUE(server_sink_.rr.empty());
}

TEST_P(TestAppTest, ServerCountsSeveralClients) {
  server_ = std::make_unique<TestApp>(Server(Mode::kSink, 3), server_sink_, false);
  server_->Start(stacks_.b().sockets(), stacks_.now());
  std::vector<std::unique_ptr<TestApp>> clients;
  for (uint64_t i = 0; i < 3; ++i) {
    AppConfig c = Client(Mode::kSend, 100'000 * (i + 1));
    c.seed = 10 + i;
    clients.push_back(std::make_unique<TestApp>(c, client_sink_, true));
    clients.back()->Start(stacks_.a().sockets(), stacks_.now());
  }
  ASSERT_TRUE(stacks_.RunUntil([&] {
    for (const auto& c : clients) {
      if (!c->Done()) return false;
    }
    return server_->Done();
  }));
  EXPECT_EQ(server_->finished(), 3u);
  EXPECT_EQ(server_->failed(), 0u);
  ASSERT_EQ(server_sink_.connections.size(), 3u);
  ASSERT_EQ(client_sink_.connections.size(), 3u);
  // Matched by the client's endpoint.
  for (const ConnectionReport& c : client_sink_.connections) {
    int matched = 0;
    for (const ConnectionReport& s : server_sink_.connections) {
      if (s.remote != c.local) continue;
      ++matched;
      EXPECT_EQ(s.sha256_rx, c.sha256_tx);
      EXPECT_EQ(s.bytes_rx, c.bytes_tx);
      EXPECT_EQ(s.error, "");
    }
    EXPECT_EQ(matched, 1) << c.local;
    EXPECT_EQ(c.error, "");
  }
}

TEST_P(TestAppTest, ServerCountIsSharedByTheWorkers) {
  // Another worker's app has finished 2 of the 3 connections already: one more here is enough.
  std::atomic<uint32_t> everywhere{2};
  server_ = std::make_unique<TestApp>(Server(Mode::kSink, 3), server_sink_, false, &everywhere);
  server_->Start(stacks_.b().sockets(), stacks_.now());
  EXPECT_FALSE(server_->Done());
  client_ = std::make_unique<TestApp>(Client(Mode::kSend, 50'000), client_sink_, true);
  client_->Start(stacks_.a().sockets(), stacks_.now());
  ASSERT_TRUE(stacks_.RunUntil([&] { return server_->Done() && client_->Done(); }));
  EXPECT_EQ(server_->finished(), 1u);
  EXPECT_EQ(everywhere.load(), 3u);
  OnePair();
}

TEST_P(TestAppTest, RefusedConnectionIsReported) {
  server_ = std::make_unique<TestApp>(Server(Mode::kSink), server_sink_, false);
  AppConfig config = Client(Mode::kSend, 1000);
  config.remote_port = 5001;  // nobody listens there
  client_ = std::make_unique<TestApp>(config, client_sink_, true);
  client_->Start(stacks_.a().sockets(), stacks_.now());
  EXPECT_EQ(client_->start_error(), "");
  ASSERT_TRUE(stacks_.RunUntil([&] { return client_->Done(); }));
  ASSERT_EQ(client_sink_.connections.size(), 1u);
  const ConnectionReport& r = client_sink_.connections[0];
  EXPECT_EQ(r.error, "refused");
  EXPECT_EQ(r.bytes_tx, 0u);
  EXPECT_EQ(client_->failed(), 1u);
  const std::string json = ConnectionJson(r);
  EXPECT_NE(json.find("\"error\": \"refused\""), std::string::npos) << json;
}

TEST_P(TestAppTest, ConnectWithoutARouteFailsAtStart) {
  AppConfig config = Client(Mode::kSend, 1000);
  config.remote = v6() ? wire::IpAddress(*wire::Ipv6Address::Parse("2001:db8:99::1"))
                       : wire::IpAddress(*wire::Ipv4Address::Parse("203.0.113.1"));
  client_ = std::make_unique<TestApp>(config, client_sink_, true);
  client_->Start(stacks_.a().sockets(), stacks_.now());
  EXPECT_NE(client_->start_error().find("no route"), std::string::npos) << client_->start_error();
  EXPECT_TRUE(client_->Done());
  EXPECT_EQ(client_->failed(), 1u);
  EXPECT_TRUE(client_sink_.connections.empty());
}

TEST_P(TestAppTest, ServerThatCannotListenIsDone) {
  TestApp first(Server(Mode::kSink), server_sink_, false);
  first.Start(stacks_.b().sockets(), stacks_.now());
  EXPECT_EQ(first.start_error(), "");
  EXPECT_FALSE(first.Done());
  TestApp second(Server(Mode::kSink), server_sink_, false);
  second.Start(stacks_.b().sockets(), stacks_.now());
  EXPECT_NE(second.start_error(), "");
  EXPECT_TRUE(second.Done());
}

TEST(TestAppModeTest, ParsesByRole) {
  EXPECT_EQ(ParseMode("sink", true), Mode::kSink);
  EXPECT_EQ(ParseMode("source", true), Mode::kSource);
  EXPECT_EQ(ParseMode("echo", true), Mode::kEcho);
  EXPECT_EQ(ParseMode("echo", false), Mode::kEcho);
  EXPECT_EQ(ParseMode("send", false), Mode::kSend);
  EXPECT_EQ(ParseMode("recv", false), Mode::kRecv);
  EXPECT_EQ(ParseMode("rr", false), Mode::kRr);
  EXPECT_EQ(ParseMode("sink", false), std::nullopt);
  EXPECT_EQ(ParseMode("send", true), std::nullopt);
  EXPECT_EQ(ParseMode("rr", true), std::nullopt);
  EXPECT_EQ(ParseMode("Sink", true), std::nullopt);
  for (Mode m : {Mode::kSink, Mode::kEcho, Mode::kSource, Mode::kSend, Mode::kRecv, Mode::kRr}) {
    const bool server = m == Mode::kSink || m == Mode::kSource || m == Mode::kEcho;
    EXPECT_EQ(ParseMode(ModeName(m), server), m);
  }
}

// --- JSON ---

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(JsonTest, StringsAreEscaped) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(JsonString(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  // UTF-8 and DEL pass through (RFC 8259 §7 requires escaping only below U+0020).
  EXPECT_EQ(JsonString("caf\xc3\xa9\x7f"), "\"caf\xc3\xa9\x7f\"");
  EXPECT_EQ(JsonString("/"), "\"/\"");
}

TEST(JsonTest, ObjectsKeepTheOrderWritten) {
  JsonObject o;
  EXPECT_TRUE(o.empty());
  EXPECT_EQ(o.str(), "{}");
  o.Add("s", "x").Add("u", uint64_t{18446744073709551615ull}).Add("i", int64_t{-3});
  o.Add("d", 1.5).Add("t", true).Add("f", false).AddNull("n").AddRaw("r", "[1, 2]");
  o.Add("inf", std::numeric_limits<double>::infinity());
  o.Add("nan", std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(o.str(),
            "{\"s\": \"x\", \"u\": 18446744073709551615, \"i\": -3, \"d\": 1.5, \"t\": true, "
            "\"f\": false, \"n\": null, \"r\": [1, 2], \"inf\": null, \"nan\": null}");
  JsonObject k;
  k.Add("we\"ird", 1);
  EXPECT_EQ(k.str(), "{\"we\\\"ird\": 1}");
}

TEST(ReportJsonTest, Connection) {
  ConnectionReport r;
  r.role = "server";
  r.mode = "sink";
  r.local = "192.0.2.2:5000";
  r.remote = "[2001:db8:1::1]:50000";
  r.bytes_rx = 1234;
  r.sha256_rx = "ab";
  r.sha256_tx = "cd";
  r.rx_mbit_s = 2.5;
  r.rx_steady_mbit_s = 3.5;
  std::string json = ConnectionJson(r);
  EXPECT_TRUE(json.starts_with("{\"event\": \"connection\", \"role\": \"server\"")) << json;
  EXPECT_TRUE(Contains(json, "\"local\": \"192.0.2.2:5000\"")) << json;
  EXPECT_TRUE(Contains(json, "\"remote\": \"[2001:db8:1::1]:50000\"")) << json;
  EXPECT_TRUE(Contains(json, "\"bytes_rx\": 1234, \"bytes_tx\": 0")) << json;
  EXPECT_TRUE(Contains(json, "\"sha256_rx\": \"ab\", \"sha256_tx\": \"cd\"")) << json;
  EXPECT_TRUE(Contains(json, "\"rx_mbit_s\": 2.5, \"rx_steady_mbit_s\": 3.5")) << json;
  EXPECT_TRUE(Contains(json, "\"error\": null")) << json;
  EXPECT_TRUE(json.ends_with("\"tcp\": null}")) << json;

  r.error = "reset";
  tcp::TcpInfo info;
  info.sack_enabled = true;
  info.snd_mss = 1448;
  info.congestion_control = "cubic";
  info.srtt = 250us;
  r.tcp = info;
  json = ConnectionJson(r);
  EXPECT_TRUE(Contains(json, "\"error\": \"reset\"")) << json;
  EXPECT_TRUE(Contains(json, "\"tcp\": {\"state\": ")) << json;
  EXPECT_TRUE(Contains(json, "\"sack\": true")) << json;
  EXPECT_TRUE(Contains(json, "\"snd_mss\": 1448")) << json;
  EXPECT_TRUE(Contains(json, "\"congestion_control\": \"cubic\"")) << json;
  EXPECT_TRUE(Contains(json, "\"rtt_us\": 250")) << json;
  EXPECT_TRUE(json.ends_with("}}")) << json;
  EXPECT_EQ(json.find('\n'), std::string::npos);
}

TEST(ReportJsonTest, RequestResponsePercentilesAreNearestRank) {
  RrReport r;
  r.count = 4;
  r.size = 64;
  r.samples = {4us, 1us, 3us, 2us};  // request order; the percentiles sort them
  const std::string json = RrJson(r);
  EXPECT_TRUE(json.starts_with("{\"event\": \"rr\", \"count\": 4, \"size\": 64")) << json;
  EXPECT_TRUE(Contains(json, "\"p50_us\": 2,")) << json;
  EXPECT_TRUE(Contains(json, "\"p90_us\": 4,")) << json;
  EXPECT_TRUE(Contains(json, "\"p99_us\": 4,")) << json;
  EXPECT_TRUE(Contains(json, "\"max_us\": 4,")) << json;
  EXPECT_TRUE(Contains(json, "\"mean_us\": 2.5}")) << json;

  const std::string empty = RrJson({});
  EXPECT_TRUE(Contains(empty, "\"p50_us\": 0,")) << empty;
  EXPECT_TRUE(Contains(empty, "\"mean_us\": 0}")) << empty;
}

}  // namespace
}  // namespace braid::testapp
