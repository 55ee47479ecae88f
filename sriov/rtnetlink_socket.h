// A NETLINK_ROUTE socket for one request at a time: it sends a request built by vf_messages.h,
// reads the kernel's answer up to the acknowledgement it asked for (NLM_F_ACK), and turns a
// refusal into a Status carrying the kernel's errno and, when the kernel gives one, its extended
// ACK message. A socket talks to the network namespace it was opened in.
//
// SetVfSettings and GetLinkVfs are the two operations the agent uses on a PF.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sriov/vf_messages.h"

namespace braid::sriov {

class RtnetlinkSocket {
 public:
  // `timeout` bounds each wait for the kernel's answer: a lost answer is DeadlineExceeded, never
  // a hang.
  static absl::StatusOr<RtnetlinkSocket> Open(
      std::chrono::milliseconds timeout = std::chrono::seconds(5));

  RtnetlinkSocket(RtnetlinkSocket&& other) noexcept;
  RtnetlinkSocket& operator=(RtnetlinkSocket&& other) noexcept;
  RtnetlinkSocket(const RtnetlinkSocket&) = delete;
  RtnetlinkSocket& operator=(const RtnetlinkSocket&) = delete;
  ~RtnetlinkSocket();

  // Sends `request` (its nlmsg_seq is set here; it must ask for NLM_F_ACK) and returns the
  // messages the kernel answered with before its ACK, each whole (header included). When the
  // kernel refuses, the status has the errno's code and says "<what>: <strerror> (<EXXX>)" plus
  // "; kernel: <extended ACK message>" when there is one. Answers to earlier requests (after a
  // timeout) are skipped by their sequence number.
  absl::StatusOr<std::vector<std::vector<uint8_t>>> Transact(std::vector<uint8_t> request,
                                                             std::string_view what);

 private:
  RtnetlinkSocket(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  uint32_t next_seq_ = 1;
};

// Applies `vfs` to the PF in one RTM_SETLINK. Errors: InvalidArgument from BuildSetVfRequest;
// otherwise the kernel's errno, e.g. NotFound (ENODEV) for no such PF, Unimplemented
// (EOPNOTSUPP) when its driver has no such VF operation, InvalidArgument (EINVAL) for a VF number
// it does not have. The message names the PF and every VF setting sent.
absl::Status SetVfSettings(RtnetlinkSocket& socket, const LinkId& pf,
                           std::span<const VfSettings> vfs);

// The link's VFs as the kernel reports them (none, with num_vfs unset, for a device without a
// parent such as veth).
absl::StatusOr<LinkInfo> GetLinkVfs(RtnetlinkSocket& socket, const LinkId& link);

}  // namespace braid::sriov
