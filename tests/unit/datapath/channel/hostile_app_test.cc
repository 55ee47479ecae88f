// A hostile app: the child attaches through a real handover, checks that it cannot resize its
// region, then scribbles over the whole region — headers, ring and FIFO indices, records, data,
// sleep flags — punches holes in it and floods its doorbell, while the parent keeps using every
// service-side endpoint. The parent must only ever see the statuses the endpoints define, never
// crash or block, and never touch memory outside the mapping (the service's guard pages turn
// any such access into a crash, and AddressSanitizer watches the parent's own memory).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

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

const Geometry kGeometry{4, kMinFifoBytes, kMinFifoBytes, kMinRingEntries, kMinRingEntries};
constexpr auto kScribbleTime = milliseconds(1500);

enum Stage : uint32_t { kStarted = 1, kScribbling = 2 };
enum Counter : size_t { kShrinkRefused, kGrowRefused, kSealRefused, kScribbles };

template <typename T>
void Poke(uint8_t* base, uint64_t offset, T value) {
  std::memcpy(base + offset, &value, sizeof(T));
}

// The child: never returns; it is killed by the parent.
int RunHostileApp(AppEnd& app, const SharedReport& report) {
  report->stage = kStarted;
  const int memfd = app.connection.memfd.get();
  const uint64_t size = app.region.size();
  errno = 0;
  report->counters[kShrinkRefused] = ::ftruncate(memfd, 0) == -1 && errno == EPERM;
  errno = 0;
  report->counters[kGrowRefused] =
      ::ftruncate(memfd, static_cast<off_t>(size * 2)) == -1 && errno == EPERM;
  errno = 0;
  report->counters[kSealRefused] =
      ::fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE) == -1 && errno == EPERM;
  // The app's own end of the doorbell may be made blocking: the service's end is not affected.
  const int flags = ::fcntl(app.bell.fd(), F_GETFL);
  ::fcntl(app.bell.fd(), F_SETFL, flags & ~O_NONBLOCK);

  const Layout& l = app.region.layout();
  uint8_t* base = app.region.bytes().data();
  std::mt19937_64 rng(::getpid());
  report->stage = kScribbling;
  for (uint64_t n = 0;; ++n) {
    report->counters[kScribbles] = n;
    const uint64_t r = rng();
    switch (r % 10) {
      case 0:
      case 1: {  // random bytes anywhere
        const uint64_t len = rng() % 512 + 1;
        const uint64_t at = rng() % (size - len);
        for (uint64_t i = 0; i < len; ++i) base[at + i] = static_cast<uint8_t>(rng());
        break;
      }
      case 2: {  // a ring index: random, or just beyond what is possible
        const uint64_t ring = rng() % 2 ? l.command_ring_offset : l.event_ring_offset;
        const uint64_t field = ring + (rng() % 2) * kCacheLineBytes;
        uint32_t current;
        std::memcpy(&current, base + field, 4);
        Poke<uint32_t>(base, field,
                       rng() % 2 ? static_cast<uint32_t>(rng())
                                 : current + static_cast<uint32_t>(rng() % 40) - 20);
        break;
      }
      case 3: {  // a FIFO position of some slot
        const uint64_t field = l.SlotOffset(static_cast<uint32_t>(rng() % l.geometry.slots)) +
                               (rng() % 4) * kCacheLineBytes;
        uint64_t current;
        std::memcpy(&current, base + field, 8);
        Poke<uint64_t>(base, field, rng() % 2 ? rng() : current + rng() % 10000 - 5000);
        break;
      }
      case 4: {  // the header, the state and the sleep flags
        const uint64_t at = rng() % sizeof(RegionHeader);
        base[at] = static_cast<uint8_t>(rng());
        Poke<uint32_t>(base, offsetof(RegionHeader, app_sleeping), static_cast<uint32_t>(rng()));
        Poke<uint32_t>(base, offsetof(RegionHeader, service_sleeping),
                       static_cast<uint32_t>(rng()));
        break;
      }
      case 5: {  // plausible commands: valid records, then a tail that announces them
        // Not the app's own (trusting) producer: its index checks would stop this child.
        RingProducer<CommandRecord> commands(
            reinterpret_cast<RingIndices*>(base + l.command_ring_offset),
            reinterpret_cast<CommandRecord*>(base + l.command_records_offset),
            l.geometry.command_entries, /*trusted_peer=*/false);
        for (int i = 0; i < 4; ++i) {
          commands.TryPush(EncodeCommand({static_cast<uint32_t>(rng()), rng(), CloseArgs{}}));
        }
        break;
      }
      case 6: {  // tear a page out of the memfd: the service reads zeros there, never faults
        const uint64_t page = (rng() % (size / 4096)) * 4096;
        ::fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(page),
                    4096);
        break;
      }
      case 7: {  // ring the service, and never drain the rings it sends
        const uint8_t ring = 1;
        ::send(app.bell.fd(), &ring, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
      }
      default: {  // a record slot full of garbage
        const uint64_t at =
            l.command_records_offset + (rng() % l.geometry.command_entries) * sizeof(CommandRecord);
        for (size_t i = 0; i < sizeof(CommandRecord); ++i)
          base[at + i] = static_cast<uint8_t>(rng());
        break;
      }
    }
  }
}

bool IsRingStatus(RingStatus s) {
  return s == RingStatus::kOk || s == RingStatus::kEmpty || s == RingStatus::kFull ||
         s == RingStatus::kCorrupt;
}

TEST(HostileApp, ScribblingOverTheWholeRegionNeverHurtsTheService) {
  SharedReport report;
  ASSERT_TRUE(report.valid());
  auto started =
      testing::StartApp(kGeometry, [&](AppEnd& app) { return RunHostileApp(app, report); });
  ASSERT_TRUE(started.ok()) << started.status();
  auto& [child, service] = *started;
  const ServiceRegion& region = service.region;

  // The service's endpoints, re-taken whenever one dies of corruption.
  auto commands = region.CommandConsumer();
  auto events = region.EventProducer();
  std::vector<FifoReader> tx(kGeometry.slots);
  std::vector<FifoWriter> rx(kGeometry.slots);
  for (uint32_t s = 0; s < kGeometry.slots; ++s) {
    region.ResetSlot(s);
    tx[s] = region.TxReader(s);
    rx[s] = region.RxWriter(s);
  }

  const Clock::time_point wait_until = Clock::now() + std::chrono::seconds(10);
  while (report->stage.load() < kScribbling && Clock::now() < wait_until) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_EQ(report->stage.load(), kScribbling) << report.message();

  uint64_t iterations = 0;
  uint64_t corrupt = 0;
  uint64_t moved = 0;
  uint64_t decoded = 0;
  uint64_t rejected = 0;
  bool statuses_valid = true;
  std::array<CommandRecord, 8> in;
  std::array<uint8_t, 2 * kMinFifoBytes> bytes;
  const EventRecord event = EncodeEvent({MakeHandle(1, 1), 5, 0, ReadableArgs{}});
  Clock::duration slowest{0};
  const Clock::time_point start = Clock::now();
  while (Clock::now() - start < kScribbleTime) {
    const Clock::time_point before = Clock::now();
    ++iterations;
    const RingBatch popped = commands.PopMany(in);
    statuses_valid &= IsRingStatus(popped.status) && popped.status != RingStatus::kFull;
    for (uint32_t i = 0; i < popped.count; ++i) {
      Command c;
      DecodeCommand(in[i], c) == RecordError::kOk ? ++decoded : ++rejected;
    }
    moved += popped.count;
    const RingStatus pushed = events.TryPush(event);
    statuses_valid &= IsRingStatus(pushed) && pushed != RingStatus::kEmpty;
    moved += pushed == RingStatus::kOk;
    for (uint32_t s = 0; s < kGeometry.slots; ++s) {
      FifoResult r = tx[s].Read(bytes);
      moved += r.bytes;
      statuses_valid &= r.bytes <= kMinFifoBytes;
      const FifoReadSpans waiting = tx[s].ReadableSpans();
      statuses_valid &= waiting.size() <= kMinFifoBytes;
      volatile uint64_t sum = 0;
      for (uint8_t b : waiting.first) sum = sum + b;
      for (uint8_t b : waiting.second) sum = sum + b;
      tx[s].Consume(waiting.size() / 2);
      r = rx[s].Write(bytes);
      moved += r.bytes;
      statuses_valid &= r.bytes <= kMinFifoBytes;
      const FifoWriteSpans free = rx[s].WritableSpans();
      statuses_valid &= free.size() <= kMinFifoBytes;
      for (uint8_t& b : free.first) b = 0xab;
      for (uint8_t& b : free.second) b = 0xcd;
      rx[s].Commit(free.size());
      region.slot(s)->tx_pending.exchange(0);
      region.slot(s)->rx_pending.exchange(1);
      if (tx[s].corrupt()) {
        ++corrupt;
        tx[s] = region.TxReader(s);
      }
      if (rx[s].corrupt()) {
        ++corrupt;
        rx[s] = region.RxWriter(s);
      }
    }
    if (commands.corrupt()) {
      ++corrupt;
      commands = region.CommandConsumer();
    }
    if (events.corrupt()) {
      ++corrupt;
      events = region.EventProducer();
    }
    // The doorbell: ringing an app that never drains, with its flag at any value, never blocks.
    WakePeer(region.app_sleeping(), service.bell);
    service.bell.Drain();
    service.bell.Wait(milliseconds(0));
    slowest = std::max(slowest, Clock::now() - before);
  }
  const uint64_t scribbles = report->counters[kScribbles];
  child.Kill();

  // The app is gone: the service notices, still without blocking or crashing.
  EXPECT_EQ(service.bell.Wait(milliseconds(1000)), WaitResult::kPeerGone);
  EXPECT_FALSE(service.bell.Ring());
  commands.PopMany(in);

  EXPECT_TRUE(statuses_valid);
  EXPECT_EQ(report->counters[kShrinkRefused], 1u) << "the app could shrink its region";
  EXPECT_EQ(report->counters[kGrowRefused], 1u) << "the app could grow its region";
  EXPECT_EQ(report->counters[kSealRefused], 1u) << "the app could change the seals";
  EXPECT_LT(slowest, milliseconds(500)) << "one service iteration took too long";
  EXPECT_GT(scribbles, 1000u);
  EXPECT_GT(iterations, 100u);
  EXPECT_GT(corrupt, 0u);  // the scribbles were noticed...
  EXPECT_GT(moved, 0u);    // ...and between them the endpoints still worked
  std::printf(
      "%llu iterations, %llu scribbles, %llu corruptions seen, %llu records decoded, "
      "%llu rejected\n",
      static_cast<unsigned long long>(iterations), static_cast<unsigned long long>(scribbles),
      static_cast<unsigned long long>(corrupt), static_cast<unsigned long long>(decoded),
      static_cast<unsigned long long>(rejected));
}

}  // namespace
}  // namespace braid::channel
