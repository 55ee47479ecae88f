// braidctl and kubectl-braid as a person runs them: the real binaries, started as processes,
// their stdout, stderr and exit status checked.
//
// braidctl talks to a TEST DOUBLE of the agent's DebugService (FakeDebugAgent), served by gRPC on
// a unix socket in a temporary directory, answering from a script: connections in three pages, a
// capture of three messages that together are one pcap file (read back with braid_pcap, and by
// tshark's dissector in the Tshark cases, label oracle), errors with the agent's codes, a call
// that outlives its deadline.
//
// kubectl-braid runs with a TEST DOUBLE of kubectl (a shell script first in PATH) that records
// its command lines, answers `get pods` with a canned pod list, and for `exec` either prints
// canned bytes with a chosen exit status or runs the command after `--` for real (the real
// braidctl against the fake agent), so the whole path of `kubectl braid capture -w -` is covered.
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "braid/v1/debug.grpc.pb.h"
#include "braid/v1/debug.pb.h"
#include "datapath/pcap/pcap_reader.h"
#include "datapath/pcap/pcap_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/status.h"

extern char** environ;  // NOLINT: POSIX declares it nowhere

namespace braid::braidctl {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::JsonStringToMessage;
using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kBraidctl[] = BRAIDCTL_BINARY;
constexpr char kKubectlBraid[] = KUBECTL_BRAID_BINARY;
constexpr uint64_t kConnection = 42;
constexpr int kConnections = 5;  // ids 1..5, two per page

// An Ethernet / IPv4 / TCP frame from 192.0.2.<host>:<sport> to 198.51.100.7:<dport>.
std::vector<uint8_t> TcpFrame(uint8_t host, uint16_t sport, uint16_t dport,
                              std::string_view payload) {
  std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00};
  const uint16_t ip_len = static_cast<uint16_t>(20 + 20 + payload.size());
  const size_t ip = f.size();
  f.insert(f.end(), {0x45,
                     0,
                     static_cast<uint8_t>(ip_len >> 8),
                     static_cast<uint8_t>(ip_len),
                     0,
                     1,
                     0x40,
                     0,
                     64,
                     6,
                     0,
                     0,
                     192,
                     0,
                     2,
                     host,
                     198,
                     51,
                     100,
                     7});
  uint32_t sum = 0;  // RFC 791 header checksum
  for (size_t i = ip; i < ip + 20; i += 2) sum += (f[i] << 8) | f[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f[ip + 10] = static_cast<uint8_t>(~sum >> 8);
  f[ip + 11] = static_cast<uint8_t>(~sum);
  f.insert(f.end(), {static_cast<uint8_t>(sport >> 8),
                     static_cast<uint8_t>(sport),
                     static_cast<uint8_t>(dport >> 8),
                     static_cast<uint8_t>(dport),
                     0,
                     0,
                     0,
                     1,
                     0,
                     0,
                     0,
                     0,
                     0x50,
                     0x18,
                     0xff,
                     0xff,
                     0,
                     0,
                     0,
                     0});
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

// The pcap file header, then each record, as separate byte strings: how the agent splits a
// capture into messages (a record never split).
std::vector<std::string> PcapPieces(int records) {
  std::vector<uint8_t> buffer;
  absl::StatusOr<pcap::PcapWriter> writer =
      pcap::PcapWriter::ForBuffer(&buffer, pcap::kLinkTypeEthernet);
  EXPECT_TRUE(writer.ok()) << writer.status();
  std::vector<std::string> pieces = {std::string(buffer.begin(), buffer.end())};
  for (int i = 0; i < records; ++i) {
    const size_t before = buffer.size();
    EXPECT_TRUE(writer
                    ->Write(std::chrono::seconds(1700000000) + std::chrono::milliseconds(i),
                            TcpFrame(static_cast<uint8_t>(10 + i), static_cast<uint16_t>(40000 + i),
                                     443, "hello " + std::to_string(i)))
                    .ok());
    pieces.emplace_back(buffer.begin() + static_cast<std::ptrdiff_t>(before), buffer.end());
  }
  return pieces;
}

// The capture the fake sends for kConnection: the header with the first record, then one record
// per message, the last one with its end reason.
std::vector<v1::CaptureResponse> ScriptedCapture() {
  const std::vector<std::string> pieces = PcapPieces(3);
  std::vector<v1::CaptureResponse> messages(3);
  messages[0].set_pcap_data(pieces[0] + pieces[1]);
  messages[1].set_pcap_data(pieces[2]);
  messages[2].set_pcap_data(pieces[3]);
  for (int i = 0; i < 3; ++i) messages[i].set_packet_count(1);
  messages[2].set_packets_missed(2);
  messages[2].set_end_reason(v1::CAPTURE_END_REASON_PACKET_LIMIT);
  return messages;
}

std::string Concatenated(const std::vector<v1::CaptureResponse>& messages) {
  std::string all;
  for (const v1::CaptureResponse& m : messages) all += m.pcap_data();
  return all;
}

v1::Subflow MakeSubflow(uint64_t connection, uint32_t id) {
  v1::Subflow s;
  s.set_connection_id(connection);
  s.set_id(id);
  s.set_state(v1::SUBFLOW_STATE_ESTABLISHED);
  s.set_initial(id == 0);
  s.set_backup(id == 2);
  s.mutable_local()->set_address("192.0.2." + std::to_string(10 + id));
  s.mutable_local()->set_port(40000 + id);
  s.mutable_remote()->set_address("198.51.100.7");
  s.mutable_remote()->set_port(443);
  s.set_path("path" + std::to_string(id));
  s.set_bytes_sent(1572864ull * (id + 1));
  s.set_bytes_received(512);
  v1::TcpInfo* tcp = s.mutable_tcp();
  tcp->set_state(v1::TCP_STATE_ESTABLISHED);
  *tcp->mutable_srtt() = TimeUtil::MicrosecondsToDuration(12345 + 1000 * id);
  tcp->set_cwnd_bytes(14480);
  (*tcp->mutable_counters())["retransmits"] = 3 + id;
  return s;
}

// TEST DOUBLE of the agent's DebugService: answers from a script and records each request.
class FakeDebugAgent final : public v1::DebugService::Service {
 public:
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                         v1::GetStatusResponse* response) override {
    if (slow_status_.load()) std::this_thread::sleep_for(std::chrono::seconds(2));
    *response = Status();
    return grpc::Status::OK;
  }

  grpc::Status ListPods(grpc::ServerContext*, const v1::ListPodsRequest* request,
                        v1::ListPodsResponse* response) override {
    Record(pod_requests_, *request);
    for (const char* name : {"web-0", "web-1"}) {
      if (!request->pod().name().empty() && request->pod().name() != name) continue;
      v1::Pod* pod = response->add_pods();
      pod->mutable_pod()->set_namespace_("default");
      pod->mutable_pod()->set_name(name);
      pod->set_ifname("eth0");
      pod->mutable_options()->set_scheduler("blest");
      pod->set_connection_count(2);
      v1::PathIpConfig* path = pod->add_paths();
      path->set_path("path0");
      path->add_ips()->set_address(std::string("10.10.0.") + (name[4] == '0' ? "2" : "3") + "/24");
    }
    return grpc::Status::OK;
  }

  // Connections 1..5, two per page; tokens name the next first id. Path "loop" hands out the same
  // token forever.
  grpc::Status ListConnections(grpc::ServerContext*, const v1::ListConnectionsRequest* request,
                               v1::ListConnectionsResponse* response) override {
    Record(connection_requests_, *request);
    if (request->path() == "loop") {
      response->set_next_page_token("again");
      return grpc::Status::OK;
    }
    int first = 1;
    if (!request->page_token().empty()) {
      if (!request->page_token().starts_with("from-")) {
        return proto::ToGrpcStatus(absl::InvalidArgumentError("bad page token"));
      }
      first = std::stoi(request->page_token().substr(5));
    }
    for (int id = first; id < first + 2 && id <= kConnections; ++id) {
      v1::Connection* c = response->add_connections();
      c->set_id(id);
      c->set_worker(id % 2);
      c->mutable_pod()->set_namespace_("default");
      c->mutable_pod()->set_name("web-0");
      c->set_role(v1::CONNECTION_ROLE_CLIENT);
      c->mutable_local()->set_address("192.0.2.10");
      c->mutable_local()->set_port(40000 + id);
      c->mutable_remote()->set_address("198.51.100.7");
      c->mutable_remote()->set_port(443);
      c->set_fully_established(true);
      c->set_subflow_count(1);
      c->set_scheduler("default");
      c->set_bytes_sent(1000 * id);
      if (request->include_subflows()) *c->add_subflows() = MakeSubflow(id, 0);
    }
    if (first + 2 <= kConnections)
      response->set_next_page_token("from-" + std::to_string(first + 2));
    return grpc::Status::OK;
  }

  // kConnection has three subflows, in two pages; any other connection is unknown.
  grpc::Status ListSubflows(grpc::ServerContext*, const v1::ListSubflowsRequest* request,
                            v1::ListSubflowsResponse* response) override {
    Record(subflow_requests_, *request);
    if (request->connection_id() != kConnection) {
      return proto::ToGrpcStatus(
          absl::NotFoundError("no connection " + std::to_string(request->connection_id())));
    }
    if (request->page_token().empty()) {
      *response->add_subflows() = MakeSubflow(kConnection, 0);
      *response->add_subflows() = MakeSubflow(kConnection, 1);
      response->set_next_page_token("rest");
    } else {
      *response->add_subflows() = MakeSubflow(kConnection, 2);
    }
    return grpc::Status::OK;
  }

  grpc::Status ListCounters(grpc::ServerContext*, const v1::ListCountersRequest* request,
                            v1::ListCountersResponse* response) override {
    Record(counter_requests_, *request);
    struct Row {
      const char* subsystem;
      const char* name;
      const char* reason;
      uint64_t value;
    };
    for (const Row& row :
         {Row{"mptcp", "mp_capable_syn_tx", "", 7}, Row{"mptcp", "mp_join_syn_rx", "", 0},
          Row{"net", "drops", "truncated", 3}, Row{"tcp", "retransmits", "", 0}}) {
      if (request->subsystems_size() > 0 &&
          std::find(request->subsystems().begin(), request->subsystems().end(), row.subsystem) ==
              request->subsystems().end()) {
        continue;
      }
      if (row.value == 0 && !request->include_zero()) continue;
      v1::Counter* c = response->add_counters();
      c->set_subsystem(row.subsystem);
      c->set_name(row.name);
      c->set_reason(row.reason);
      c->set_value(row.value);
      c->set_help(std::string("help for ") + row.name);
      if (request->per_worker()) c->set_worker(1);
    }
    *response->mutable_read_time() = TimeUtil::SecondsToTimestamp(1700000000);
    return grpc::Status::OK;
  }

  // kConnection: ScriptedCapture(). Path "slow": the file header, then a record every 20 ms until
  // the client cancels. Anything else is unknown.
  grpc::Status Capture(grpc::ServerContext* context, const v1::CaptureRequest* request,
                       grpc::ServerWriter<v1::CaptureResponse>* writer) override {
    Record(capture_requests_, *request);
    if (request->target_case() == v1::CaptureRequest::kPath && request->path() == "slow") {
      const std::vector<std::string> pieces = PcapPieces(200);
      v1::CaptureResponse message;
      message.set_pcap_data(pieces[0]);
      writer->Write(message);
      for (size_t i = 1; i < pieces.size() && !context->IsCancelled(); ++i) {
        message.set_pcap_data(pieces[i]);
        message.set_packet_count(1);
        if (!writer->Write(message)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      saw_cancel_.store(context->IsCancelled());
      return grpc::Status::OK;
    }
    if (request->target_case() != v1::CaptureRequest::kConnectionId ||
        request->connection_id() != kConnection) {
      return proto::ToGrpcStatus(
          absl::NotFoundError("no connection " + std::to_string(request->connection_id())));
    }
    for (const v1::CaptureResponse& message : ScriptedCapture()) {
      if (!writer->Write(message)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status GetLogLevel(grpc::ServerContext*, const v1::GetLogLevelRequest* request,
                           v1::GetLogLevelResponse* response) override {
    std::lock_guard lock(mu_);
    const auto it = levels_.find(request->component());
    if (it == levels_.end()) return UnknownComponent(request->component());
    response->set_component(request->component());
    response->set_level(it->second);
    return grpc::Status::OK;
  }

  grpc::Status SetLogLevel(grpc::ServerContext*, const v1::SetLogLevelRequest* request,
                           v1::SetLogLevelResponse* response) override {
    std::lock_guard lock(mu_);
    const auto it = levels_.find(request->component());
    if (it == levels_.end()) return UnknownComponent(request->component());
    response->set_previous_level(it->second);
    it->second = request->level();
    return grpc::Status::OK;
  }

  static v1::GetStatusResponse Status() {
    v1::GetStatusResponse s;
    s.set_version("0.1.0-fake");
    s.set_node_name("node-a");
    *s.mutable_start_time() = TimeUtil::SecondsToTimestamp(1700000000);
    *s.mutable_uptime() = TimeUtil::MillisecondsToDuration(90500);
    s.set_pod_count(2);
    s.set_connection_count(kConnections);
    for (uint32_t id = 0; id < 2; ++id) {
      v1::WorkerStatus* w = s.add_workers();
      w->set_id(id);
      w->set_lcore(id + 2);
      w->set_iterations(1000);
      w->set_busy_iterations(250);
      *w->mutable_cpu_time() = TimeUtil::MillisecondsToDuration(250);
    }
    v1::PathStatus* p = s.add_paths();
    p->set_name("path0");
    p->set_port("net_af_packet0,iface=veth0");
    p->set_mac("02:00:00:00:00:01");
    p->set_mtu(1500);
    p->add_addresses("192.0.2.2/24");
    p->set_link_state(v1::LINK_STATE_UP);
    p->set_speed_mbps(10000);
    p->mutable_counters()->set_rx_packets(5);
    p->mutable_counters()->set_rx_bytes(1536);
    return s;
  }

  void set_slow_status(bool slow) { slow_status_.store(slow); }
  bool saw_cancel() const { return saw_cancel_.load(); }
  std::vector<v1::ListPodsRequest> pod_requests() const { return Get(pod_requests_); }
  std::vector<v1::ListConnectionsRequest> connection_requests() const {
    return Get(connection_requests_);
  }
  std::vector<v1::ListSubflowsRequest> subflow_requests() const { return Get(subflow_requests_); }
  std::vector<v1::ListCountersRequest> counter_requests() const { return Get(counter_requests_); }
  std::vector<v1::CaptureRequest> capture_requests() const { return Get(capture_requests_); }
  v1::LogLevel level(const std::string& component) const {
    std::lock_guard lock(mu_);
    return levels_.at(component);
  }

 private:
  static grpc::Status UnknownComponent(const std::string& component) {
    return proto::ToGrpcStatus(absl::NotFoundError("no log component \"" + component + "\""));
  }
  template <typename T>
  void Record(std::vector<T>& list, const T& request) {
    std::lock_guard lock(mu_);
    list.push_back(request);
  }
  template <typename T>
  std::vector<T> Get(const std::vector<T>& list) const {
    std::lock_guard lock(mu_);
    return list;
  }

  mutable std::mutex mu_;
  std::map<std::string, v1::LogLevel> levels_ = {{"", v1::LOG_LEVEL_INFO},
                                                 {"dpdk", v1::LOG_LEVEL_WARNING}};
  std::vector<v1::ListPodsRequest> pod_requests_;
  std::vector<v1::ListConnectionsRequest> connection_requests_;
  std::vector<v1::ListSubflowsRequest> subflow_requests_;
  std::vector<v1::ListCountersRequest> counter_requests_;
  std::vector<v1::CaptureRequest> capture_requests_;
  std::atomic<bool> slow_status_{false};
  std::atomic<bool> saw_cancel_{false};
};

// One finished run of a program.
struct ProcessRun {
  int exit_status = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

// This process's environment with `overrides` applied (an empty value removes the variable).
std::vector<std::string> Environment(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text(*entry);
    const size_t equals = text.find('=');
    if (equals != std::string::npos) env[text.substr(0, equals)] = text.substr(equals + 1);
  }
  env.erase("BRAID_SOCKET");
  for (const auto& [name, value] : overrides) {
    if (value.empty()) {
      env.erase(name);
    } else {
      env[name] = value;
    }
  }
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  return entries;
}

class BraidctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/braidctl-test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    socket_ = (dir_ / "agent.sock").string();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(&agent_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    fs::remove_all(dir_);
  }

  // Starts `argv` with stdout and stderr into files of the test's directory, or stdout on
  // `stdout_fd` when one is given.
  pid_t Start(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              int stdout_fd = -1) {
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (std::string& a : args) argp.push_back(a.data());
    argp.push_back(nullptr);
    std::vector<std::string> entries = Environment(env);
    std::vector<char*> envp;
    for (std::string& e : entries) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (stdout_fd >= 0) {
      posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    } else {
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir_ / "stdout").c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (dir_ / "stderr").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    const int error =
        ::posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(error, 0) << "cannot start " << args[0];
    return error == 0 ? pid : -1;
  }

  ProcessRun Finish(pid_t pid) {
    ProcessRun run;
    if (pid < 0) return run;
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    run.out = ReadFile(dir_ / "stdout");
    run.err = ReadFile(dir_ / "stderr");
    return run;
  }

  // braidctl --socket <the fake's> ARGS...
  ProcessRun Braidctl(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), {kBraidctl, "--socket", socket_});
    return Finish(Start(args, env));
  }

  template <typename Message>
  Message ParseJson(const ProcessRun& run) {
    Message message;
    const auto status = JsonStringToMessage(run.out, &message);
    EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << run.out;
    return message;
  }

  fs::path dir_;
  std::string socket_;
  FakeDebugAgent agent_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(BraidctlTest, StatusTableAndJson) {
  ProcessRun run = Braidctl({"status"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_THAT(run.out, HasSubstr("version:      0.1.0-fake\n"));
  EXPECT_THAT(run.out, HasSubstr("node:         node-a\n"));
  EXPECT_THAT(run.out, HasSubstr("uptime:       1m30s\n"));
  EXPECT_THAT(run.out, HasSubstr("WORKER  LCORE  ITERATIONS   BUSY"));
  EXPECT_THAT(run.out, HasSubstr("     1      3        1000  25.0%"));
  EXPECT_THAT(run.out, HasSubstr("path0  up    10Gb/s           5   1.5 KiB"));

  run = Braidctl({"status", "-o", "json"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_TRUE(
      MessageDifferencer::Equals(ParseJson<v1::GetStatusResponse>(run), FakeDebugAgent::Status()))
      << run.out;
  EXPECT_THAT(run.out, HasSubstr("\"podCount\": 2")) << "one indented document";
}

TEST_F(BraidctlTest, PathsTableAndJson) {
  ProcessRun run = Braidctl({"paths", "--raw"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("PATH   PORT                        MAC"));
  EXPECT_THAT(run.out, HasSubstr("path0  net_af_packet0,iface=veth0  02:00:00:00:00:01  up"));
  EXPECT_THAT(run.out, HasSubstr("  5      1536  "));
  run = Braidctl({"-o", "json", "paths"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  const v1::GetStatusResponse paths = ParseJson<v1::GetStatusResponse>(run);
  ASSERT_EQ(paths.paths_size(), 1);
  EXPECT_TRUE(MessageDifferencer::Equals(paths.paths(0), FakeDebugAgent::Status().paths(0)));
  EXPECT_EQ(paths.version(), "") << "the paths alone";
}

TEST_F(BraidctlTest, PodsPassTheirFilter) {
  ProcessRun run = Braidctl({"pods", "--namespace", "default", "--name", "web-1"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("NAMESPACE  NAME   IFNAME  SCHEDULER"));
  EXPECT_THAT(run.out, HasSubstr("default    web-1  eth0    blest"));
  EXPECT_THAT(run.out, HasSubstr("path0=10.10.0.3/24\n"));
  EXPECT_THAT(run.out, Not(HasSubstr("web-0")));
  ASSERT_EQ(agent_.pod_requests().size(), 1u);
  EXPECT_EQ(agent_.pod_requests()[0].pod().namespace_(), "default");
  EXPECT_EQ(agent_.pod_requests()[0].pod().name(), "web-1");
}

TEST_F(BraidctlTest, ConnectionsFollowEveryPage) {
  ProcessRun run = Braidctl({"connections", "--pod", "default/web-0", "--path", "path0"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  for (int id = 1; id <= kConnections; ++id) {
    EXPECT_THAT(run.out, HasSubstr("\n " + std::to_string(id) + "       " + std::to_string(id % 2) +
                                   "  default/web-0  client  192.0.2.10:4000" + std::to_string(id)))
        << run.out;
  }
  const std::vector<v1::ListConnectionsRequest> requests = agent_.connection_requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].page_token(), "");
  EXPECT_EQ(requests[1].page_token(), "from-3");
  EXPECT_EQ(requests[2].page_token(), "from-5");
  for (const v1::ListConnectionsRequest& r : requests) {
    EXPECT_EQ(r.pod().namespace_(), "default");
    EXPECT_EQ(r.pod().name(), "web-0");
    EXPECT_EQ(r.path(), "path0");
    EXPECT_FALSE(r.include_subflows());
  }

  run = Braidctl({"connections", "--subflows", "-o", "json"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  const v1::ListConnectionsResponse all = ParseJson<v1::ListConnectionsResponse>(run);
  ASSERT_EQ(all.connections_size(), kConnections);
  for (int i = 0; i < kConnections; ++i) {
    EXPECT_EQ(all.connections(i).id(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(all.connections(i).subflows_size(), 1);
  }
  EXPECT_EQ(all.next_page_token(), "");
  EXPECT_TRUE(agent_.connection_requests().back().include_subflows());

  run = Braidctl({"connections", "--subflows"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("\nCONN  ID  STATE"));
  EXPECT_THAT(run.out, HasSubstr("\n   5   0  established  initial  192.0.2.10:40000"));
}

TEST_F(BraidctlTest, PagingThatNeverEndsIsAnError) {
  const ProcessRun run = Braidctl({"connections", "--path", "loop"});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "braidctl: connections: INTERNAL: the agent repeated page token \"again\": paging "
            "would not end\n");
  EXPECT_EQ(agent_.connection_requests().size(), 2u);
}

TEST_F(BraidctlTest, SubflowsOfAConnection) {
  ProcessRun run = Braidctl({"subflows", "42"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("CONN  ID  STATE        FLAGS    LOCAL             REMOTE"));
  EXPECT_THAT(run.out, HasSubstr("RTT(ms)      CWND     SENT  RECEIVED  RETRANS\n"));
  EXPECT_THAT(run.out, HasSubstr("  42   0  established  initial  192.0.2.10:40000  "
                                 "198.51.100.7:443  path0  ESTABLISHED    12.35  14.1 KiB  "
                                 "1.5 MiB     512 B        3\n"));
  EXPECT_THAT(run.out, HasSubstr("  42   1  established  -        192.0.2.11:40001"));
  EXPECT_THAT(run.out, HasSubstr("  42   2  established  backup   192.0.2.12:40002  "
                                 "198.51.100.7:443  path2  ESTABLISHED    14.35  14.1 KiB  "
                                 "4.5 MiB     512 B        5\n"))
      << "the second page";
  const std::vector<v1::ListSubflowsRequest> requests = agent_.subflow_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].connection_id(), kConnection);
  EXPECT_EQ(requests[1].page_token(), "rest");

  run = Braidctl({"subflows", "42", "--raw"});
  EXPECT_THAT(run.out, HasSubstr("12.35  14480  1572864       512        3\n"));

  run = Braidctl({"subflows", "42", "-o", "json"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  const v1::ListSubflowsResponse subflows = ParseJson<v1::ListSubflowsResponse>(run);
  ASSERT_EQ(subflows.subflows_size(), 3);
  EXPECT_TRUE(MessageDifferencer::Equals(subflows.subflows(2), MakeSubflow(kConnection, 2)));
}

TEST_F(BraidctlTest, UnknownConnectionIsTheAgentsNotFound) {
  ProcessRun run = Braidctl({"subflows", "7"});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "braidctl: subflows: NOT_FOUND: no connection 7\n");
  run = Braidctl({"-o", "json", "subflows", "7"});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.out, "") << "no half document";
}

TEST_F(BraidctlTest, CountersHideZerosUnlessAll) {
  ProcessRun run = Braidctl({"counters"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out,
            "COUNTER                                    VALUE  HELP\n"
            "braid_mptcp_mp_capable_syn_tx_total            7  help for mp_capable_syn_tx\n"
            "braid_net_drops_total{reason=\"truncated\"}      3  help for drops\n");
  EXPECT_FALSE(agent_.counter_requests().back().include_zero());

  run = Braidctl({"counters", "--all", "--subsystem", "mptcp", "--per-worker"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("braid_mptcp_mp_join_syn_rx_total          1      0"));
  EXPECT_THAT(run.out, Not(HasSubstr("braid_net")));
  const v1::ListCountersRequest request = agent_.counter_requests().back();
  EXPECT_TRUE(request.include_zero());
  EXPECT_TRUE(request.per_worker());
  EXPECT_THAT(request.subsystems(), ElementsAre("mptcp"));

  run = Braidctl({"counters", "-o", "json", "--subsystem=net,tcp"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  const v1::ListCountersResponse counters = ParseJson<v1::ListCountersResponse>(run);
  ASSERT_EQ(counters.counters_size(), 1);
  EXPECT_EQ(counters.counters(0).reason(), "truncated");
  EXPECT_FALSE(counters.counters(0).has_worker());
}

TEST_F(BraidctlTest, CaptureWritesOnePcapFile) {
  const fs::path file = dir_ / "conn.pcap";
  const ProcessRun run =
      Braidctl({"capture", "--connection", "42", "--count", "3", "--bytes", "64K", "--duration",
                "10s", "--snaplen", "128", "-w", file.string()});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, "");
  const std::string expected = Concatenated(ScriptedCapture());
  EXPECT_EQ(run.err, "braidctl: capture: 3 packets (" + std::to_string(expected.size()) +
                         " B) written to " + file.string() +
                         "; ended: packet limit reached; 2 packets missed (the agent's capture "
                         "buffer was full)\n");
  const std::string bytes = ReadFile(file);
  EXPECT_EQ(bytes, expected);

  // Our own reader checks every header and record.
  absl::StatusOr<pcap::PcapReader> reader = pcap::PcapReader::Open(file.string());
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE(reader->header().nanosecond);
  EXPECT_EQ(reader->linktype(), pcap::kLinkTypeEthernet);
  pcap::PcapRecord record;
  int records = 0;
  while (reader->Next(record)) ++records;
  EXPECT_TRUE(reader->status().ok()) << reader->status();
  EXPECT_EQ(records, 3);

  ASSERT_EQ(agent_.capture_requests().size(), 1u);
  const v1::CaptureRequest request = agent_.capture_requests()[0];
  EXPECT_EQ(request.connection_id(), kConnection);
  EXPECT_EQ(request.max_packets(), 3u);
  EXPECT_EQ(request.max_bytes(), 65536u);
  EXPECT_EQ(TimeUtil::DurationToSeconds(request.max_duration()), 10);
  EXPECT_EQ(request.snaplen(), 128u);
}

TEST_F(BraidctlTest, CaptureToStdoutAndJsonSummary) {
  ProcessRun run = Braidctl({"capture", "--connection", "42", "--count", "3", "-w", "-"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, Concatenated(ScriptedCapture()));
  EXPECT_THAT(run.err, HasSubstr("written to stdout; ended: packet limit reached"));

  const fs::path file = dir_ / "c.pcap";
  run = Braidctl(
      {"-o", "json", "capture", "--connection", "42", "--count", "3", "-w", file.string()});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  const v1::CaptureResponse summary = ParseJson<v1::CaptureResponse>(run);
  EXPECT_EQ(summary.packet_count(), 3u);
  EXPECT_EQ(summary.packets_missed(), 2u);
  EXPECT_EQ(summary.end_reason(), v1::CAPTURE_END_REASON_PACKET_LIMIT);
  EXPECT_EQ(summary.pcap_data(), "");
}

TEST_F(BraidctlTest, CaptureOfAnUnknownConnectionLeavesNoFile) {
  const fs::path file = dir_ / "none.pcap";
  const ProcessRun run =
      Braidctl({"capture", "--connection", "7", "--count", "1", "-w", file.string()});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.err, "braidctl: capture: NOT_FOUND: no connection 7\n");
  EXPECT_FALSE(fs::exists(file));
}

TEST_F(BraidctlTest, CaptureEndsCleanlyOnSigint) {
  const fs::path file = dir_ / "slow.pcap";
  const pid_t pid = Start({kBraidctl, "--socket", socket_, "capture", "--path", "slow",
                           "--duration", "60s", "-w", file.string()},
                          {});
  ASSERT_GT(pid, 0);
  // Wait for a few records, then interrupt as Ctrl-C would.
  for (int i = 0; i < 500; ++i) {
    std::error_code ec;
    if (fs::file_size(file, ec) > pcap::kFileHeaderLen + 200 && !ec) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  const ProcessRun run = Finish(pid);
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("; ended: interrupted\n"));
  absl::StatusOr<pcap::PcapReader> reader = pcap::PcapReader::Open(file.string());
  ASSERT_TRUE(reader.ok()) << reader.status();
  pcap::PcapRecord record;
  int records = 0;
  while (reader->Next(record)) ++records;
  EXPECT_TRUE(reader->status().ok()) << "no record cut short: " << reader->status();
  EXPECT_GE(records, 3);
  EXPECT_LT(records, 200);
  for (int i = 0; i < 200 && !agent_.saw_cancel(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(agent_.saw_cancel()) << "the agent's stream was cancelled";
}

// `braidctl capture -w - | head -c 300`: the reader goes away, braidctl ends quietly.
TEST_F(BraidctlTest, CaptureEndsWhenTheReaderGoesAway) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  const pid_t pid = Start(
      {kBraidctl, "--socket", socket_, "capture", "--path", "slow", "--duration", "60s", "-w", "-"},
      {}, pipe_fds[1]);
  ::close(pipe_fds[1]);
  ASSERT_GT(pid, 0);
  std::string head;
  char buffer[64];
  while (head.size() < 300) {
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    head.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  const ProcessRun run = Finish(pid);
  EXPECT_GE(head.size(), 300u);
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("written to stdout; ended: the output was closed\n"));
}

// A pcap on a terminal helps nobody: -w - refuses one.
TEST_F(BraidctlTest, CaptureRefusesATerminal) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0) GTEST_SKIP() << "no pseudo-terminal here";
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const int terminal = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(terminal, 0);
  const pid_t pid = Start(
      {kBraidctl, "--socket", socket_, "capture", "--connection", "42", "--count", "3", "-w", "-"},
      {}, terminal);
  ::close(terminal);
  const ProcessRun run = Finish(pid);
  ::close(master);
  EXPECT_EQ(run.exit_status, 2);
  EXPECT_THAT(run.err, HasSubstr("refusing to write pcap bytes to a terminal"));
  EXPECT_TRUE(agent_.capture_requests().empty()) << "nothing asked of the agent";
}

// tshark's dissector reads the capture braidctl wrote: three TCP segments with their addresses
// and ports.
TEST_F(BraidctlTest, TsharkReadsTheCapture) {
  if (::access("/usr/bin/tshark", X_OK) != 0) {
    GTEST_SKIP() << "needs tshark (apt-get install tshark)";
  }
  const fs::path file = dir_ / "tshark.pcap";
  ProcessRun run = Braidctl({"capture", "--connection", "42", "--count", "3", "-w", file.string()});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  run = Finish(Start({"/usr/bin/tshark", "-r", file.string(), "-T", "fields", "-e", "ip.src", "-e",
                      "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len"},
                     {{"HOME", dir_.string()}}));
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out,
            "192.0.2.10\t40000\t443\t7\n"
            "192.0.2.11\t40001\t443\t7\n"
            "192.0.2.12\t40002\t443\t7\n");
}

TEST_F(BraidctlTest, LogLevelGetAndSet) {
  ProcessRun run = Braidctl({"log-level"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, "agent: info\n");
  run = Braidctl({"log-level", "--component", "dpdk", "debug"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, "dpdk: debug (was warning)\n");
  EXPECT_EQ(agent_.level("dpdk"), v1::LOG_LEVEL_DEBUG);
  run = Braidctl({"log-level", "--component", "dpdk", "-o", "json"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(ParseJson<v1::GetLogLevelResponse>(run).level(), v1::LOG_LEVEL_DEBUG);
  run = Braidctl({"log-level", "--component", "flux"});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.err, "braidctl: log-level: NOT_FOUND: no log component \"flux\"\n");
}

TEST_F(BraidctlTest, VersionOfBothSides) {
  ProcessRun run = Braidctl({"version"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, ::testing::MatchesRegex("braidctl [0-9]+\\.[0-9]+\\.[0-9]+\n"
                                               "braid-agent 0\\.1\\.0-fake \\(node node-a\\)\n"));
  run = Braidctl({"version", "--client", "--socket", (dir_ / "nobody.sock").string()});
  EXPECT_EQ(run.exit_status, 0) << "--client asks no agent";
}

TEST_F(BraidctlTest, SocketFromTheEnvironment) {
  const ProcessRun run = Finish(Start({kBraidctl, "log-level"}, {{"BRAID_SOCKET", socket_}}));
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, "agent: info\n");
}

TEST_F(BraidctlTest, AgentDownGetsAHint) {
  const std::string missing = (dir_ / "nobody.sock").string();
  const ProcessRun run = Finish(Start({kBraidctl, "--socket", missing, "status"}, {}));
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_THAT(run.err, ::testing::StartsWith("braidctl: status: UNAVAILABLE: "));
  EXPECT_THAT(run.err, HasSubstr("\nbraidctl: is braid-agent running? socket " + missing + "\n"));
}

TEST_F(BraidctlTest, DeadlineFromTimeout) {
  agent_.set_slow_status(true);
  const auto start = std::chrono::steady_clock::now();
  const ProcessRun run = Braidctl({"status", "--timeout", "200ms"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1900));
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.err, ::testing::StartsWith("braidctl: status: DEADLINE_EXCEEDED: "));
  EXPECT_THAT(run.err, Not(HasSubstr("is braid-agent running")));
}

TEST_F(BraidctlTest, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {}, {"frobnicate"}, {"status", "--bogus"}, {"capture", "--path", "p", "-w", "x"}}) {
    const ProcessRun run = Finish(Start(
        [&] {
          std::vector<std::string> argv = {kBraidctl};
          argv.insert(argv.end(), args.begin(), args.end());
          return argv;
        }(),
        {}));
    EXPECT_EQ(run.exit_status, 2) << run.err;
    EXPECT_EQ(run.out, "");
    EXPECT_THAT(run.err, ::testing::StartsWith("braidctl: "));
    EXPECT_THAT(run.err, HasSubstr("\n\nusage: braidctl ")) << run.err;
  }
  const ProcessRun run = Finish(Start({kBraidctl, "capture", "--path", "p", "-w", "x"}, {}));
  EXPECT_THAT(run.err,
              ::testing::StartsWith("braidctl: capture: needs a limit: --count, --bytes or "
                                    "--duration\n"));
  const ProcessRun help = Finish(Start({kBraidctl, "--help"}, {}));
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_THAT(help.out, ::testing::StartsWith("usage: braidctl "));
}

// kubectl-braid with the fake kubectl. Its pod list has agents on node-a and node-b.
class KubectlBraidTest : public BraidctlTest {
 protected:
  void SetUp() override {
    BraidctlTest::SetUp();
    bin_ = dir_ / "bin";
    fs::create_directory(bin_);
    std::ofstream(bin_ / "kubectl") << R"(#!/bin/sh
# TEST DOUBLE of kubectl: records its command line, then answers.
{ for arg in "$@"; do printf '%s\n' "$arg"; done; echo '==='; } >> "$FAKE_KUBECTL_DIR/calls"
for arg in "$@"; do
  case "$arg" in
    get)
      if [ -n "$FAKE_KUBECTL_GET_FAILS" ]; then
        echo 'error: You must be logged in to the server (Unauthorized)' >&2
        exit 1
      fi
      cat "$FAKE_KUBECTL_DIR/pods.json"
      exit 0;;
    exec)
      if [ -n "$FAKE_KUBECTL_EXEC_FOR_REAL" ]; then
        while [ "$1" != "--" ]; do shift; done
        shift
        exec "$@"
      fi
      printf 'out\000\377bytes'
      echo 'from the pod' >&2
      exit "${FAKE_KUBECTL_EXEC_EXIT:-0}";;
  esac
done
echo "fake kubectl: no verb" >&2
exit 64
)";
    fs::permissions(bin_ / "kubectl", fs::perms::owner_all);
    SetPods({{"braid-agent-aaaaa", "node-a"}, {"braid-agent-bbbbb", "node-b"}});
  }

  void SetPods(const std::vector<std::pair<std::string, std::string>>& pods) {
    std::ofstream json(dir_ / "pods.json");
    json << R"({"apiVersion": "v1", "kind": "List", "items": [)";
    for (size_t i = 0; i < pods.size(); ++i) {
      json << (i > 0 ? ", " : "") << R"({"metadata": {"name": ")" << pods[i].first
           << R"("}, "spec": {"nodeName": ")" << pods[i].second
           << R"("}, "status": {"phase": "Running"}})";
    }
    json << "]}\n";
  }

  ProcessRun KubectlBraid(std::vector<std::string> args,
                          std::map<std::string, std::string> env = {}, bool with_kubectl = true) {
    args.insert(args.begin(), kKubectlBraid);
    const std::string braidctl_dir = fs::path(kBraidctl).parent_path().string();
    // Without the fake, nothing else may answer to "kubectl" (a real one may be installed).
    env["PATH"] =
        with_kubectl ? bin_.string() + ":" + braidctl_dir + ":/usr/bin:/bin" : braidctl_dir;
    env["FAKE_KUBECTL_DIR"] = dir_.string();
    env["BRAID_SOCKET"] = socket_;  // for braidctl when the fake runs it for real
    return Finish(Start(args, env));
  }

  // Each kubectl command line, in order.
  std::vector<std::vector<std::string>> Calls() const {
    std::vector<std::vector<std::string>> calls(1);
    std::istringstream in(ReadFile(dir_ / "calls"));
    for (std::string line; std::getline(in, line);) {
      if (line == "===") {
        calls.emplace_back();
      } else {
        calls.back().push_back(line);
      }
    }
    calls.pop_back();
    return calls;
  }

  fs::path bin_;
};

TEST_F(KubectlBraidTest, ExecsBraidctlInTheNodesAgentPod) {
  const ProcessRun run =
      KubectlBraid({"--node", "node-b", "--context", "prod", "-o", "json", "status"});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, std::string("out\0\377bytes", 10)) << "stdout passes through, bytes intact";
  EXPECT_EQ(run.err, "from the pod\n");
  const std::vector<std::vector<std::string>> calls = Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_THAT(calls[0], ElementsAre("--context", "prod", "get", "pods", "-n", "braid-system", "-l",
                                    "app.kubernetes.io/name=braid-agent", "--field-selector",
                                    "spec.nodeName=node-b", "-o", "json"));
  EXPECT_THAT(calls[1],
              ElementsAre("--context", "prod", "exec", "-n", "braid-system", "braid-agent-bbbbb",
                          "-c", "braid-agent", "--", "braidctl", "-o", "json", "status"));
}

TEST_F(KubectlBraidTest, ExitStatusComesFromThePod) {
  const ProcessRun run =
      KubectlBraid({"--node", "node-a", "subflows", "7"}, {{"FAKE_KUBECTL_EXEC_EXIT", "3"}});
  EXPECT_EQ(run.exit_status, 3);
  ASSERT_EQ(Calls().size(), 2u);
  EXPECT_EQ(Calls()[1][3], "braid-agent-aaaaa");
}

TEST_F(KubectlBraidTest, TheOnlyPodNeedsNoNode) {
  SetPods({{"braid-agent-solo", "node-s"}});
  const ProcessRun run = KubectlBraid({"-n", "kube-braid", "counters"});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  const std::vector<std::vector<std::string>> calls = Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_THAT(calls[0], ElementsAre("get", "pods", "-n", "kube-braid", "-l",
                                    "app.kubernetes.io/name=braid-agent", "-o", "json"));
  EXPECT_THAT(calls[1], ElementsAre("exec", "-n", "kube-braid", "braid-agent-solo", "-c",
                                    "braid-agent", "--", "braidctl", "counters"));
}

TEST_F(KubectlBraidTest, SeveralPodsWithoutANodeIsAnError) {
  const ProcessRun run = KubectlBraid({"status"});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "kubectl-braid: 2 braid-agent pods in namespace braid-system (label "
            "app.kubernetes.io/name=braid-agent), on nodes node-a, node-b: choose one with --node "
            "NODE\n");
  EXPECT_EQ(Calls().size(), 1u) << "no exec";
}

TEST_F(KubectlBraidTest, NoPodIsAnError) {
  SetPods({});
  ProcessRun run = KubectlBraid({"status"});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.err,
            "kubectl-braid: no braid-agent pod in namespace braid-system (label "
            "app.kubernetes.io/name=braid-agent)\n");
  SetPods({{"braid-agent-aaaaa", "node-a"}});
  run = KubectlBraid({"--node", "node-z", "status"});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.err, HasSubstr("no braid-agent pod on node node-z"));
  EXPECT_EQ(Calls().size(), 2u) << "two lists, no exec";
}

TEST_F(KubectlBraidTest, KubectlFailuresAreReported) {
  ProcessRun run = KubectlBraid({"status"}, {{"FAKE_KUBECTL_GET_FAILS", "1"}});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.err,
            "error: You must be logged in to the server (Unauthorized)\n"
            "kubectl-braid: `kubectl get pods -n braid-system` failed (exit status 1)\n");
  run = KubectlBraid({"status"}, {}, /*with_kubectl=*/false);
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.err, "kubectl-braid: cannot run kubectl: No such file or directory\n");
}

TEST_F(KubectlBraidTest, UsageErrorsAndHelp) {
  ProcessRun run = KubectlBraid({"--node", "node-a"});
  EXPECT_EQ(run.exit_status, 2);
  EXPECT_THAT(run.err, ::testing::StartsWith("kubectl-braid: no command\n\nusage: kubectl braid"));
  EXPECT_FALSE(fs::exists(dir_ / "calls")) << "kubectl not run";
  run = KubectlBraid({"--help"});
  EXPECT_EQ(run.exit_status, 0);
  EXPECT_THAT(run.out, ::testing::StartsWith("usage: kubectl braid"));
}

// The whole path: kubectl-braid → (fake) kubectl exec → the real braidctl → the fake agent, with
// a capture's pcap bytes on stdout and the agent's error as the exit status.
TEST_F(KubectlBraidTest, RealBraidctlBehindExec) {
  ProcessRun run =
      KubectlBraid({"--node", "node-a", "capture", "--connection", "42", "--count", "3", "-w", "-"},
                   {{"FAKE_KUBECTL_EXEC_FOR_REAL", "1"}});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, Concatenated(ScriptedCapture()));
  EXPECT_THAT(run.err, HasSubstr("written to stdout; ended: packet limit reached"));
  run = KubectlBraid({"--node", "node-a", "subflows", "7"}, {{"FAKE_KUBECTL_EXEC_FOR_REAL", "1"}});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_EQ(run.err, "braidctl: subflows: NOT_FOUND: no connection 7\n");
}

}  // namespace
}  // namespace braid::braidctl

// Exits 77 (CTest: skipped) when every test that ran was skipped (tshark missing), so the case
// reports skipped rather than passed.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  if (rc == 0 && unit.test_to_run_count() > 0 && unit.skipped_test_count() > 0 &&
      unit.successful_test_count() == 0) {
    return 77;
  }
  return rc;
}
