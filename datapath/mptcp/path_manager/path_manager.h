// The Path Manager: which subflows an MPTCP connection opens, which local addresses it announces
// or withdraws, which subflows are backups, and what happens when a path fails or comes back —
// the counterpart of the kernel's net/mptcp/pm.c with its policies pm_netlink.c (here "kernel")
// and pm_userspace.c (here "userspace"), plus mptcp.org's "ndiffports".
//
// A policy decides; the connection acts. The connection (mptcp/connection.h) implements
// PmConnection: it shows the policy its subflows and the peer's addresses, and carries out the
// actions (MP_JOIN, ADD_ADDR retransmitted until echoed, REMOVE_ADDR, MP_PRIO, closing a
// subflow). It calls the policy on every event below, after updating its own state, so what
// subflows() returns is already current. A policy never sends, never allocates on the packet
// path, and keeps its per-connection state in its own object: the registry creates one per
// connection. Actions may fail (a limit, no route, no free port); the policy moves on and may try
// again on a later event or timer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::mptcp {

// A local address the path manager may use, with the kernel's endpoint flags (`ip mptcp endpoint
// add ADDR [id ID] [port P] signal|subflow [backup] [fullmesh]`).
struct Endpoint {
  uint8_t id = 0;  // 1..255; 0 is reserved for the initial subflow's local address
  wire::IpAddress address;
  std::optional<uint16_t> port;  // with `signal`: announced with this port (a listener serves it)
  bool signal = false;           // announce with ADD_ADDR once the connection is established
  bool subflow = false;          // open a subflow from it to the peer's initial address
  bool backup = false;           // subflows from it are backups (MP_JOIN B flag)
  bool fullmesh = false;         // one subflow from it to every address the peer has
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// The kernel's `ip mptcp limits`: defaults as in Linux; both at most kMaxPmLimit.
struct PmLimits {
  uint32_t subflows = 2;           // extra subflows per connection (opened or accepted)
  uint32_t add_addr_accepted = 0;  // peer announcements acted upon per connection
  friend bool operator==(const PmLimits&, const PmLimits&) = default;
};
inline constexpr uint32_t kMaxPmLimit = 8;  // the kernel's MPTCP_PM_ADDR_MAX

struct PathManagerConfig {
  std::string policy = "kernel";  // registry name
  std::vector<Endpoint> endpoints;
  PmLimits limits;
  // "ndiffports": subflows in total over the initial address pair (the initial one included).
  uint32_t ndiffports = 2;
  // ADD_ADDR is retransmitted every add_addr_timeout until echoed (net.mptcp.add_addr_timeout,
  // 120 s in Linux; RFC 8684 §3.4.1 leaves the timer to the implementation), at most
  // add_addr_retries times, then given up.
  tcp::Duration add_addr_timeout = std::chrono::seconds(2);
  uint32_t add_addr_retries = 3;
  // Braid goes beyond the kernel: a subflow that failed (timeout, reset, path down) is opened
  // again, at once when its path comes back up, otherwise after a backoff that doubles from
  // recreate_min to recreate_max. Subflows closed by REMOVE_ADDR or on purpose are not.
  bool recreate_subflows = true;
  tcp::Duration recreate_min = std::chrono::milliseconds(500);
  tcp::Duration recreate_max = std::chrono::seconds(30);
};

// One live subflow (connecting or established) as the policy sees it.
struct PmSubflow {
  uint32_t id = 0;        // the connection's subflow id
  uint8_t local_id = 0;   // address ID of the local address (0: the initial one)
  uint8_t remote_id = 0;  // address ID of the peer's address (0: the initial one)
  wire::IpAddress local_address;
  uint16_t local_port = 0;
  wire::IpAddress remote_address;
  uint16_t remote_port = 0;
  bool initial = false;      // the MP_CAPABLE subflow
  bool established = false;  // usable for data (a join: after the fourth ACK)
  bool backup = false;
  bool stale = false;
};

// An address of the peer: id 0 is the initial subflow's destination; others were announced.
struct PmRemoteAddress {
  uint8_t id = 0;
  wire::IpAddress address;
  std::optional<uint16_t> port;  // announced port; nullopt: the initial subflow's port
};

// Why a subflow went away.
enum class SubflowCloseReason : uint8_t {
  kPeerReset,         // RST from the peer (MP_TCPRST reason, if any, is logged by the connection)
  kTimeout,           // retransmissions exhausted, or stale for too long
  kJoinFailed,        // the MP_JOIN handshake failed (refused, bad HMAC, no answer)
  kRemoved,           // REMOVE_ADDR from the peer, or Remove() by the policy
  kLocalClose,        // the policy or the operator closed it
  kPathDown,          // its local path went down
  kConnectionClosed,  // the whole connection ended
};
std::string_view SubflowCloseReasonName(SubflowCloseReason reason);

// A subflow the policy asks for.
struct SubflowRequest {
  // Local address and its ID; nullopt: the route to `remote` picks the source address, and the
  // connection uses the matching endpoint's ID (0 if it is the initial address).
  std::optional<Endpoint> local;
  wire::IpAddress remote;
  uint16_t remote_port = 0;
  uint8_t remote_id = 0;
  bool backup = false;
};

// What one connection offers its path manager.
class PmConnection {
 public:
  virtual ~PmConnection() = default;
  virtual bool is_client() const = 0;  // this side opened the connection
  virtual const PathManagerConfig& config() const = 0;
  virtual std::span<const PmSubflow> subflows() const = 0;
  virtual std::span<const PmRemoteAddress> remote_addresses() const = 0;
  // The initial subflow's addresses (what ndiffports repeats).
  virtual const PmSubflow& initial_subflow() const = 0;
  // Whether the local path that owns `local` is up (link up, route present).
  virtual bool path_up(const wire::IpAddress& local) const = 0;

  // Actions; each returns false when it cannot be done now.
  virtual bool OpenSubflow(const SubflowRequest& request) = 0;
  // ADD_ADDR of a local endpoint, retransmitted until echoed; OnAnnounceDone reports the end.
  virtual bool Announce(const Endpoint& endpoint) = 0;
  // REMOVE_ADDR for a local address ID, and close every subflow that uses it.
  virtual bool Remove(uint8_t local_id) = 0;
  // MP_PRIO on the subflow (RFC 8684 §3.3.8) and our own priority for it.
  virtual bool SetBackup(uint32_t subflow_id, bool backup) = 0;
  virtual bool CloseSubflow(uint32_t subflow_id) = 0;
};

class PathManager {
 public:
  virtual ~PathManager() = default;
  virtual std::string_view name() const = 0;

  // The connection is established at the MPTCP level (both keys known, peer proved MPTCP).
  virtual void OnEstablished(PmConnection& conn, tcp::Instant now) = 0;
  virtual void OnSubflowEstablished(PmConnection& /*conn*/, const PmSubflow& /*subflow*/,
                                    tcp::Instant /*now*/) {}
  // After the connection removed it: `subflow` is no longer in conn.subflows().
  virtual void OnSubflowClosed(PmConnection& /*conn*/, const PmSubflow& /*subflow*/,
                               SubflowCloseReason /*reason*/, tcp::Instant /*now*/) {}
  // The peer announced an address (already in conn.remote_addresses(); the connection echoed it).
  virtual void OnAddAddr(PmConnection& /*conn*/, const PmRemoteAddress& /*address*/,
                         tcp::Instant /*now*/) {}
  // An announcement of ours ended: echoed by the peer, or given up after its retries.
  virtual void OnAnnounceDone(PmConnection& /*conn*/, uint8_t /*local_id*/, bool /*echoed*/,
                              tcp::Instant /*now*/) {}
  // The peer withdrew an address; the connection already closed the subflows to it.
  virtual void OnRemoveAddr(PmConnection& /*conn*/, uint8_t /*remote_id*/, tcp::Instant /*now*/) {}
  // A local path went down or came back.
  virtual void OnPathChange(PmConnection& /*conn*/, const wire::IpAddress& /*local*/, bool /*up*/,
                            tcp::Instant /*now*/) {}
  // An MP_JOIN SYN arrived for this connection: accept it? (the kernel: within limits.subflows)
  virtual bool AcceptJoin(const PmConnection& conn, const wire::IpAddress& local,
                          const wire::IpAddress& remote) const = 0;
  // Timers (retransmission is the connection's; these are the policy's own: re-creation, say).
  virtual std::optional<tcp::Instant> NextTimer() const { return std::nullopt; }
  virtual void OnTimer(PmConnection& /*conn*/, tcp::Instant /*now*/) {}
};

using PathManagerFactory = std::function<std::unique_ptr<PathManager>(const PathManagerConfig&)>;

// Policies by name: "kernel" (the default; cannot be removed), "ndiffports", "userspace".
class PathManagerRegistry {
 public:
  static constexpr std::string_view kDefault = "kernel";

  PathManagerRegistry();  // registers the built-ins

  absl::Status Register(std::string name, PathManagerFactory factory);
  absl::Status Unregister(std::string_view name);
  // NotFound naming the policy and listing the known ones; InvalidArgument for a config the
  // policy refuses (limits above kMaxPmLimit, duplicate endpoint IDs, endpoint ID 0...).
  absl::StatusOr<std::unique_ptr<PathManager>> Create(const PathManagerConfig& config) const;
  bool Contains(std::string_view name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, PathManagerFactory, std::less<>> factories_;
};

// Checks a config as Create does, without building anything (for the agent's config check).
absl::Status ValidatePathManagerConfig(const PathManagerConfig& config);

}  // namespace braid::mptcp
