#include "agent/pods/pod_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/mptcp/scheduler/scheduler.h"

namespace braid::agent {
namespace {

namespace v1 = ::braid::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A node with three paths, the second a backup.
AgentConfig Config() {
  AgentConfig config;
  for (const char* name : {"path0", "path1", "path2"}) {
    PathConfig p;
    p.name = name;
    p.kind = PathKind::kAfPacket;
    p.netdev = std::string("veth-") + name;
    p.backup = std::string(name) == "path1";
    config.paths.push_back(p);
  }
  return config;
}

v1::PodOption Arg(const std::string& name, const std::string& value) {
  v1::PodOption o;
  o.set_name(name);
  o.set_value(value);
  o.set_source(v1::OPTION_SOURCE_CNI_ARGS);
  return o;
}

v1::PodOption Annotation(const std::string& name, const std::string& value) {
  v1::PodOption o = Arg(name, value);
  o.set_source(v1::OPTION_SOURCE_POD_ANNOTATION);
  return o;
}

v1::MptcpOptions Parse(const std::vector<v1::PodOption>& options,
                       const AgentConfig& config = Config()) {
  absl::StatusOr<v1::MptcpOptions> parsed = ParsePodOptions(options, config);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : v1::MptcpOptions();
}

// The message of options that must fail.
std::string Error(const std::vector<v1::PodOption>& options, const AgentConfig& config = Config()) {
  absl::StatusOr<v1::MptcpOptions> parsed = ParsePodOptions(options, config);
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

std::vector<std::string> Paths(const google::protobuf::RepeatedPtrField<std::string>& paths) {
  return {paths.begin(), paths.end()};
}

TEST(PodOptions, NamesAreTheReadmeTable) {
  std::vector<std::string> names(PodOptionNames().begin(), PodOptionNames().end());
  EXPECT_THAT(names, ElementsAre("scheduler", "path-manager", "ndiffports-subflows", "paths",
                                 "subflows-per-path", "backup-paths", "checksum"));
}

TEST(PodOptions, NoOptionsLeaveEverythingUnset) {
  const v1::MptcpOptions o = Parse({});
  EXPECT_TRUE(o.scheduler().empty());
  EXPECT_FALSE(o.has_path_manager());
  EXPECT_THAT(o.paths(), IsEmpty());
  EXPECT_EQ(o.subflows_per_path(), 0u);
  EXPECT_THAT(o.backup_paths(), IsEmpty());
  EXPECT_FALSE(o.has_checksum());
}

TEST(PodOptions, SchedulerTakesEveryRegistryName) {
  // The README's list, and the registry's: the same names.
  const std::vector<std::string> readme = {"blest", "default", "ecf", "redundant", "roundrobin"};
  EXPECT_EQ(mptcp::SchedulerRegistry().Names(), readme);
  for (const std::string& name : readme) {
    EXPECT_EQ(Parse({Arg("scheduler", name)}).scheduler(), name);
  }
}

TEST(PodOptions, SchedulerRefusesAnUnknownName) {
  EXPECT_EQ(Error({Arg("scheduler", "bleast")}),
            "per-pod options have 1 error:\n"
            "scheduler = \"bleast\" (cni-args): expected one of blest, default, ecf, redundant, "
            "roundrobin");
  EXPECT_THAT(Error({Arg("scheduler", "")}), HasSubstr("scheduler = \"\" (cni-args): expected"));
  // Names are exact.
  EXPECT_THAT(Error({Arg("scheduler", "BLEST")}), HasSubstr("expected one of"));
}

TEST(PodOptions, PathManagerTakesEachPolicy) {
  EXPECT_EQ(Parse({Arg("path-manager", "kernel")}).path_manager().policy(),
            v1::PATH_MANAGER_POLICY_KERNEL);
  EXPECT_EQ(Parse({Arg("path-manager", "ndiffports")}).path_manager().policy(),
            v1::PATH_MANAGER_POLICY_NDIFFPORTS);
  EXPECT_EQ(Parse({Arg("path-manager", "userspace")}).path_manager().policy(),
            v1::PATH_MANAGER_POLICY_USERSPACE);
  // Every policy the datapath has is one the API can name.
  for (const std::string& name : mptcp::PathManagerRegistry().Names()) {
    EXPECT_NE(PathManagerPolicyFromName(name), v1::PATH_MANAGER_POLICY_UNSPECIFIED) << name;
  }
}

TEST(PodOptions, PathManagerRefusesAnUnknownPolicy) {
  EXPECT_EQ(Error({Annotation("path-manager", "fullmesh")}),
            "per-pod options have 1 error:\n"
            "path-manager = \"fullmesh\" (pod annotation braid.io/path-manager): expected one of "
            "kernel, ndiffports, userspace");
}

TEST(PodOptions, PathManagerPolicyNames) {
  EXPECT_EQ(PathManagerPolicyName(v1::PATH_MANAGER_POLICY_NDIFFPORTS), "ndiffports");
  EXPECT_EQ(PathManagerPolicyName(v1::PATH_MANAGER_POLICY_UNSPECIFIED), "");
  EXPECT_EQ(PathManagerPolicyFromName("kernel"), v1::PATH_MANAGER_POLICY_KERNEL);
  EXPECT_EQ(PathManagerPolicyFromName("Kernel"), v1::PATH_MANAGER_POLICY_UNSPECIFIED);
}

TEST(PodOptions, NdiffportsSubflowsFromOneToEight) {
  EXPECT_EQ(Parse({Arg("ndiffports-subflows", "1")}).path_manager().ndiffports_subflows(), 1u);
  EXPECT_EQ(Parse({Arg("ndiffports-subflows", "8")}).path_manager().ndiffports_subflows(), 8u);
  // Set alone, it leaves the policy to the defaults.
  EXPECT_EQ(Parse({Arg("ndiffports-subflows", "3")}).path_manager().policy(),
            v1::PATH_MANAGER_POLICY_UNSPECIFIED);
  const v1::MptcpOptions both =
      Parse({Arg("path-manager", "ndiffports"), Arg("ndiffports-subflows", "4")});
  EXPECT_EQ(both.path_manager().policy(), v1::PATH_MANAGER_POLICY_NDIFFPORTS);
  EXPECT_EQ(both.path_manager().ndiffports_subflows(), 4u);
  for (const char* bad : {"0", "9", "", "two", "-1", "+2", "2.0", " 2", "99999999999"}) {
    EXPECT_THAT(Error({Arg("ndiffports-subflows", bad)}),
                HasSubstr(std::string("ndiffports-subflows = \"") + bad +
                          "\" (cni-args): expected an integer from 1 to 8"));
  }
}

TEST(PodOptions, SubflowsPerPathFromOneToEight) {
  EXPECT_EQ(Parse({Arg("subflows-per-path", "1")}).subflows_per_path(), 1u);
  EXPECT_EQ(Parse({Arg("subflows-per-path", "8")}).subflows_per_path(), 8u);
  for (const char* bad : {"0", "9", "", "1e1", "0x2", "true"}) {
    EXPECT_THAT(Error({Annotation("subflows-per-path", bad)}),
                HasSubstr(std::string("subflows-per-path = \"") + bad +
                          "\" (pod annotation braid.io/subflows-per-path): expected an integer "
                          "from 1 to 8"));
  }
}

TEST(PodOptions, PathsAreConfiguredNamesCommaSeparated) {
  EXPECT_THAT(Paths(Parse({Arg("paths", "path2,path0")}).paths()), ElementsAre("path2", "path0"));
  EXPECT_THAT(Paths(Parse({Arg("paths", "path1")}).paths()), ElementsAre("path1"));
  // Blanks around a name, as a person writes an annotation.
  EXPECT_THAT(Paths(Parse({Annotation("paths", "path0, path1 ")}).paths()),
              ElementsAre("path0", "path1"));
}

TEST(PodOptions, PathsRefuseUnknownEmptyAndRepeatedNames) {
  EXPECT_EQ(Error({Arg("paths", "path0,path9")}),
            "per-pod options have 1 error:\n"
            "paths = \"path0,path9\" (cni-args): unknown path \"path9\", the node's paths are "
            "path0, path1, path2");
  EXPECT_THAT(Error({Arg("paths", "")}),
              HasSubstr("paths = \"\" (cni-args): expected path names separated by commas, "
                        "found an empty name"));
  EXPECT_THAT(Error({Arg("paths", "path0,,path1")}), HasSubstr("found an empty name"));
  EXPECT_THAT(Error({Arg("paths", "path0,path0")}),
              HasSubstr("paths = \"path0,path0\" (cni-args): path \"path0\" is listed twice"));
  // Every bad name of the list is reported.
  EXPECT_THAT(Error({Arg("paths", "x,y")}), HasSubstr("have 2 errors"));
  AgentConfig no_paths;
  EXPECT_THAT(Error({Arg("paths", "path0")}, no_paths),
              HasSubstr("unknown path \"path0\", the node has no paths"));
}

TEST(PodOptions, BackupPathsAreConfiguredNamesAmongPaths) {
  EXPECT_THAT(Paths(Parse({Arg("backup-paths", "path2")}).backup_paths()), ElementsAre("path2"));
  const v1::MptcpOptions o = Parse({Arg("paths", "path0,path1"), Arg("backup-paths", "path1")});
  EXPECT_THAT(Paths(o.paths()), ElementsAre("path0", "path1"));
  EXPECT_THAT(Paths(o.backup_paths()), ElementsAre("path1"));
  // Every selected path a backup is allowed (the kernel then uses backups as it must).
  EXPECT_THAT(Paths(Parse({Arg("paths", "path1"), Arg("backup-paths", "path1")}).backup_paths()),
              ElementsAre("path1"));
}

TEST(PodOptions, BackupPathsRefuseUnknownAndUnselectedPaths) {
  EXPECT_THAT(Error({Arg("backup-paths", "path7")}),
              HasSubstr("backup-paths = \"path7\" (cni-args): unknown path \"path7\""));
  EXPECT_THAT(Error({Arg("backup-paths", "path1,path1")}), HasSubstr("is listed twice"));
  EXPECT_EQ(Error({Arg("paths", "path0"), Annotation("backup-paths", "path1")}),
            "per-pod options have 1 error:\n"
            "backup-paths = \"path1\" (pod annotation braid.io/backup-paths): path \"path1\" is "
            "not among paths = \"path0\" (cni-args)");
}

TEST(PodOptions, ChecksumIsTrueOrFalse) {
  const v1::MptcpOptions on = Parse({Arg("checksum", "true")});
  ASSERT_TRUE(on.has_checksum());
  EXPECT_TRUE(on.checksum());
  const v1::MptcpOptions off = Parse({Arg("checksum", "false")});
  ASSERT_TRUE(off.has_checksum());  // false is a choice, not "unset"
  EXPECT_FALSE(off.checksum());
  for (const char* bad : {"True", "1", "yes", "", "on"}) {
    EXPECT_THAT(Error({Arg("checksum", bad)}), HasSubstr(std::string("checksum = \"") + bad +
                                                         "\" (cni-args): expected true or false"));
  }
}

TEST(PodOptions, EveryOptionAtOnce) {
  const v1::MptcpOptions o =
      Parse({Arg("scheduler", "blest"), Arg("path-manager", "ndiffports"),
             Arg("ndiffports-subflows", "3"), Arg("paths", "path0,path1"),
             Annotation("subflows-per-path", "2"), Annotation("backup-paths", "path1"),
             Annotation("checksum", "true")});
  EXPECT_EQ(o.scheduler(), "blest");
  EXPECT_EQ(o.path_manager().policy(), v1::PATH_MANAGER_POLICY_NDIFFPORTS);
  EXPECT_EQ(o.path_manager().ndiffports_subflows(), 3u);
  EXPECT_THAT(Paths(o.paths()), ElementsAre("path0", "path1"));
  EXPECT_EQ(o.subflows_per_path(), 2u);
  EXPECT_THAT(Paths(o.backup_paths()), ElementsAre("path1"));
  EXPECT_TRUE(o.checksum());
}

TEST(PodOptions, UnknownNameSuggestsTheClosest) {
  EXPECT_EQ(Error({Arg("schedular", "blest")}),
            "per-pod options have 1 error:\n"
            "schedular = \"blest\" (cni-args): unknown option, did you mean scheduler?");
  EXPECT_THAT(Error({Annotation("backup_paths", "path1")}),
              HasSubstr("backup_paths = \"path1\" (pod annotation braid.io/backup_paths): "
                        "unknown option, did you mean backup-paths?"));
  EXPECT_THAT(Error({Arg("colour", "blue")}),
              HasSubstr("colour = \"blue\" (cni-args): unknown option, expected one of "
                        "scheduler, path-manager, ndiffports-subflows, paths, subflows-per-path, "
                        "backup-paths, checksum"));
  // Names are exact: the plugin strips "braid.io/" itself.
  EXPECT_THAT(Error({Annotation("braid.io/scheduler", "blest")}), HasSubstr("unknown option"));
}

TEST(PodOptions, SameNameTwiceNamesBothSources) {
  EXPECT_EQ(Error({Arg("scheduler", "blest"), Annotation("scheduler", "ecf")}),
            "per-pod options have 1 error:\n"
            "scheduler = \"ecf\" (pod annotation braid.io/scheduler): given twice, first as "
            "scheduler = \"blest\" (cni-args)");
  // Even with the same value.
  EXPECT_THAT(Error({Arg("checksum", "true"), Arg("checksum", "true")}),
              HasSubstr("checksum = \"true\" (cni-args): given twice, first as checksum = "
                        "\"true\" (cni-args)"));
}

TEST(PodOptions, EveryErrorAtOnce) {
  const std::string message =
      Error({Arg("scheduler", "fast"), Arg("paths", "path5"), Arg("subflows-per-path", "0"),
             Arg("checksm", "true"), Annotation("scheduler", "ecf"), Arg("checksum", "yes")});
  const std::vector<std::string> lines = absl::StrSplit(message, '\n');
  ASSERT_EQ(lines.size(), 7u) << message;
  EXPECT_EQ(lines[0], "per-pod options have 6 errors:");
  EXPECT_THAT(lines[1], HasSubstr("scheduler = \"fast\""));
  EXPECT_THAT(lines[2], HasSubstr("paths = \"path5\""));
  EXPECT_THAT(lines[3], HasSubstr("subflows-per-path = \"0\""));
  EXPECT_THAT(lines[4], HasSubstr("did you mean checksum?"));
  EXPECT_THAT(lines[5], HasSubstr("given twice"));
  EXPECT_THAT(lines[6], HasSubstr("checksum = \"yes\""));
}

TEST(PodOptions, UntrustedTextStaysOnOneBoundedLine) {
  const std::string message =
      Error({Annotation("sched\nuler", "x"), Arg("scheduler", "a\nb" + std::string(500, 'z'))});
  const std::vector<std::string> lines = absl::StrSplit(message, '\n');
  ASSERT_EQ(lines.size(), 3u) << message;
  EXPECT_THAT(lines[1], HasSubstr("sched\\nuler = \"x\" (pod annotation braid.io/sched\\nuler)"));
  EXPECT_THAT(lines[2], HasSubstr("scheduler = \"a\\nbzzz"));
  EXPECT_LT(lines[2].size(), 200u);
}

TEST(PodOptions, SourceNames) {
  EXPECT_EQ(PodOptionSourceName(Arg("paths", "")), "cni-args");
  EXPECT_EQ(PodOptionSourceName(Annotation("paths", "")), "pod annotation braid.io/paths");
  v1::PodOption unsaid = Arg("paths", "x");
  unsaid.set_source(v1::OPTION_SOURCE_UNSPECIFIED);
  EXPECT_EQ(PodOptionSourceName(unsaid), "source not given");
  EXPECT_THAT(Error({unsaid}), HasSubstr("paths = \"x\" (source not given): unknown path"));
}

TEST(EffectiveOptions, UnsetFieldsTakeTheAgentsConfig) {
  const v1::MptcpOptions o = EffectiveOptions(v1::MptcpOptions(), Config());
  EXPECT_EQ(o.scheduler(), "default");
  EXPECT_EQ(o.path_manager().policy(), v1::PATH_MANAGER_POLICY_KERNEL);
  EXPECT_EQ(o.path_manager().ndiffports_subflows(), 2u);
  EXPECT_THAT(Paths(o.paths()), ElementsAre("path0", "path1", "path2"));
  EXPECT_EQ(o.subflows_per_path(), 1u);
  EXPECT_THAT(Paths(o.backup_paths()), ElementsAre("path1"));
  ASSERT_TRUE(o.has_checksum());
  EXPECT_FALSE(o.checksum());
}

TEST(EffectiveOptions, FollowsTheConfigsMptcpSettings) {
  AgentConfig config = Config();
  config.mptcp.scheduler = "redundant";
  config.mptcp.path_manager.policy = "ndiffports";
  config.mptcp.path_manager.ndiffports = 5;
  config.mptcp.checksum = true;
  config.paths[2].backup = true;
  const v1::MptcpOptions o = EffectiveOptions(v1::MptcpOptions(), config);
  EXPECT_EQ(o.scheduler(), "redundant");
  EXPECT_EQ(o.path_manager().policy(), v1::PATH_MANAGER_POLICY_NDIFFPORTS);
  EXPECT_EQ(o.path_manager().ndiffports_subflows(), 5u);
  EXPECT_THAT(Paths(o.backup_paths()), ElementsAre("path1", "path2"));
  EXPECT_TRUE(o.checksum());
}

TEST(EffectiveOptions, KeepsWhatThePodSet) {
  AgentConfig config = Config();
  config.mptcp.checksum = true;
  const v1::MptcpOptions pod = Parse({Arg("scheduler", "ecf"), Arg("path-manager", "userspace"),
                                      Arg("ndiffports-subflows", "7"), Arg("paths", "path2,path0"),
                                      Arg("subflows-per-path", "3"), Arg("backup-paths", "path0"),
                                      Arg("checksum", "false")});
  const v1::MptcpOptions o = EffectiveOptions(pod, config);
  EXPECT_EQ(o.scheduler(), "ecf");
  EXPECT_EQ(o.path_manager().policy(), v1::PATH_MANAGER_POLICY_USERSPACE);
  EXPECT_EQ(o.path_manager().ndiffports_subflows(), 7u);
  EXPECT_THAT(Paths(o.paths()), ElementsAre("path2", "path0"));
  EXPECT_EQ(o.subflows_per_path(), 3u);
  EXPECT_THAT(Paths(o.backup_paths()), ElementsAre("path0"));
  EXPECT_FALSE(o.checksum());
}

TEST(EffectiveOptions, ConfigBackupsOnlyAmongThePodsPaths) {
  // path1 is the config's backup, but the pod did not select it.
  const v1::MptcpOptions o = EffectiveOptions(Parse({Arg("paths", "path0,path2")}), Config());
  EXPECT_THAT(Paths(o.paths()), ElementsAre("path0", "path2"));
  EXPECT_THAT(o.backup_paths(), IsEmpty());
  const v1::MptcpOptions with = EffectiveOptions(Parse({Arg("paths", "path1,path2")}), Config());
  EXPECT_THAT(Paths(with.backup_paths()), ElementsAre("path1"));
}

}  // namespace
}  // namespace braid::agent
