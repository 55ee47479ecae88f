#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/pcap/pcap_format.h"
#include "datapath/pcap/pcap_reader.h"
#include "datapath/pcap/pcap_writer.h"

namespace braid::pcap {
namespace {

using absl::StatusCode;
using std::chrono::nanoseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<uint8_t> Bytes(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

// A path that fopen(path, mode) refuses with EACCES for this process, or nullopt. A normal user
// is refused a file in a mode-0 directory; root passes mode bits but not a sysfs attribute that
// has no handler for the access (only opened, never read or written).
class UnopenablePath {
 public:
  explicit UnopenablePath(const char* mode) {
    dir_ = std::filesystem::temp_directory_path() /
           ("braid_pcap_denied_" + std::to_string(::getpid()) + "_" + mode);
    std::filesystem::create_directories(dir_);
    std::FILE* f = std::fopen((dir_ / "x.pcap").c_str(), "wb");
    if (f != nullptr) std::fclose(f);
    ::chmod(dir_.c_str(), 0);
    const std::string candidates[] = {
        (dir_ / "x.pcap").string(),
        mode[0] == 'r' ? "/sys/bus/platform/uevent" : "/sys/kernel/notes",
    };
    for (const std::string& c : candidates) {
      errno = 0;
      std::FILE* g = std::fopen(c.c_str(), mode);
      if (g != nullptr) {
        std::fclose(g);
      } else if (errno == EACCES) {
        path_ = c;
        break;
      }
    }
  }
  ~UnopenablePath() {
    ::chmod(dir_.c_str(), 0700);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::optional<std::string>& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::optional<std::string> path_;
};

// File header as the writer must produce it, little-endian (pcap-savefile(5)).
const std::vector<uint8_t> kGoldenHeaderEthernet65535 = {
    0x4d, 0x3c, 0xb2, 0xa1,  // magic 0xa1b23c4d: nanosecond timestamps
    0x02, 0x00,              // version major 2
    0x04, 0x00,              // version minor 4
    0x00, 0x00, 0x00, 0x00,  // thiszone 0
    0x00, 0x00, 0x00, 0x00,  // sigfigs 0
    0xff, 0xff, 0x00, 0x00,  // snaplen 65535
    0x01, 0x00, 0x00, 0x00,  // LINKTYPE_ETHERNET
};

TEST(PcapWriterTest, GoldenFileHeader) {
  std::vector<uint8_t> out;
  auto writer = PcapWriter::ForBuffer(&out, kLinkTypeEthernet, 65535);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  EXPECT_EQ(out, kGoldenHeaderEthernet65535);
  EXPECT_EQ(writer->linktype(), kLinkTypeEthernet);
  EXPECT_EQ(writer->snaplen(), 65535u);
  EXPECT_EQ(writer->records_written(), 0u);
}

TEST(PcapWriterTest, GoldenRecord) {
  std::vector<uint8_t> out;
  auto writer = PcapWriter::ForBuffer(&out, kLinkTypeRaw, 65535);
  ASSERT_TRUE(writer.ok());
  const uint8_t frame[] = {0x45, 0x00, 0x00};
  // 0x01020304 s + 0x05060708 (84281096) ns.
  auto ts = std::chrono::seconds(0x01020304) + nanoseconds(0x05060708);
  ASSERT_TRUE(writer->Write(ts, frame, 60).ok());
  EXPECT_EQ(writer->records_written(), 1u);
  std::vector<uint8_t> record(out.begin() + kFileHeaderLen, out.end());
  EXPECT_THAT(record, ElementsAre(0x04, 0x03, 0x02, 0x01,  // seconds
                                  0x08, 0x07, 0x06, 0x05,  // nanoseconds
                                  0x03, 0x00, 0x00, 0x00,  // captured length 3
                                  0x3c, 0x00, 0x00, 0x00,  // original length 60
                                  0x45, 0x00, 0x00));      // data
  EXPECT_EQ(out[20], kLinkTypeRaw);
}

TEST(PcapWriterTest, TruncatesToSnaplen) {
  std::vector<uint8_t> out;
  auto writer = PcapWriter::ForBuffer(&out, kLinkTypeEthernet, 4);
  ASSERT_TRUE(writer.ok());
  const uint8_t frame[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  ASSERT_TRUE(writer->Write(nanoseconds(0), frame).ok());
  ASSERT_EQ(out.size(), kFileHeaderLen + kRecordHeaderLen + 4);
  auto reader = PcapReader::ForBuffer(out);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  PcapRecord rec;
  ASSERT_TRUE(reader->Next(rec));
  EXPECT_THAT(Bytes(rec.data), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(rec.orig_len, 10u);
  EXPECT_FALSE(reader->Next(rec));
  EXPECT_TRUE(reader->status().ok());
}

TEST(PcapWriterTest, RejectsBadArguments) {
  std::vector<uint8_t> out;
  auto wifi = PcapWriter::ForBuffer(&out, 105, 100);  // 802.11: not ours
  EXPECT_EQ(wifi.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(wifi.status().message(), HasSubstr("link type 105"));
  auto zero = PcapWriter::ForBuffer(&out, kLinkTypeEthernet, 0);
  EXPECT_EQ(zero.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.status().message(), HasSubstr("snaplen 0"));
  EXPECT_EQ(PcapWriter::ForBuffer(&out, kLinkTypeEthernet, kMaxSnaplen + 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PcapWriter::ForBuffer(nullptr, kLinkTypeEthernet, 100).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PcapWriter::ForStream(nullptr, kLinkTypeEthernet, 100).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PcapWriter::Create("/tmp/x.pcap", 105).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());

  auto writer = PcapWriter::ForBuffer(&out, kLinkTypeEthernet, 100);
  ASSERT_TRUE(writer.ok());
  const uint8_t frame[] = {1, 2, 3};
  EXPECT_EQ(writer->Write(nanoseconds(-1), frame).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(writer->Write(std::chrono::seconds(int64_t{1} << 32), frame).code(),
            StatusCode::kInvalidArgument);
  absl::Status shorter = writer->Write(nanoseconds(0), frame, 2);  // shorter than given
  EXPECT_EQ(shorter.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(shorter.message(), HasSubstr("original length 2"));
  EXPECT_EQ(out.size(), kFileHeaderLen);  // nothing written
  EXPECT_TRUE(
      writer->Write(std::chrono::seconds(0xffffffffLL) + nanoseconds(999'999'999), frame).ok());
  EXPECT_TRUE(writer->Close().ok());
  absl::Status after_close = writer->Write(nanoseconds(0), frame);
  EXPECT_EQ(after_close.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(after_close.message(), HasSubstr("buffer is closed"));
  EXPECT_EQ(writer->Flush().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(writer->Close().ok());
}

TEST(PcapWriterTest, OpenFailuresCarryTheErrnoCode) {
  auto missing = PcapWriter::Create("/nonexistent-dir/x.pcap", kLinkTypeEthernet);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent-dir/x.pcap"));

  UnopenablePath denied("wb");
  if (!denied.path()) GTEST_SKIP() << "no path here that fopen refuses with EACCES";
  auto writer = PcapWriter::Create(*denied.path(), kLinkTypeEthernet);
  EXPECT_EQ(writer.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(writer.status().message(), HasSubstr(*denied.path()));
}

// /dev/full fails every write with ENOSPC: the writer reports it when the data reaches the file.
TEST(PcapWriterTest, WriteErrorsAreInternal) {
  std::FILE* full = std::fopen("/dev/full", "wb");
  if (full == nullptr) GTEST_SKIP() << "no /dev/full";
  std::setvbuf(full, nullptr, _IONBF, 0);  // unbuffered: the header write itself fails
  auto writer = PcapWriter::ForStream(full, kLinkTypeEthernet);
  EXPECT_EQ(writer.status().code(), StatusCode::kInternal);
  EXPECT_THAT(writer.status().message(), HasSubstr("writing stream failed"));
  std::fclose(full);

  auto created = PcapWriter::Create("/dev/full", kLinkTypeEthernet);
  ASSERT_TRUE(created.ok()) << created.status();  // buffered: nothing reached the device yet
  const uint8_t frame[] = {1, 2, 3};
  EXPECT_TRUE(created->Write(nanoseconds(0), frame).ok());
  absl::Status flushed = created->Flush();
  EXPECT_EQ(flushed.code(), StatusCode::kInternal);
  EXPECT_THAT(flushed.message(), HasSubstr("flushing /dev/full failed"));
}

struct TestRecord {
  nanoseconds timestamp;
  std::vector<uint8_t> data;
  uint32_t orig_len;
};

std::vector<TestRecord> SampleRecords() {
  std::vector<uint8_t> big(1500);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  return {
      {std::chrono::seconds(1'700'000'000) + nanoseconds(123'456'789), {0xde, 0xad}, 2},
      {std::chrono::seconds(1'700'000'001), {}, 0},
      {std::chrono::seconds(1'700'000'002) + nanoseconds(1), big, 9000},
  };
}

void ExpectRecords(PcapReader& reader, const std::vector<TestRecord>& expected) {
  PcapRecord rec;
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_TRUE(reader.Next(rec)) << i << ": " << reader.status().message();
    EXPECT_EQ(rec.index, i);
    EXPECT_EQ(rec.timestamp, expected[i].timestamp) << i;
    EXPECT_EQ(rec.orig_len, expected[i].orig_len) << i;
    EXPECT_EQ(Bytes(rec.data), expected[i].data) << i;
  }
  EXPECT_FALSE(reader.Next(rec));
  EXPECT_TRUE(reader.status().ok()) << reader.status().message();
  EXPECT_FALSE(reader.Next(rec));  // stays at the end
}

TEST(PcapRoundTripTest, Buffer) {
  std::vector<uint8_t> out;
  auto writer = PcapWriter::ForBuffer(&out, kLinkTypeEthernet);
  ASSERT_TRUE(writer.ok());
  for (const auto& r : SampleRecords())
    ASSERT_TRUE(writer->Write(r.timestamp, r.data, r.orig_len).ok());
  auto reader = PcapReader::ForBuffer(out);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_FALSE(reader->header().big_endian);
  EXPECT_TRUE(reader->header().nanosecond);
  EXPECT_EQ(reader->header().version_major, 2);
  EXPECT_EQ(reader->header().version_minor, 4);
  EXPECT_EQ(reader->linktype(), kLinkTypeEthernet);
  EXPECT_EQ(reader->snaplen(), kDefaultSnaplen);
  EXPECT_EQ(reader->record_limit(), kDefaultSnaplen);
  ExpectRecords(*reader, SampleRecords());
}

TEST(PcapRoundTripTest, FileOnDisk) {
  auto path = std::filesystem::temp_directory_path() /
              ("braid_pcap_test_" + std::to_string(::getpid()) + ".pcap");
  {
    auto writer = PcapWriter::Create(path.string(), kLinkTypeRaw, 2000);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    for (const auto& r : SampleRecords()) {
      ASSERT_TRUE(writer->Write(r.timestamp, r.data, r.orig_len).ok());
    }
    ASSERT_TRUE(writer->Flush().ok());
    // Moving the writer keeps one owner of the file; the destructor closes it.
    PcapWriter moved = std::move(*writer);
    EXPECT_EQ(moved.records_written(), 3u);
  }
  auto reader = PcapReader::Open(path.string());
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ(reader->linktype(), kLinkTypeRaw);
  EXPECT_EQ(reader->snaplen(), 2000u);
  ExpectRecords(*reader, SampleRecords());
  std::filesystem::remove(path);
  auto gone = PcapReader::Open(path.string());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(gone.status().message(), HasSubstr(path.string()));
}

TEST(PcapReaderTest, OpenFailuresCarryTheErrnoCode) {
  UnopenablePath denied("rb");
  if (!denied.path()) GTEST_SKIP() << "no path here that fopen refuses with EACCES";
  auto reader = PcapReader::Open(*denied.path());
  EXPECT_EQ(reader.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(reader.status().message(), HasSubstr(*denied.path()));
}

TEST(PcapRoundTripTest, Stream) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    auto writer = PcapWriter::ForStream(f, kLinkTypeEthernet);
    ASSERT_TRUE(writer.ok());
    for (const auto& r : SampleRecords()) {
      ASSERT_TRUE(writer->Write(r.timestamp, r.data, r.orig_len).ok());
    }
  }  // flushed, not closed
  std::rewind(f);
  {
    auto reader = PcapReader::ForStream(f);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    ExpectRecords(*reader, SampleRecords());
  }
  std::fclose(f);
}

// Hand-built files in the other three variants the reader must accept.
std::vector<uint8_t> HandBuiltFile(bool big_endian, bool nanosecond, uint32_t snaplen,
                                   uint32_t fraction, uint32_t incl_len, uint32_t orig_len,
                                   size_t data_len) {
  std::vector<uint8_t> f;
  auto put32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) {
      int shift = big_endian ? 24 - 8 * i : 8 * i;
      f.push_back(static_cast<uint8_t>(v >> shift));
    }
  };
  auto put16 = [&](uint16_t v) {
    if (big_endian) {
      f.push_back(static_cast<uint8_t>(v >> 8));
      f.push_back(static_cast<uint8_t>(v));
    } else {
      f.push_back(static_cast<uint8_t>(v));
      f.push_back(static_cast<uint8_t>(v >> 8));
    }
  };
  put32(nanosecond ? kMagicNanoseconds : kMagicMicroseconds);
  put16(2);
  put16(4);
  put32(0);
  put32(0);
  put32(snaplen);
  put32(kLinkTypeEthernet);
  put32(1000);  // seconds
  put32(fraction);
  put32(incl_len);
  put32(orig_len);
  for (size_t i = 0; i < data_len; ++i) f.push_back(static_cast<uint8_t>(i));
  return f;
}

TEST(PcapReaderTest, BothByteOrdersAndResolutions) {
  for (bool big_endian : {false, true}) {
    for (bool nanosecond : {false, true}) {
      SCOPED_TRACE(std::string(big_endian ? "big" : "little") + (nanosecond ? " ns" : " us"));
      auto file = HandBuiltFile(big_endian, nanosecond, 65535, 999'999, 4, 64, 4);
      auto reader = PcapReader::ForBuffer(file);
      ASSERT_TRUE(reader.ok()) << reader.status().message();
      EXPECT_EQ(reader->header().big_endian, big_endian);
      EXPECT_EQ(reader->header().nanosecond, nanosecond);
      EXPECT_EQ(reader->snaplen(), 65535u);
      EXPECT_EQ(reader->linktype(), kLinkTypeEthernet);
      PcapRecord rec;
      ASSERT_TRUE(reader->Next(rec)) << reader->status().message();
      auto fraction = nanosecond ? nanoseconds(999'999) : std::chrono::microseconds(999'999);
      EXPECT_EQ(rec.timestamp, std::chrono::seconds(1000) + fraction);
      EXPECT_EQ(rec.orig_len, 64u);
      EXPECT_EQ(rec.offset, kFileHeaderLen);
      EXPECT_THAT(Bytes(rec.data), ElementsAre(0, 1, 2, 3));
      EXPECT_FALSE(reader->Next(rec));
      EXPECT_TRUE(reader->status().ok());
    }
  }
}

TEST(PcapReaderTest, LinkTypeFlagBitsAreMasked) {
  auto file = HandBuiltFile(false, true, 100, 0, 0, 0, 0);
  file[23] = 0x10;  // FCS-length bits above the 26-bit link type
  auto reader = PcapReader::ForBuffer(file);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->header().network, 0x10000001u);
  EXPECT_EQ(reader->linktype(), kLinkTypeEthernet);
}

TEST(PcapReaderTest, TruncatedFileAtEveryLength) {
  std::vector<uint8_t> full;
  {
    auto writer = PcapWriter::ForBuffer(&full, kLinkTypeEthernet);
    ASSERT_TRUE(writer.ok());
    for (const auto& r : SampleRecords()) {
      ASSERT_TRUE(writer->Write(r.timestamp, r.data, r.orig_len).ok());
    }
  }
  // Offsets where a record ends: cutting there leaves a shorter but valid file.
  std::vector<size_t> boundaries = {kFileHeaderLen};
  for (const auto& r : SampleRecords()) {
    boundaries.push_back(boundaries.back() + kRecordHeaderLen + r.data.size());
  }
  ASSERT_EQ(boundaries.back(), full.size());
  for (size_t len = 0; len < full.size(); ++len) {
    std::span<const uint8_t> cut(full.data(), len);
    auto reader = PcapReader::ForBuffer(cut);
    if (len < kFileHeaderLen) {
      ASSERT_FALSE(reader.ok()) << len;
      EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss) << len;
      EXPECT_THAT(reader.status().message(), HasSubstr("truncated file header")) << len;
      continue;
    }
    ASSERT_TRUE(reader.ok()) << len;
    PcapRecord rec;
    size_t records = 0;
    while (reader->Next(rec)) ++records;
    bool on_boundary = std::find(boundaries.begin(), boundaries.end(), len) != boundaries.end();
    EXPECT_EQ(reader->status().ok(), on_boundary) << len << ": " << reader->status().message();
    if (!on_boundary) {
      EXPECT_EQ(reader->status().code(), StatusCode::kDataLoss) << len;
      EXPECT_THAT(reader->status().message(), HasSubstr("truncated record"));
    }
    // Every record that ends before the cut is still delivered.
    size_t complete = std::count_if(boundaries.begin() + 1, boundaries.end(),
                                    [&](size_t end) { return end <= len; });
    EXPECT_EQ(records, complete) << len;
    EXPECT_FALSE(reader->Next(rec));  // an error is sticky
  }
}

TEST(PcapReaderTest, TruncatedStream) {
  auto file = HandBuiltFile(false, true, 65535, 0, 100, 100, 40);
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(file.data(), 1, file.size(), f), file.size());
  std::rewind(f);
  auto reader = PcapReader::ForStream(f);
  ASSERT_TRUE(reader.ok());
  PcapRecord rec;
  EXPECT_FALSE(reader->Next(rec));
  EXPECT_EQ(reader->status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(reader->status().message(), HasSubstr("truncated record data (40 of 100 bytes)"));
  EXPECT_THAT(reader->status().message(), HasSubstr("pcap stream: record 0 at offset 24"));
  std::fclose(f);
}

// A stream that cannot be read (opened for writing only) is an I/O error, not a short file.
TEST(PcapReaderTest, ReadErrorsAreInternal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  std::FILE* write_only =
      std::fopen(("/proc/self/fd/" + std::to_string(::fileno(f))).c_str(), "wb");
  ASSERT_NE(write_only, nullptr);
  auto reader = PcapReader::ForStream(write_only);
  EXPECT_EQ(reader.status().code(), StatusCode::kInternal);
  EXPECT_THAT(reader.status().message(), HasSubstr("pcap stream: read error"));
  std::fclose(write_only);
  std::fclose(f);
}

TEST(PcapReaderTest, CorruptedRecordLengths) {
  struct Case {
    const char* name;
    uint32_t snaplen, incl_len, orig_len;
    const char* message;
  };
  const Case cases[] = {
      {"longer than snaplen", 1000, 1001, 1001, "exceeds the limit 1000"},
      {"longer than 256 KiB", 0xffffffff, kMaxSnaplen + 1, kMaxSnaplen + 1, "exceeds the limit"},
      {"snaplen 0 still bounded", 0, kMaxSnaplen + 1, kMaxSnaplen + 1, "exceeds the limit"},
      {"all ones", 65535, 0xffffffff, 0xffffffff, "exceeds the limit"},
      {"captured beyond original", 65535, 10, 9, "exceeds the original length 9"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    // Enough data follows that only the length check can stop the record.
    auto file = HandBuiltFile(false, true, c.snaplen, 0, c.incl_len, c.orig_len, 2000);
    auto reader = PcapReader::ForBuffer(file);
    ASSERT_TRUE(reader.ok());
    PcapRecord rec;
    EXPECT_FALSE(reader->Next(rec));
    EXPECT_EQ(reader->status().code(), StatusCode::kDataLoss);
    EXPECT_THAT(reader->status().message(), HasSubstr(c.message));
    EXPECT_THAT(reader->status().message(), HasSubstr("record 0 at offset 24"));
  }
}

TEST(PcapReaderTest, SnaplenZeroMeansTheMaximum) {
  auto file = HandBuiltFile(false, true, 0, 0, 2000, 2000, 2000);
  auto reader = PcapReader::ForBuffer(file);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->record_limit(), kMaxSnaplen);
  PcapRecord rec;
  EXPECT_TRUE(reader->Next(rec)) << reader->status().message();
}

TEST(PcapReaderTest, TimestampFractionOutOfRange) {
  auto us = HandBuiltFile(false, false, 100, 1'000'000, 0, 0, 0);
  auto reader = PcapReader::ForBuffer(us);
  ASSERT_TRUE(reader.ok());
  PcapRecord rec;
  EXPECT_FALSE(reader->Next(rec));
  EXPECT_EQ(reader->status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(reader->status().message(), HasSubstr("not below one second"));

  auto ns_ok = HandBuiltFile(false, true, 100, 999'999'999, 0, 0, 0);
  auto reader2 = PcapReader::ForBuffer(ns_ok);
  ASSERT_TRUE(reader2.ok());
  EXPECT_TRUE(reader2->Next(rec));
}

TEST(PcapReaderTest, BadFileHeaders) {
  auto file = HandBuiltFile(false, true, 100, 0, 0, 0, 0);
  auto bad_magic = file;
  bad_magic[0] = 0x00;
  auto r1 = PcapReader::ForBuffer(bad_magic);
  EXPECT_EQ(r1.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(r1.status().message(), HasSubstr("pcap buffer: bad magic"));

  // pcapng's section header block type.
  std::vector<uint8_t> pcapng = {0x0a, 0x0d, 0x0d, 0x0a};
  pcapng.resize(64);
  auto r2 = PcapReader::ForBuffer(pcapng);
  // A known format, not a damaged file: not implemented here.
  EXPECT_EQ(r2.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(r2.status().message(), HasSubstr("pcapng"));

  auto bad_version = file;
  bad_version[4] = 1;  // 1.4
  auto r3 = PcapReader::ForBuffer(bad_version);
  EXPECT_EQ(r3.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(r3.status().message(), HasSubstr("unsupported version 1.4"));

  auto r4 = PcapReader::ForBuffer({});
  EXPECT_EQ(r4.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(r4.status().message(), HasSubstr("truncated file header (0 of 24 bytes)"));
  EXPECT_EQ(PcapReader::ForStream(nullptr).status().code(), StatusCode::kInvalidArgument);
}

// A real capture: dumpcap 4.0 (`-P`, libpcap format) on a veth during the kernel oracle's MPTCP
// join, kept as a fuzz seed.
TEST(PcapReaderTest, ReadsDumpcapCapture) {
  auto reader = PcapReader::Open(std::string(BRAID_SOURCE_DIR) +
                                 "/tests/fuzz/corpus/pcap_reader/dumpcap_mptcp_join");
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_FALSE(reader->header().big_endian);
  EXPECT_FALSE(reader->header().nanosecond);
  EXPECT_EQ(reader->linktype(), kLinkTypeEthernet);
  EXPECT_EQ(reader->snaplen(), 262144u);
  PcapRecord rec;
  size_t records = 0;
  std::chrono::nanoseconds last{0};
  while (reader->Next(rec)) {
    ++records;
    EXPECT_GE(rec.data.size(), 14u);  // at least an Ethernet header
    EXPECT_EQ(rec.data.size(), rec.orig_len);
    EXPECT_GE(rec.timestamp, last);
    last = rec.timestamp;
  }
  EXPECT_TRUE(reader->status().ok()) << reader->status().message();
  EXPECT_EQ(records, 20u);
}

}  // namespace
}  // namespace braid::pcap
