// A network namespace for a test, made as `ip netns add` makes one (a thread unshares, its
// namespace is bind-mounted on a file) and removed with the object; error() says why there is
// none (not root, no unshare). NEED_NETNS skips the test then.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"

namespace braid::agent::test {

class TestNetns {
 public:
  // Empty `error` on success.
  TestNetns() {
    std::string templ = (std::filesystem::temp_directory_path() / "braid-netns-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      error_ = absl::StrCat("mkdtemp: ", std::strerror(errno));
      return;
    }
    dir_ = templ;
    path_ = dir_ + "/pod";
    std::ofstream(path_).close();
    // unshare(CLONE_NEWNET) moves only the calling thread: a thread of its own, as in the code
    // under test, so the test's thread stays where it is.
    std::thread([this] {
      if (::unshare(CLONE_NEWNET) != 0) {
        error_ = absl::StrCat("unshare(CLONE_NEWNET): ", std::strerror(errno));
      } else if (::mount("/proc/thread-self/ns/net", path_.c_str(), nullptr, MS_BIND, nullptr) !=
                 0) {
        error_ = absl::StrCat("bind mount of a network namespace: ", std::strerror(errno));
      } else {
        mounted_ = true;
      }
    }).join();
  }
  ~TestNetns() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string path_;
  std::string error_;
  bool mounted_ = false;
};

#define NEED_NETNS(ns)                                                                          \
  do {                                                                                          \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN) for a network namespace"; \
    if (!(ns).error().empty()) GTEST_SKIP() << (ns).error();                                    \
  } while (0)

}  // namespace braid::agent::test
