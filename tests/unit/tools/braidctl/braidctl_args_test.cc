// braidctl's command line: each command fills the request the agent gets, global options go
// before or after the command, and every mistake is a usage error naming what was wrong.
#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/braidctl/args.h"

namespace braid::braidctl {
namespace {

using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

absl::StatusOr<Invocation> Parse(std::vector<std::string> args, std::string_view env = "") {
  return ParseArgs(args, env);
}

// The usage error's message, or "<ok>".
std::string Error(std::vector<std::string> args) {
  absl::StatusOr<Invocation> inv = Parse(std::move(args));
  if (inv.ok()) return "<ok>";
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(inv.status().message());
}

TEST(BraidctlArgsTest, DefaultsAndGlobalOptionsOnEitherSide) {
  absl::StatusOr<Invocation> inv = Parse({"status"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, Command::kStatus);
  EXPECT_EQ(inv->command_name, "status");
  EXPECT_EQ(inv->socket, "/run/braid/agent.sock");
  EXPECT_EQ(inv->output, OutputFormat::kTable);
  EXPECT_EQ(inv->timeout, seconds(10));
  EXPECT_FALSE(inv->raw);

  inv = Parse({"--socket", "/tmp/a.sock", "-o", "json", "status", "--timeout=2.5", "--raw"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->socket, "/tmp/a.sock");
  EXPECT_EQ(inv->output, OutputFormat::kJson);
  EXPECT_EQ(inv->timeout, milliseconds(2500));
  EXPECT_TRUE(inv->raw);

  inv = Parse({"-ojson", "paths", "--output=table"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, Command::kPaths);
  EXPECT_EQ(inv->output, OutputFormat::kTable) << "the last one wins";
}

TEST(BraidctlArgsTest, SocketFromTheEnvironmentUnlessGiven) {
  absl::StatusOr<Invocation> inv = Parse({"status"}, "/env/agent.sock");
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->socket, "/env/agent.sock");
  inv = Parse({"status", "--socket=/flag.sock"}, "/env/agent.sock");
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->socket, "/flag.sock");
}

TEST(BraidctlArgsTest, PodsAndConnectionsFilters) {
  absl::StatusOr<Invocation> inv = Parse({"pods", "-n", "default", "--name=web-0"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->pods.pod().namespace_(), "default");
  EXPECT_EQ(inv->pods.pod().name(), "web-0");

  inv = Parse({"connections", "--pod", "prod/db-1", "--path", "path1", "--subflows"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->connections.pod().namespace_(), "prod");
  EXPECT_EQ(inv->connections.pod().name(), "db-1");
  EXPECT_EQ(inv->connections.path(), "path1");
  EXPECT_TRUE(inv->connections.include_subflows());
  EXPECT_EQ(inv->connections.page_size(), 0u) << "the agent's default page";

  inv = Parse({"connections", "--pod", "db-1"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->connections.pod().namespace_(), "");
  EXPECT_EQ(inv->connections.pod().name(), "db-1");
}

TEST(BraidctlArgsTest, SubflowsTakesOneConnectionId) {
  absl::StatusOr<Invocation> inv = Parse({"subflows", "18446744073709551615"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->subflows.connection_id(), 18446744073709551615u);
  EXPECT_EQ(Error({"subflows"}), "subflows: expected one CONNECTION_ID");
  EXPECT_EQ(Error({"subflows", "1", "2"}), "subflows: expected one CONNECTION_ID");
  EXPECT_EQ(Error({"subflows", "x7"}),
            "subflows: CONNECTION_ID: \"x7\" is not a non-negative integer");
  EXPECT_EQ(Error({"subflows", "0"}), "subflows: CONNECTION_ID: must be at least 1");
}

TEST(BraidctlArgsTest, CountersSubsystemsRepeatAndSplit) {
  absl::StatusOr<Invocation> inv =
      Parse({"counters", "--subsystem", "mptcp,tcp", "--subsystem=net", "--all", "--per-worker"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->counters.subsystems_size(), 3);
  EXPECT_EQ(inv->counters.subsystems(0), "mptcp");
  EXPECT_EQ(inv->counters.subsystems(1), "tcp");
  EXPECT_EQ(inv->counters.subsystems(2), "net");
  EXPECT_TRUE(inv->counters.include_zero());
  EXPECT_TRUE(inv->counters.per_worker());
  EXPECT_EQ(Error({"counters", "--subsystem", "mptcp,,tcp"}),
            "--subsystem: empty subsystem name in \"mptcp,,tcp\"");
  EXPECT_EQ(Error({"counters", "--all=yes"}), "--all: takes no value");
}

TEST(BraidctlArgsTest, CaptureFillsTheRequest) {
  absl::StatusOr<Invocation> inv =
      Parse({"capture", "--connection", "42", "--count", "3", "--bytes", "64K", "--duration", "1m",
             "--snaplen", "128", "-w", "out.pcap"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->capture.connection_id(), 42u);
  EXPECT_EQ(inv->capture.max_packets(), 3u);
  EXPECT_EQ(inv->capture.max_bytes(), 65536u);
  EXPECT_EQ(TimeUtil::DurationToSeconds(inv->capture.max_duration()), 60);
  EXPECT_EQ(inv->capture.snaplen(), 128u);
  EXPECT_EQ(inv->capture_output, "out.pcap");

  inv = Parse({"capture", "--path", "path0", "--duration", "500ms", "-w", "-"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->capture.path(), "path0");
  EXPECT_EQ(TimeUtil::DurationToMilliseconds(inv->capture.max_duration()), 500);
  EXPECT_EQ(inv->capture.max_packets(), 0u);
  EXPECT_EQ(inv->capture_output, "-");
}

TEST(BraidctlArgsTest, CaptureNeedsATargetALimitAndAnOutput) {
  EXPECT_EQ(Error({"capture", "--count", "1", "-w", "x"}),
            "capture: needs --connection ID or --path PATH");
  EXPECT_EQ(Error({"capture", "--path", "p", "-w", "x"}),
            "capture: needs a limit: --count, --bytes or --duration");
  EXPECT_EQ(Error({"capture", "--path", "p", "--count", "1"}),
            "capture: needs -w FILE (or -w - for stdout)");
  EXPECT_EQ(Error({"capture", "--path", "p", "--connection", "1", "--count", "1", "-w", "x"}),
            "capture: --connection and --path exclude each other");
  EXPECT_EQ(Error({"capture", "--path", "p", "--count", "0", "-w", "x"}),
            "--count: must be at least 1");
  EXPECT_EQ(Error({"capture", "--path", "p", "--snaplen", "262145", "--count", "1", "-w", "x"}),
            "--snaplen: at most 262144");
  EXPECT_EQ(Error({"capture", "--path", "p", "--duration", "0s", "-w", "x"}),
            "--duration: must be more than 0");
}

TEST(BraidctlArgsTest, LogLevelGetOrSet) {
  absl::StatusOr<Invocation> inv = Parse({"log-level"});
  ASSERT_TRUE(inv.ok());
  EXPECT_FALSE(inv->new_log_level.has_value());
  EXPECT_EQ(inv->log_level.component(), "");
  inv = Parse({"log-level", "--component", "dpdk", "WARN"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->log_level.component(), "dpdk");
  EXPECT_EQ(inv->new_log_level, v1::LOG_LEVEL_WARNING);
  EXPECT_EQ(Error({"log-level", "loud"}),
            "log-level: \"loud\" is not a log level (error, warning, info, debug)");
}

TEST(BraidctlArgsTest, HelpAndUsageErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"help"}, {"status", "-h"}}) {
    absl::StatusOr<Invocation> inv = Parse(args);
    ASSERT_TRUE(inv.ok()) << args[0];
    EXPECT_EQ(inv->command, Command::kHelp) << args[0];
  }
  EXPECT_EQ(Error({}), "no command");
  EXPECT_EQ(Error({"--raw"}), "no command");
  EXPECT_EQ(Error({"frobnicate"}), "unknown command \"frobnicate\"");
  EXPECT_EQ(Error({"status", "--all"}), "status: unknown option --all");
  EXPECT_EQ(Error({"--subflows", "connections"}), "unknown option --subflows")
      << "command options come after the command";
  EXPECT_EQ(Error({"status", "extra"}), "status: unexpected argument \"extra\"");
  EXPECT_EQ(Error({"status", "--socket"}), "--socket: needs a value");
  EXPECT_EQ(Error({"status", "-o", "yaml"}), "--output: \"yaml\": expected table or json");
  EXPECT_EQ(Error({"status", "--timeout", "0"}), "--timeout: must be at least 1ms");
  EXPECT_EQ(Error({"status", "--timeout", "soon"}),
            "--timeout: \"soon\" is not a duration (500ms, 10s, 2m, 1h)");
  // After --, everything is an argument.
  EXPECT_EQ(Error({"log-level", "--", "--debug"}),
            "log-level: \"--debug\" is not a log level (error, warning, info, debug)");
  EXPECT_NE(UsageText().find("capture (--connection ID | --path PATH)"), std::string::npos);
}

TEST(BraidctlArgsTest, SpansSizesLevelsAndPods) {
  EXPECT_EQ(*ParseSpan("10"), seconds(10));
  EXPECT_EQ(*ParseSpan("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseSpan("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseSpan("7us"), nanoseconds(7000));
  EXPECT_EQ(*ParseSpan("3ns"), nanoseconds(3));
  EXPECT_EQ(*ParseSpan("2m"), seconds(120));
  EXPECT_EQ(*ParseSpan("1h"), seconds(3600));
  EXPECT_FALSE(ParseSpan("").ok());
  EXPECT_FALSE(ParseSpan("1d").ok());
  EXPECT_FALSE(ParseSpan("1.2.3s").ok());
  EXPECT_FALSE(ParseSpan("-1s").ok());
  EXPECT_FALSE(ParseSpan("9000h").ok()) << "more than a year";

  EXPECT_EQ(*ParseSize("1500"), 1500u);
  EXPECT_EQ(*ParseSize("1500B"), 1500u);
  EXPECT_EQ(*ParseSize("64k"), 65536u);
  EXPECT_EQ(*ParseSize("10MiB"), 10u << 20);
  EXPECT_EQ(*ParseSize("2G"), 2ull << 30);
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_FALSE(ParseSize("M").ok());
  EXPECT_FALSE(ParseSize("1.5M").ok());
  EXPECT_FALSE(ParseSize("3T").ok());
  EXPECT_FALSE(ParseSize("18446744073709551615K").ok()) << "overflow";

  EXPECT_EQ(*ParseLogLevel("Error"), v1::LOG_LEVEL_ERROR);
  EXPECT_EQ(*ParseLogLevel("warning"), v1::LOG_LEVEL_WARNING);
  EXPECT_EQ(*ParseLogLevel("info"), v1::LOG_LEVEL_INFO);
  EXPECT_EQ(*ParseLogLevel("LOG_LEVEL_DEBUG"), v1::LOG_LEVEL_DEBUG);
  EXPECT_FALSE(ParseLogLevel("LOG_LEVEL_UNSPECIFIED").ok());

  EXPECT_EQ(ParsePodRef("ns/").value().namespace_(), "ns");
  EXPECT_EQ(ParsePodRef("ns/").value().name(), "");
  EXPECT_FALSE(ParsePodRef("/name").ok());
  EXPECT_FALSE(ParsePodRef("a/b/c").ok());
  EXPECT_FALSE(ParsePodRef("").ok());
}

}  // namespace
}  // namespace braid::braidctl
