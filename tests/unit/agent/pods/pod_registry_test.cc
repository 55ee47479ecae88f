#include "agent/pods/pod_registry.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"

namespace braid::agent {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::braid::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::trunc);
  out << data;
}

// Every file name in `dir`.
std::set<std::string> Files(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// A pod record with every field set.
v1::Pod MakePod(const std::string& container_id, const std::string& ifname,
                const std::string& ns = "default", const std::string& name = "web-0") {
  v1::Pod pod;
  pod.mutable_pod()->set_namespace_(ns);
  pod.mutable_pod()->set_name(name);
  pod.mutable_pod()->set_uid("uid-" + container_id);
  pod.set_container_id(container_id);
  pod.set_ifname(ifname);
  pod.set_netns_path("/var/run/netns/cni-" + container_id);
  pod.set_network_name("braid");
  pod.set_socket_path("@braid/node");
  pod.set_endpoint_service_address("unix-abstract:braid/endpoint");
  v1::PathIpConfig* path = pod.add_paths();
  path->set_path("path0");
  v1::IpAddressConfig* ip = path->add_ips();
  ip->set_address("192.0.2.10/24");
  ip->set_gateway("192.0.2.1");
  v1::Route* route = path->add_routes();
  route->set_destination("0.0.0.0/0");
  v1::MptcpOptions* options = pod.mutable_options();
  options->set_scheduler("blest");
  options->mutable_path_manager()->set_policy(v1::PATH_MANAGER_POLICY_NDIFFPORTS);
  options->mutable_path_manager()->set_ndiffports_subflows(2);
  options->add_paths("path0");
  options->set_subflows_per_path(1);
  options->set_checksum(false);
  pod.mutable_attach_time()->set_seconds(1700000000);
  pod.mutable_attach_time()->set_nanos(123456789);
  return pod;
}

bool Same(const v1::Pod& a, const v1::Pod& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

class PodRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "braid-pods-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = templ;
    state_dir_ = root_ + "/state";
    pods_dir_ = state_dir_ + "/pods";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  PodRegistry::Opened Open() {
    absl::StatusOr<PodRegistry::Opened> opened = PodRegistry::Open(state_dir_);
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (!opened.ok()) return {};
    return *std::move(opened);
  }

  std::string root_;
  std::string state_dir_;
  std::string pods_dir_;
};

TEST_F(PodRegistryTest, OpenCreatesAPrivateDirectory) {
  PodRegistry::Opened opened = Open();
  ASSERT_NE(opened.registry, nullptr);
  EXPECT_THAT(opened.problems, IsEmpty());
  EXPECT_EQ(opened.registry->dir(), pods_dir_);
  EXPECT_EQ(opened.registry->size(), 0u);
  struct stat st {};
  ASSERT_EQ(::stat(pods_dir_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(PodRegistryTest, OpenMakesAnExistingDirectoryPrivate) {
  fs::create_directories(pods_dir_);
  ASSERT_EQ(::chmod(pods_dir_.c_str(), 0755), 0);
  Open();
  struct stat st {};
  ASSERT_EQ(::stat(pods_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(PodRegistryTest, OpenFailsWhenTheStateDirIsAFile) {
  WriteFile(state_dir_, "not a directory");
  absl::StatusOr<PodRegistry::Opened> opened = PodRegistry::Open(state_dir_);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr(state_dir_));
}

TEST_F(PodRegistryTest, OpenRefusesALinkedPodsDirectory) {
  fs::create_directories(root_ + "/elsewhere");
  fs::create_directories(state_dir_);
  fs::create_directory_symlink(root_ + "/elsewhere", pods_dir_);
  absl::StatusOr<PodRegistry::Opened> opened = PodRegistry::Open(state_dir_);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("cannot open the pod registry " + pods_dir_));
}

TEST_F(PodRegistryTest, PutGetRoundTripAndSurvivesReopen) {
  const v1::Pod pod = MakePod("0123abcd", "eth0");
  {
    PodRegistry::Opened opened = Open();
    ASSERT_TRUE(opened.registry->Put(pod).ok());
    absl::StatusOr<v1::Pod> got = opened.registry->Get("0123abcd", "eth0");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(Same(*got, pod)) << got->DebugString();
  }
  EXPECT_THAT(Files(pods_dir_), ElementsAre("0123abcd.eth0.json"));
  // Readable by an operator: protobuf JSON with debug.proto's field names.
  const std::string json = ReadFile(pods_dir_ + "/0123abcd.eth0.json");
  EXPECT_THAT(json, HasSubstr("\"container_id\": \"0123abcd\""));
  EXPECT_THAT(json, HasSubstr("\"attach_time\": \"2023-11-14T22:13:20.123456789Z\""));
  EXPECT_THAT(json, HasSubstr("\"policy\": \"PATH_MANAGER_POLICY_NDIFFPORTS\""));

  PodRegistry::Opened again = Open();
  EXPECT_THAT(again.problems, IsEmpty());
  ASSERT_EQ(again.registry->size(), 1u);
  absl::StatusOr<v1::Pod> got = again.registry->Get("0123abcd", "eth0");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(Same(*got, pod)) << got->DebugString();
  // checksum false is a value, not "unset", and it survives.
  EXPECT_TRUE(got->options().has_checksum());
}

TEST_F(PodRegistryTest, PutReplaces) {
  PodRegistry::Opened opened = Open();
  v1::Pod pod = MakePod("c1", "eth0");
  ASSERT_TRUE(opened.registry->Put(pod).ok());
  pod.set_netns_path("/proc/42/ns/net");
  ASSERT_TRUE(opened.registry->Put(pod).ok());
  EXPECT_EQ(opened.registry->size(), 1u);
  EXPECT_EQ(opened.registry->Get("c1", "eth0")->netns_path(), "/proc/42/ns/net");
  EXPECT_THAT(Files(pods_dir_), ElementsAre("c1.eth0.json"));
  EXPECT_EQ(Open().registry->Get("c1", "eth0")->netns_path(), "/proc/42/ns/net");
}

TEST_F(PodRegistryTest, LiveCountsAreNotKept) {
  PodRegistry::Opened opened = Open();
  v1::Pod pod = MakePod("c1", "eth0");
  pod.set_app_count(3);
  pod.set_endpoint_count(2);
  pod.set_connection_count(100);
  ASSERT_TRUE(opened.registry->Put(pod).ok());
  const v1::Pod got = *opened.registry->Get("c1", "eth0");
  EXPECT_EQ(got.app_count(), 0u);
  EXPECT_EQ(got.endpoint_count(), 0u);
  EXPECT_EQ(got.connection_count(), 0u);
}

TEST_F(PodRegistryTest, SameContainerSeveralInterfaces) {
  PodRegistry::Opened opened = Open();
  ASSERT_TRUE(opened.registry->Put(MakePod("c1", "eth0")).ok());
  ASSERT_TRUE(opened.registry->Put(MakePod("c1", "net1")).ok());
  EXPECT_EQ(opened.registry->size(), 2u);
  EXPECT_THAT(Files(pods_dir_), ElementsAre("c1.eth0.json", "c1.net1.json"));
}

TEST_F(PodRegistryTest, RemoveIsDurableAndMissingIsNotFound) {
  {
    PodRegistry::Opened opened = Open();
    ASSERT_TRUE(opened.registry->Put(MakePod("c1", "eth0")).ok());
    ASSERT_TRUE(opened.registry->Put(MakePod("c2", "eth0")).ok());
    ASSERT_TRUE(opened.registry->Remove("c1", "eth0").ok());
    EXPECT_EQ(opened.registry->Get("c1", "eth0").status().code(), absl::StatusCode::kNotFound);
    const absl::Status again = opened.registry->Remove("c1", "eth0");
    EXPECT_EQ(again.code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(again.message(), HasSubstr("c1"));
    EXPECT_EQ(opened.registry->Remove("c2", "net1").code(), absl::StatusCode::kNotFound);
  }
  EXPECT_THAT(Files(pods_dir_), ElementsAre("c2.eth0.json"));
  PodRegistry::Opened opened = Open();
  EXPECT_EQ(opened.registry->size(), 1u);
  EXPECT_TRUE(opened.registry->Get("c2", "eth0").ok());
}

TEST_F(PodRegistryTest, RemoveWhenTheFileIsAlreadyGone) {
  PodRegistry::Opened opened = Open();
  ASSERT_TRUE(opened.registry->Put(MakePod("c1", "eth0")).ok());
  ASSERT_EQ(::unlink((pods_dir_ + "/c1.eth0.json").c_str()), 0);
  EXPECT_TRUE(opened.registry->Remove("c1", "eth0").ok());
  EXPECT_EQ(opened.registry->size(), 0u);
}

TEST_F(PodRegistryTest, ListIsSortedByPodThenAttachment) {
  PodRegistry::Opened opened = Open();
  ASSERT_TRUE(opened.registry->Put(MakePod("c3", "eth0", "prod", "api")).ok());
  ASSERT_TRUE(opened.registry->Put(MakePod("c1", "eth0", "prod", "web")).ok());
  ASSERT_TRUE(opened.registry->Put(MakePod("c2", "net1", "dev", "web")).ok());
  ASSERT_TRUE(opened.registry->Put(MakePod("c2", "eth0", "dev", "web")).ok());
  std::vector<std::string> order;
  for (const v1::Pod& p : opened.registry->List()) {
    order.push_back(absl::StrCat(p.pod().namespace_(), "/", p.pod().name(), " ", p.container_id(),
                                 ".", p.ifname()));
  }
  EXPECT_THAT(order, ElementsAre("dev/web c2.eth0", "dev/web c2.net1", "prod/api c3.eth0",
                                 "prod/web c1.eth0"));
}

TEST_F(PodRegistryTest, FindMatchesEmptyFieldsAsAnything) {
  PodRegistry::Opened opened = Open();
  ASSERT_TRUE(opened.registry->Put(MakePod("c1", "eth0", "prod", "web")).ok());
  ASSERT_TRUE(opened.registry->Put(MakePod("c2", "eth0", "prod", "api")).ok());
  ASSERT_TRUE(opened.registry->Put(MakePod("c3", "eth0", "dev", "web")).ok());
  auto ids = [&](const v1::PodRef& filter) {
    std::vector<std::string> out;
    for (const v1::Pod& p : opened.registry->Find(filter)) out.push_back(p.container_id());
    return out;
  };
  v1::PodRef filter;
  EXPECT_THAT(ids(filter), ElementsAre("c3", "c2", "c1"));
  filter.set_namespace_("prod");
  EXPECT_THAT(ids(filter), ElementsAre("c2", "c1"));
  filter.set_name("web");
  EXPECT_THAT(ids(filter), ElementsAre("c1"));
  filter.set_uid("uid-c2");
  EXPECT_THAT(ids(filter), IsEmpty());
  v1::PodRef by_name;
  by_name.set_name("web");
  EXPECT_THAT(ids(by_name), ElementsAre("c3", "c1"));
  v1::PodRef by_uid;
  by_uid.set_uid("uid-c2");
  EXPECT_THAT(ids(by_uid), ElementsAre("c2"));
}

TEST(PodRegistryKeys, ContainerIds) {
  EXPECT_TRUE(ValidateContainerId("0123456789abcdef").ok());
  EXPECT_TRUE(ValidateContainerId("Pod_1.sandbox-2").ok());
  EXPECT_TRUE(ValidateContainerId(std::string(256, 'a')).ok());
  for (const std::string& bad : {std::string(), std::string(257, 'a'), std::string("a/b"),
                                 std::string("../x"), std::string("a b"), std::string("a:b"),
                                 std::string("a\nb"), std::string("a\0b", 3), std::string("é")}) {
    const absl::Status s = ValidateContainerId(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("container id")) << bad;
  }
  EXPECT_THAT(ValidateContainerId(std::string(257, 'a')).message(),
              HasSubstr("257 characters long, more than 256"));
}

TEST(PodRegistryKeys, Ifnames) {
  for (const char* good : {"eth0", "net1", "eth0.100", "a", "x-y_z@1", "123456789012345"}) {
    EXPECT_TRUE(ValidateIfname(good).ok()) << good;
  }
  for (const std::string& bad :
       {std::string(), std::string("1234567890123456"), std::string("."), std::string(".."),
        std::string("a/b"), std::string("a:b"), std::string("a b"), std::string("a\tb"),
        std::string("a\x01"), std::string("\xc3\xa9")}) {
    const absl::Status s = ValidateIfname(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("interface name")) << bad;
  }
}

TEST_F(PodRegistryTest, InvalidKeysAreRefusedAndWriteNothing) {
  PodRegistry::Opened opened = Open();
  PodRegistry& registry = *opened.registry;
  EXPECT_EQ(registry.Put(MakePod("../../etc/passwd", "eth0")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Put(MakePod("", "eth0")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Put(MakePod(std::string(257, 'a'), "eth0")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Put(MakePod("c1", "a/b")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Put(MakePod("c1", "")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Get("c/1", "eth0").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Remove("c1", "..").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_THAT(Files(pods_dir_), IsEmpty());
}

TEST(PodRegistryKeys, FileNamesAreEscapedAndDistinct) {
  EXPECT_EQ(PodRecordFileName("abc", "eth0"), "abc.eth0.json");
  EXPECT_EQ(PodRecordFileName("a.b", "c"), "a%2Eb.c.json");
  EXPECT_EQ(PodRecordFileName("a", "b.c"), "a.b%2Ec.json");
  EXPECT_EQ(PodRecordFileName("x", "a@b%"), "x.a%40b%25.json");
  // A long id: a shortened name with a hash of the key, still distinct per key.
  const std::string long_id(256, 'f');
  const std::string name = PodRecordFileName(long_id, "eth0");
  EXPECT_LE(name.size(), 200u);
  EXPECT_THAT(name, HasSubstr("~"));
  EXPECT_TRUE(name.starts_with(std::string(64, 'f')));
  EXPECT_TRUE(name.ends_with(".eth0.json"));
  EXPECT_NE(name, PodRecordFileName(long_id, "eth1"));
  EXPECT_NE(name, PodRecordFileName(std::string(255, 'f') + "e", "eth0"));
}

TEST_F(PodRegistryTest, KeysThatLookAlikeKeepTheirOwnFiles) {
  {
    PodRegistry::Opened opened = Open();
    ASSERT_TRUE(opened.registry->Put(MakePod("a.b", "c")).ok());
    ASSERT_TRUE(opened.registry->Put(MakePod("a", "b.c")).ok());
    ASSERT_TRUE(opened.registry->Put(MakePod(std::string(256, 'x'), "eth0")).ok());
    ASSERT_TRUE(opened.registry->Put(MakePod(std::string(256, 'x'), "eth1")).ok());
  }
  EXPECT_THAT(Files(pods_dir_), SizeIs(4));
  PodRegistry::Opened opened = Open();
  EXPECT_THAT(opened.problems, IsEmpty());
  EXPECT_EQ(opened.registry->size(), 4u);
  EXPECT_TRUE(opened.registry->Get("a.b", "c").ok());
  EXPECT_TRUE(opened.registry->Get("a", "b.c").ok());
  EXPECT_TRUE(opened.registry->Get(std::string(256, 'x'), "eth1").ok());
}

TEST_F(PodRegistryTest, BadRecordsAreMovedAsideAndReported) {
  {
    PodRegistry::Opened opened = Open();
    ASSERT_TRUE(opened.registry->Put(MakePod("good", "eth0")).ok());
    ASSERT_TRUE(opened.registry->Put(MakePod("other", "eth0")).ok());
  }
  // Garbage; a truncated record; an empty file; someone else's record under this name; a
  // record whose key is invalid; a directory where a record should be.
  WriteFile(pods_dir_ + "/garbage.eth0.json", "\x01\x02 not json");
  const std::string good = ReadFile(pods_dir_ + "/good.eth0.json");
  WriteFile(pods_dir_ + "/cut.eth0.json", good.substr(0, good.size() / 2));
  WriteFile(pods_dir_ + "/empty.eth0.json", "");
  fs::rename(pods_dir_ + "/other.eth0.json", pods_dir_ + "/renamed.eth0.json");
  WriteFile(pods_dir_ + "/slash.eth0.json",
            R"({"container_id": "a/b", "ifname": "eth0", "netns_path": "/x"})");
  fs::create_directory(pods_dir_ + "/dir.eth0.json");
  // Not records: left alone.
  WriteFile(pods_dir_ + "/README", "operator's notes");

  PodRegistry::Opened opened = Open();
  ASSERT_NE(opened.registry, nullptr);
  EXPECT_EQ(opened.registry->size(), 1u);
  EXPECT_TRUE(opened.registry->Get("good", "eth0").ok());
  ASSERT_THAT(opened.problems, SizeIs(6));
  std::string all;
  for (const std::string& p : opened.problems) absl::StrAppend(&all, p, "\n");
  for (const char* name : {"garbage", "cut", "empty", "renamed", "slash", "dir"}) {
    const std::string file = absl::StrCat(pods_dir_, "/", name, ".eth0.json");
    EXPECT_THAT(all, HasSubstr(absl::StrCat(file, ": "))) << name;
    EXPECT_THAT(all, HasSubstr(absl::StrCat("moved to ", name, ".eth0.json.bad"))) << name;
  }
  EXPECT_THAT(all, HasSubstr("holds the record of other.eth0.json, not of its own name"));
  EXPECT_THAT(all, HasSubstr("container id \"a/b\" has a character"));
  EXPECT_THAT(all, HasSubstr("dir.eth0.json: not a regular file"));
  EXPECT_THAT(Files(pods_dir_),
              ElementsAre("README", "cut.eth0.json.bad", "dir.eth0.json.bad", "empty.eth0.json.bad",
                          "garbage.eth0.json.bad", "good.eth0.json", "renamed.eth0.json.bad",
                          "slash.eth0.json.bad"));
  // Moved aside once: the next start is quiet.
  PodRegistry::Opened again = Open();
  EXPECT_THAT(again.problems, IsEmpty());
  EXPECT_EQ(again.registry->size(), 1u);
}

TEST_F(PodRegistryTest, UnknownFieldsFromANewerAgentAreIgnored) {
  fs::create_directories(pods_dir_);
  WriteFile(pods_dir_ + "/c1.eth0.json",
            R"({"container_id": "c1", "ifname": "eth0", "netns_path": "/x",
                "field_from_the_future": {"a": 1}})");
  PodRegistry::Opened opened = Open();
  EXPECT_THAT(opened.problems, IsEmpty());
  ASSERT_TRUE(opened.registry->Get("c1", "eth0").ok());
  EXPECT_EQ(opened.registry->Get("c1", "eth0")->netns_path(), "/x");
}

TEST_F(PodRegistryTest, ACrashBeforeTheRenameKeepsTheOldRecord) {
  v1::Pod pod = MakePod("c1", "eth0");
  ASSERT_TRUE(Open().registry->Put(pod).ok());
  // What a crash between writing the temporary file and renaming it leaves: the old record
  // and a complete or partial temporary one.
  WriteFile(pods_dir_ + "/.tmp-c1.eth0.json", "{\"container_id\": \"c1\", \"ifn");
  WriteFile(pods_dir_ + "/.tmp-c2.eth0.json", "");
  PodRegistry::Opened opened = Open();
  EXPECT_THAT(opened.problems, IsEmpty());
  EXPECT_EQ(opened.registry->size(), 1u);
  EXPECT_EQ(opened.registry->Get("c1", "eth0")->netns_path(), pod.netns_path());
  EXPECT_THAT(Files(pods_dir_), ElementsAre("c1.eth0.json"));
}

TEST_F(PodRegistryTest, AFailedPutKeepsThePreviousRecord) {
  PodRegistry::Opened opened = Open();
  v1::Pod pod = MakePod("c1", "eth0");
  ASSERT_TRUE(opened.registry->Put(pod).ok());
  // The directory disappears under the registry: nothing can be written any more.
  fs::remove_all(pods_dir_);
  v1::Pod newer = pod;
  newer.set_netns_path("/proc/99/ns/net");
  const absl::Status s = opened.registry->Put(newer);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(pods_dir_));
  EXPECT_EQ(opened.registry->Get("c1", "eth0")->netns_path(), pod.netns_path());
  EXPECT_FALSE(opened.registry->Put(MakePod("c2", "eth0")).ok());
  EXPECT_EQ(opened.registry->Get("c2", "eth0").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PodRegistryTest, ConcurrentPutsFromManyThreads) {
  constexpr int kThreads = 8;
  constexpr int kPodsEach = 20;
  {
    PodRegistry::Opened opened = Open();
    PodRegistry& registry = *opened.registry;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&registry, t] {
        for (int i = 0; i < kPodsEach; ++i) {
          const std::string id = absl::StrCat("t", t, "-p", i);
          EXPECT_TRUE(registry.Put(MakePod(id, "eth0")).ok());
          // A shared key too, replaced by every thread.
          EXPECT_TRUE(registry.Put(MakePod("shared", "eth0", "ns", id)).ok());
          EXPECT_TRUE(registry.Get(id, "eth0").ok());
          registry.List();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(registry.size(), size_t{kThreads * kPodsEach + 1});
  }
  EXPECT_THAT(Files(pods_dir_), SizeIs(kThreads * kPodsEach + 1));  // no temporary file left
  PodRegistry::Opened opened = Open();
  EXPECT_THAT(opened.problems, IsEmpty());
  EXPECT_EQ(opened.registry->size(), size_t{kThreads * kPodsEach + 1});
  EXPECT_TRUE(opened.registry->Get("t7-p19", "eth0").ok());
}

}  // namespace
}  // namespace braid::agent
