// PodManager: CniService's verbs on a recording datapath double and a real registry, with real
// network namespaces for the pods' sockets (root; skipped with the reason otherwise). The real
// datapath behind it is exercised by e2e.agent.* (tests/e2e/agent_test.py).
#include "agent/daemon/pod_manager.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/config.h"
#include "tests/unit/agent/pods/test_netns.h"

namespace braid::agent {
namespace {

namespace v1 = braid::v1;
using test::TestNetns;

class FakeDatapath final : public PodDatapath {
 public:
  absl::Status AddPod(channel::PodServiceSpec spec) override {
    if (!refuse.ok()) return refuse;
    // The pod's default policy: what a connect no endpoint matches gets.
    added.push_back(
        {spec.id, spec.addresses, *spec.policy_for(wire::Ipv4Address{{192, 0, 2, 1}}, 80, false)});
    live.push_back(spec.id);
    listeners.push_back(std::move(spec.listener));
    return absl::OkStatus();
  }
  absl::Status RemovePod(const std::string& id) override {
    for (size_t i = 0; i < live.size(); ++i) {
      if (live[i] != id) continue;
      live.erase(live.begin() + static_cast<ptrdiff_t>(i));
      listeners.erase(listeners.begin() + static_cast<ptrdiff_t>(i));
      return absl::OkStatus();
    }
    return absl::NotFoundError(id);
  }
  std::vector<channel::PodServiceInfo> Pods() override {
    std::vector<channel::PodServiceInfo> out;
    for (const std::string& id : live) out.push_back({id, {}, 0, {}});
    return out;
  }

  struct Added {
    std::string id;
    std::vector<channel::PodAddress> addresses;
    mptcp::ConnectionPolicy policy;
  };
  std::vector<Added> added;
  std::vector<std::string> live;
  std::vector<channel::ChannelListener> listeners;
  absl::Status refuse;
};

AgentConfig TwoPaths() {
  absl::StatusOr<AgentConfig> c = ParseConfig(R"(
paths:
  - {name: path0, kind: af_packet, netdev: a0, ipv4_subnet: 10.90.0.0/24}
  - {name: path1, kind: af_packet, netdev: a1, ipv4_subnet: 10.91.0.0/24, backup: true}
)");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

// Whether a client in the namespace reaches the abstract SEQPACKET name (a forked child).
bool Reachable(const std::string& netns, const std::string& name) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(2);
    const int s = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    ::_exit(::connect(s, reinterpret_cast<const sockaddr*>(&addr), len) == 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class PodManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("braid-podmgr-", ::getpid(), "-", counter_++);
    Reopen();
  }
  void TearDown() override {
    manager_.reset();
    registry_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    manager_.reset();
    absl::StatusOr<PodRegistry::Opened> opened = PodRegistry::Open(dir_.string());
    ASSERT_TRUE(opened.ok()) << opened.status();
    registry_ = std::move(opened->registry);
    PodManager::Options options;
    options.socket_names.channel = absl::StrCat("@braid-podmgr/", ::getpid(), "/node");
    options.socket_names.endpoint = absl::StrCat("@braid-podmgr/", ::getpid(), "/endpoint");
    names_ = options.socket_names;
    manager_ = std::make_unique<PodManager>(config_, *registry_, datapath_, options);
  }
  v1::CniAddRequest AddRequest(const std::string& netns, const std::string& id = "ctr1") {
    v1::CniAddRequest r;
    r.mutable_attachment()->set_container_id(id);
    r.mutable_attachment()->set_ifname("eth0");
    r.set_netns_path(netns);
    r.mutable_pod()->set_namespace_("default");
    r.mutable_pod()->set_name("web");
    r.set_network_name("braid");
    for (const char* p : {"path0", "path1"}) {
      v1::PathIpConfig* path = r.add_paths();
      path->set_path(p);
      path->add_ips()->set_address(std::string(p) == "path0" ? "10.90.0.10/24" : "10.91.0.10/24");
    }
    return r;
  }
  v1::CniDelRequest DelRequest(const std::string& id = "ctr1") {
    v1::CniDelRequest r;
    r.mutable_attachment()->set_container_id(id);
    r.mutable_attachment()->set_ifname("eth0");
    return r;
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
  AgentConfig config_ = TwoPaths();
  FakeDatapath datapath_;
  std::unique_ptr<PodRegistry> registry_;
  std::unique_ptr<PodManager> manager_;
  PodSocketNames names_;
};

TEST_F(PodManagerTest, AddServesThePodAtItsAddressesWithItsOptionsAndRecordsIt) {
  TestNetns ns;
  NEED_NETNS(ns);
  v1::CniAddRequest request = AddRequest(ns.path());
  v1::PodOption* o = request.add_options();
  o->set_name("scheduler");
  o->set_value("roundrobin");
  o->set_source(v1::OPTION_SOURCE_POD_ANNOTATION);
  absl::StatusOr<v1::CniAddResponse> r = manager_->Add(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->socket_path(), names_.channel);
  ASSERT_EQ(datapath_.added.size(), 1u);
  const FakeDatapath::Added& a = datapath_.added[0];
  EXPECT_EQ(a.id, "ctr1/eth0");
  ASSERT_EQ(a.addresses.size(), 2u);
  EXPECT_EQ(a.addresses[1].interface, 1u);
  EXPECT_EQ(a.addresses[1].prefix_len, 24);
  EXPECT_EQ(a.policy.scheduler, "roundrobin");
  // One endpoint per pod address: it announces and opens subflows; path1 is a backup path.
  ASSERT_EQ(a.policy.path_manager.endpoints.size(), 2u);
  EXPECT_TRUE(a.policy.path_manager.endpoints[1].signal);
  EXPECT_TRUE(a.policy.path_manager.endpoints[1].subflow);
  EXPECT_FALSE(a.policy.path_manager.endpoints[0].backup);
  EXPECT_TRUE(a.policy.path_manager.endpoints[1].backup);
  // The channel's name is bound in the pod's namespace; the record survives a new registry.
  EXPECT_TRUE(Reachable(ns.path(), names_.channel));
  Reopen();
  std::vector<v1::Pod> pods = manager_->List({});
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].options().scheduler(), "roundrobin");
  // ADD twice for one attachment is refused.
  EXPECT_TRUE(absl::IsAlreadyExists(manager_->Add(request).status()));
}

TEST_F(PodManagerTest, AFailedAddLeavesNothingBehind) {
  TestNetns ns;
  NEED_NETNS(ns);
  datapath_.refuse = absl::AlreadyExistsError("address 10.90.0.10 taken");
  absl::StatusOr<v1::CniAddResponse> r = manager_->Add(AddRequest(ns.path()));
  EXPECT_TRUE(absl::IsAlreadyExists(r.status())) << r.status();
  EXPECT_TRUE(manager_->List({}).empty());
  EXPECT_FALSE(Reachable(ns.path(), names_.channel));

  // Bad input, each refused before anything is bound.
  datapath_.refuse = absl::OkStatus();
  v1::CniAddRequest outside = AddRequest(ns.path());
  outside.mutable_paths(0)->mutable_ips(0)->set_address("10.99.0.10/24");
  EXPECT_TRUE(absl::IsInvalidArgument(manager_->Add(outside).status()));
  v1::CniAddRequest unknown_path = AddRequest(ns.path());
  unknown_path.mutable_paths(1)->set_path("path7");
  EXPECT_TRUE(absl::IsInvalidArgument(manager_->Add(unknown_path).status()));
  v1::CniAddRequest bad_option = AddRequest(ns.path());
  bad_option.add_options()->set_name("schedular");
  EXPECT_TRUE(absl::IsInvalidArgument(manager_->Add(bad_option).status()));
  v1::CniAddRequest no_netns = AddRequest(ns.dir() + "/missing");
  EXPECT_FALSE(manager_->Add(no_netns).ok());
  v1::CniAddRequest bad_id = AddRequest(ns.path(), "../../etc");
  EXPECT_TRUE(absl::IsInvalidArgument(manager_->Add(bad_id).status()));
  EXPECT_TRUE(datapath_.added.empty());
  EXPECT_TRUE(manager_->List({}).empty());
  EXPECT_FALSE(Reachable(ns.path(), names_.channel));
}

TEST_F(PodManagerTest, DelCheckAndGc) {
  TestNetns ns;
  NEED_NETNS(ns);
  TestNetns other;
  NEED_NETNS(other);
  ASSERT_TRUE(manager_->Add(AddRequest(ns.path(), "ctr1")).ok());
  v1::CniAddRequest second = AddRequest(other.path(), "ctr2");
  second.mutable_paths(0)->mutable_ips(0)->set_address("10.90.0.11/24");
  second.mutable_paths(1)->mutable_ips(0)->set_address("10.91.0.11/24");
  ASSERT_TRUE(manager_->Add(second).ok());
  // CHECK: the same netns and addresses pass; other addresses do not.
  v1::CniCheckRequest check;
  *check.mutable_attachment() = AddRequest(ns.path()).attachment();
  check.set_netns_path(ns.path());
  *check.mutable_paths() = AddRequest(ns.path()).paths();
  EXPECT_TRUE(manager_->Check(check).ok());
  check.mutable_paths(0)->mutable_ips(0)->set_address("10.90.0.11/24");
  EXPECT_TRUE(absl::IsFailedPrecondition(manager_->Check(check)));

  // GC keeps the valid attachments only.
  v1::CniGcRequest gc;
  gc.set_network_name("braid");
  *gc.add_valid_attachments() = second.attachment();
  absl::StatusOr<v1::CniGcResponse> removed = manager_->Gc(gc);
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_EQ(removed->removed_attachments_size(), 1);
  EXPECT_EQ(removed->removed_attachments(0).container_id(), "ctr1");
  ASSERT_EQ(manager_->List({}).size(), 1u);
  EXPECT_EQ(datapath_.live, std::vector<std::string>{"ctr2/eth0"});
  EXPECT_FALSE(Reachable(ns.path(), names_.channel));
  EXPECT_TRUE(Reachable(other.path(), names_.channel));
  EXPECT_TRUE(manager_->Del(DelRequest("ctr2")).ok());
  EXPECT_TRUE(manager_->List({}).empty());
  // DEL of what is gone succeeds, twice, and for an id that could never exist.
  EXPECT_TRUE(manager_->Del(DelRequest("ctr1")).ok());
  EXPECT_TRUE(manager_->Del(DelRequest("ctr1")).ok());
  EXPECT_TRUE(manager_->Del(DelRequest("../x")).ok());
  v1::CniCheckRequest gone;
  *gone.mutable_attachment() = AddRequest(ns.path()).attachment();
  EXPECT_TRUE(absl::IsNotFound(manager_->Check(gone)));
}

TEST_F(PodManagerTest, RestoreServesPodsWhoseNamespaceStillExistsAndDropsTheOthers) {
  auto kept = std::make_unique<TestNetns>();
  NEED_NETNS(*kept);
  auto gone = std::make_unique<TestNetns>();
  NEED_NETNS(*gone);
  ASSERT_TRUE(manager_->Add(AddRequest(kept->path(), "kept")).ok());
  ASSERT_TRUE(manager_->Add(AddRequest(gone->path(), "gone")).ok());
  // The agent restarts: a new datapath knows no pod; one pod's namespace went away meanwhile.
  datapath_.listeners.clear();
  datapath_.live.clear();
  datapath_.added.clear();
  gone.reset();
  Reopen();
  const std::vector<std::string> log = manager_->Restore();
  ASSERT_EQ(log.size(), 2u);
  ASSERT_EQ(datapath_.live.size(), 1u);
  EXPECT_EQ(datapath_.live[0], "kept/eth0");
  EXPECT_TRUE(Reachable(kept->path(), names_.channel));
  std::vector<v1::Pod> pods = manager_->List({});
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].container_id(), "kept");
}

}  // namespace
}  // namespace braid::agent
