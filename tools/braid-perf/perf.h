// braid-perf's pieces shared by the client and the server: the test header each connection
// starts with, the payload pattern, blocking I/O on libbraid descriptors (Braid or kernel
// sockets alike), and the bulk sender and receiver (copying or zero-copy).
//
// A connection (README.md has the whole exchange): the client sends a TestHeader; then
//   bulk:        the sender (client, or the server with kReverse) writes the pattern until the
//                test time is up and shuts down its side; the receiver reads to EOF, checking
//                every byte against the pattern and hashing it (SHA-256), and answers with a
//                BulkRecord (its byte count and digest), which the sender compares with its own;
//   rr:          the client sends `size` bytes and waits for `size` back, again and again; the
//                server echoes until EOF;
//   crr:         the client sends `size` bytes, the server answers `size` bytes and closes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "datapath/util/stream_check.h"

namespace braid::perf {

using Clock = std::chrono::steady_clock;

enum class Mode : uint8_t { kBulk = 1, kRr = 2, kCrr = 3 };
const char* ModeName(Mode mode);
std::optional<Mode> ParseMode(std::string_view name);

// The first bytes of every connection, client to server, little-endian.
struct TestHeader {
  static constexpr uint32_t kMagic = 0x46525042;  // "BPRF"
  static constexpr uint8_t kVersion = 1;
  static constexpr size_t kSize = 16;
  static constexpr uint8_t kReverse = 1;  // bulk: the server sends

  Mode mode = Mode::kBulk;
  uint8_t flags = 0;
  uint32_t size = 0;         // rr/crr: request and response bytes; bulk: write size
  uint32_t duration_ms = 0;  // bulk with kReverse: how long the server sends

  void Emit(std::span<uint8_t, kSize> out) const;
  // nullopt when the magic, version or mode is wrong.
  static std::optional<TestHeader> Parse(std::span<const uint8_t, kSize> in);
};

// The receiver's account of a bulk stream, sent back to the sender after EOF.
struct BulkRecord {
  static constexpr size_t kSize = 8 + 32;
  uint64_t bytes = 0;
  util::Sha256Digest sha256{};

  void Emit(std::span<uint8_t, kSize> out) const;
  static BulkRecord Parse(std::span<const uint8_t, kSize> in);
};

// The payload: a fixed pseudo-random block of a prime length, repeated, so that misplaced or
// repeated data changes the digest and fails the pattern check. Stored twice over so that any
// offset has kLength contiguous bytes after it.
class Pattern {
 public:
  static constexpr size_t kLength = 1048573;
  static const Pattern& Get();
  // `n` (at most kLength) bytes of the stream from stream offset `offset`.
  std::span<const uint8_t> At(uint64_t offset, size_t n) const {
    return {bytes_.data() + offset % kLength, n};
  }

 private:
  Pattern();
  std::basic_string<uint8_t> bytes_;
};

// Blocking I/O on a libbraid descriptor. 0 or an errno; RecvExact returns ECONNRESET when the
// stream ends early (EOF before `out` is full) and sets *eof when it ended before any byte.
int SendAll(int fd, std::span<const uint8_t> bytes);
int RecvExact(int fd, std::span<uint8_t> out, bool* eof = nullptr);

struct BulkResult {
  uint64_t bytes = 0;
  util::Sha256Digest sha256{};
  bool pattern_ok = true;  // receiver: every byte matched the pattern
  bool zerocopy = false;   // the zero-copy calls were used (Braid sockets only)
  Clock::time_point first_byte{};
  Clock::time_point last_byte{};
  int error = 0;     // errno of the failed call, 0 when the stream completed
  std::string what;  // which call failed
};

// Sends the pattern in writes of up to `write_size` bytes until `until` (or `stop`), then shuts
// down the sending side. `progress` counts bytes as they go.
BulkResult SendBulk(int fd, size_t write_size, Clock::time_point until, bool zerocopy,
                    std::atomic<uint64_t>* progress, const std::atomic<bool>* stop);
// Reads to EOF in reads of up to `read_size` bytes, checking and hashing.
BulkResult ReceiveBulk(int fd, size_t read_size, bool zerocopy, std::atomic<uint64_t>* progress);

// "Connection reset by peer" style text for an errno.
std::string ErrorText(int error);
// user + system CPU seconds of the process so far (getrusage).
struct CpuTime {
  double user_s = 0;
  double system_s = 0;
};
CpuTime ProcessCpu();

}  // namespace braid::perf
