#include "sriov/sysfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string>
#include <utility>

#include "sriov/errors.h"

namespace braid::sriov {
namespace {

// sysfs attributes are at most one page (PAGE_SIZE, 4 KiB on the machines Braid runs on); a
// larger buffer only lets the read detect a file that is not a sysfs attribute.
constexpr size_t kMaxAttributeBytes = 64 * 1024;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and returns close(2)'s errno (0 on success): a write's error can surface here.
  int Close() {
    const int rc = ::close(std::exchange(fd_, -1));
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

std::string Quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string_view LastComponent(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

SysfsRoot::SysfsRoot(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  if (root_.empty()) root_ = "/";
}

std::string SysfsRoot::Path(std::string_view rel) const {
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  std::string path = root_;
  if (path.back() != '/') path += '/';
  path.append(rel);
  return path;
}

bool SysfsRoot::Exists(std::string_view rel) const {
  struct stat st;
  return ::stat(Path(rel).c_str(), &st) == 0;
}

bool SysfsRoot::LinkExists(std::string_view rel) const {
  struct stat st;
  return ::lstat(Path(rel).c_str(), &st) == 0;
}

absl::StatusOr<std::string> SysfsRoot::ReadAttribute(std::string_view rel) const {
  const std::string path = Path(rel);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "opening " + path);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "reading " + path);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxAttributeBytes) {
      return absl::DataLossError(path + " is longer than " + std::to_string(kMaxAttributeBytes) +
                                 " bytes: not a sysfs attribute");
    }
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

absl::StatusOr<int64_t> SysfsRoot::ReadDecimal(std::string_view rel) const {
  absl::StatusOr<std::string> text = ReadAttribute(rel);
  if (!text.ok()) return text.status();
  int64_t value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  const auto [stop, error] = std::from_chars(begin, end, value, 10);
  if (text->empty() || error != std::errc() || stop != end) {
    return absl::DataLossError(Path(rel) + " holds " + Quote(*text) + ", not a decimal number");
  }
  return value;
}

absl::StatusOr<uint32_t> SysfsRoot::ReadHex(std::string_view rel) const {
  absl::StatusOr<std::string> text = ReadAttribute(rel);
  if (!text.ok()) return text.status();
  std::string_view digits = *text;
  uint32_t value = 0;
  bool good = digits.size() > 2 && (digits.substr(0, 2) == "0x" || digits.substr(0, 2) == "0X");
  if (good) {
    digits.remove_prefix(2);
    const auto [stop, error] =
        std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
    good = error == std::errc() && stop == digits.data() + digits.size();
  }
  if (!good) {
    return absl::DataLossError(Path(rel) + " holds " + Quote(*text) +
                               ", not a hexadecimal number such as 0x8086");
  }
  return value;
}

absl::StatusOr<std::string> SysfsRoot::LinkTargetName(std::string_view rel) const {
  const std::string path = Path(rel);
  std::string target(4096, '\0');
  const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
  if (n < 0) {
    if (errno == EINVAL) return absl::InvalidArgumentError(path + " is not a symbolic link");
    return ErrnoStatus(errno, "reading the link " + path);
  }
  target.resize(static_cast<size_t>(n));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoStatus(errno, "following the link " + path + " -> " + target);
  }
  const std::string_view name = LastComponent(target);
  if (name.empty() || name == "." || name == "..") {
    return absl::DataLossError("the link " + path + " -> " + target + " names no device");
  }
  return std::string(name);
}

absl::StatusOr<std::optional<std::string>> SysfsRoot::OptionalLinkTargetName(
    std::string_view rel) const {
  if (!LinkExists(rel)) return std::optional<std::string>();
  absl::StatusOr<std::string> name = LinkTargetName(rel);
  if (!name.ok()) return name.status();
  return std::optional<std::string>(*std::move(name));
}

absl::StatusOr<std::vector<std::string>> SysfsRoot::ListDirectory(std::string_view rel) const {
  const std::string path = Path(rel);
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, "listing " + path);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  const int error = errno;
  ::closedir(dir);
  if (error != 0) return ErrnoStatus(error, "listing " + path);
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status SysfsRoot::WriteAttribute(std::string_view rel, std::string_view value) {
  const std::string path = Path(rel);
  const std::string what = "writing " + Quote(value) + " to " + path;
  // O_TRUNC as the shell's ">" does: sysfs ignores it, a regular file (a test tree) needs it.
  Fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, what);
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, what);
  if (static_cast<size_t>(n) != value.size()) {
    return absl::DataLossError(what + ": only " + std::to_string(n) + " of " +
                               std::to_string(value.size()) + " bytes written");
  }
  if (const int error = fd.Close(); error != 0) return ErrnoStatus(error, what);
  return absl::OkStatus();
}

bool IsPathComponent(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

}  // namespace braid::sriov
