// The handover: how an app process gets its channel. The app connects to the service's unix
// socket (SOCK_SEQPACKET; in Kubernetes an abstract name inside the pod's network namespace,
// architecture.md §6) and sends a Hello; the service answers with a Welcome carrying, by
// SCM_RIGHTS, the region's memfd and the app's end of the doorbell pair — or with a Refusal
// whose text the app reports (e.g. a layout version mismatch).
//
// The connection then stays open, silent, for the app's whole life: its hang-up is how each
// side learns that the other died. The service sees end-of-file (POLLHUP/POLLIN with a 0-byte
// read) when the app exits or crashes and then closes the app's sockets and frees its region;
// the app sees it when the service goes away, and must reconnect (a new region, a new epoch).
//
// Messages (host byte order), each one datagram. The first 16 bytes and the Refusal never change
// between layout versions, so that any two versions can still tell each other they differ:
//   prefix   magic u64 (kMagic) | kind u32 | layout_version u32
//   Hello    prefix(kind 1) | pid u32 | reserved u32 (0) | name[32] (NUL-padded)      56 bytes
//   Welcome  prefix(kind 2) | region_bytes u64 | service_epoch u64                     32 bytes
//            + SCM_RIGHTS [memfd, doorbell]
//   Refusal  prefix(kind 3) | length u32 | reserved u32 (0) | text[length <= 1024]
//
// The service side never blocks: the listener and every accepted connection are non-blocking,
// AcceptHello only takes what has already arrived, and a client that sends nothing is dropped
// after a timeout. Every message received is checked (length, magic, kind, version, reserved
// fields, descriptors: any the peer should not have sent are closed, a truncated control message
// is an error).
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/channel/layout.h"
#include "datapath/channel/unique_fd.h"

namespace braid::channel {

inline constexpr size_t kHelloNameBytes = 32;
inline constexpr size_t kMaxRefusalBytes = 1024;

struct Hello {
  uint64_t magic = kMagic;
  uint32_t layout_version = kLayoutVersion;
  uint32_t pid = 0;  // as the client says; PeerCredentials::pid is what the kernel says
  std::array<char, kHelloNameBytes> name{};  // NUL-padded, not necessarily NUL-terminated
  // The name up to its first NUL, with bytes that are not printable ASCII shown as '?'.
  std::string Name() const;
};

// The client process as the kernel saw it connect (SO_PEERCRED).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct ClientHello {
  UniqueFd fd;  // the connection: non-blocking, close-on-exec; keep it for the app's life
  PeerCredentials peer;
  Hello hello;  // layout_version may differ from ours: answer with SendRefusal then
};

struct ListenerOptions {
  // A client that has not sent its hello this long after connecting is dropped.
  std::chrono::milliseconds hello_timeout{1000};
  // Connections waiting for their hello; when another arrives the oldest is dropped.
  size_t max_pending = 64;
};

class ChannelListener {
 public:
  // Binds and listens on `path`: a leading '@' names the abstract namespace ("@braid/pod"),
  // anything else a filesystem path (which must not exist yet; it is removed on destruction).
  static absl::StatusOr<ChannelListener> Bind(std::string_view path, ListenerOptions options = {});
  // Takes a socket someone else bound and put in listening state: the agent binds a pod's
  // abstract name inside the pod's network namespace (abstract names belong to the namespace of
  // the binder) and serves it from the datapath's. It must be AF_UNIX SOCK_SEQPACKET and
  // listening (InvalidArgument otherwise); it is made non-blocking.
  static absl::StatusOr<ChannelListener> Adopt(UniqueFd listening, ListenerOptions options = {});

  ChannelListener(ChannelListener&&) noexcept = default;
  ChannelListener& operator=(ChannelListener&&) noexcept;
  ~ChannelListener();

  // For the service's poll/epoll: readable when a connection or a hello is waiting.
  int fd() const { return epoll_fd_.get(); }
  // Connections accepted and still waiting for their hello.
  size_t pending() const { return pending_.size(); }
  // When the oldest waiting connection times out, if any: call AcceptHello by then to drop it.
  std::optional<std::chrono::steady_clock::time_point> NextDeadline() const;

  // Accepts what is waiting and returns one client whose hello arrived well-formed (of any
  // layout version), without blocking. Unavailable: nothing more right now. Otherwise a client
  // was dropped — InvalidArgument (malformed hello), Aborted (hung up first), DeadlineExceeded
  // (no hello in time), ResourceExhausted (no descriptors left to accept with) — and the message
  // names its pid. Call it until it returns Unavailable.
  absl::StatusOr<ClientHello> AcceptHello();

 private:
  // Watches a listening socket: the epoll set the service sleeps on.
  static absl::StatusOr<ChannelListener> Watch(UniqueFd fd, std::string unlink_path,
                                               ListenerOptions options);
  struct Pending {
    UniqueFd fd;
    PeerCredentials peer;
    std::chrono::steady_clock::time_point deadline;
  };

  ChannelListener(UniqueFd listen_fd, UniqueFd epoll_fd, std::string unlink_path,
                  ListenerOptions options)
      : listen_fd_(std::move(listen_fd)),
        epoll_fd_(std::move(epoll_fd)),
        unlink_path_(std::move(unlink_path)),
        options_(options) {}
  absl::Status AcceptWaiting();
  Pending Take(size_t index);

  UniqueFd listen_fd_;
  UniqueFd epoll_fd_;
  std::string unlink_path_;  // a filesystem socket to remove; empty for an abstract name
  ListenerOptions options_;
  std::vector<Pending> pending_;
};

// The service's answers, sent without blocking on `fd` (a ClientHello's connection).
absl::Status SendWelcome(int fd, uint64_t region_bytes, uint64_t service_epoch, int memfd,
                         int doorbell_fd);
// `message` is cut to kMaxRefusalBytes.
absl::Status SendRefusal(int fd, std::string_view message);
// The refusal for a client of another layout version.
std::string VersionRefusal(uint32_t client_layout_version);

// What the app receives.
struct ChannelConnection {
  UniqueFd connection;  // non-blocking, close-on-exec; end-of-file when the service is gone
  UniqueFd memfd;       // the region: AppRegion::Attach
  UniqueFd doorbell;    // the app's end of the doorbell pair: Doorbell::FromFd
  uint32_t layout_version = 0;
  uint64_t region_bytes = 0;
  uint64_t service_epoch = 0;
};

struct ConnectOptions {
  std::chrono::milliseconds timeout{5000};  // for the connection and the answer
  // The version announced in the Hello. Only tests announce another.
  uint32_t layout_version = kLayoutVersion;
};

// Connects to the service at `path` ('@' for the abstract namespace), introduces this process
// as `name` (cut to 32 bytes) and waits for the answer. A refusal is FailedPrecondition with the
// service's text; a Welcome of another layout version is FailedPrecondition naming both;
// Unavailable when no service listens there; DeadlineExceeded without an answer in time;
// DataLoss for a malformed answer.
absl::StatusOr<ChannelConnection> ConnectChannel(std::string_view path, std::string_view name,
                                                 ConnectOptions options = {});

}  // namespace braid::channel
