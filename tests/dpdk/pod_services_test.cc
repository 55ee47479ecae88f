// PodServicesApp on a running datapath (a net_null port, the worker on its own thread, the EAL
// without hugepages): pods come and go while the worker runs, through the mailbox; their
// addresses are added and removed with them and nothing stays half-added when a pod is refused;
// apps attach to a pod's channel; stopping the worker fails later calls cleanly.
#include "datapath/channel/service/pod_services.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "datapath/channel/handover.h"
#include "datapath/runtime/datapath.h"
#include "tests/dpdk/dpdk_test_env.h"

namespace braid::channel {
namespace {

using namespace std::chrono_literals;

std::string SocketName(const char* what) {
  static std::atomic<int> n{0};
  return "@braid-podsvc-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(n++);
}

ChannelListener Bound(const std::string& name) {
  absl::StatusOr<ChannelListener> l = ChannelListener::Bind(name);
  EXPECT_TRUE(l.ok()) << l.status();
  return std::move(*l);
}

wire::Ipv4Address V4(uint8_t last) { return wire::Ipv4Address{{10, 77, 0, last}}; }

class PodServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime::DatapathConfig config;
    config.eal = io::testing::TestEalConfig();
    runtime::PathConfig path;
    path.port = io::testing::UniqueName("net_null");
    path.ipv4 = {net::Ipv4Cidr{V4(1), 24}};
    config.paths = {path};
    config.mptcp = mptcp::MptcpConfig{};
    config.idle.mode = runtime::IdleMode::kAdaptive;
    absl::StatusOr<std::unique_ptr<runtime::Datapath>> dp = runtime::Datapath::Start(config);
    ASSERT_TRUE(dp.ok()) << dp.status();
    datapath_ = std::move(*dp);
    absl::StatusOr<std::unique_ptr<PodServicesApp>> app = PodServicesApp::Create({});
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = std::move(*app);
    runner_ = std::thread([this] {
      runtime::WorkerApp* apps[] = {app_.get()};
      run_status_ = datapath_->Run(apps);
    });
    // The mailbox opens when the worker starts the app.
    for (int i = 0;
         i < 500 &&
         app_->Call<int>([](runtime::Worker&, tcp::Instant) { return 0; }).status().code() ==
             absl::StatusCode::kUnavailable;
         ++i) {
      std::this_thread::sleep_for(2ms);
    }
  }
  void TearDown() override {
    if (runner_.joinable()) {
      app_->RequestStop();
      runner_.join();
    }
  }

  PodServiceSpec Spec(const std::string& id, const std::string& name,
                      std::vector<wire::IpAddress> addresses) {
    PodServiceSpec spec{id, Bound(name), {}, nullptr, {}, {}};
    for (const wire::IpAddress& a : addresses) spec.addresses.push_back({0, a, 24});
    return spec;
  }
  bool HasAddress(const wire::IpAddress& a) {
    absl::StatusOr<bool> r = app_->Call<bool>(
        [a](runtime::Worker& w, tcp::Instant) { return w.net().InterfaceOf(a).has_value(); });
    return r.ok() && *r;
  }

  std::unique_ptr<runtime::Datapath> datapath_;
  std::unique_ptr<PodServicesApp> app_;
  std::thread runner_;
  absl::Status run_status_;
};

TEST_F(PodServicesTest, PodsComeAndGoWithTheirAddressesWhileTheWorkerRuns) {
  const std::string name_a = SocketName("a");
  ASSERT_TRUE(app_->AddPod(Spec("pod-a", name_a, {V4(11)})).ok());
  EXPECT_TRUE(HasAddress(V4(11)));

  // An app attaches to the pod's channel; the worker sleeps meanwhile (adaptive idle) and the
  // hello wakes it.
  std::this_thread::sleep_for(50ms);
  absl::StatusOr<ChannelConnection> conn = ConnectChannel(name_a, "app-in-pod-a");
  ASSERT_TRUE(conn.ok()) << conn.status();
  std::vector<PodServiceInfo> pods = app_->Pods();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].id, "pod-a");
  ASSERT_EQ(pods[0].sessions.size(), 1u);
  EXPECT_EQ(pods[0].sessions[0].name, "app-in-pod-a");
  EXPECT_EQ(pods[0].counters[ServiceCounter::kAppsAttached], 1u);

  // Refusals leave nothing behind: the same id; an address pod-a has (the second address of
  // the spec was added first and is removed again); a bad MPTCP policy.
  absl::Status same_id = app_->AddPod(Spec("pod-a", SocketName("x"), {V4(12)}));
  EXPECT_TRUE(absl::IsAlreadyExists(same_id)) << same_id;
  absl::Status taken = app_->AddPod(Spec("pod-b", SocketName("b"), {V4(13), V4(11)}));
  EXPECT_TRUE(absl::IsAlreadyExists(taken)) << taken;
  EXPECT_NE(taken.message().find("10.77.0.11"), std::string::npos) << taken;
  EXPECT_FALSE(HasAddress(V4(13)));
  PodServiceSpec bad = Spec("pod-c", SocketName("c"), {V4(14)});
  auto policy = std::make_shared<mptcp::ConnectionPolicy>();
  policy->scheduler = "no-such-scheduler";
  bad.policy = policy;
  absl::Status bad_policy = app_->AddPod(std::move(bad));
  EXPECT_TRUE(absl::IsInvalidArgument(bad_policy)) << bad_policy;
  EXPECT_FALSE(HasAddress(V4(14)));
  EXPECT_EQ(app_->Pods().size(), 1u);

  // Removing the pod ends its apps' sessions (their unix connection hangs up) and its address.
  ASSERT_TRUE(app_->RemovePod("pod-a").ok());
  char byte;
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(conn->connection.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  EXPECT_EQ(::recv(conn->connection.get(), &byte, 1, 0), 0);
  EXPECT_FALSE(HasAddress(V4(11)));
  EXPECT_TRUE(absl::IsNotFound(app_->RemovePod("pod-a")));
  EXPECT_TRUE(app_->Pods().empty());
  // The name is free again, and so is the address.
  EXPECT_TRUE(app_->AddPod(Spec("pod-a", name_a, {V4(11)})).ok());
}

TEST_F(PodServicesTest, CallsAfterTheWorkerStoppedFailCleanly) {
  ASSERT_TRUE(app_->AddPod(Spec("pod-a", SocketName("a"), {V4(21)})).ok());
  app_->RequestStop();
  datapath_->Stop();
  runner_.join();
  EXPECT_TRUE(run_status_.ok()) << run_status_;
  absl::Status late = app_->AddPod(Spec("pod-b", SocketName("b"), {V4(22)}));
  EXPECT_TRUE(absl::IsUnavailable(late)) << late;
  EXPECT_TRUE(app_->Pods().empty());
}

}  // namespace
}  // namespace braid::channel

int main(int argc, char** argv) { return braid::io::testing::RunDpdkTests(argc, argv); }
