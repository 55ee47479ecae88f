// A veth pair between two network namespaces made for one test: the DPDK side ("dp") and the
// kernel peer ("peer"). Names carry the pid, so parallel tests never collide; the namespaces (and
// with them the veth pair) are deleted by the destructor, at exit, on SIGINT/SIGTERM/SIGABRT, and
// by the next test process if this one was killed (names of dead pids are swept at Create).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "datapath/wire/address.h"

namespace braid::io::testing {

class VethPair {
 public:
  // Unavailable with the reason when the test cannot run here (not root, no `ip`, no netns).
  // `tag`: a few characters naming the test ("afp"), part of every name.
  static absl::StatusOr<std::unique_ptr<VethPair>> Create(const std::string& tag);
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  ~VethPair();

  const std::string& dp_ns() const { return dp_ns_; }
  const std::string& peer_ns() const { return peer_ns_; }
  const std::string& dp_if() const { return dp_if_; }      // in dp_ns
  const std::string& peer_if() const { return peer_if_; }  // in peer_ns
  wire::MacAddress dp_mac() const { return dp_mac_; }
  wire::MacAddress peer_mac() const { return peer_mac_; }

  // Moves the calling thread into the dp namespace (the PMDs open their sockets and find their
  // interface there) until LeaveDp or destruction.
  absl::Status EnterDp();
  void LeaveDp();
  // A raw AF_PACKET socket bound to peer_if, opened inside peer_ns, non-blocking.
  absl::StatusOr<int> OpenPeerSocket();
  // A raw AF_PACKET socket on `iface` in the dp namespace (e.g. a tap DPDK created there).
  absl::StatusOr<int> OpenDpSocket(const std::string& iface);

 private:
  VethPair() = default;

  std::string dp_ns_, peer_ns_, dp_if_, peer_if_;
  wire::MacAddress dp_mac_, peer_mac_;
  int home_ns_fd_ = -1;  // the namespace to return to
};

// Runs a shell command; its exit status (127 when it could not run). Output goes to the log.
int Run(const std::string& command);

}  // namespace braid::io::testing
