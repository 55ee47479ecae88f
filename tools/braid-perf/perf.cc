#include "tools/braid-perf/perf.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "braid/braid.h"

namespace braid::perf {
namespace {

void StoreLe(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t LoadLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

int Errno() { return errno != 0 ? errno : EIO; }

// Checks `got` against the pattern at stream offset `offset` and hashes it.
void Consume(std::span<const uint8_t> got, uint64_t offset, BulkResult& r, util::Sha256& sha) {
  const Pattern& pattern = Pattern::Get();
  size_t done = 0;
  while (done < got.size() && r.pattern_ok) {
    const size_t n = std::min(got.size() - done, Pattern::kLength);
    if (std::memcmp(got.data() + done, pattern.At(offset + done, n).data(), n) != 0) {
      r.pattern_ok = false;
    }
    done += n;
  }
  sha.Update(got);
}

}  // namespace

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kBulk:
      return "bulk";
    case Mode::kRr:
      return "rr";
    case Mode::kCrr:
      return "crr";
  }
  return "?";
}

std::optional<Mode> ParseMode(std::string_view name) {
  if (name == "bulk") return Mode::kBulk;
  if (name == "rr") return Mode::kRr;
  if (name == "crr") return Mode::kCrr;
  return std::nullopt;
}

void TestHeader::Emit(std::span<uint8_t, kSize> out) const {
  StoreLe(out.data(), kMagic, 4);
  out[4] = kVersion;
  out[5] = static_cast<uint8_t>(mode);
  out[6] = flags;
  out[7] = 0;
  StoreLe(out.data() + 8, size, 4);
  StoreLe(out.data() + 12, duration_ms, 4);
}

std::optional<TestHeader> TestHeader::Parse(std::span<const uint8_t, kSize> in) {
  if (LoadLe(in.data(), 4) != kMagic || in[4] != kVersion) return std::nullopt;
  TestHeader h;
  if (in[5] < static_cast<uint8_t>(Mode::kBulk) || in[5] > static_cast<uint8_t>(Mode::kCrr)) {
    return std::nullopt;
  }
  h.mode = static_cast<Mode>(in[5]);
  h.flags = in[6];
  h.size = static_cast<uint32_t>(LoadLe(in.data() + 8, 4));
  h.duration_ms = static_cast<uint32_t>(LoadLe(in.data() + 12, 4));
  return h;
}

void BulkRecord::Emit(std::span<uint8_t, kSize> out) const {
  StoreLe(out.data(), bytes, 8);
  std::memcpy(out.data() + 8, sha256.data(), sha256.size());
}

BulkRecord BulkRecord::Parse(std::span<const uint8_t, kSize> in) {
  BulkRecord r;
  r.bytes = LoadLe(in.data(), 8);
  std::memcpy(r.sha256.data(), in.data() + 8, r.sha256.size());
  return r;
}

const Pattern& Pattern::Get() {
  static const Pattern* pattern = new Pattern();
  return *pattern;
}

Pattern::Pattern() : bytes_(2 * kLength, 0) {
  util::PatternStream stream(/*seed=*/1, /*stream=*/0);
  stream.Fill({bytes_.data(), kLength});
  std::memcpy(bytes_.data() + kLength, bytes_.data(), kLength);
}

int SendAll(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = braid_send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno();
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return 0;
}

int RecvExact(int fd, std::span<uint8_t> out, bool* eof) {
  size_t got = 0;
  if (eof != nullptr) *eof = false;
  while (got < out.size()) {
    const ssize_t n = braid_recv(fd, out.data() + got, out.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno();
    }
    if (n == 0) {
      if (eof != nullptr) *eof = got == 0;
      return ECONNRESET;
    }
    got += static_cast<size_t>(n);
  }
  return 0;
}

BulkResult SendBulk(int fd, size_t write_size, Clock::time_point until, bool zerocopy,
                    std::atomic<uint64_t>* progress, const std::atomic<bool>* stop) {
  BulkResult r;
  util::Sha256 sha;
  const Pattern& pattern = Pattern::Get();
  write_size = std::clamp<size_t>(write_size, 1, Pattern::kLength);
  // A kernel socket (no service: the fallback) has no FIFO to lend: copy instead.
  r.zerocopy = zerocopy && braid_is_braid_fd(fd) == 1;
  r.first_byte = Clock::now();
  while (Clock::now() < until && (stop == nullptr || !stop->load(std::memory_order_relaxed))) {
    size_t sent = 0;
    if (r.zerocopy) {
      braid_iovec2 v{};
      const ssize_t n = braid_send_reserve(fd, write_size, &v);
      if (n < 0) {
        if (errno == EINTR) continue;
        r.error = Errno();
        r.what = "braid_send_reserve";
        break;
      }
      // The app produces its bytes straight into the shared FIFO.
      for (int i = 0; i < v.count; ++i) {
        auto* dst = static_cast<uint8_t*>(v.piece[i].iov_base);
        const std::span<const uint8_t> src = pattern.At(r.bytes + sent, v.piece[i].iov_len);
        std::memcpy(dst, src.data(), src.size());
        sha.Update(src);
        sent += src.size();
      }
      if (braid_send_commit(fd, sent) != 0) {
        r.error = Errno();
        r.what = "braid_send_commit";
        break;
      }
    } else {
      const std::span<const uint8_t> src = pattern.At(r.bytes, write_size);
      const ssize_t n = braid_send(fd, src.data(), src.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        r.error = Errno();
        r.what = "braid_send";
        break;
      }
      sent = static_cast<size_t>(n);
      sha.Update(src.first(sent));
    }
    r.bytes += sent;
    if (progress != nullptr) progress->fetch_add(sent, std::memory_order_relaxed);
  }
  r.last_byte = Clock::now();
  if (r.error == 0 && braid_shutdown(fd, SHUT_WR) != 0) {
    r.error = Errno();
    r.what = "braid_shutdown";
  }
  r.sha256 = sha.Digest();
  return r;
}

BulkResult ReceiveBulk(int fd, size_t read_size, bool zerocopy, std::atomic<uint64_t>* progress) {
  BulkResult r;
  util::Sha256 sha;
  r.zerocopy = zerocopy && braid_is_braid_fd(fd) == 1;
  std::vector<uint8_t> buffer(r.zerocopy ? 0 : std::max<size_t>(read_size, 1));
  bool started = false;
  while (true) {
    size_t got = 0;
    if (r.zerocopy) {
      braid_iovec2 v{};
      const ssize_t n = braid_recv_lease(fd, read_size, &v);
      if (n < 0) {
        if (errno == EINTR) continue;
        r.error = Errno();
        r.what = "braid_recv_lease";
        break;
      }
      if (n == 0) break;  // EOF: nothing was lent
      // Checked and hashed in place, in the shared FIFO.
      for (int i = 0; i < v.count; ++i) {
        const std::span<const uint8_t> piece(static_cast<const uint8_t*>(v.piece[i].iov_base),
                                             v.piece[i].iov_len);
        Consume(piece, r.bytes + got, r, sha);
        got += piece.size();
      }
      if (braid_recv_release(fd, got) != 0) {
        r.error = Errno();
        r.what = "braid_recv_release";
        break;
      }
    } else {
      const ssize_t n = braid_recv(fd, buffer.data(), buffer.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        r.error = Errno();
        r.what = "braid_recv";
        break;
      }
      got = static_cast<size_t>(n);
      Consume({buffer.data(), got}, r.bytes, r, sha);
    }
    if (got == 0) break;  // EOF
    const Clock::time_point now = Clock::now();
    if (!started) {
      r.first_byte = now;
      started = true;
    }
    r.last_byte = now;
    r.bytes += got;
    if (progress != nullptr) progress->fetch_add(got, std::memory_order_relaxed);
  }
  if (!started) r.first_byte = r.last_byte = Clock::now();
  r.sha256 = sha.Digest();
  return r;
}

std::string ErrorText(int error) {
  char buf[128];
  // GNU strerror_r returns the text (maybe not in buf).
  const char* text = strerror_r(error, buf, sizeof(buf));
  return text;
}

CpuTime ProcessCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return {seconds(u.ru_utime), seconds(u.ru_stime)};
}

}  // namespace braid::perf
