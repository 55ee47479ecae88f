#include "agent/pods/pod_registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "datapath/util/stream_check.h"
#include "google/protobuf/util/json_util.h"

namespace braid::agent {

namespace {

namespace v1 = ::braid::v1;
using channel::UniqueFd;

constexpr char kRecordSuffix[] = ".json";
constexpr char kBadSuffix[] = ".bad";
// Temporary files start with a '.', which no record name does (escaping writes '.' as %2E).
constexpr char kTempPrefix[] = ".tmp-";
// A plain record name up to this length; longer keys (container ids up to 256 characters) get a
// shortened name with a hash of the key, so that the temporary name stays within NAME_MAX (255).
constexpr size_t kMaxPlainFileName = 200;
constexpr size_t kHashedIdPrefix = 64;
constexpr size_t kHashHexDigits = 32;  // 128 bits of SHA-256
// A record is a few kilobytes; anything far larger is not one of ours.
constexpr off_t kMaxRecordBytes = 1 << 20;

bool IsPlainFileChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string Escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    if (IsPlainFileChar(c)) {
      out += c;
    } else {
      const auto b = static_cast<uint8_t>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    }
  }
  return out;
}

// Untrusted text in a message: one line, bounded.
std::string Shown(std::string_view text) {
  constexpr size_t kMax = 64;
  std::string shown = absl::CHexEscape(std::string(text.substr(0, kMax)));
  if (text.size() > kMax) shown += "...";
  return shown;
}

absl::Status ErrnoError(int err, std::string_view what, std::string_view path) {
  return absl::ErrnoToStatus(err, absl::StrCat(std::string(what), " ", std::string(path)));
}

absl::Status ValidateKey(std::string_view container_id, std::string_view ifname) {
  if (absl::Status s = ValidateContainerId(container_id); !s.ok()) return s;
  return ValidateIfname(ifname);
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The order of ListPods: by pod, then by attachment.
bool ListOrder(const v1::Pod& a, const v1::Pod& b) {
  return std::tie(a.pod().namespace_(), a.pod().name(), a.container_id(), a.ifname()) <
         std::tie(b.pod().namespace_(), b.pod().name(), b.container_id(), b.ifname());
}

bool Matches(const v1::PodRef& filter, const v1::PodRef& pod) {
  return (filter.namespace_().empty() || filter.namespace_() == pod.namespace_()) &&
         (filter.name().empty() || filter.name() == pod.name()) &&
         (filter.uid().empty() || filter.uid() == pod.uid());
}

void ClearLiveCounts(v1::Pod& pod) {
  pod.clear_app_count();
  pod.clear_endpoint_count();
  pod.clear_connection_count();
}

absl::StatusOr<std::string> ToJson(const v1::Pod& pod) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;  // the names debug.proto and its docs use
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(pod, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("pod record: cannot write JSON: ", std::string(status.message())));
  }
  return json;
}

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Errors that say nothing about the file itself: the agent is short of resources, so the record
// must not be moved aside for them.
bool IsTransient(int err) { return err == EMFILE || err == ENFILE || err == ENOMEM; }

struct ReadResult {
  absl::Status status;  // the file's problem, or (transient) the agent's
  bool transient = false;
  std::string data;
};

ReadResult ReadRecordFile(int dir_fd, const std::string& name) {
  ReadResult r;
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) {
    r.transient = IsTransient(errno);
    r.status = absl::ErrnoToStatus(errno, "open");
    return r;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    r.transient = IsTransient(errno);
    r.status = absl::ErrnoToStatus(errno, "fstat");
    return r;
  }
  if (!S_ISREG(st.st_mode)) {
    r.status = absl::FailedPreconditionError("not a regular file");
    return r;
  }
  if (st.st_size > kMaxRecordBytes) {
    r.status = absl::FailedPreconditionError(
        absl::StrCat(st.st_size, " bytes, more than a record's ", kMaxRecordBytes));
    return r;
  }
  r.data.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < r.data.size()) {
    const ssize_t n = ::read(fd.get(), r.data.data() + got, r.data.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      r.transient = IsTransient(errno);
      r.status = absl::ErrnoToStatus(errno, "read");
      return r;
    }
    if (n == 0) break;  // shrank while read: parsed as it is, and refused if incomplete
    got += static_cast<size_t>(n);
  }
  r.data.resize(got);
  return r;
}

// The record in `data`, or why it is not one.
absl::StatusOr<v1::Pod> ParseRecord(const std::string& name, const std::string& data) {
  google::protobuf::util::JsonParseOptions options;
  // A record written by a newer agent (after a downgrade) keeps what this one understands.
  options.ignore_unknown_fields = true;
  v1::Pod pod;
  const auto status = google::protobuf::util::JsonStringToMessage(data, &pod, options);
  if (!status.ok()) {
    return absl::DataLossError(absl::StrCat("not a pod record: ", std::string(status.message())));
  }
  if (absl::Status s = ValidateKey(pod.container_id(), pod.ifname()); !s.ok()) {
    return absl::DataLossError(s.message());
  }
  const std::string expected = PodRecordFileName(pod.container_id(), pod.ifname());
  if (name != expected) {
    return absl::DataLossError(
        absl::StrCat("holds the record of ", expected, ", not of its own name"));
  }
  ClearLiveCounts(pod);
  return pod;
}

absl::StatusOr<UniqueFd> OpenPodsDir(const std::string& state_dir, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return ErrnoError(ec.value(), "cannot create the state directory", state_dir);
  bool created = false;
  if (::mkdir(dir.c_str(), 0700) == 0) {
    created = true;
  } else if (errno != EEXIST) {
    return ErrnoError(errno, "cannot create the pod registry", dir);
  }
  // O_NOFOLLOW: the records must live in a directory of ours, not wherever a link points.
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return ErrnoError(errno, "cannot open the pod registry", dir);
  // Pod records name network namespaces and sockets: root's business only, whatever the umask
  // or an operator left.
  if (::fchmod(fd.get(), 0700) != 0) return ErrnoError(errno, "cannot chmod 0700", dir);
  if (created) {
    UniqueFd parent(::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent.valid() || ::fsync(parent.get()) != 0) {
      return ErrnoError(errno, "cannot sync the state directory", state_dir);
    }
  }
  return fd;
}

// The names in the directory (a duplicate of `dir_fd` is read: closedir closes what it reads).
absl::StatusOr<std::vector<std::string>> ListDir(int dir_fd, const std::string& dir) {
  const int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return ErrnoError(errno, "cannot list", dir);
  DIR* d = ::fdopendir(dup_fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(dup_fd);
    return ErrnoError(err, "cannot list", dir);
  }
  ::rewinddir(d);
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) {
      const int err = errno;
      ::closedir(d);
      if (err != 0) return ErrnoError(err, "cannot list", dir);
      break;
    }
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

absl::Status ValidateContainerId(std::string_view container_id) {
  if (container_id.empty()) return absl::InvalidArgumentError("container id is empty");
  if (container_id.size() > kMaxContainerIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("container id \"", Shown(container_id), "\" is ", container_id.size(),
                     " characters long, more than ", kMaxContainerIdBytes));
  }
  for (char c : container_id) {
    if (!IsPlainFileChar(c) && c != '.') {
      return absl::InvalidArgumentError(
          absl::StrCat("container id \"", Shown(container_id),
                       "\" has a character other than A-Z, a-z, 0-9, '_', '.' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateIfname(std::string_view ifname) {
  if (ifname.empty()) return absl::InvalidArgumentError("interface name is empty");
  if (ifname.size() > kMaxIfnameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("interface name \"", Shown(ifname), "\" is ",
                                                   ifname.size(), " bytes long, more than ",
                                                   kMaxIfnameBytes, " (IFNAMSIZ)"));
  }
  if (ifname == "." || ifname == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("interface name \"", std::string(ifname), "\" is not allowed"));
  }
  // The kernel's dev_valid_name() refuses '/', ':' and blanks; control and non-ASCII bytes
  // are refused too, as no runtime names an interface with them.
  for (char c : ifname) {
    if (c <= ' ' || c > '~' || c == '/' || c == ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("interface name \"", Shown(ifname),
                       "\" has a character that is not printable ASCII, or is '/', ':' or a "
                       "blank"));
    }
  }
  return absl::OkStatus();
}

std::string PodRecordFileName(std::string_view container_id, std::string_view ifname) {
  const std::string id = Escape(container_id);
  const std::string tail = absl::StrCat(".", Escape(ifname), kRecordSuffix);
  if (id.size() + tail.size() <= kMaxPlainFileName) return id + tail;
  // '~' is never part of an escaped name, so a hashed name cannot be a plain one.
  util::Sha256 hash;
  hash.Update(
      std::span(reinterpret_cast<const uint8_t*>(container_id.data()), container_id.size()));
  const uint8_t separator = 0;
  hash.Update(std::span(&separator, 1));
  hash.Update(std::span(reinterpret_cast<const uint8_t*>(ifname.data()), ifname.size()));
  return absl::StrCat(id.substr(0, kHashedIdPrefix), "~",
                      util::ToHex(hash.Digest()).substr(0, kHashHexDigits), tail);
}

absl::StatusOr<PodRegistry::Opened> PodRegistry::Open(const std::string& state_dir) {
  const std::string dir = absl::StrCat(state_dir, "/pods");
  absl::StatusOr<UniqueFd> dir_fd = OpenPodsDir(state_dir, dir);
  if (!dir_fd.ok()) return dir_fd.status();
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir_fd->get(), dir);
  if (!names.ok()) return names.status();

  Opened opened;
  std::map<Key, v1::Pod> pods;
  bool changed = false;
  for (const std::string& name : *names) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (name.starts_with(kTempPrefix)) {
      // A Put that did not reach its rename: the record it would have replaced is still there.
      if (::unlinkat(dir_fd->get(), name.c_str(), 0) == 0) {
        changed = true;
      } else {
        opened.problems.push_back(absl::StrCat(path,
                                               ": cannot remove this leftover temporary file: ",
                                               absl::ErrnoToStatus(errno, "unlink").message()));
      }
      continue;
    }
    if (!EndsWith(name, kRecordSuffix)) continue;  // *.bad and whatever an operator left

    ReadResult read = ReadRecordFile(dir_fd->get(), name);
    if (read.transient) {
      return absl::Status(read.status.code(), absl::StrCat("cannot read the pod record ", path,
                                                           ": ", read.status.message()));
    }
    absl::StatusOr<v1::Pod> pod =
        read.status.ok() ? ParseRecord(name, read.data) : absl::StatusOr<v1::Pod>(read.status);
    if (pod.ok()) {
      Key key(pod->container_id(), pod->ifname());
      pods.emplace(std::move(key), *std::move(pod));
      continue;
    }
    // Kept beside the others for the operator; without the .json suffix it is never read again.
    const std::string bad = absl::StrCat(name, kBadSuffix);
    std::string problem = absl::StrCat(path, ": ", pod.status().message());
    if (::renameat(dir_fd->get(), name.c_str(), dir_fd->get(), bad.c_str()) == 0) {
      changed = true;
      absl::StrAppend(&problem, "; moved to ", bad);
    } else {
      absl::StrAppend(&problem, "; ignored, and cannot be moved to ", bad, ": ",
                      absl::ErrnoToStatus(errno, "rename").message());
    }
    opened.problems.push_back(std::move(problem));
  }
  if (changed && ::fsync(dir_fd->get()) != 0) {
    return ErrnoError(errno, "cannot sync the pod registry", dir);
  }
  opened.registry.reset(new PodRegistry(dir, *std::move(dir_fd), std::move(pods)));
  return opened;
}

absl::Status PodRegistry::WriteRecord(const std::string& file_name, const v1::Pod& pod,
                                      bool& renamed) {
  renamed = false;
  absl::StatusOr<std::string> json = ToJson(pod);
  if (!json.ok()) return json.status();
  json->push_back('\n');

  const std::string temp = absl::StrCat(kTempPrefix, file_name);
  const std::string path = absl::StrCat(dir_, "/", file_name);
  UniqueFd fd(::openat(dir_fd_.get(), temp.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return ErrnoError(errno, "cannot create", absl::StrCat(dir_, "/", temp));
  absl::Status status = WriteAll(fd.get(), *json);
  // The data must be on disk before the rename makes it the record: otherwise a crash could
  // leave the new name on an empty or partial file.
  if (status.ok() && ::fsync(fd.get()) != 0) status = absl::ErrnoToStatus(errno, "fsync");
  if (status.ok() && ::close(fd.Release()) != 0) status = absl::ErrnoToStatus(errno, "close");
  if (status.ok() &&
      ::renameat(dir_fd_.get(), temp.c_str(), dir_fd_.get(), file_name.c_str()) != 0) {
    status = absl::ErrnoToStatus(errno, "rename");
  }
  if (!status.ok()) {
    ::unlinkat(dir_fd_.get(), temp.c_str(), 0);
    return absl::Status(status.code(),
                        absl::StrCat("cannot write the pod record ", path, ": ", status.message()));
  }
  renamed = true;
  // The rename itself is durable only once the directory is.
  if (::fsync(dir_fd_.get()) != 0) return ErrnoError(errno, "cannot sync the pod registry", dir_);
  return absl::OkStatus();
}

absl::Status PodRegistry::Put(const v1::Pod& pod) {
  if (absl::Status s = ValidateKey(pod.container_id(), pod.ifname()); !s.ok()) return s;
  v1::Pod record = pod;
  ClearLiveCounts(record);
  const std::string file_name = PodRecordFileName(record.container_id(), record.ifname());
  Key key(record.container_id(), record.ifname());
  absl::MutexLock lock(&mu_);
  bool renamed = false;
  absl::Status status = WriteRecord(file_name, record, renamed);
  // Past the rename the file holds the new record even when syncing the directory failed: the
  // memory follows the disk, and the error still tells the caller it may not be durable.
  if (renamed) pods_[std::move(key)] = std::move(record);
  return status;
}

absl::Status PodRegistry::Remove(std::string_view container_id, std::string_view ifname) {
  if (absl::Status s = ValidateKey(container_id, ifname); !s.ok()) return s;
  const Key key{std::string(container_id), std::string(ifname)};
  absl::MutexLock lock(&mu_);
  const auto it = pods_.find(key);
  if (it == pods_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no pod record for container ", key.first, " interface ", key.second));
  }
  const std::string file_name = PodRecordFileName(container_id, ifname);
  // Already gone from the disk (an operator removed it) is what Remove wants anyway.
  if (::unlinkat(dir_fd_.get(), file_name.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoError(errno, "cannot remove the pod record", absl::StrCat(dir_, "/", file_name));
  }
  pods_.erase(it);
  if (::fsync(dir_fd_.get()) != 0) return ErrnoError(errno, "cannot sync the pod registry", dir_);
  return absl::OkStatus();
}

absl::StatusOr<v1::Pod> PodRegistry::Get(std::string_view container_id,
                                         std::string_view ifname) const {
  if (absl::Status s = ValidateKey(container_id, ifname); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  const auto it = pods_.find(Key(container_id, ifname));
  if (it == pods_.end()) {
    return absl::NotFoundError(absl::StrCat("no pod record for container ",
                                            std::string(container_id), " interface ",
                                            std::string(ifname)));
  }
  return it->second;
}

std::vector<v1::Pod> PodRegistry::List() const { return Find(v1::PodRef()); }

std::vector<v1::Pod> PodRegistry::Find(const v1::PodRef& filter) const {
  std::vector<v1::Pod> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, pod] : pods_) {
      if (Matches(filter, pod.pod())) out.push_back(pod);
    }
  }
  std::sort(out.begin(), out.end(), ListOrder);
  return out;
}

size_t PodRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return pods_.size();
}

}  // namespace braid::agent
