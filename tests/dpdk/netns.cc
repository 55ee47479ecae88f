#include "tests/dpdk/netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <string_view>

namespace braid::io::testing {
namespace {

constexpr char kPrefix[] = "braid-dpdk-";

std::mutex& RegistryMutex() {
  static std::mutex m;
  return m;
}
std::set<std::string>& Registry() {
  static std::set<std::string>* names = new std::set<std::string>();
  return *names;
}

void DeleteNamespace(const std::string& name) { Run("ip netns del " + name + " 2>/dev/null"); }

void DeleteRegistered() {
  std::set<std::string> names;
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    names.swap(Registry());
  }
  for (const std::string& n : names) DeleteNamespace(n);
}

void OnSignal(int sig) {
  DeleteRegistered();
  signal(sig, SIG_DFL);
  raise(sig);
}

void InstallCleanupHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit(DeleteRegistered);
    for (int sig : {SIGINT, SIGTERM, SIGABRT, SIGHUP}) signal(sig, OnSignal);
  });
}

// Namespaces left by test processes that were killed (SIGKILL from a CTest timeout).
void SweepStale() {
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return;
  std::set<std::string> stale;
  while (dirent* e = readdir(dir)) {
    std::string_view name = e->d_name;
    if (!name.starts_with(kPrefix)) continue;
    const std::string rest(name.substr(std::strlen(kPrefix)));
    const long pid = std::strtol(rest.c_str(), nullptr, 10);
    if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      stale.insert(std::string(name));
    }
  }
  closedir(dir);
  for (const std::string& n : stale) DeleteNamespace(n);
}

absl::StatusOr<wire::MacAddress> ReadMac(const std::string& ns, const std::string& iface) {
  const std::string cmd = "ip netns exec " + ns + " cat /sys/class/net/" + iface + "/address";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return absl::InternalError("popen failed");
  char buf[64] = {0};
  const bool got = fgets(buf, sizeof(buf), p) != nullptr;
  pclose(p);
  std::string text = got ? std::string(buf) : std::string();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  auto mac = wire::MacAddress::Parse(text);
  if (!mac) return absl::InternalError("cannot read the MAC of " + iface + " in " + ns);
  return *mac;
}

absl::StatusOr<int> OpenRawSocketIn(const std::string& ns, const std::string& iface) {
  const int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (home < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
    const int err = errno;
    if (home >= 0) close(home);
    if (target >= 0) close(target);
    return absl::InternalError(std::string("setns into ") + ns + ": " + std::strerror(err));
  }
  close(target);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  std::string error;
  if (fd < 0) {
    error = std::string("socket(AF_PACKET): ") + std::strerror(errno);
  } else {
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
    if (addr.sll_ifindex == 0 ||
        bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      error = "bind to " + iface + ": " + std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  setns(home, CLONE_NEWNET);
  close(home);
  if (fd < 0) return absl::InternalError(error);
  return fd;
}

}  // namespace

int Run(const std::string& command) {
  const int rc = std::system(command.c_str());
  if (rc == -1 || !WIFEXITED(rc)) return 127;
  return WEXITSTATUS(rc);
}

absl::StatusOr<std::unique_ptr<VethPair>> VethPair::Create(const std::string& tag) {
  if (geteuid() != 0) return absl::UnavailableError("needs root (network namespaces, veth)");
  if (Run("ip -V >/dev/null 2>&1") != 0) return absl::UnavailableError("no `ip` command");
  InstallCleanupHandlers();
  SweepStale();
  std::unique_ptr<VethPair> v(new VethPair());
  const std::string pid = std::to_string(getpid());
  v->dp_ns_ = kPrefix + pid + "-" + tag + "-dp";
  v->peer_ns_ = kPrefix + pid + "-" + tag + "-peer";
  // Interface names: at most 15 characters.
  v->dp_if_ = "bd" + pid + tag.substr(0, 2) + "a";
  v->peer_if_ = "bd" + pid + tag.substr(0, 2) + "b";
  for (const std::string& ns : {v->dp_ns_, v->peer_ns_}) {
    {
      std::lock_guard<std::mutex> lock(RegistryMutex());
      Registry().insert(ns);
    }
    if (Run("ip netns add " + ns) != 0) {
      return absl::UnavailableError("`ip netns add " + ns +
                                    "` failed: network namespaces "
                                    "unavailable here");
    }
    // No IPv6 on either side: the kernel would send router solicitations and MLD reports.
    Run("ip netns exec " + ns +
        " sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
  }
  if (Run("ip link add " + v->dp_if_ + " netns " + v->dp_ns_ + " type veth peer name " +
          v->peer_if_ + " netns " + v->peer_ns_) != 0) {
    return absl::UnavailableError("cannot create a veth pair (no veth support?)");
  }
  if (Run("ip -n " + v->dp_ns_ + " link set " + v->dp_if_ + " up") != 0 ||
      Run("ip -n " + v->peer_ns_ + " link set " + v->peer_if_ + " up") != 0) {
    return absl::InternalError("cannot bring the veth pair up");
  }
  auto dp_mac = ReadMac(v->dp_ns_, v->dp_if_);
  auto peer_mac = ReadMac(v->peer_ns_, v->peer_if_);
  if (!dp_mac.ok()) return dp_mac.status();
  if (!peer_mac.ok()) return peer_mac.status();
  v->dp_mac_ = *dp_mac;
  v->peer_mac_ = *peer_mac;
  return v;
}

VethPair::~VethPair() {
  LeaveDp();
  for (const std::string& ns : {dp_ns_, peer_ns_}) {
    if (ns.empty()) continue;
    DeleteNamespace(ns);
    std::lock_guard<std::mutex> lock(RegistryMutex());
    Registry().erase(ns);
  }
}

absl::Status VethPair::EnterDp() {
  if (home_ns_fd_ >= 0) return absl::OkStatus();
  home_ns_fd_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = open(("/run/netns/" + dp_ns_).c_str(), O_RDONLY | O_CLOEXEC);
  if (home_ns_fd_ < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
    const int err = errno;
    if (target >= 0) close(target);
    if (home_ns_fd_ >= 0) close(home_ns_fd_);
    home_ns_fd_ = -1;
    return absl::InternalError("setns into " + dp_ns_ + ": " + std::strerror(err));
  }
  close(target);
  return absl::OkStatus();
}

void VethPair::LeaveDp() {
  if (home_ns_fd_ < 0) return;
  setns(home_ns_fd_, CLONE_NEWNET);
  close(home_ns_fd_);
  home_ns_fd_ = -1;
}

absl::StatusOr<int> VethPair::OpenPeerSocket() { return OpenRawSocketIn(peer_ns_, peer_if_); }

absl::StatusOr<int> VethPair::OpenDpSocket(const std::string& iface) {
  return OpenRawSocketIn(dp_ns_, iface);
}

}  // namespace braid::io::testing
