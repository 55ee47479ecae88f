// The agent's record of attached pods: one braid::v1::Pod per CNI attachment (container id,
// interface name), kept in memory and on disk under <state_dir>/pods/ so that an agent restart
// finds its pods again (their addresses, sockets and options) and a later CNI DEL or GC can
// release them.
//
// On disk each record is one file, `<container id>.<ifname>.json`, the Pod in protobuf's JSON
// (field names as in debug.proto) so an operator can read it. In the file name each part keeps
// [A-Za-z0-9_-] and writes any other byte as %XX (a '.' too), so the name is the key's and two
// keys never share a file. A change is durable before Put or Remove returns: the record is
// written to a temporary file in the same directory, fsynced, renamed over the old one, and the
// directory fsynced — a crash leaves the old record or the new one, never a mix; Open removes
// temporary files a crash left behind.
//
// Container ids and interface names come from CNI, untrusted: both are checked before they name
// a file (ValidateAttachment). Thread-safe: gRPC handlers call it from several threads.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "braid/v1/common.pb.h"
#include "braid/v1/debug.pb.h"
#include "datapath/channel/unique_fd.h"

namespace braid::agent {

// A CNI container id: 1..256 characters from [A-Za-z0-9_.-].
inline constexpr size_t kMaxContainerIdBytes = 256;
// A Linux interface name: 1..15 bytes (IFNAMSIZ 16 with its NUL), not "." or "..".
inline constexpr size_t kMaxIfnameBytes = 15;

// InvalidArgument naming the field and what it accepts. An ifname follows the kernel's
// dev_valid_name() and is further kept to printable ASCII: no '/', ':' or blank.
absl::Status ValidateContainerId(std::string_view container_id);
absl::Status ValidateIfname(std::string_view ifname);

// The record's file name, "<container id>.<ifname>.json" escaped as described above.
std::string PodRecordFileName(std::string_view container_id, std::string_view ifname);

class PodRegistry {
 public:
  struct Opened;

  // Creates <state_dir> (0755) and <state_dir>/pods/ (0700) when missing, and loads every
  // record. A record that cannot be read or parsed, or whose key is invalid or does not match its
  // file name, does not stop the agent: its file is renamed to `<name>.bad` (kept for the
  // operator, never read again) and the problem returned in Opened::problems. Errors: the
  // directory cannot be created, opened or listed (the errno's code, naming the path).
  static absl::StatusOr<Opened> Open(const std::string& state_dir);

  PodRegistry(const PodRegistry&) = delete;
  PodRegistry& operator=(const PodRegistry&) = delete;

  // Inserts or replaces the record of (pod.container_id(), pod.ifname()), durably. The live
  // counts (app_count, endpoint_count, connection_count) are not the registry's to keep: they are
  // stored as 0. InvalidArgument for an invalid key; the errno's code when the file cannot be
  // written (the registry then still holds the previous record).
  absl::Status Put(const braid::v1::Pod& pod);
  // Removes a record, durably. NotFound when there is none; InvalidArgument for an invalid key.
  absl::Status Remove(std::string_view container_id, std::string_view ifname);
  // NotFound when there is none; InvalidArgument for an invalid key.
  absl::StatusOr<braid::v1::Pod> Get(std::string_view container_id, std::string_view ifname) const;
  // Every record, by pod namespace, pod name, container id and ifname (ListPods's order).
  std::vector<braid::v1::Pod> List() const;
  // The records of the pods `filter` matches, in List's order; an empty field of the filter
  // matches every value (debug.proto ListPodsRequest).
  std::vector<braid::v1::Pod> Find(const braid::v1::PodRef& filter) const;
  size_t size() const;

  // <state_dir>/pods
  const std::string& dir() const { return dir_; }

 private:
  using Key = std::pair<std::string, std::string>;  // (container id, ifname)

  PodRegistry(std::string dir, channel::UniqueFd dir_fd, std::map<Key, braid::v1::Pod> pods)
      : dir_(std::move(dir)), dir_fd_(std::move(dir_fd)), pods_(std::move(pods)) {}

  // Writes `pod` to its file durably (temporary file, fsync, rename, fsync of the directory);
  // `renamed`: the file holds the new record (even if syncing the directory then failed).
  absl::Status WriteRecord(const std::string& file_name, const braid::v1::Pod& pod, bool& renamed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  // Every file operation is relative to the directory opened once, so the records stay in the
  // directory Open checked even if the path is later replaced.
  const channel::UniqueFd dir_fd_;
  mutable absl::Mutex mu_;
  std::map<Key, braid::v1::Pod> pods_ ABSL_GUARDED_BY(mu_);
};

struct PodRegistry::Opened {
  std::unique_ptr<PodRegistry> registry;
  // One line per record that could not be loaded and was moved aside, or leftover file that could
  // not be removed, naming the file: for the agent's log.
  std::vector<std::string> problems;
};

}  // namespace braid::agent
