#include "datapath/pcap/pcap_writer.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::pcap {
namespace {

// The file is written little-endian on every host; readers learn the order from the magic.
void StoreLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void StoreLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

absl::Status CheckParameters(uint32_t linktype, uint32_t snaplen) {
  if (linktype != kLinkTypeEthernet && linktype != kLinkTypeRaw) {
    return absl::InvalidArgumentError("pcap writer: link type " + std::to_string(linktype) +
                                      " is not LINKTYPE_ETHERNET (1) or LINKTYPE_RAW (101)");
  }
  if (snaplen == 0 || snaplen > kMaxSnaplen) {
    return absl::InvalidArgumentError("pcap writer: snaplen " + std::to_string(snaplen) +
                                      " is not in 1.." + std::to_string(kMaxSnaplen));
  }
  return absl::OkStatus();
}

absl::Status ClosedError(const std::string& name) {
  return absl::FailedPreconditionError("pcap writer: " + name + " is closed");
}

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

PcapWriter::PcapWriter(std::unique_ptr<std::FILE, FileCloser> owned, std::FILE* stream,
                       std::vector<uint8_t>* buffer, uint32_t linktype, uint32_t snaplen,
                       std::string name)
    : owned_(std::move(owned)),
      stream_(stream),
      buffer_(buffer),
      linktype_(linktype),
      snaplen_(snaplen),
      name_(std::move(name)) {}

PcapWriter::PcapWriter(PcapWriter&& other) noexcept
    : owned_(std::move(other.owned_)),
      stream_(std::exchange(other.stream_, nullptr)),
      buffer_(std::exchange(other.buffer_, nullptr)),
      linktype_(other.linktype_),
      snaplen_(other.snaplen_),
      records_(other.records_),
      closed_(std::exchange(other.closed_, true)),
      name_(std::move(other.name_)) {}

PcapWriter& PcapWriter::operator=(PcapWriter&& other) noexcept {
  if (this != &other) {
    (void)Close();
    owned_ = std::move(other.owned_);
    stream_ = std::exchange(other.stream_, nullptr);
    buffer_ = std::exchange(other.buffer_, nullptr);
    linktype_ = other.linktype_;
    snaplen_ = other.snaplen_;
    records_ = other.records_;
    closed_ = std::exchange(other.closed_, true);
    name_ = std::move(other.name_);
  }
  return *this;
}

PcapWriter::~PcapWriter() { (void)Close(); }

absl::StatusOr<PcapWriter> PcapWriter::Create(const std::string& path, uint32_t linktype,
                                              uint32_t snaplen) {
  if (absl::Status s = CheckParameters(linktype, snaplen); !s.ok()) return s;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    // The errno picks the code: NotFound for a missing directory, PermissionDenied, ...
    const int err = errno;
    return absl::ErrnoToStatus(err, "pcap writer: cannot create " + path);
  }
  std::unique_ptr<std::FILE, FileCloser> owned(f);
  return Start(PcapWriter(std::move(owned), f, nullptr, linktype, snaplen, path));
}

absl::StatusOr<PcapWriter> PcapWriter::ForStream(std::FILE* stream, uint32_t linktype,
                                                 uint32_t snaplen) {
  if (stream == nullptr) return absl::InvalidArgumentError("pcap writer: null stream");
  if (absl::Status s = CheckParameters(linktype, snaplen); !s.ok()) return s;
  return Start(PcapWriter(nullptr, stream, nullptr, linktype, snaplen, "stream"));
}

absl::StatusOr<PcapWriter> PcapWriter::ForBuffer(std::vector<uint8_t>* buffer, uint32_t linktype,
                                                 uint32_t snaplen) {
  if (buffer == nullptr) return absl::InvalidArgumentError("pcap writer: null buffer");
  if (absl::Status s = CheckParameters(linktype, snaplen); !s.ok()) return s;
  return Start(PcapWriter(nullptr, nullptr, buffer, linktype, snaplen, "buffer"));
}

absl::StatusOr<PcapWriter> PcapWriter::Start(PcapWriter writer) {
  std::array<uint8_t, kFileHeaderLen> header{};
  StoreLe32(&header[0], kMagicNanoseconds);
  StoreLe16(&header[4], kVersionMajor);
  StoreLe16(&header[6], kVersionMinor);
  StoreLe32(&header[8], 0);   // thiszone: timestamps are UTC
  StoreLe32(&header[12], 0);  // sigfigs: always 0 in practice
  StoreLe32(&header[16], writer.snaplen_);
  StoreLe32(&header[20], writer.linktype_);
  if (absl::Status s = writer.Append(header.data(), header.size()); !s.ok()) return s;
  return writer;
}

absl::Status PcapWriter::Append(const uint8_t* data, size_t len) {
  if (buffer_ != nullptr) {
    buffer_->insert(buffer_->end(), data, data + len);
    return absl::OkStatus();
  }
  if (len > 0 && std::fwrite(data, 1, len, stream_) != len) {
    return absl::InternalError("pcap writer: writing " + name_ + " failed: " + ErrnoText(errno));
  }
  return absl::OkStatus();
}

absl::Status PcapWriter::Write(std::chrono::nanoseconds timestamp, std::span<const uint8_t> frame) {
  if (frame.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("pcap writer: frame of " + std::to_string(frame.size()) +
                                      " bytes does not fit a record");
  }
  return Write(timestamp, frame, static_cast<uint32_t>(frame.size()));
}

absl::Status PcapWriter::Write(std::chrono::nanoseconds timestamp, std::span<const uint8_t> frame,
                               uint32_t orig_len) {
  if (closed_) return ClosedError(name_);
  constexpr int64_t kNsPerSecond = 1'000'000'000;
  int64_t ns = timestamp.count();
  if (ns < 0 || ns / kNsPerSecond > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("pcap writer: timestamp " + std::to_string(ns) +
                                      " ns is outside the format's 0..2^32 s");
  }
  if (orig_len < frame.size()) {
    return absl::InvalidArgumentError("pcap writer: original length " + std::to_string(orig_len) +
                                      " is shorter than the " + std::to_string(frame.size()) +
                                      " bytes given");
  }
  auto captured = static_cast<uint32_t>(std::min<size_t>(frame.size(), snaplen_));
  std::array<uint8_t, kRecordHeaderLen> header{};
  StoreLe32(&header[0], static_cast<uint32_t>(ns / kNsPerSecond));
  StoreLe32(&header[4], static_cast<uint32_t>(ns % kNsPerSecond));
  StoreLe32(&header[8], captured);
  StoreLe32(&header[12], orig_len);
  if (absl::Status s = Append(header.data(), header.size()); !s.ok()) return s;
  if (absl::Status s = Append(frame.data(), captured); !s.ok()) return s;
  ++records_;
  return absl::OkStatus();
}

absl::Status PcapWriter::Flush() {
  if (closed_) return ClosedError(name_);
  if (stream_ != nullptr && std::fflush(stream_) != 0) {
    return absl::InternalError("pcap writer: flushing " + name_ + " failed: " + ErrnoText(errno));
  }
  return absl::OkStatus();
}

absl::Status PcapWriter::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  absl::Status result;
  if (owned_ != nullptr) {
    std::FILE* f = owned_.release();
    if (std::fclose(f) != 0) {
      result =
          absl::InternalError("pcap writer: closing " + name_ + " failed: " + ErrnoText(errno));
    }
  } else if (stream_ != nullptr && std::fflush(stream_) != 0) {
    result = absl::InternalError("pcap writer: flushing " + name_ + " failed: " + ErrnoText(errno));
  }
  stream_ = nullptr;
  buffer_ = nullptr;
  return result;
}

}  // namespace braid::pcap
