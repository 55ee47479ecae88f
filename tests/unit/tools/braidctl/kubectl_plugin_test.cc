// kubectl-braid without kubectl: its options, the pod list it reads, the pod it picks (or why
// none), and the kubectl command lines it would run.
#include "tools/braidctl/kubectl_plugin.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braid::braidctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A pod list as `kubectl get pods -o json` prints it (trimmed to what matters and a bit more).
constexpr char kPodList[] = R"({
  "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
  "items": [
    {"metadata": {"name": "braid-agent-x7k2p", "namespace": "braid-system",
                  "labels": {"app.kubernetes.io/name": "braid-agent"}},
     "spec": {"nodeName": "node-b", "containers": [{"name": "braid-agent"}]},
     "status": {"phase": "Running", "podIP": "10.0.0.5"}},
    {"metadata": {"name": "braid-agent-a1b2c", "deletionTimestamp": "2024-01-01T00:00:00Z"},
     "spec": {"nodeName": "node-a"}, "status": {"phase": "Running"}},
    {"metadata": {"name": "braid-agent-q9w8e"},
     "spec": {"nodeName": "node-a"}, "status": {"phase": "Running"}},
    {"metadata": {"name": "braid-agent-pend1"}, "spec": {}, "status": {"phase": "Pending"}}
  ]
})";

PluginInvocation Plugin(std::vector<std::string> args) {
  absl::StatusOr<PluginInvocation> plugin = ParsePluginArgs(args);
  EXPECT_TRUE(plugin.ok()) << plugin.status();
  return plugin.value_or(PluginInvocation());
}

std::vector<AgentPod> Pods(std::string_view json) {
  absl::StatusOr<std::vector<AgentPod>> pods = ParsePodList(json);
  EXPECT_TRUE(pods.ok()) << pods.status();
  return pods.value_or(std::vector<AgentPod>());
}

TEST(KubectlPluginTest, OptionsComeFirstThenBraidctlsCommandLine) {
  PluginInvocation plugin =
      Plugin({"--node", "node-a", "-n", "kube-braid", "--context=prod", "--kubeconfig", "/k.yaml",
              "-o", "json", "connections", "--pod", "default/web-0"});
  EXPECT_EQ(plugin.node, "node-a");
  EXPECT_EQ(plugin.namespace_, "kube-braid");
  EXPECT_EQ(plugin.context, "prod");
  EXPECT_EQ(plugin.kubeconfig, "/k.yaml");
  EXPECT_THAT(plugin.braidctl_args,
              ElementsAre("-o", "json", "connections", "--pod", "default/web-0"));

  plugin = Plugin({"status"});
  EXPECT_EQ(plugin.node, "");
  EXPECT_EQ(plugin.namespace_, "braid-system");
  EXPECT_THAT(plugin.braidctl_args, ElementsAre("status"));

  // After --, even a plugin option's name belongs to braidctl.
  plugin = Plugin({"--node", "n", "--", "--node", "x"});
  EXPECT_THAT(plugin.braidctl_args, ElementsAre("--node", "x"));

  EXPECT_TRUE(Plugin({"--help"}).help);
  EXPECT_EQ(ParsePluginArgs({}).status().message(), "no command");
  EXPECT_EQ(ParsePluginArgs({"--node", "n"}).status().message(), "no command");
  EXPECT_EQ(ParsePluginArgs({"status", "--node"}).value().braidctl_args.size(), 2u);
  EXPECT_EQ(ParsePluginArgs({"--context"}).status().message(), "--context: needs a value");
  EXPECT_EQ(ParsePluginArgs({"--node=", "status"}).status().message(), "--node: empty value");
  EXPECT_THAT(PluginUsageText(), HasSubstr("usage: kubectl braid"));
  EXPECT_THAT(PluginUsageText(), HasSubstr("usage: braidctl")) << "braidctl's usage follows";
}

TEST(KubectlPluginTest, ReadsThePodList) {
  const std::vector<AgentPod> pods = Pods(kPodList);
  ASSERT_EQ(pods.size(), 4u);
  EXPECT_EQ(pods[0].name, "braid-agent-x7k2p");
  EXPECT_EQ(pods[0].node, "node-b");
  EXPECT_EQ(pods[0].phase, "Running");
  EXPECT_FALSE(pods[0].terminating);
  EXPECT_TRUE(pods[1].terminating);
  EXPECT_EQ(pods[3].node, "");
  EXPECT_EQ(pods[3].phase, "Pending");
  EXPECT_TRUE(Pods(R"({"kind": "List", "items": []})").empty());
  EXPECT_FALSE(ParsePodList("not json").ok());
  EXPECT_FALSE(ParsePodList(R"({"kind": "Pod"})").ok());
}

TEST(KubectlPluginTest, PicksTheRunningPodOnTheNode) {
  const std::vector<AgentPod> pods = Pods(kPodList);
  EXPECT_EQ(*SelectAgentPod(pods, Plugin({"--node", "node-b", "status"})), "braid-agent-x7k2p");
  // node-a's old pod is terminating: its replacement is the one.
  EXPECT_EQ(*SelectAgentPod(pods, Plugin({"--node", "node-a", "status"})), "braid-agent-q9w8e");

  absl::StatusOr<std::string> none = SelectAgentPod(pods, Plugin({"--node", "node-z", "status"}));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(none.status().message(),
            "no braid-agent pod on node node-z in namespace braid-system "
            "(label app.kubernetes.io/name=braid-agent)");

  std::vector<AgentPod> starting = {{"braid-agent-s", "node-c", "Pending", false}};
  absl::StatusOr<std::string> pending =
      SelectAgentPod(starting, Plugin({"--node", "node-c", "status"}));
  EXPECT_EQ(pending.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pending.status().message(), "braid-agent pod braid-agent-s on node node-c is Pending");

  std::vector<AgentPod> twins = {{"b", "node-c", "Running", false},
                                 {"a", "node-c", "Running", false}};
  EXPECT_EQ(SelectAgentPod(twins, Plugin({"--node", "node-c", "status"})).status().message(),
            "several running braid-agent pods on node node-c: a, b");
}

TEST(KubectlPluginTest, WithoutANodeOnlyASinglePod) {
  std::vector<AgentPod> one = {{"braid-agent-1", "node-a", "Running", false}};
  EXPECT_EQ(*SelectAgentPod(one, Plugin({"status"})), "braid-agent-1");

  absl::StatusOr<std::string> several = SelectAgentPod(Pods(kPodList), Plugin({"status"}));
  EXPECT_EQ(several.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(several.status().message(),
            "4 braid-agent pods in namespace braid-system (label "
            "app.kubernetes.io/name=braid-agent), on nodes (unscheduled), node-a, node-b: choose "
            "one with --node NODE");

  absl::StatusOr<std::string> none = SelectAgentPod({}, Plugin({"-n", "other", "status"}));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(none.status().message(),
            "no braid-agent pod in namespace other (label app.kubernetes.io/name=braid-agent)");

  one[0].terminating = true;
  EXPECT_EQ(SelectAgentPod(one, Plugin({"status"})).status().message(),
            "braid-agent pod braid-agent-1 on node node-a is terminating");
}

TEST(KubectlPluginTest, KubectlCommandLines) {
  PluginInvocation plugin = Plugin({"--node", "node-a", "--context", "prod", "capture", "--path",
                                    "path0", "--count", "5", "-w", "-"});
  EXPECT_THAT(GetPodsArgv(plugin),
              ElementsAre("kubectl", "--context", "prod", "get", "pods", "-n", "braid-system", "-l",
                          "app.kubernetes.io/name=braid-agent", "--field-selector",
                          "spec.nodeName=node-a", "-o", "json"));
  EXPECT_THAT(ExecArgv(plugin, "braid-agent-q9w8e"),
              ElementsAre("kubectl", "--context", "prod", "exec", "-n", "braid-system",
                          "braid-agent-q9w8e", "-c", "braid-agent", "--", "braidctl", "capture",
                          "--path", "path0", "--count", "5", "-w", "-"));

  plugin = Plugin({"--kubeconfig", "/k", "status"});
  EXPECT_THAT(GetPodsArgv(plugin),
              ElementsAre("kubectl", "--kubeconfig", "/k", "get", "pods", "-n", "braid-system",
                          "-l", "app.kubernetes.io/name=braid-agent", "-o", "json"));
}

}  // namespace
}  // namespace braid::braidctl
