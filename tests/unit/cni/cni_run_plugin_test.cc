// cni/plugin.h in process, for what happens before host-local or the agent are needed: VERSION,
// and the order in which bad input is reported (environment 4, stdin 6, version 1, verb floor 1,
// configuration 7), each as the CNI error JSON with exit status 1.
#include <gtest/gtest.h>

#include <string>

#include "cni/json.h"
#include "cni/plugin.h"

namespace braid::cni {
namespace {

constexpr char kConfig[] = R"({"cniVersion": "1.0.0", "name": "braid",
  "agentSocket": "/nonexistent/braid-test/agent.sock",
  "paths": [{"name": "path0", "ranges": [{"subnet": "10.10.0.0/24"}]}],
  "ipam": {"type": "host-local"}})";

EnvMap Env(std::string command) {
  return {{"CNI_COMMAND", std::move(command)},
          {"CNI_CONTAINERID", "c1"},
          {"CNI_NETNS", "/var/run/netns/pod"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/nonexistent/braid-test"}};
}

TEST(RunPluginTest, Version) {
  PluginOutput out = RunPlugin({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion": "0.4.0"})");
  EXPECT_EQ(out.exit_status, 0);
  EXPECT_EQ(out.stdout_text,
            "{\"cniVersion\":\"0.4.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\","
            "\"1.0.0\",\"1.1.0\"]}\n");
  // No stdin, or a version braid-cni does not have: answered in the latest.
  out = RunPlugin({{"CNI_COMMAND", "VERSION"}}, "");
  EXPECT_EQ(out.stdout_text.substr(0, 24), "{\"cniVersion\":\"1.1.0\",\"s");
  EXPECT_EQ(RunPlugin({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion": "0.2.0"})")
                .stdout_text.substr(0, 23),
            "{\"cniVersion\":\"1.1.0\",\"");
}

TEST(RunPluginTest, ErrorsInOrder) {
  const struct {
    EnvMap env;
    std::string stdin_text;
    std::string out;
  } cases[] = {
      {{}, kConfig, R"({"cniVersion":"1.0.0","code":4,"msg":"CNI_COMMAND: missing"})"},
      {Env("ADD"), "{",
       R"({"cniVersion":"1.1.0","code":6,"msg":"network configuration (stdin): )"
       R"(Unexpected end of string. Expected an object key or }."})"},
      {Env("ADD"), "\"braid\"",
       R"({"cniVersion":"1.1.0","code":6,"msg":"network configuration: expected a JSON object, )"
       R"(got a string"})"},
      {Env("ADD"), R"({"cniVersion": "0.2.0"})",
       R"({"cniVersion":"0.2.0","code":1,"msg":"incompatible CNI versions: the configuration )"
       R"(offers \"0.2.0\", braid-cni supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0","details":)"
       R"("supported versions: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"})"},
      {Env("GC"), kConfig,
       R"({"cniVersion":"1.0.0","code":1,"msg":"config version does not allow GC: GC needs )"
       R"(cniVersion 1.1.0 or later, the configuration is 1.0.0"})"},
      {Env("ADD"), R"({"cniVersion": "1.0.0", "name": "braid"})",
       R"j({"cniVersion":"1.0.0","code":7,"msg":"paths: missing (braid-cni needs at least one )j"
       R"j(path)"})j"},
      {Env("ADD"), kConfig,
       R"j({"cniVersion":"1.0.0","code":4,"msg":"CNI_PATH \"/nonexistent/braid-test\": no )j"
       R"j(executable host-local in it (braid-cni delegates IPAM to it)"})j"},
  };
  for (const auto& c : cases) {
    const PluginOutput out = RunPlugin(c.env, c.stdin_text);
    EXPECT_EQ(out.exit_status, 1) << c.stdin_text;
    EXPECT_EQ(out.stdout_text, c.out + "\n");
  }
}

// STATUS needs neither CNI_PATH nor host-local; an agent that is not there is "not available".
TEST(RunPluginTest, StatusWithoutTheAgent) {
  JsonValue config = *ParseJson(kConfig);
  SetField(config, "cniVersion", JsonString("1.1.0"));
  SetField(config, "timeoutSeconds", JsonNumber(1));
  const PluginOutput out = RunPlugin({{"CNI_COMMAND", "STATUS"}}, WriteJson(config));
  EXPECT_EQ(out.exit_status, 1);
  const JsonValue error = *ParseJson(out.stdout_text);
  EXPECT_EQ(WriteJson(*FindField(error, "code")), "50");
  EXPECT_EQ(FindField(error, "details")->string_value(), "UNAVAILABLE");
  EXPECT_TRUE(FindField(error, "msg")
                  ->string_value()
                  .starts_with("agent at unix:/nonexistent/braid-test/agent.sock: Status: "))
      << out.stdout_text;
}

}  // namespace
}  // namespace braid::cni
