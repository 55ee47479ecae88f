#include "datapath/pcap/pcap_reader.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::pcap {
namespace {

// pcapng's section header block type, where a classic file has its magic (palindromic, so the
// same in both byte orders).
constexpr uint32_t kPcapngBlockType = 0x0a0d0d0a;

uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string Where(const std::string& name, uint64_t index, uint64_t offset) {
  return "pcap " + name + ": record " + std::to_string(index) + " at offset " +
         std::to_string(offset) + ": ";
}

}  // namespace

uint32_t PcapReader::Load32(const uint8_t* p) const {
  return header_.big_endian ? LoadBe32(p) : LoadLe32(p);
}

uint16_t PcapReader::Load16(const uint8_t* p) const {
  return header_.big_endian ? static_cast<uint16_t>((p[0] << 8) | p[1])
                            : static_cast<uint16_t>(p[0] | (p[1] << 8));
}

absl::StatusOr<PcapReader> PcapReader::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    // The errno picks the code: NotFound, PermissionDenied, ...
    const int err = errno;
    return absl::ErrnoToStatus(err, "pcap " + path + ": cannot open");
  }
  PcapReader reader;
  reader.owned_.reset(f);
  reader.stream_ = f;
  reader.name_ = path;
  return Start(std::move(reader));
}

absl::StatusOr<PcapReader> PcapReader::ForStream(std::FILE* stream) {
  if (stream == nullptr) return absl::InvalidArgumentError("pcap reader: null stream");
  PcapReader reader;
  reader.stream_ = stream;
  reader.name_ = "stream";
  return Start(std::move(reader));
}

absl::StatusOr<PcapReader> PcapReader::ForBuffer(std::span<const uint8_t> bytes) {
  PcapReader reader;
  reader.buffer_ = bytes;
  reader.name_ = "buffer";
  return Start(std::move(reader));
}

size_t PcapReader::Read(size_t len, uint8_t* out, const uint8_t** data) {
  size_t got = 0;
  if (stream_ != nullptr) {
    got = std::fread(out, 1, len, stream_);
    *data = out;
  } else {
    got = std::min(len, buffer_.size() - buffer_pos_);
    *data = buffer_.data() + buffer_pos_;
    buffer_pos_ += got;
  }
  offset_ += got;
  return got;
}

absl::StatusOr<PcapReader> PcapReader::Start(PcapReader reader) {
  std::array<uint8_t, kFileHeaderLen> storage;
  const uint8_t* h = nullptr;
  size_t got = reader.Read(kFileHeaderLen, storage.data(), &h);
  const std::string& name = reader.name_;
  if (got < kFileHeaderLen) {
    if (reader.stream_ != nullptr && std::ferror(reader.stream_)) {
      return absl::InternalError("pcap " + name + ": read error: " + std::strerror(errno));
    }
    return absl::DataLossError("pcap " + name + ": truncated file header (" + std::to_string(got) +
                               " of " + std::to_string(kFileHeaderLen) + " bytes)");
  }
  PcapFileHeader& fh = reader.header_;
  uint32_t magic_le = LoadLe32(h);
  uint32_t magic_be = LoadBe32(h);
  if (magic_le == kMagicMicroseconds || magic_le == kMagicNanoseconds) {
    fh.big_endian = false;
    fh.nanosecond = magic_le == kMagicNanoseconds;
  } else if (magic_be == kMagicMicroseconds || magic_be == kMagicNanoseconds) {
    fh.big_endian = true;
    fh.nanosecond = magic_be == kMagicNanoseconds;
  } else if (magic_be == kPcapngBlockType) {
    // A known format this reader does not implement (dumpcap's default: ask it for `-F pcap`).
    return absl::UnimplementedError("pcap " + name +
                                    ": bad magic 0x0a0d0d0a: a pcapng file, which is not "
                                    "supported (only classic pcap)");
  } else {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "%08x", magic_be);
    return absl::DataLossError("pcap " + name + ": bad magic 0x" + hex +
                               " (not a classic pcap file; pcapng is not supported)");
  }
  fh.version_major = reader.Load16(h + 4);
  fh.version_minor = reader.Load16(h + 6);
  fh.thiszone = static_cast<int32_t>(reader.Load32(h + 8));
  fh.sigfigs = reader.Load32(h + 12);
  fh.snaplen = reader.Load32(h + 16);
  fh.network = reader.Load32(h + 20);
  // libpcap reads every 2.x file the same way; 1.x had a different record header.
  if (fh.version_major != kVersionMajor) {
    return absl::DataLossError("pcap " + name + ": unsupported version " +
                               std::to_string(fh.version_major) + "." +
                               std::to_string(fh.version_minor));
  }
  reader.record_limit_ = fh.snaplen == 0 ? kMaxSnaplen : std::min(fh.snaplen, kMaxSnaplen);
  return reader;
}

bool PcapReader::Fail(absl::Status status) {
  status_ = std::move(status);
  done_ = true;
  return false;
}

bool PcapReader::Next(PcapRecord& record) {
  if (done_) return false;
  const uint64_t index = next_index_;
  const uint64_t offset = offset_;
  std::array<uint8_t, kRecordHeaderLen> storage;
  const uint8_t* h = nullptr;
  size_t got = Read(kRecordHeaderLen, storage.data(), &h);
  if (got == 0) {
    if (stream_ != nullptr && std::ferror(stream_)) {
      return Fail(
          absl::InternalError(Where(name_, index, offset) + "read error: " + std::strerror(errno)));
    }
    done_ = true;  // clean end of the capture
    return false;
  }
  if (got < kRecordHeaderLen) {
    return Fail(absl::DataLossError(Where(name_, index, offset) + "truncated record header (" +
                                    std::to_string(got) + " of " +
                                    std::to_string(kRecordHeaderLen) + " bytes)"));
  }
  const uint32_t seconds = Load32(h);
  const uint32_t fraction = Load32(h + 4);
  const uint32_t incl_len = Load32(h + 8);
  const uint32_t orig_len = Load32(h + 12);
  const uint32_t fraction_limit = header_.nanosecond ? 1'000'000'000u : 1'000'000u;
  if (fraction >= fraction_limit) {
    return Fail(absl::DataLossError(
        Where(name_, index, offset) + "timestamp fraction " + std::to_string(fraction) +
        (header_.nanosecond ? " ns" : " us") + " is not below one second"));
  }
  if (incl_len > record_limit_) {
    return Fail(absl::DataLossError(
        Where(name_, index, offset) + "captured length " + std::to_string(incl_len) +
        " exceeds the limit " + std::to_string(record_limit_) + " (file snaplen " +
        std::to_string(header_.snaplen) + ", at most " + std::to_string(kMaxSnaplen) + ")"));
  }
  if (incl_len > orig_len) {
    return Fail(absl::DataLossError(Where(name_, index, offset) + "captured length " +
                                    std::to_string(incl_len) + " exceeds the original length " +
                                    std::to_string(orig_len)));
  }
  // Grows to the largest record seen, at most record_limit_: a corrupt length cannot make the
  // reader allocate more than that.
  if (stream_ != nullptr && record_data_.size() < std::max<uint32_t>(incl_len, 1)) {
    record_data_.resize(std::max<uint32_t>(incl_len, 1));
  }
  const uint8_t* data = nullptr;
  got = Read(incl_len, record_data_.data(), &data);
  if (got < incl_len) {
    if (stream_ != nullptr && std::ferror(stream_)) {
      return Fail(
          absl::InternalError(Where(name_, index, offset) + "read error: " + std::strerror(errno)));
    }
    return Fail(absl::DataLossError(Where(name_, index, offset) + "truncated record data (" +
                                    std::to_string(got) + " of " + std::to_string(incl_len) +
                                    " bytes)"));
  }
  record.index = index;
  record.offset = offset;
  const int64_t fraction_ns = header_.nanosecond ? fraction : int64_t{fraction} * 1000;
  record.timestamp = std::chrono::nanoseconds(int64_t{seconds} * 1'000'000'000 + fraction_ns);
  record.orig_len = orig_len;
  record.data = std::span<const uint8_t>(data, incl_len);
  ++next_index_;
  return true;
}

}  // namespace braid::pcap
