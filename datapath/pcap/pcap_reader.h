// Reads classic libpcap files in either byte order, with microsecond or nanosecond timestamps,
// checking every header: a damaged or truncated file is an error with a message naming the record
// and its offset, never a crash or an unbounded allocation. Used to replay captures and by the
// kernel oracle tests.
//
// Errors (absl codes): the errno's code (NotFound, PermissionDenied, ...) when Open cannot open
// the file; InvalidArgument for a null stream; Unimplemented for a pcapng file; DataLoss for a
// damaged or truncated file (bad magic or version, impossible lengths or timestamps, a cut
// header or record); Internal when reading the stream fails. Messages name the file and, for a
// record, its index and offset.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/pcap/pcap_format.h"

namespace braid::pcap {

struct PcapFileHeader {
  bool big_endian = false;  // fields are big-endian (the magic read so); else little-endian
  bool nanosecond = false;  // magic 0xa1b23c4d; otherwise microseconds (0xa1b2c3d4)
  uint16_t version_major = 0;
  uint16_t version_minor = 0;
  int32_t thiszone = 0;
  uint32_t sigfigs = 0;
  uint32_t snaplen = 0;
  uint32_t network = 0;  // raw field: link type plus flag bits
  uint32_t linktype() const { return network & kLinkTypeMask; }
};

struct PcapRecord {
  uint64_t index = 0;                     // 0-based position in the file
  uint64_t offset = 0;                    // file offset of the record header
  std::chrono::nanoseconds timestamp{0};  // since the Unix epoch
  uint32_t orig_len = 0;                  // length on the wire, ≥ data.size()
  // The captured bytes; valid until the next call to Next() (or the buffer's lifetime, for a
  // reader over a buffer).
  std::span<const uint8_t> data;
};

class PcapReader {
 public:
  // Opens `path` and reads and checks its file header.
  static absl::StatusOr<PcapReader> Open(const std::string& path);
  // Reads from a stream the caller opened and keeps owning (it is never closed here).
  static absl::StatusOr<PcapReader> ForStream(std::FILE* stream);
  // Reads a whole file held in memory, without copying it; `bytes` must outlive the reader.
  static absl::StatusOr<PcapReader> ForBuffer(std::span<const uint8_t> bytes);

  PcapReader(PcapReader&&) noexcept = default;
  PcapReader& operator=(PcapReader&&) noexcept = default;
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;
  ~PcapReader() = default;

  const PcapFileHeader& header() const { return header_; }
  uint32_t linktype() const { return header_.linktype(); }
  uint32_t snaplen() const { return header_.snaplen; }
  // The longest record accepted: the file's snaplen (0 read as "unlimited", as libpcap does),
  // never more than kMaxSnaplen.
  uint32_t record_limit() const { return record_limit_; }

  // Reads the next record into `record`. False at the end of the capture or on a damaged record;
  // status() then tells which (ok at a clean end). After an error every call returns false.
  bool Next(PcapRecord& record);
  const absl::Status& status() const { return status_; }

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };

  PcapReader() = default;
  static absl::StatusOr<PcapReader> Start(PcapReader reader);
  // Reads up to `len` bytes: from the stream into `out`, or from the buffer by pointing `*data`
  // into it. Returns how many bytes there were.
  size_t Read(size_t len, uint8_t* out, const uint8_t** data);
  bool Fail(absl::Status status);
  uint32_t Load32(const uint8_t* p) const;
  uint16_t Load16(const uint8_t* p) const;

  std::unique_ptr<std::FILE, FileCloser> owned_;
  std::FILE* stream_ = nullptr;
  std::span<const uint8_t> buffer_;
  size_t buffer_pos_ = 0;
  uint64_t offset_ = 0;
  uint64_t next_index_ = 0;
  PcapFileHeader header_;
  uint32_t record_limit_ = 0;
  std::vector<uint8_t> record_data_;  // the current record, for stream sources
  bool done_ = false;
  absl::Status status_;
  std::string name_;  // for error messages
};

}  // namespace braid::pcap
