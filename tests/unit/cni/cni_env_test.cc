// cni/env.h: the CNI_* variables each verb needs, their syntax, the pod in CNI_ARGS.
#include <gtest/gtest.h>

#include <string>

#include "cni/env.h"
#include "cni/error.h"

namespace braid::cni {
namespace {

EnvMap AddEnv() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "3f6940ab5ab4"},
          {"CNI_NETNS", "/var/run/netns/pod"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/opt/cni/bin:/usr/lib/cni"},
          {"CNI_ARGS",
           "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;"
           "K8S_POD_INFRA_CONTAINER_ID=3f69;K8S_POD_UID=0a1b-2c"}};
}

std::string ErrorOf(const EnvMap& env) {
  const absl::StatusOr<CniEnv> parsed = ParseEnv(env);
  if (parsed.ok()) return "ok";
  const CniError error = ToCniError(parsed.status());
  return std::to_string(error.code) + " " + error.msg;
}

TEST(EnvTest, ReadsAnAdd) {
  const absl::StatusOr<CniEnv> env = ParseEnv(AddEnv());
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->command, Command::kAdd);
  EXPECT_EQ(env->container_id, "3f6940ab5ab4");
  EXPECT_EQ(env->netns, "/var/run/netns/pod");
  EXPECT_EQ(env->ifname, "eth0");
  EXPECT_EQ(env->cni_path, "/opt/cni/bin:/usr/lib/cni");
  EXPECT_EQ(env->pod.namespace_(), "shop");
  EXPECT_EQ(env->pod.name(), "web-0");
  EXPECT_EQ(env->pod.uid(), "0a1b-2c");
}

TEST(EnvTest, EachVerbNeedsItsVariables) {
  for (const char* command : {"ADD", "CHECK"}) {
    EnvMap env = AddEnv();
    env["CNI_COMMAND"] = command;
    env.erase("CNI_NETNS");
    env.erase("CNI_PATH");
    EXPECT_EQ(ErrorOf(env),
              "4 CNI_NETNS, CNI_PATH: missing (" + std::string(command) + " needs them)");
  }
  EnvMap del = AddEnv();
  del["CNI_COMMAND"] = "DEL";
  del.erase("CNI_NETNS");  // the namespace may be gone
  EXPECT_EQ(ErrorOf(del), "ok");
  del.erase("CNI_CONTAINERID");
  EXPECT_EQ(ErrorOf(del), "4 CNI_CONTAINERID: missing (DEL needs them)");
  EXPECT_EQ(ErrorOf({{"CNI_COMMAND", "GC"}}), "4 CNI_PATH: missing (GC needs them)");
  EXPECT_EQ(ErrorOf({{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/opt/cni/bin"}}), "ok");
  EXPECT_EQ(ErrorOf({{"CNI_COMMAND", "STATUS"}}), "ok");
  EXPECT_EQ(ErrorOf({{"CNI_COMMAND", "VERSION"}}), "ok");
  EXPECT_EQ(ErrorOf({}), "4 CNI_COMMAND: missing");
  EXPECT_EQ(ErrorOf({{"CNI_COMMAND", "add"}}),
            "4 CNI_COMMAND: unknown command \"add\" (ADD, DEL, CHECK, STATUS, GC, VERSION)");
}

TEST(EnvTest, ContainerIdsAndInterfaceNamesFollowTheSpec) {
  EXPECT_FALSE(ContainerIdError("a"));
  EXPECT_FALSE(ContainerIdError("9_a.b-c"));
  EXPECT_TRUE(ContainerIdError(""));
  EXPECT_TRUE(ContainerIdError("_a"));
  EXPECT_TRUE(ContainerIdError("a/b"));
  EXPECT_TRUE(ContainerIdError("a b"));
  EXPECT_FALSE(InterfaceNameError("eth0"));
  EXPECT_FALSE(InterfaceNameError("a23456789012345"));
  EXPECT_TRUE(InterfaceNameError("a234567890123456"));
  EXPECT_TRUE(InterfaceNameError("."));
  EXPECT_TRUE(InterfaceNameError(".."));
  EXPECT_TRUE(InterfaceNameError("eth:0"));
  EXPECT_TRUE(InterfaceNameError("eth 0"));
  EXPECT_TRUE(InterfaceNameError("a/b"));

  EnvMap env = AddEnv();
  env["CNI_CONTAINERID"] = "-x";
  EXPECT_EQ(ErrorOf(env), "4 CNI_CONTAINERID \"-x\": must start with a letter or a digit");
  env = AddEnv();
  env["CNI_IFNAME"] = "net/1";
  EXPECT_EQ(ErrorOf(env), "4 CNI_IFNAME \"net/1\": must not contain '/', ':' or white space");
}

TEST(EnvTest, CniArgsArePairs) {
  EnvMap env = AddEnv();
  env["CNI_ARGS"] = "";
  EXPECT_EQ(ErrorOf(env), "ok");
  env["CNI_ARGS"] = ";K8S_POD_NAME=a=b;;";
  const absl::StatusOr<CniEnv> parsed = ParseEnv(env);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->pod.name(), "a=b");
  env["CNI_ARGS"] = "K8S_POD_NAME=web;oops";
  EXPECT_EQ(ErrorOf(env), "4 CNI_ARGS: \"oops\" is not KEY=VALUE (pairs are separated by ';')");
  env["CNI_ARGS"] = "=x";
  EXPECT_EQ(ErrorOf(env), "4 CNI_ARGS: \"=x\" is not KEY=VALUE (pairs are separated by ';')");
}

TEST(EnvTest, CommandNames) {
  for (const Command command : {Command::kAdd, Command::kDel, Command::kCheck, Command::kStatus,
                                Command::kGc, Command::kVersion}) {
    EXPECT_EQ(ParseCommand(CommandName(command)), command);
  }
  EXPECT_FALSE(ParseCommand("FINALIZE"));
}

}  // namespace
}  // namespace braid::cni
