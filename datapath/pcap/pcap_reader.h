// Reads classic libpcap files in either byte order, with microsecond or nanosecond timestamps,
// checking every header: a damaged or truncated file is an error with a message naming the record
// and its offset, never a crash or an unbounded allocation. Used to replay captures and by the
// kernel oracle tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "datapath/pcap/pcap_format.h"
#include "datapath/pcap/status.h"

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
  static StatusOr<PcapReader> Open(const std::string& path);
  // Reads from a stream the caller opened and keeps owning (it is never closed here).
  static StatusOr<PcapReader> ForStream(std::FILE* stream);
  // Reads a whole file held in memory, without copying it; `bytes` must outlive the reader.
  static StatusOr<PcapReader> ForBuffer(std::span<const uint8_t> bytes);

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
  const Status& status() const { return status_; }

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };

  PcapReader() = default;
  static StatusOr<PcapReader> Start(PcapReader reader);
  // Reads up to `len` bytes: from the stream into `out`, or from the buffer by pointing `*data`
  // into it. Returns how many bytes there were.
  size_t Read(size_t len, uint8_t* out, const uint8_t** data);
  bool Fail(std::string message);
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
  Status status_;
  std::string name_;  // for error messages
};

}  // namespace braid::pcap
