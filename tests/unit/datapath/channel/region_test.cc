#include "datapath/channel/region.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "datapath/channel/layout.h"

namespace braid::channel {
namespace {

const Geometry kGeometry{4, 4096, 8192, 16, 32};

ServiceRegion MustCreate(const Geometry& g = kGeometry) {
  auto region = ServiceRegion::Create(g, "region-test", 0x1234);
  EXPECT_TRUE(region.ok()) << region.status();
  return std::move(*region);
}

TEST(ServiceRegion, RejectsAnInvalidGeometry) {
  auto region = ServiceRegion::Create({0, 4096, 4096, 16, 16}, "bad");
  ASSERT_FALSE(region.ok());
  EXPECT_EQ(region.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(region.status().message().find("slots 0"), std::string::npos);
}

TEST(ServiceRegion, CreatesASealedRegionWithItsHeader) {
  ServiceRegion region = MustCreate();
  const Layout layout = ComputeLayout(kGeometry);
  EXPECT_EQ(region.layout(), layout);
  EXPECT_EQ(region.size(), layout.region_bytes);
  EXPECT_EQ(region.epoch(), 0x1234u);
  struct stat st;
  ASSERT_EQ(::fstat(region.fd(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), layout.region_bytes);
  EXPECT_EQ(::fcntl(region.fd(), F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  EXPECT_EQ(::fcntl(region.fd(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  // The size cannot change and the seals cannot be lifted or added to.
  errno = 0;
  EXPECT_EQ(::ftruncate(region.fd(), 4096), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(region.fd(), static_cast<off_t>(layout.region_bytes * 2)), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::fcntl(region.fd(), F_ADD_SEALS, F_SEAL_WRITE), -1);
  EXPECT_EQ(errno, EPERM);

  const auto* h = reinterpret_cast<const RegionHeader*>(region.bytes().data());
  EXPECT_EQ(h->magic, kMagic);
  EXPECT_EQ(h->version, kLayoutVersion);
  EXPECT_EQ(h->header_bytes, sizeof(RegionHeader));
  EXPECT_EQ(h->region_bytes, layout.region_bytes);
  EXPECT_EQ(h->service_epoch, 0x1234u);
  EXPECT_EQ(h->geometry, kGeometry);
  EXPECT_EQ(h->slots_offset, layout.slots_offset);
  EXPECT_EQ(h->data_offset, layout.data_offset);
  EXPECT_EQ(h->service_state.load(), static_cast<uint32_t>(ServiceState::kRunning));
  EXPECT_EQ(h->app_sleeping.load(), 0u);
}

TEST(ServiceRegion, DefaultEpochIsTheProcessEpoch) {
  auto region = ServiceRegion::Create(kGeometry, "epoch");
  ASSERT_TRUE(region.ok());
  EXPECT_NE(ServiceEpoch(), 0u);
  EXPECT_EQ(ServiceEpoch(), ServiceEpoch());
  EXPECT_EQ(region->epoch(), ServiceEpoch());
}

TEST(AppRegion, AttachesAndSeesTheServiceSide) {
  ServiceRegion service = MustCreate();
  auto app = AppRegion::Attach(service.fd());
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ(app->layout(), service.layout());
  EXPECT_EQ(app->epoch(), 0x1234u);
  EXPECT_EQ(app->size(), service.size());
  EXPECT_EQ(app->service_state(), ServiceState::kRunning);
  service.SetServiceState(ServiceState::kStopping);
  EXPECT_EQ(app->service_state(), ServiceState::kStopping);
  // Two mappings of one memfd: a flag set on one side is seen on the other.
  app->app_sleeping().store(1);
  EXPECT_EQ(service.app_sleeping().load(), 1u);
  service.service_sleeping().store(1);
  EXPECT_EQ(app->service_sleeping().load(), 1u);
}

TEST(AppRegion, RingsAndFifosConnectBothSides) {
  ServiceRegion service = MustCreate();
  auto app = AppRegion::Attach(service.fd());
  ASSERT_TRUE(app.ok());

  auto commands_out = app->CommandProducer();
  auto commands_in = service.CommandConsumer();
  ASSERT_EQ(commands_out.TryPush(EncodeCommand({MakeHandle(2, 1), 42, ListenArgs{16}})),
            RingStatus::kOk);
  CommandRecord record;
  ASSERT_EQ(commands_in.TryPop(record), RingStatus::kOk);
  Command command;
  ASSERT_EQ(DecodeCommand(record, command), RecordError::kOk);
  EXPECT_EQ(command, (Command{MakeHandle(2, 1), 42, ListenArgs{16}}));
  EXPECT_EQ(commands_out.capacity(), kGeometry.command_entries);

  auto events_out = service.EventProducer();
  auto events_in = app->EventConsumer();
  ASSERT_EQ(events_out.TryPush(EncodeEvent({MakeHandle(2, 1), 42, 0, DoneArgs{Op::kListen}})),
            RingStatus::kOk);
  EventRecord event_record;
  ASSERT_EQ(events_in.TryPop(event_record), RingStatus::kOk);
  EXPECT_EQ(events_in.capacity(), kGeometry.event_entries);

  for (uint32_t slot = 0; slot < kGeometry.slots; ++slot) {
    service.ResetSlot(slot);
    auto tx_in = service.TxReader(slot);
    auto rx_out = service.RxWriter(slot);
    auto tx_out = app->TxWriter(slot);
    auto rx_in = app->RxReader(slot);
    EXPECT_EQ(tx_in.capacity(), kGeometry.tx_fifo_bytes);
    EXPECT_EQ(rx_in.capacity(), kGeometry.rx_fifo_bytes);
    const std::string up = "request on slot " + std::to_string(slot);
    const std::string down = "response on slot " + std::to_string(slot);
    ASSERT_EQ(tx_out.Write({reinterpret_cast<const uint8_t*>(up.data()), up.size()}).bytes,
              up.size());
    ASSERT_EQ(rx_out.Write({reinterpret_cast<const uint8_t*>(down.data()), down.size()}).bytes,
              down.size());
    std::vector<uint8_t> got(64);
    FifoResult r = tx_in.Read(got);
    EXPECT_EQ(std::string(got.begin(), got.begin() + r.bytes), up);
    r = rx_in.Read(got);
    EXPECT_EQ(std::string(got.begin(), got.begin() + r.bytes), down);
    // The slot's data areas are where the layout says.
    EXPECT_EQ(std::memcmp(service.bytes().data() + service.layout().TxDataOffset(slot), up.data(),
                          up.size()),
              0);
    EXPECT_EQ(std::memcmp(service.bytes().data() + service.layout().RxDataOffset(slot), down.data(),
                          down.size()),
              0);
  }
  // Slots out of range give detached endpoints, never memory past the table.
  EXPECT_EQ(service.slot(kGeometry.slots), nullptr);
  EXPECT_EQ(app->slot(kGeometry.slots), nullptr);
  EXPECT_TRUE(service.TxReader(kGeometry.slots).corrupt());
  EXPECT_TRUE(service.RxWriter(0xffffffff).corrupt());
  EXPECT_TRUE(app->TxWriter(kGeometry.slots).corrupt());
  EXPECT_TRUE(app->RxReader(kGeometry.slots).corrupt());
  service.ResetSlot(kGeometry.slots);  // ignored
}

TEST(ServiceRegion, ResetSlotEmptiesItsFifosAndFlags) {
  ServiceRegion service = MustCreate();
  SlotShared* s = service.slot(1);
  ASSERT_NE(s, nullptr);
  s->tx.write.store(777);
  s->rx.read.store(5);
  s->tx_pending.store(1);
  s->rx_pending.store(1);
  service.ResetSlot(1);
  EXPECT_EQ(s->tx.write.load(), 0u);
  EXPECT_EQ(s->tx.read.load(), 0u);
  EXPECT_EQ(s->rx.read.load(), 0u);
  EXPECT_EQ(s->tx_pending.load(), 0u);
  EXPECT_EQ(s->rx_pending.load(), 0u);
  EXPECT_FALSE(service.TxReader(1).corrupt());
}

TEST(ServiceRegion, MovesKeepTheMapping) {
  ServiceRegion a = MustCreate();
  const int fd = a.fd();
  ServiceRegion b = std::move(a);
  EXPECT_EQ(b.fd(), fd);
  b.service_sleeping().store(3);
  ServiceRegion c = MustCreate();
  c = std::move(b);
  EXPECT_EQ(c.fd(), fd);
  EXPECT_EQ(c.service_sleeping().load(), 3u);
}

// The service maps the region between inaccessible pages: running off either end faults.
TEST(ServiceRegionDeathTest, GuardPagesSurroundTheMapping) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ServiceRegion region = MustCreate();
  volatile uint8_t* base = region.bytes().data();
  const size_t size = region.bytes().size();
  EXPECT_DEATH({ (void)base[-1]; }, "");
  EXPECT_DEATH({ (void)base[size + 4095]; }, "");
  (void)base[0];
  (void)base[size - 1];
}

// Attach checks the header field by field; each damage gets its own error.
class AttachDamage : public ::testing::Test {
 protected:
  void SetUp() override { service_ = std::make_unique<ServiceRegion>(MustCreate()); }
  RegionHeader* header() { return reinterpret_cast<RegionHeader*>(service_->bytes().data()); }
  absl::Status AttachStatus() { return AppRegion::Attach(service_->fd()).status(); }
  std::unique_ptr<ServiceRegion> service_;
};

TEST_F(AttachDamage, WrongMagic) {
  header()->magic ^= 1;
  const absl::Status s = AttachStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not a Braid channel region"), std::string::npos) << s;
}

TEST_F(AttachDamage, OtherLayoutVersionNamesBoth) {
  header()->version = kLayoutVersion + 1;
  const absl::Status s = AttachStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "Braid service speaks channel layout " +
                             std::to_string(kLayoutVersion + 1) + ", this library speaks " +
                             std::to_string(kLayoutVersion));
}

TEST_F(AttachDamage, HeaderSize) {
  header()->header_bytes = 256;
  EXPECT_EQ(AttachStatus().code(), absl::StatusCode::kDataLoss);
}

TEST_F(AttachDamage, Geometry) {
  header()->geometry.rx_fifo_bytes = 5000;
  const absl::Status s = AttachStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("rx_fifo_bytes 5000"), std::string::npos) << s;
}

TEST_F(AttachDamage, GeometryThatDisagreesWithTheSize) {
  header()->geometry.slots = 5;
  const absl::Status s = AttachStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("region_bytes"), std::string::npos) << s;
}

TEST_F(AttachDamage, RegionBytes) {
  header()->region_bytes += 4096;
  EXPECT_EQ(AttachStatus().code(), absl::StatusCode::kDataLoss);
}

TEST_F(AttachDamage, EachOffset) {
  uint64_t RegionHeader::*fields[] = {
      &RegionHeader::command_ring_offset, &RegionHeader::command_records_offset,
      &RegionHeader::event_ring_offset,   &RegionHeader::event_records_offset,
      &RegionHeader::slots_offset,        &RegionHeader::data_offset,
      &RegionHeader::slot_data_bytes,
  };
  for (auto field : fields) {
    const uint64_t saved = header()->*field;
    header()->*field = saved + 64;
    const absl::Status s = AttachStatus();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("the geometry puts it at"), std::string::npos) << s;
    header()->*field = saved;
  }
  EXPECT_TRUE(AttachStatus().ok());
}

TEST(AppRegion, RejectsWhatIsNotARegion) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  auto from_pipe = AppRegion::Attach(pipe_fds[0]);
  EXPECT_EQ(from_pipe.status().code(), absl::StatusCode::kInvalidArgument);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);

  const absl::Status bad_fd = AppRegion::Attach(-1).status();
  EXPECT_FALSE(bad_fd.ok());
  EXPECT_NE(bad_fd.message().find("fstat"), std::string::npos) << bad_fd;

  const int small = ::memfd_create("small", MFD_CLOEXEC);
  ASSERT_GE(small, 0);
  ASSERT_EQ(::ftruncate(small, 100), 0);
  auto too_small = AppRegion::Attach(small);
  EXPECT_EQ(too_small.status().code(), absl::StatusCode::kDataLoss);
  ASSERT_EQ(::ftruncate(small, 8192), 0);
  auto zeros = AppRegion::Attach(small);
  EXPECT_EQ(zeros.status().code(), absl::StatusCode::kInvalidArgument);  // magic 0
  ::close(small);
}

}  // namespace
}  // namespace braid::channel
