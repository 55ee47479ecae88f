// Fuzzes the pcap reader: any bytes either open as a capture or fail with a message, every record
// either reads or fails (DataLoss), and nothing crashes or allocates beyond the record limit. The
// records that do read are written again with PcapWriter and must read back identical.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "datapath/pcap/pcap_reader.h"
#include "datapath/pcap/pcap_writer.h"

namespace {

struct Copy {
  std::chrono::nanoseconds timestamp;
  uint32_t orig_len;
  std::vector<uint8_t> data;
  bool operator==(const Copy&) const = default;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid::pcap;
  auto reader = PcapReader::ForBuffer(std::span<const uint8_t>(data, size));
  if (!reader.ok()) {
    // Bytes in memory can only be damaged (DataLoss) or pcapng (Unimplemented).
    const absl::StatusCode code = reader.status().code();
    if (code != absl::StatusCode::kDataLoss && code != absl::StatusCode::kUnimplemented) {
      __builtin_trap();
    }
    if (reader.status().message().empty()) __builtin_trap();
    return 0;
  }
  const PcapFileHeader& h = reader->header();
  if (h.version_major != kVersionMajor) __builtin_trap();
  // Every accessor is read; unsigned arithmetic so that the sum itself cannot overflow.
  volatile uint64_t sink = uint64_t{h.big_endian} + uint64_t{h.nanosecond} +
                           uint64_t{h.version_minor} + static_cast<uint32_t>(h.thiszone) +
                           uint64_t{h.sigfigs} + uint64_t{h.snaplen} + uint64_t{h.network} +
                           uint64_t{reader->linktype()} + uint64_t{reader->snaplen()};
  if (reader->record_limit() == 0 || reader->record_limit() > kMaxSnaplen) __builtin_trap();

  std::vector<Copy> records;
  PcapRecord rec;
  while (reader->Next(rec)) {
    if (rec.data.size() > reader->record_limit() || rec.data.size() > rec.orig_len)
      __builtin_trap();
    if (rec.index != records.size()) __builtin_trap();
    for (uint8_t b : rec.data) sink = sink + b;
    sink = sink + rec.offset;
    records.push_back({rec.timestamp, rec.orig_len, {rec.data.begin(), rec.data.end()}});
  }
  if (!reader->status().ok() && (reader->status().code() != absl::StatusCode::kDataLoss ||
                                 reader->status().message().empty())) {
    __builtin_trap();
  }
  if (reader->Next(rec)) __builtin_trap();  // the end (or an error) is sticky

  // Re-emit what was read and read it back: the writer must reproduce it exactly.
  std::vector<uint8_t> out;
  auto writer = PcapWriter::ForBuffer(&out, kLinkTypeEthernet, kMaxSnaplen);
  if (!writer.ok()) __builtin_trap();
  for (const Copy& c : records) {
    if (!writer->Write(c.timestamp, c.data, c.orig_len).ok()) __builtin_trap();
  }
  auto again = PcapReader::ForBuffer(out);
  if (!again.ok()) __builtin_trap();
  size_t i = 0;
  while (again->Next(rec)) {
    if (i >= records.size()) __builtin_trap();
    Copy c{rec.timestamp, rec.orig_len, {rec.data.begin(), rec.data.end()}};
    if (!(c == records[i])) __builtin_trap();
    ++i;
  }
  if (!again->status().ok() || i != records.size()) __builtin_trap();
  return 0;
}
