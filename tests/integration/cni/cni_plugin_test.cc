// braid-cni as a CNI runtime runs it: the real binary, CNI_* in its environment and the network
// configuration on stdin, with Debian's real host-local (containernetworking-plugins) as its IPAM
// and a TEST DOUBLE of the agent's CniService (FakeAgent) served by gRPC on a unix socket in a
// temporary directory, recording what it is asked and answering as a test tells it. Leases are
// checked where host-local keeps them (one file per address in <dataDir>/<network name>/).
// Chained mode runs the reference loopback and bridge plugins for real in network namespaces
// (root). A case that cannot run here says why and is skipped (exit 77 when all were).
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "braid/v1/cni.grpc.pb.h"
#include "braid/v1/cni.pb.h"
#include "cni/env.h"
#include "cni/json.h"
#include "cni/process.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

namespace fs = std::filesystem;

constexpr char kPlugin[] = BRAID_CNI_BINARY;
constexpr char kPluginDir[] = BRAID_CNI_PLUGIN_DIR;
constexpr char kContainer[] = "c1";
constexpr char kIfname[] = "eth0";

// TEST DOUBLE of the agent's CniService: attachments in a set; errors and readiness as told.
class FakeAgent final : public v1::CniService::Service {
 public:
  grpc::Status Add(grpc::ServerContext*, const v1::CniAddRequest* request,
                   v1::CniAddResponse* response) override {
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard lock(mu_);
      adds_.push_back(*request);
      delay = add_delay_;
      if (add_error_) return *add_error_;
      attachments_.insert(Key(request->attachment()));
    }
    std::this_thread::sleep_for(delay);
    response->set_socket_path("@braid/node");
    response->set_endpoint_service_address("unix-abstract:braid/endpoint");
    *response->mutable_paths() = request->paths();
    return grpc::Status::OK;
  }
  grpc::Status Del(grpc::ServerContext*, const v1::CniDelRequest* request,
                   v1::CniDelResponse*) override {
    std::lock_guard lock(mu_);
    dels_.push_back(*request);
    if (attachments_.erase(Key(request->attachment())) == 0) {
      return proto::ToGrpcStatus(
          absl::NotFoundError("no attachment " + Key(request->attachment())));
    }
    return grpc::Status::OK;
  }
  grpc::Status Check(grpc::ServerContext*, const v1::CniCheckRequest* request,
                     v1::CniCheckResponse*) override {
    std::lock_guard lock(mu_);
    checks_.push_back(*request);
    if (!attachments_.contains(Key(request->attachment()))) {
      return proto::ToGrpcStatus(
          absl::NotFoundError("no attachment " + Key(request->attachment())));
    }
    return grpc::Status::OK;
  }
  grpc::Status Status(grpc::ServerContext*, const v1::CniStatusRequest* request,
                      v1::CniStatusResponse* response) override {
    std::lock_guard lock(mu_);
    statuses_.push_back(*request);
    response->set_readiness(readiness_);
    if (readiness_ != v1::CNI_READINESS_READY) response->set_message("datapath starting");
    return grpc::Status::OK;
  }
  grpc::Status Gc(grpc::ServerContext*, const v1::CniGcRequest* request,
                  v1::CniGcResponse* response) override {
    std::lock_guard lock(mu_);
    gcs_.push_back(*request);
    std::set<std::string> valid;
    for (const v1::CniAttachment& a : request->valid_attachments()) valid.insert(Key(a));
    for (auto it = attachments_.begin(); it != attachments_.end();) {
      if (valid.contains(*it)) {
        ++it;
        continue;
      }
      v1::CniAttachment& removed = *response->add_removed_attachments();
      removed.set_container_id(it->substr(0, it->find('/')));
      removed.set_ifname(it->substr(it->find('/') + 1));
      it = attachments_.erase(it);
    }
    return grpc::Status::OK;
  }

  void Forget() {
    std::lock_guard lock(mu_);
    attachments_.clear();
  }
  void FailAdd(absl::Status status) {
    std::lock_guard lock(mu_);
    add_error_ = proto::ToGrpcStatus(status);
  }
  void DelayAdd(std::chrono::milliseconds delay) {
    std::lock_guard lock(mu_);
    add_delay_ = delay;
  }
  void SetReadiness(v1::CniReadiness readiness) {
    std::lock_guard lock(mu_);
    readiness_ = readiness;
  }
  std::vector<v1::CniAddRequest> adds() const {
    std::lock_guard lock(mu_);
    return adds_;
  }
  std::vector<v1::CniDelRequest> dels() const {
    std::lock_guard lock(mu_);
    return dels_;
  }
  std::vector<v1::CniCheckRequest> checks() const {
    std::lock_guard lock(mu_);
    return checks_;
  }
  std::vector<v1::CniGcRequest> gcs() const {
    std::lock_guard lock(mu_);
    return gcs_;
  }
  size_t statuses() const {
    std::lock_guard lock(mu_);
    return statuses_.size();
  }

 private:
  static std::string Key(const v1::CniAttachment& a) { return a.container_id() + "/" + a.ifname(); }

  mutable std::mutex mu_;
  std::optional<grpc::Status> add_error_;
  std::chrono::milliseconds add_delay_{0};
  v1::CniReadiness readiness_ = v1::CNI_READINESS_READY;
  std::set<std::string> attachments_;
  std::vector<v1::CniAddRequest> adds_;
  std::vector<v1::CniDelRequest> dels_;
  std::vector<v1::CniCheckRequest> checks_;
  std::vector<v1::CniStatusRequest> statuses_;
  std::vector<v1::CniGcRequest> gcs_;
};

// One run of braid-cni.
struct PluginRun {
  int exit_status = -1;
  std::string out;
  JsonValue json;  // stdout parsed, when it printed something
};

std::string Field(const JsonValue& object, std::string_view key) {
  const JsonValue* value = FindField(object, key);
  if (value == nullptr) return "<absent>";
  return IsString(*value) ? value->string_value() : WriteJson(*value);
}

const google::protobuf::RepeatedPtrField<JsonValue>& List(const JsonValue& object,
                                                          std::string_view key) {
  static const JsonValue* const empty = new JsonValue(JsonList());
  const JsonValue* value = FindField(object, key);
  return (value != nullptr && IsList(*value) ? *value : *empty).list_value().values();
}

std::string IpCommand() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

// A network namespace under /var/run/netns for one test, deleted at the end.
class Netns {
 public:
  static std::optional<Netns> Create(const std::string& tag, std::string* why) {
    if (::geteuid() != 0) {
      *why = "needs root for network namespaces";
      return std::nullopt;
    }
    const std::string ip = IpCommand();
    if (ip.empty()) {
      *why = "needs `ip` (iproute2)";
      return std::nullopt;
    }
    static int counter = 0;
    std::string name =
        "braidcni" + tag + std::to_string(::getpid()) + "x" + std::to_string(counter++);
    absl::StatusOr<ProcessResult> run = RunProcess({ip, "netns", "add", name}, {}, "");
    if (!run.ok() || run->exit_status != 0) {
      *why = "`ip netns add` failed";
      return std::nullopt;
    }
    return Netns(ip, std::move(name));
  }
  Netns(Netns&& other) noexcept : ip_(other.ip_), name_(std::exchange(other.name_, "")) {}
  Netns& operator=(Netns&&) = delete;
  ~Netns() {
    if (!name_.empty()) (void)RunProcess({ip_, "netns", "del", name_}, {}, "");
  }
  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }
  const std::string& ip() const { return ip_; }

 private:
  Netns(std::string ip, std::string name) : ip_(std::move(ip)), name_(std::move(name)) {}
  std::string ip_;
  std::string name_;
};

class CniPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access((std::string(kPluginDir) + "/host-local").c_str(), X_OK) != 0) {
      GTEST_SKIP() << "needs Debian's containernetworking-plugins (" << kPluginDir
                   << "/host-local): apt-get install containernetworking-plugins";
    }
    char dir_template[] = "/tmp/braid-cni-test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    socket_ = dir_ + "/agent.sock";
    data_dir_ = dir_ + "/ipam";
    StartAgent();
  }
  void TearDown() override {
    StopAgent();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // The same FakeAgent again (with its records) after StopAgent: a restarted agent that kept its
  // state; FakeAgent::Forget for one that did not.
  void StartAgent() {
    if (!agent_) agent_ = std::make_unique<FakeAgent>();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(agent_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void StopAgent() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
    fs::remove(socket_);  // the agent is gone: nothing listens there any more
  }

  // The network configuration the tests start from: path0 dual-stack, path1 IPv4.
  JsonValue Config(std::string_view version = "1.1.0") const {
    JsonValue config = *ParseJson(R"({
      "name": "braid", "type": "braid-cni",
      "paths": [
        {"name": "path0",
         "ranges": [{"subnet": "10.10.0.0/24", "gateway": "10.10.0.1"},
                    {"subnet": "fd00:10::/64", "gateway": "fd00:10::1"}],
         "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]},
        {"name": "path1", "ranges": [{"subnet": "10.20.0.0/24"}],
         "routes": [{"dst": "192.0.2.0/24"}]}],
      "args": {"cni": {"scheduler": "blest", "paths": ["path0", "path1"]}}
    })");
    SetField(config, "cniVersion", JsonString(version));
    SetField(config, "agentSocket", JsonString(socket_));
    JsonValue ipam = JsonObject();
    SetField(ipam, "type", JsonString("host-local"));
    SetField(ipam, "dataDir", JsonString(data_dir_));
    SetField(config, "ipam", std::move(ipam));
    return config;
  }

  EnvMap Env(std::string_view command, std::string_view container = kContainer) const {
    return {{"CNI_COMMAND", std::string(command)},
            {"CNI_CONTAINERID", std::string(container)},
            {"CNI_NETNS", "/var/run/netns/braid-test-pod"},
            {"CNI_IFNAME", kIfname},
            {"CNI_PATH", std::string(kPluginDir)},
            {"CNI_ARGS",
             "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=u-1"},
            {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}};
  }

  static PluginRun Plugin(const EnvMap& env, std::string_view stdin_text) {
    PluginRun run;
    absl::StatusOr<ProcessResult> result = RunProcess({kPlugin}, env, stdin_text);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return run;
    run.exit_status = result->exit_status;
    run.out = result->stdout_text;
    if (!run.out.empty()) {
      absl::StatusOr<JsonValue> json = ParseJson(run.out);
      EXPECT_TRUE(json.ok()) << "stdout is not JSON: " << run.out;
      if (json.ok()) run.json = *json;
    }
    return run;
  }
  PluginRun Plugin(std::string_view command, const JsonValue& config,
                   std::string_view container = kContainer) const {
    return Plugin(Env(command, container), WriteJson(config));
  }

  // The addresses host-local holds, each with the container that holds it.
  std::map<std::string, std::string> Leases() const {
    std::map<std::string, std::string> leases;
    const fs::path dir = fs::path(data_dir_) / "braid";
    if (!fs::exists(dir)) return leases;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename();
      if (name == "lock" || name.starts_with("last_reserved_ip")) continue;
      std::ifstream file(entry.path());
      std::string owner;
      std::getline(file, owner);
      if (!owner.empty() && owner.back() == '\r') owner.pop_back();
      leases[name] = owner;
    }
    return leases;
  }

  // A failed run: exit 1 and the CNI error {"cniVersion", "code", "msg"}; the raw text has the
  // code as an integer.
  static void ExpectError(const PluginRun& run, int code, std::string_view msg_part) {
    EXPECT_EQ(run.exit_status, 1) << run.out;
    EXPECT_EQ(Field(run.json, "code"), std::to_string(code)) << run.out;
    EXPECT_NE(run.out.find("\"code\":" + std::to_string(code)), std::string::npos) << run.out;
    EXPECT_NE(Field(run.json, "msg").find(msg_part), std::string::npos)
        << "msg should contain \"" << msg_part << "\": " << run.out;
    EXPECT_NE(Field(run.json, "cniVersion"), "<absent>") << run.out;
  }

  std::string dir_;
  std::string socket_;
  std::string data_dir_;
  std::unique_ptr<FakeAgent> agent_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(CniPluginTest, VersionListsTheSupportedVersions) {
  const PluginRun run = Plugin({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion": "1.0.0"})");
  EXPECT_EQ(run.exit_status, 0);
  EXPECT_EQ(run.out,
            "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\","
            "\"1.0.0\",\"1.1.0\"]}\n");
}

// Every verb in the spec versions a runtime speaks today.
class CniPluginVersionTest : public CniPluginTest,
                             public ::testing::WithParamInterface<std::string> {};

TEST_P(CniPluginVersionTest, EveryVerb) {
  const std::string version = GetParam();
  const bool v11 = version == "1.1.0";
  const bool v04 = version == "0.4.0";

  // ADD
  const PluginRun add = Plugin("ADD", Config(version));
  ASSERT_EQ(add.exit_status, 0) << add.out;
  const JsonValue& result = add.json;
  EXPECT_EQ(Field(result, "cniVersion"), version);
  ASSERT_EQ(List(result, "interfaces").size(), 1);
  const JsonValue& interface = List(result, "interfaces")[0];
  EXPECT_EQ(Field(interface, "name"), kIfname);
  EXPECT_EQ(Field(interface, "sandbox"), "/var/run/netns/braid-test-pod");
  EXPECT_EQ(Field(interface, "socketPath"), v11 ? "@braid/node" : "<absent>");
  ASSERT_EQ(List(result, "ips").size(), 3) << add.out;
  std::set<std::string> gateways;
  for (const JsonValue& ip : List(result, "ips")) {
    EXPECT_EQ(Field(ip, "interface"), "0");
    const bool v6 = Field(ip, "address").find(':') != std::string::npos;
    EXPECT_EQ(Field(ip, "version"), v04 ? (v6 ? "6" : "4") : "<absent>");
    gateways.insert(Field(ip, "gateway"));
  }
  EXPECT_EQ(gateways, (std::set<std::string>{"10.10.0.1", "fd00:10::1", "10.20.0.1"}));
  EXPECT_NE(add.out.find("\"interface\":0"), std::string::npos) << "an integer: " << add.out;
  std::map<std::string, std::string> routes;
  for (const JsonValue& route : List(result, "routes"))
    routes[Field(route, "dst")] = Field(route, "gw");
  EXPECT_EQ(routes, (std::map<std::string, std::string>{{"0.0.0.0/0", "10.10.0.1"},
                                                        {"::/0", "fd00:10::1"},
                                                        {"192.0.2.0/24", "10.20.0.1"}}));

  ASSERT_EQ(agent_->adds().size(), 1);
  const v1::CniAddRequest request = agent_->adds()[0];
  EXPECT_EQ(request.attachment().container_id(), kContainer);
  EXPECT_EQ(request.attachment().ifname(), kIfname);
  EXPECT_EQ(request.netns_path(), "/var/run/netns/braid-test-pod");
  EXPECT_EQ(request.pod().namespace_(), "default");
  EXPECT_EQ(request.pod().name(), "web-0");
  EXPECT_EQ(request.pod().uid(), "u-1");
  EXPECT_EQ(request.network_name(), "braid");
  ASSERT_EQ(request.paths_size(), 2);
  EXPECT_EQ(request.paths(0).path(), "path0");
  EXPECT_EQ(request.paths(0).ips_size(), 2);
  EXPECT_EQ(request.paths(0).routes_size(), 2);
  EXPECT_EQ(request.paths(1).path(), "path1");
  ASSERT_EQ(request.paths(1).ips_size(), 1);
  EXPECT_TRUE(request.paths(1).ips(0).address().starts_with("10.20.0."));
  EXPECT_EQ(request.paths(1).ips(0).gateway(), "10.20.0.1");  // host-local's default gateway
  ASSERT_EQ(request.options_size(), 2);
  EXPECT_EQ(request.options(0).name(), "paths");
  EXPECT_EQ(request.options(0).value(), "path0,path1");
  EXPECT_EQ(request.options(1).name(), "scheduler");
  EXPECT_EQ(Leases().size(), 3);
  for (const auto& [address, owner] : Leases()) EXPECT_EQ(owner, kContainer) << address;

  // CHECK with the result as prevResult: the agent gets the same addresses per path.
  JsonValue check_config = Config(version);
  SetField(check_config, "prevResult", result);
  const PluginRun check = Plugin("CHECK", check_config);
  EXPECT_EQ(check.exit_status, 0) << check.out;
  EXPECT_EQ(check.out, "");
  ASSERT_EQ(agent_->checks().size(), 1);
  const v1::CniCheckRequest checked = agent_->checks()[0];
  ASSERT_EQ(checked.paths_size(), 2);
  for (int p = 0; p < 2; ++p) {
    ASSERT_EQ(checked.paths(p).ips_size(), request.paths(p).ips_size());
    for (int i = 0; i < request.paths(p).ips_size(); ++i) {
      EXPECT_EQ(checked.paths(p).ips(i).address(), request.paths(p).ips(i).address());
    }
    EXPECT_EQ(checked.paths(p).routes_size(), request.paths(p).routes_size());
  }

  // STATUS and GC exist from 1.1.0 on.
  const PluginRun status = Plugin("STATUS", Config(version));
  const PluginRun gc = [&]() -> PluginRun {
    JsonValue gc_config = Config(version);
    SetField(gc_config, "cni.dev/valid-attachments",
             *ParseJson(R"([{"containerID": "c1", "ifname": "eth0"}])"));
    return Plugin("GC", gc_config);
  }();
  if (v11) {
    EXPECT_EQ(status.exit_status, 0) << status.out;
    EXPECT_EQ(status.out, "");
    EXPECT_EQ(gc.exit_status, 0) << gc.out;
    EXPECT_EQ(gc.out, "");
    EXPECT_EQ(Leases().size(), 3) << "c1 is valid: GC keeps it";
  } else {
    ExpectError(status, 1, "config version does not allow STATUS");
    ExpectError(gc, 1, "config version does not allow GC");
  }

  // DEL, twice: the second time the agent has no record.
  JsonValue del_config = Config(version);
  SetField(del_config, "prevResult", result);
  const PluginRun del = Plugin("DEL", del_config);
  EXPECT_EQ(del.exit_status, 0) << del.out;
  EXPECT_EQ(del.out, "");
  EXPECT_TRUE(Leases().empty());
  const PluginRun again = Plugin("DEL", del_config);
  EXPECT_EQ(again.exit_status, 0) << again.out;
  EXPECT_EQ(agent_->dels().size(), 2);
}

std::string VersionTestName(const ::testing::TestParamInfo<std::string>& param) {
  std::string name = "v" + param.param;
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(SpecVersions, CniPluginVersionTest,
                         ::testing::Values("0.4.0", "1.0.0", "1.1.0"), VersionTestName);

TEST_F(CniPluginTest, NegotiatesTheHighestSharedVersion) {
  JsonValue config = Config("1.0.0");
  SetField(config, "cniVersions", *ParseJson(R"(["0.4.0", "1.0.0", "1.1.0", "2.0.0"])"));
  const PluginRun add = Plugin("ADD", config);
  ASSERT_EQ(add.exit_status, 0) << add.out;
  EXPECT_EQ(Field(add.json, "cniVersion"), "1.1.0");
  EXPECT_EQ(Field(List(add.json, "interfaces")[0], "socketPath"), "@braid/node");

  JsonValue none = Config("2.0.0");
  SetField(none, "cniVersions", *ParseJson(R"(["0.2.0", "3.0.0"])"));
  ExpectError(Plugin("ADD", none, "c2"), 1, "incompatible CNI versions");
  ExpectError(Plugin("CHECK", Config("0.3.1")), 1, "config version does not allow CHECK");
  EXPECT_EQ(agent_->adds().size(), 1);
  EXPECT_EQ(Leases().size(), 3);
}

// The reference loopback plugin for real in a namespace, then braid-cni chained after it.
TEST_F(CniPluginTest, ChainedAfterLoopback) {
  std::string why;
  std::optional<Netns> netns = Netns::Create("lo", &why);
  if (!netns) GTEST_SKIP() << why;
  EnvMap env = Env("ADD");
  env["CNI_NETNS"] = netns->path();
  env["CNI_IFNAME"] = "lo";
  // Debian's loopback (plugins 1.1.1) speaks up to 1.0.0.
  absl::StatusOr<ProcessResult> loopback =
      RunProcess({std::string(kPluginDir) + "/loopback"}, env,
                 R"({"cniVersion": "1.0.0", "name": "braid", "type": "loopback"})");
  ASSERT_TRUE(loopback.ok()) << loopback.status();
  ASSERT_EQ(loopback->exit_status, 0) << loopback->stdout_text;

  JsonValue config = Config("1.0.0");
  SetField(config, "prevResult", *ParseJson(loopback->stdout_text));
  const PluginRun add = Plugin(env, WriteJson(config));
  ASSERT_EQ(add.exit_status, 0) << add.out;
  // loopback's interface and addresses first, then Braid's, pointing at interface 1.
  const auto& interfaces = List(add.json, "interfaces");
  ASSERT_EQ(interfaces.size(), 2) << add.out;
  EXPECT_EQ(Field(interfaces[0], "mac"), "00:00:00:00:00:00");
  EXPECT_EQ(Field(interfaces[1], "name"), "lo");
  EXPECT_EQ(Field(interfaces[1], "sandbox"), netns->path());
  const auto& ips = List(add.json, "ips");
  ASSERT_EQ(ips.size(), 5) << add.out;
  EXPECT_EQ(Field(ips[0], "address"), "127.0.0.1/8");
  EXPECT_EQ(Field(ips[0], "interface"), "0");
  EXPECT_EQ(Field(ips[1], "address"), "::1/128");
  for (int i = 2; i < 5; ++i) EXPECT_EQ(Field(ips[i], "interface"), "1") << add.out;

  JsonValue chained = Config("1.0.0");
  SetField(chained, "prevResult", add.json);
  env["CNI_COMMAND"] = "CHECK";
  const PluginRun check = Plugin(env, WriteJson(chained));
  EXPECT_EQ(check.exit_status, 0) << check.out;
  ASSERT_EQ(agent_->checks().size(), 1);
  EXPECT_EQ(agent_->checks()[0].paths(0).ips_size(), 2) << "loopback's addresses are not Braid's";
  EXPECT_EQ(agent_->checks()[0].paths(1).ips_size(), 1);

  env["CNI_COMMAND"] = "DEL";
  EXPECT_EQ(Plugin(env, WriteJson(chained)).exit_status, 0);
  EXPECT_TRUE(Leases().empty());
}

// The reference bridge plugin (a bridge and a veth into the pod, its own host-local) run in a
// namespace standing for the host, then braid-cni chained after it with the same CNI_IFNAME.
TEST_F(CniPluginTest, ChainedAfterBridge) {
  std::string why;
  std::optional<Netns> host = Netns::Create("h", &why);
  if (!host) GTEST_SKIP() << why;
  std::optional<Netns> pod = Netns::Create("p", &why);
  if (!pod) GTEST_SKIP() << why;
  EnvMap env = Env("ADD");
  env["CNI_NETNS"] = pod->path();
  JsonValue bridge_ipam = *ParseJson(R"({"type": "host-local",
      "ranges": [[{"subnet": "10.99.0.0/24"}]], "routes": [{"dst": "198.51.100.0/24"}]})");
  SetField(bridge_ipam, "dataDir", JsonString(dir_ + "/bridge-ipam"));
  JsonValue bridge_config = *ParseJson(R"({"cniVersion": "1.0.0", "name": "braid",
      "type": "bridge", "bridge": "braidbr0", "isGateway": true})");
  SetField(bridge_config, "ipam", std::move(bridge_ipam));
  const std::vector<std::string> bridge = {host->ip(), "netns", "exec", host->name(),
                                           std::string(kPluginDir) + "/bridge"};
  absl::StatusOr<ProcessResult> bridged = RunProcess(bridge, env, WriteJson(bridge_config));
  ASSERT_TRUE(bridged.ok()) << bridged.status();
  if (bridged->exit_status != 0)
    GTEST_SKIP() << "the bridge plugin failed: " << bridged->stdout_text;
  const JsonValue prev = *ParseJson(bridged->stdout_text);
  const int prev_interfaces = List(prev, "interfaces").size();
  ASSERT_GE(prev_interfaces, 3) << bridged->stdout_text;  // bridge, host veth, pod veth

  JsonValue config = Config("1.0.0");
  SetField(config, "prevResult", prev);
  const PluginRun add = Plugin(env, WriteJson(config));
  ASSERT_EQ(add.exit_status, 0) << add.out;
  ASSERT_EQ(List(add.json, "interfaces").size(), prev_interfaces + 1);
  EXPECT_EQ(Field(List(add.json, "interfaces")[prev_interfaces], "name"), kIfname);
  const auto& ips = List(add.json, "ips");
  ASSERT_EQ(ips.size(), List(prev, "ips").size() + 3);
  EXPECT_EQ(Field(ips[0], "address"), Field(List(prev, "ips")[0], "address"));
  EXPECT_EQ(Field(ips[0], "interface"), Field(List(prev, "ips")[0], "interface"));
  for (int i = List(prev, "ips").size(); i < ips.size(); ++i) {
    EXPECT_EQ(Field(ips[i], "interface"), std::to_string(prev_interfaces));
  }
  EXPECT_EQ(List(add.json, "routes").size(), List(prev, "routes").size() + 3);
  EXPECT_EQ(Field(List(add.json, "routes")[0], "dst"), "198.51.100.0/24");

  JsonValue chained = Config("1.0.0");
  SetField(chained, "prevResult", add.json);
  env["CNI_COMMAND"] = "CHECK";
  const PluginRun check = Plugin(env, WriteJson(chained));
  EXPECT_EQ(check.exit_status, 0) << check.out;
  ASSERT_EQ(agent_->checks().size(), 1);
  const v1::CniCheckRequest checked = agent_->checks()[0];
  EXPECT_EQ(checked.paths(0).ips_size(), 2);
  EXPECT_EQ(checked.paths(0).routes_size(), 2) << "the bridge's route is not Braid's";
  EXPECT_EQ(checked.paths(1).ips_size(), 1);

  // The chain's DEL runs in reverse: braid-cni, then the bridge.
  env["CNI_COMMAND"] = "DEL";
  EXPECT_EQ(Plugin(env, WriteJson(chained)).exit_status, 0);
  EXPECT_TRUE(Leases().empty());
  SetField(bridge_config, "prevResult", prev);
  absl::StatusOr<ProcessResult> unbridged = RunProcess(bridge, env, WriteJson(bridge_config));
  ASSERT_TRUE(unbridged.ok());
  EXPECT_EQ(unbridged->exit_status, 0) << unbridged->stdout_text;
}

// The agent refuses: host-local's addresses are released again, the agent's error is the CNI
// error with the code README.md's table gives.
TEST_F(CniPluginTest, AddIsUndoneWhenTheAgentRefuses) {
  const struct {
    absl::Status status;
    int code;
  } cases[] = {
      {absl::InvalidArgumentError("options: unknown option \"foo\" (cni-args)"), 7},
      {absl::UnavailableError("the datapath is not running yet"), 11},
      {absl::FailedPreconditionError("the netns is gone"), 109},
      {absl::AlreadyExistsError("attachment c1/eth0 exists with other parameters"), 106},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    agent_->FailAdd(c.status);
    const PluginRun add = Plugin("ADD", Config());
    ExpectError(add, c.code,
                "agent at unix:" + socket_ + ": Add: " + std::string(c.status.message()));
    EXPECT_EQ(Field(add.json, "details"), absl::StatusCodeToString(c.status.code()));
    EXPECT_TRUE(Leases().empty()) << "host-local's addresses were not released";
  }
  EXPECT_EQ(agent_->adds().size(), 4);
}

// An Add the agent does not answer in time may have happened: the plugin undoes it at the agent
// too before it releases the addresses.
TEST_F(CniPluginTest, AddTimingOutIsUndoneAtTheAgentToo) {
  agent_->DelayAdd(std::chrono::milliseconds(1500));
  JsonValue config = Config();
  SetField(config, "timeoutSeconds", JsonNumber(0.3));
  const PluginRun add = Plugin("ADD", config);
  ExpectError(add, 11, "agent at unix:" + socket_ + ": Add: ");
  EXPECT_EQ(Field(add.json, "details"), "DEADLINE_EXCEEDED");
  ASSERT_EQ(agent_->dels().size(), 1);
  EXPECT_EQ(agent_->dels()[0].attachment().container_id(), kContainer);
  EXPECT_TRUE(Leases().empty());
}

TEST_F(CniPluginTest, AgentDown) {
  StopAgent();
  const PluginRun add = Plugin("ADD", Config());
  ExpectError(add, 11, "agent at unix:" + socket_ + ": Add:");
  EXPECT_EQ(Field(add.json, "details"), "UNAVAILABLE");
  EXPECT_TRUE(Leases().empty()) << "no lease may leak";

  StartAgent();
  ASSERT_EQ(Plugin("ADD", Config()).exit_status, 0);
  ASSERT_EQ(Leases().size(), 3);
  StopAgent();
  // The agent may still use the addresses: DEL fails and keeps them; the runtime retries.
  ExpectError(Plugin("DEL", Config()), 11, "agent at unix:" + socket_ + ": Del:");
  EXPECT_EQ(Leases().size(), 3);
  // The agent is back without the attachment (NOT_FOUND): DEL succeeds and releases.
  agent_->Forget();
  StartAgent();
  const PluginRun del = Plugin("DEL", Config());
  EXPECT_EQ(del.exit_status, 0) << del.out;
  EXPECT_TRUE(Leases().empty());
}

TEST_F(CniPluginTest, DelIsIdempotent) {
  // Nothing was ever added.
  EXPECT_EQ(Plugin("DEL", Config()).exit_status, 0);
  ASSERT_EQ(Plugin("ADD", Config()).exit_status, 0);
  // The namespace is gone (its path no longer exists), then not given at all, and no prevResult.
  EnvMap env = Env("DEL");
  env["CNI_NETNS"] = dir_ + "/no-such-netns";
  const PluginRun gone = Plugin(env, WriteJson(Config()));
  EXPECT_EQ(gone.exit_status, 0) << gone.out;
  EXPECT_TRUE(Leases().empty());
  env.erase("CNI_NETNS");
  const PluginRun unset = Plugin(env, WriteJson(Config()));
  EXPECT_EQ(unset.exit_status, 0) << unset.out;
  EXPECT_EQ(agent_->dels().size(), 3);
  EXPECT_EQ(agent_->dels()[2].netns_path(), "");
}

// host-local's own error reaches the runtime with host-local's code (999: its ErrInternal).
TEST_F(CniPluginTest, HostLocalErrorsPassThrough) {
  JsonValue config = *ParseJson(R"({"name": "braid",
    "paths": [{"name": "path0", "ranges": [{"subnet": "10.10.0.0/30"}]}],
    "ipam": {"type": "host-local"}})");
  SetField(config, "cniVersion", JsonString("1.1.0"));
  SetField(config, "agentSocket", JsonString(socket_));
  SetField(config, "ipam", Config().struct_value().fields().at("ipam"));
  ASSERT_EQ(Plugin("ADD", config).exit_status, 0);  // .1 is the gateway, .2 the only address
  const PluginRun second = Plugin("ADD", config, "c2");
  ExpectError(second, 999, "host-local (" + std::string(kPluginDir) + "/host-local) ADD: ");
  EXPECT_NE(Field(second.json, "msg").find("no IP addresses available"), std::string::npos)
      << second.out;
  EXPECT_EQ(agent_->adds().size(), 1);
  EXPECT_EQ(Leases(), (std::map<std::string, std::string>{{"10.10.0.2", "c1"}}));
}

TEST_F(CniPluginTest, MalformedInput) {
  const std::string config = WriteJson(Config());
  const auto without = [&](std::string_view command, std::vector<std::string> names) {
    EnvMap env = Env(command);
    for (const std::string& name : names) env.erase(name);
    return env;
  };
  const auto with = [&](std::string_view command, std::string name, std::string value) {
    EnvMap env = Env(command);
    env[name] = value;
    return env;
  };
  const auto config_with = [&](std::string_view key, std::string_view json) {
    JsonValue changed = Config();
    SetField(changed, key, *ParseJson(json));
    return WriteJson(changed);
  };
  const struct {
    std::string name;
    EnvMap env;
    std::string stdin_text;
    int code;
    std::string msg;
  } cases[] = {
      {"no command", without("ADD", {"CNI_COMMAND"}), config, 4, "CNI_COMMAND: missing"},
      {"unknown command", with("ADD", "CNI_COMMAND", "ATTACH"), config, 4,
       "CNI_COMMAND: unknown command \"ATTACH\""},
      {"no netns", without("ADD", {"CNI_NETNS"}), config, 4, "CNI_NETNS: missing (ADD needs"},
      {"no container, no ifname", without("CHECK", {"CNI_CONTAINERID", "CNI_IFNAME"}), config, 4,
       "CNI_CONTAINERID, CNI_IFNAME: missing"},
      {"no path", without("DEL", {"CNI_PATH"}), config, 4, "CNI_PATH: missing"},
      {"bad container id", with("ADD", "CNI_CONTAINERID", "-c1"), config, 4,
       "CNI_CONTAINERID \"-c1\": must start with a letter or a digit"},
      {"bad ifname", with("ADD", "CNI_IFNAME", "a-very-long-ifname"), config, 4,
       "CNI_IFNAME \"a-very-long-ifname\": must be at most 15 characters"},
      {"bad CNI_ARGS", with("ADD", "CNI_ARGS", "K8S_POD_NAME"), config, 4,
       "CNI_ARGS: \"K8S_POD_NAME\" is not KEY=VALUE"},
      {"no host-local", with("ADD", "CNI_PATH", dir_ + "/empty:/nonexistent"), config, 4,
       "CNI_PATH \"" + dir_ + "/empty:/nonexistent\": no executable host-local"},
      {"not JSON", Env("ADD"), "{\"cniVersion\": ", 6, "network configuration (stdin): "},
      {"empty stdin", Env("ADD"), "", 6, "network configuration (stdin): "},
      {"not an object", Env("ADD"), "[1, 2]", 6,
       "network configuration: expected a JSON object, got a list"},
      {"key twice", Env("ADD"), R"({"name": "a", "name": "b"})", 6, "name"},
      {"old version", Env("ADD"), config_with("cniVersion", "\"0.2.0\""), 1,
       "incompatible CNI versions: the configuration offers \"0.2.0\""},
      {"no paths", Env("ADD"), config_with("paths", "[]"), 7, "paths: missing"},
      {"bad subnet", Env("ADD"),
       config_with("paths", R"([{"name": "path0", "ranges": [{"subnet": "10.10.0.0/24"}]},
                                {"name": "path1", "ranges": [{"subnet": "10.20.0.1/24"}]}])"),
       7, "paths[1].ranges[0].subnet: \"10.20.0.1/24\" has host bits set"},
      {"other IPAM", Env("ADD"), config_with("ipam", R"({"type": "dhcp"})"), 7,
       "ipam.type: \"dhcp\" is not supported"},
      {"bad option", Env("ADD"), config_with("args", R"({"cni": {"paths": ["path0", 1]}})"), 7,
       "args.cni.paths[1]: expected a string, got a number"},
  };
  fs::create_directories(dir_ + "/empty");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const PluginRun run = Plugin(c.env, c.stdin_text);
    ExpectError(run, c.code, c.msg);
  }
  EXPECT_TRUE(agent_->adds().empty());
  EXPECT_TRUE(agent_->dels().empty());
  EXPECT_TRUE(agent_->checks().empty());
  EXPECT_TRUE(Leases().empty());
}

TEST_F(CniPluginTest, GcReleasesTheAttachmentsNotInTheValidList) {
  for (const char* container : {"c1", "c2", "c3"}) {
    ASSERT_EQ(Plugin("ADD", Config(), container).exit_status, 0) << container;
  }
  ASSERT_EQ(Leases().size(), 9);
  JsonValue config = Config();
  SetField(config, "cni.dev/valid-attachments",
           *ParseJson(R"([{"containerID": "c1", "ifname": "eth0"},
                          {"containerID": "c9", "ifname": "eth0"}])"));
  EnvMap env = {{"CNI_COMMAND", "GC"}, {"CNI_PATH", kPluginDir}};

  StopAgent();  // the agent decides what goes: without it nothing is released
  ExpectError(Plugin(env, WriteJson(config)), 11, "agent at unix:" + socket_ + ": Gc:");
  EXPECT_EQ(Leases().size(), 9);
  StartAgent();

  const PluginRun gc = Plugin(env, WriteJson(config));
  EXPECT_EQ(gc.exit_status, 0) << gc.out;
  EXPECT_EQ(gc.out, "");
  ASSERT_EQ(agent_->gcs().size(), 1);
  EXPECT_EQ(agent_->gcs()[0].network_name(), "braid");
  ASSERT_EQ(agent_->gcs()[0].valid_attachments_size(), 2);
  EXPECT_EQ(agent_->gcs()[0].valid_attachments(1).container_id(), "c9");
  const std::map<std::string, std::string> leases = Leases();
  EXPECT_EQ(leases.size(), 3);
  for (const auto& [address, owner] : leases) EXPECT_EQ(owner, "c1") << address;

  // libcni's older key for the same list.
  JsonValue old_key = Config();
  SetField(old_key, "cni.dev/attachments", *ParseJson("[]"));
  EXPECT_EQ(Plugin(env, WriteJson(old_key)).exit_status, 0);
  EXPECT_TRUE(Leases().empty());
  ExpectError(Plugin(env, WriteJson(Config())), 7, "cni.dev/valid-attachments: missing");
}

TEST_F(CniPluginTest, StatusReportsTheAgentsReadiness) {
  const EnvMap env = {{"CNI_COMMAND", "STATUS"}, {"CNI_PATH", kPluginDir}};
  const std::string config = WriteJson(Config());
  const PluginRun ready = Plugin(env, config);
  EXPECT_EQ(ready.exit_status, 0) << ready.out;
  EXPECT_EQ(ready.out, "");

  agent_->SetReadiness(v1::CNI_READINESS_NOT_READY);
  const PluginRun not_ready = Plugin(env, config);
  ExpectError(not_ready, 50, "agent at unix:" + socket_ + ": not ready: datapath starting");
  EXPECT_EQ(Field(not_ready.json, "details"), "CNI_READINESS_NOT_READY");
  agent_->SetReadiness(v1::CNI_READINESS_DEGRADED);
  ExpectError(Plugin(env, config), 51, "existing attachments may be disrupted");
  agent_->SetReadiness(v1::CNI_READINESS_UNSPECIFIED);
  ExpectError(Plugin(env, config), 50, "not ready");
  // CNI_PATH is optional for STATUS.
  agent_->SetReadiness(v1::CNI_READINESS_READY);
  EXPECT_EQ(Plugin({{"CNI_COMMAND", "STATUS"}}, config).exit_status, 0);
  EXPECT_EQ(agent_->statuses(), 5);

  StopAgent();
  ExpectError(Plugin(env, config), 50, "agent at unix:" + socket_ + ": Status:");
}

// A host-local of CNI 1.1 (plugins 1.5 and later; Debian 12 has 1.1.1) gets STATUS and GC too.
// TEST DOUBLE: a shell script in CNI_PATH that records what it is given.
class CniPluginDelegationTest : public CniPluginTest {
 protected:
  void SetUp() override {
    CniPluginTest::SetUp();
    if (IsSkipped()) return;
    bin_ = dir_ + "/bin";
    fs::create_directories(bin_);
  }
  void WriteHostLocal(const std::string& body) {
    const std::string path = bin_ + "/host-local";
    std::ofstream(path) << "#!/bin/sh\n"
                        << "cat > " << dir_ << "/hl-$CNI_COMMAND.json\n"
                        << "echo \"$CNI_CONTAINERID/$CNI_IFNAME\" >> " << dir_ << "/hl-calls\n"
                        << body << "\n";
    fs::permissions(path, fs::perms::owner_all);
  }
  JsonValue Recorded(std::string_view command) const {
    std::ifstream file(dir_ + "/hl-" + std::string(command) + ".json");
    std::stringstream text;
    text << file.rdbuf();
    absl::StatusOr<JsonValue> json = ParseJson(text.str());
    EXPECT_TRUE(json.ok()) << command << ": " << text.str();
    return json.ok() ? *json : JsonValue();
  }
  EnvMap Env(std::string_view command, std::string_view container = kContainer) const {
    EnvMap env = CniPluginTest::Env(command, container);
    env["CNI_PATH"] = "/nonexistent:" + bin_;
    return env;
  }

  std::string bin_;
};

constexpr char kHostLocal11[] = R"(case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}' ;;
STATUS) if [ -e "${0%/*}/status-fails" ]; then
          echo '{"code":50,"msg":"no addresses left","details":"pool empty"}'; exit 1; fi ;;
ADD) echo '{"cniVersion":"1.1.0","ips":[{"address":"10.10.0.9/24","gateway":"10.10.0.1"},
     {"address":"fd00:10::9/64","gateway":"fd00:10::1"},{"address":"10.20.0.9/24"}]}' ;;
esac)";

TEST_F(CniPluginDelegationTest, StatusAndGcReachAHostLocalThatHasThem) {
  WriteHostLocal(kHostLocal11);
  JsonValue config = Config();
  SetField(config, "cni.dev/valid-attachments",
           *ParseJson(R"([{"containerID": "c1", "ifname": "eth0"}])"));
  const PluginRun gc = Plugin(Env("GC"), WriteJson(config));
  EXPECT_EQ(gc.exit_status, 0) << gc.out;
  const JsonValue sent = Recorded("GC");
  EXPECT_EQ(Field(sent, "cniVersion"), "1.1.0");
  EXPECT_EQ(Field(sent, "cni.dev/valid-attachments"), R"([{"containerID":"c1","ifname":"eth0"}])");
  EXPECT_EQ(WriteJson(FindField(sent, "ipam")->struct_value().fields().at("ranges")),
            R"([[{"subnet":"10.10.0.0/24","gateway":"10.10.0.1"}],)"
            R"([{"subnet":"fd00:10::/64","gateway":"fd00:10::1"}],[{"subnet":"10.20.0.0/24"}]])");

  EXPECT_EQ(Plugin(Env("STATUS"), WriteJson(Config())).exit_status, 0);
  EXPECT_EQ(Field(Recorded("STATUS"), "name"), "braid");
  std::ofstream(bin_ + "/status-fails") << "";
  const PluginRun status = Plugin(Env("STATUS"), WriteJson(Config()));
  ExpectError(status, 50, "host-local (" + bin_ + "/host-local) STATUS: no addresses left");
  EXPECT_EQ(Field(status.json, "details"), "pool empty");

  // ADD: host-local's result is split by path whatever version it answered in.
  const PluginRun add = Plugin(Env("ADD"), WriteJson(Config()));
  ASSERT_EQ(add.exit_status, 0) << add.out;
  ASSERT_EQ(agent_->adds().size(), 1);
  EXPECT_EQ(agent_->adds()[0].paths(0).ips(0).address(), "10.10.0.9/24");
  EXPECT_EQ(agent_->adds()[0].paths(0).ips(1).address(), "fd00:10::9/64");
  EXPECT_EQ(agent_->adds()[0].paths(1).ips(0).address(), "10.20.0.9/24");
}

TEST_F(CniPluginDelegationTest, AHostLocalThatFailsWithoutAnErrorIsAnIoFailure) {
  WriteHostLocal(R"(case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}' ;;
ADD) echo 'panic: runtime error'; exit 2 ;;
esac)");
  ExpectError(Plugin(Env("ADD"), WriteJson(Config())), 5,
              "host-local (" + bin_ +
                  "/host-local) ADD: exited with status 2 without a CNI "
                  "error: \"panic: runtime error");
  EXPECT_TRUE(agent_->adds().empty());
}

TEST_F(CniPluginDelegationTest, AnAddressOutsideThePathsIsUndone) {
  WriteHostLocal(R"(case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.1","1.0.0"]}' ;;
ADD) echo '{"cniVersion":"1.0.0","ips":[{"address":"10.10.0.9/24"},{"address":"172.16.0.9/24"}]}' ;;
esac)");
  const PluginRun add = Plugin(Env("ADD"), WriteJson(Config()));
  ExpectError(add, 5, "host-local's result: ips[1].address: \"172.16.0.9/24\" is in none of");
  // host-local was asked to release what it gave.
  EXPECT_EQ(Field(Recorded("DEL"), "name"), "braid");
  EXPECT_TRUE(agent_->adds().empty());
}

TEST_F(CniPluginTest, OptionsReachTheAgent) {
  JsonValue config = Config();
  SetField(config, "args", *ParseJson(R"({"cni": {"scheduler": "blest", "paths": ["path0", "path1"],
                                  "subflows-per-path": 2, "checksum": true},
                          "other": {"ignored": 1}})"));
  SetField(config, "capabilities", *ParseJson(R"({"io.kubernetes.cri.pod-annotations": true})"));
  SetField(config, "runtimeConfig", *ParseJson(R"({"io.kubernetes.cri.pod-annotations":
                            {"braid.io/path-manager": "ndiffports",
                             "kubernetes.io/config.source": "api"}})"));
  ASSERT_EQ(Plugin("ADD", config).exit_status, 0);
  ASSERT_EQ(agent_->adds().size(), 1);
  std::vector<std::string> options;
  const v1::CniAddRequest request = agent_->adds()[0];
  for (const v1::PodOption& option : request.options()) {
    options.push_back(option.name() + "=" + option.value() + " " +
                      v1::OptionSource_Name(option.source()));
  }
  EXPECT_EQ(options, (std::vector<std::string>{
                         "checksum=true OPTION_SOURCE_CNI_ARGS",
                         "paths=path0,path1 OPTION_SOURCE_CNI_ARGS",
                         "scheduler=blest OPTION_SOURCE_CNI_ARGS",
                         "subflows-per-path=2 OPTION_SOURCE_CNI_ARGS",
                         "path-manager=ndiffports OPTION_SOURCE_POD_ANNOTATION",
                     }));
}

}  // namespace
}  // namespace braid::cni

// Exits 77 (CTest: skipped) when every test that ran was skipped, so that a machine without the
// plugins or without root reports the cases as skipped rather than passed.
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
