// The channel between two real processes: a forked child gets its region through the handover
// over an abstract unix socket and streams, in each direction, 64 MiB through a slot's FIFO and
// a million records through a ring, with both sides sleeping on their doorbells whenever they run
// dry. FIFOs and rings are the smallest allowed so that both sides run dry (and sleep) often.
//
// A lost wake-up would leave a side asleep with work waiting: each sleep has a timeout, and a
// timeout with work pending fails the test with that diagnosis instead of hanging.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "datapath/channel/byte_fifo.h"
#include "datapath/channel/doorbell.h"
#include "datapath/channel/layout.h"
#include "datapath/channel/region.h"
#include "datapath/channel/spsc_ring.h"
#include "tests/unit/datapath/channel/channel_test_support.h"

namespace braid::channel {
namespace {

using std::chrono::milliseconds;
using testing::AppEnd;
using testing::Clock;
using testing::SharedReport;
using testing::StreamPattern;

constexpr uint64_t kStreamBytes = 64ull << 20;
constexpr uint64_t kRecords = 1000000;
constexpr uint32_t kBatch = 8;
const Geometry kGeometry{1, kMinFifoBytes, kMinFifoBytes, kMinRingEntries, kMinRingEntries};
// A side that has not finished by then fails; the test's own bound is a little longer.
constexpr auto kDeadline = std::chrono::seconds(60);
constexpr milliseconds kSleepTimeout(2000);
constexpr SpinPolicy kSpin{16, kSleepTimeout};
constexpr uint32_t kTxSeed = 1;
constexpr uint32_t kRxSeed = 2;

// The commands the app sends, varied so that decoding is exercised: record i carries cookie i.
Command CommandFor(uint64_t i) {
  const uint32_t handle = MakeHandle(0, static_cast<uint32_t>(i % 4096));
  switch (i % 3) {
    case 0:
      return {handle, i, SendArgs{}};
    case 1:
      return {handle, i, RxSpaceArgs{}};
    default: {
      SetOptArgs opt;
      opt.level = 6;
      opt.name = static_cast<int32_t>(i % 100);
      opt.length = 8;
      std::memcpy(opt.value.data(), &i, 8);
      return {handle, i, opt};
    }
  }
}

Event EventFor(uint64_t i) {
  if (i % 2 == 0) return {MakeHandle(0, 1), i, 0, ReadableArgs{}};
  return {MakeHandle(0, 1), i, static_cast<int32_t>(i % 100), DoneArgs{Op::kSetOpt}};
}

// One side's four streams and the loop that drives them; `Side` provides the endpoints.
struct Progress {
  uint64_t sent_bytes = 0;
  uint64_t received_bytes = 0;
  uint64_t sent_records = 0;
  uint64_t received_records = 0;
  uint64_t sleeps = 0;  // times the side blocked on its doorbell and was rung
  bool Done() const {
    return sent_bytes == kStreamBytes && received_bytes == kStreamBytes &&
           sent_records == kRecords && received_records == kRecords;
  }
  std::string Describe() const {
    return "sent " + std::to_string(sent_bytes) + " bytes and " + std::to_string(sent_records) +
           " records, received " + std::to_string(received_bytes) + " bytes and " +
           std::to_string(received_records) + " records";
  }
};

// Sleeps when nothing moved. Returns an error message, or empty to go on.
template <typename HasWork>
std::string SleepIfIdle(const char* who, std::atomic<uint32_t>& my_flag, const Doorbell& bell,
                        HasWork&& has_work, Progress& p, Clock::time_point deadline) {
  const WaitResult w = SpinThenSleep(my_flag, bell, has_work, kSpin);
  if (w == WaitResult::kRung) ++p.sleeps;
  if (w == WaitResult::kTimeout && has_work()) {
    return std::string(who) + ": lost wake-up: slept " + std::to_string(kSleepTimeout.count()) +
           " ms with work pending; " + p.Describe();
  }
  if (w == WaitResult::kError) return std::string(who) + ": doorbell error";
  if (w == WaitResult::kPeerGone && !has_work() && !p.Done()) {
    return std::string(who) + ": the other process went away; " + p.Describe();
  }
  if (Clock::now() > deadline) {
    return std::string(who) + ": not finished within " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kDeadline).count()) +
           " s; " + p.Describe();
  }
  return "";
}

// The app: writes TX with zero-copy spans, reads RX in place, pushes commands, pops events.
int RunApp(AppEnd& app, const SharedReport& report) {
  const StreamPattern tx_pattern(kTxSeed);
  const StreamPattern rx_pattern(kRxSeed);
  auto commands = app.region.CommandProducer();
  auto events = app.region.EventConsumer();
  FifoWriter tx = app.region.TxWriter(0);
  FifoReader rx = app.region.RxReader(0);
  std::atomic<uint32_t>& my_flag = app.region.app_sleeping();
  std::atomic<uint32_t>& peer_flag = app.region.service_sleeping();
  std::array<CommandRecord, kBatch> out;
  std::array<EventRecord, kBatch> in;
  Progress p;
  const Clock::time_point deadline = Clock::now() + kDeadline;
  while (!p.Done()) {
    bool moved = false;
    if (p.sent_bytes < kStreamBytes) {
      const FifoWriteSpans spans = tx.WritableSpans();
      const size_t n = std::min<uint64_t>(spans.size(), kStreamBytes - p.sent_bytes);
      const size_t first = std::min(n, spans.first.size());
      std::memcpy(spans.first.data(), tx_pattern.At(p.sent_bytes), first);
      std::memcpy(spans.second.data(), tx_pattern.At(p.sent_bytes + first), n - first);
      const FifoResult r = tx.Commit(n);
      if (r.corrupt) return report.Fail("app: TX FIFO corrupt");
      p.sent_bytes += r.bytes;
      moved |= r.bytes > 0;
      if (r.transition) WakePeer(peer_flag, app.bell);
    }
    if (p.received_bytes < kStreamBytes) {
      const FifoReadSpans spans = rx.ReadableSpans();
      if (!rx_pattern.Matches(p.received_bytes, spans.first.data(), spans.first.size()) ||
          !rx_pattern.Matches(p.received_bytes + spans.first.size(), spans.second.data(),
                              spans.second.size())) {
        return report.Fail("app: RX bytes differ at stream position " +
                           std::to_string(p.received_bytes));
      }
      const FifoResult r = rx.Consume(spans.size());
      if (r.corrupt) return report.Fail("app: RX FIFO corrupt");
      p.received_bytes += r.bytes;
      moved |= r.bytes > 0;
      if (r.transition) WakePeer(peer_flag, app.bell);
    }
    if (p.sent_records < kRecords) {
      const uint32_t n =
          static_cast<uint32_t>(std::min<uint64_t>(kBatch, kRecords - p.sent_records));
      for (uint32_t i = 0; i < n; ++i) out[i] = EncodeCommand(CommandFor(p.sent_records + i));
      const RingBatch b = commands.TryPushMany(std::span<const CommandRecord>(out.data(), n));
      if (b.status == RingStatus::kCorrupt) return report.Fail("app: command ring corrupt");
      p.sent_records += b.count;
      if (b.count > 0) {
        moved = true;
        WakePeer(peer_flag, app.bell);
      }
    }
    if (p.received_records < kRecords) {
      const RingBatch b = events.PopMany(in);
      if (b.status == RingStatus::kCorrupt) return report.Fail("app: event ring corrupt");
      for (uint32_t i = 0; i < b.count; ++i) {
        Event e;
        const RecordError error = DecodeEvent(in[i], e);
        if (error != RecordError::kOk || !(e == EventFor(p.received_records + i))) {
          return report.Fail("app: event " + std::to_string(p.received_records + i) +
                             " is wrong: " + RecordErrorName(error));
        }
      }
      p.received_records += b.count;
      if (b.count > 0) {
        moved = true;
        WakePeer(peer_flag, app.bell);
      }
    }
    if (moved) continue;
    auto has_work = [&] {
      return (p.sent_bytes < kStreamBytes && tx.Writable() > 0) ||
             (p.received_bytes < kStreamBytes && rx.Readable() > 0) ||
             (p.sent_records < kRecords && commands.Free() > 0) ||
             (p.received_records < kRecords && events.Size() > 0);
    };
    const std::string error = SleepIfIdle("app", my_flag, app.bell, has_work, p, deadline);
    if (!error.empty()) return report.Fail(error);
  }
  report->counters[0] = p.sleeps;
  return 0;
}

TEST(CrossProcess, StreamsBothWaysWithDoorbellsAndNoLostWakeUp) {
  SharedReport report;
  ASSERT_TRUE(report.valid());
  auto started = testing::StartApp(kGeometry, [&](AppEnd& app) { return RunApp(app, report); });
  ASSERT_TRUE(started.ok()) << started.status();
  auto& [child, service] = *started;

  // The service: reads TX by copying, writes RX by copying, pops commands, pushes events.
  const StreamPattern tx_pattern(kTxSeed);
  const StreamPattern rx_pattern(kRxSeed);
  auto commands = service.region.CommandConsumer();
  auto events = service.region.EventProducer();
  FifoReader tx = service.region.TxReader(0);
  FifoWriter rx = service.region.RxWriter(0);
  std::atomic<uint32_t>& my_flag = service.region.service_sleeping();
  std::atomic<uint32_t>& peer_flag = service.region.app_sleeping();
  std::array<uint8_t, kMinFifoBytes> buffer;
  std::array<CommandRecord, kBatch> in;
  std::array<EventRecord, kBatch> out;
  Progress p;
  std::string error;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + kDeadline;
  while (!p.Done() && error.empty()) {
    bool moved = false;
    if (p.received_bytes < kStreamBytes) {
      const FifoResult r = tx.Read(buffer);
      if (r.corrupt) error = "service: TX FIFO corrupt";
      if (!tx_pattern.Matches(p.received_bytes, buffer.data(), r.bytes)) {
        error = "service: TX bytes differ at stream position " + std::to_string(p.received_bytes);
      }
      p.received_bytes += r.bytes;
      moved |= r.bytes > 0;
      if (r.transition) WakePeer(peer_flag, service.bell);
    }
    if (p.sent_bytes < kStreamBytes) {
      const size_t n = std::min<uint64_t>(kMinFifoBytes, kStreamBytes - p.sent_bytes);
      const FifoResult r = rx.Write({rx_pattern.At(p.sent_bytes), n});
      if (r.corrupt) error = "service: RX FIFO corrupt";
      p.sent_bytes += r.bytes;
      moved |= r.bytes > 0;
      if (r.transition) WakePeer(peer_flag, service.bell);
    }
    if (p.received_records < kRecords) {
      const RingBatch b = commands.PopMany(in);
      if (b.status == RingStatus::kCorrupt) error = "service: command ring corrupt";
      for (uint32_t i = 0; i < b.count && error.empty(); ++i) {
        Command c;
        const RecordError e = DecodeCommand(in[i], c);
        if (e != RecordError::kOk || !(c == CommandFor(p.received_records + i))) {
          error = "service: command " + std::to_string(p.received_records + i) +
                  " is wrong: " + RecordErrorName(e);
        }
      }
      p.received_records += b.count;
      if (b.count > 0) {
        moved = true;
        WakePeer(peer_flag, service.bell);
      }
    }
    if (p.sent_records < kRecords) {
      const uint32_t n =
          static_cast<uint32_t>(std::min<uint64_t>(kBatch, kRecords - p.sent_records));
      for (uint32_t i = 0; i < n; ++i) out[i] = EncodeEvent(EventFor(p.sent_records + i));
      const RingBatch b = events.TryPushMany(std::span<const EventRecord>(out.data(), n));
      if (b.status == RingStatus::kCorrupt) error = "service: event ring corrupt";
      p.sent_records += b.count;
      if (b.count > 0) {
        moved = true;
        WakePeer(peer_flag, service.bell);
      }
    }
    if (moved || !error.empty()) continue;
    auto has_work = [&] {
      return (p.received_bytes < kStreamBytes && tx.Readable() > 0) ||
             (p.sent_bytes < kStreamBytes && rx.Writable() > 0) ||
             (p.received_records < kRecords && commands.Size() > 0) ||
             (p.sent_records < kRecords && events.Free() > 0);
    };
    error = SleepIfIdle("service", my_flag, service.bell, has_work, p, deadline);
  }
  // After a failure here the app may be failing too: give it a moment to say why.
  const std::optional<int> exit_code = child.Wait(milliseconds(error.empty() ? 10000 : 3000));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("%.2f s; service slept %llu times, app %llu times\n", seconds,
              static_cast<unsigned long long>(p.sleeps),
              static_cast<unsigned long long>(report->counters[0]));
  EXPECT_EQ(error, "");
  ASSERT_TRUE(exit_code.has_value()) << "the app did not exit in time; " << report.message();
  EXPECT_EQ(*exit_code, 0) << report.message();
  EXPECT_TRUE(p.Done()) << p.Describe();
  // Both sides really went through the sleep protocol, many times.
  EXPECT_GT(p.sleeps, 10u);
  EXPECT_GT(report->counters[0], 10u);
}

}  // namespace
}  // namespace braid::channel
