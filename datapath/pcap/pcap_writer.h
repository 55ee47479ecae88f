// Writes classic libpcap files: nanosecond timestamps (magic 0xa1b23c4d), version 2.4,
// little-endian (readers follow the magic, so the output is identical on every host). Used for
// debug captures of what the datapath sends and receives, and by tests.
//
// Errors (absl codes): InvalidArgument for a bad link type, snaplen, timestamp, length or null
// destination; the errno's code (NotFound, PermissionDenied, ...) when Create cannot open the
// file; FailedPrecondition for Write or Flush after Close; Internal when writing, flushing or
// closing fails. Messages name the file.
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

class PcapWriter {
 public:
  // Creates (or truncates) `path` and writes the file header. `linktype` is kLinkTypeEthernet or
  // kLinkTypeRaw; `snaplen` is 1..kMaxSnaplen, longer frames are cut to it.
  static absl::StatusOr<PcapWriter> Create(const std::string& path, uint32_t linktype,
                                           uint32_t snaplen = kDefaultSnaplen);
  // Writes to a stream the caller opened and keeps owning (a pipe, stdout, a tmpfile); the writer
  // flushes it but never closes it.
  static absl::StatusOr<PcapWriter> ForStream(std::FILE* stream, uint32_t linktype,
                                              uint32_t snaplen = kDefaultSnaplen);
  // Appends the file to `*buffer`, which must outlive the writer (tests, in-memory captures).
  static absl::StatusOr<PcapWriter> ForBuffer(std::vector<uint8_t>* buffer, uint32_t linktype,
                                              uint32_t snaplen = kDefaultSnaplen);

  PcapWriter(PcapWriter&& other) noexcept;
  PcapWriter& operator=(PcapWriter&& other) noexcept;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  ~PcapWriter();  // closes (a file from Create) or flushes (a stream); errors are lost: call Close

  // One record. `timestamp` is the time since the Unix epoch, 0 ≤ t < 2^32 s. `orig_len` is the
  // frame's length on the wire (≥ frame.size(): the caller may pass an already cut frame); the
  // captured part is frame's first min(frame.size(), snaplen) bytes.
  absl::Status Write(std::chrono::nanoseconds timestamp, std::span<const uint8_t> frame,
                     uint32_t orig_len);
  absl::Status Write(std::chrono::nanoseconds timestamp, std::span<const uint8_t> frame);

  // Pushes buffered records to the OS (a no-op for a buffer).
  absl::Status Flush();
  // Flushes, then closes a file from Create. Afterwards Write and Flush fail; Close is ok.
  absl::Status Close();

  uint32_t linktype() const { return linktype_; }
  uint32_t snaplen() const { return snaplen_; }
  uint64_t records_written() const { return records_; }

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };

  PcapWriter(std::unique_ptr<std::FILE, FileCloser> owned, std::FILE* stream,
             std::vector<uint8_t>* buffer, uint32_t linktype, uint32_t snaplen, std::string name);
  static absl::StatusOr<PcapWriter> Start(PcapWriter writer);
  absl::Status Append(const uint8_t* data, size_t len);

  std::unique_ptr<std::FILE, FileCloser> owned_;  // set for Create
  std::FILE* stream_ = nullptr;                   // owned_.get() or the caller's stream
  std::vector<uint8_t>* buffer_ = nullptr;        // set for ForBuffer
  uint32_t linktype_ = 0;
  uint32_t snaplen_ = 0;
  uint64_t records_ = 0;
  bool closed_ = false;
  std::string name_;  // for error messages
};

}  // namespace braid::pcap
