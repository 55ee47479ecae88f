#include "datapath/channel/region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::channel {
namespace {

// memfd_create accepts names up to 249 bytes.
constexpr size_t kMaxMemfdNameBytes = 249;

uint64_t PageBytes() {
  const long page = ::sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<uint64_t>(page) : 4096;
}

uint64_t AlignUp(uint64_t v, uint64_t align) { return (v + align - 1) / align * align; }

std::string Hex(uint64_t v) {
  char text[19];
  std::snprintf(text, sizeof(text), "0x%016llx", static_cast<unsigned long long>(v));
  return text;
}

std::string Dec(uint64_t v) { return std::to_string(v); }

// The fields of RegionHeader that never change, copied out of the mapping once.
struct HeaderCopy {
  std::array<uint8_t, offsetof(RegionHeader, service_state)> bytes;
  template <typename T>
  T At(size_t offset) const {
    T v;
    std::memcpy(&v, bytes.data() + offset, sizeof(T));
    return v;
  }
};

absl::Status CheckOffset(const char* name, uint64_t found, uint64_t expected) {
  if (found == expected) return absl::OkStatus();
  return absl::DataLossError(std::string("channel region header: ") + name + " is " + Dec(found) +
                             ", the geometry puts it at " + Dec(expected));
}

// Non-zero and random; without entropy the clock still differs between two calls.
uint64_t RandomToken() {
  uint64_t v = 0;
  while (v == 0) {
    if (::getrandom(&v, sizeof(v), 0) != static_cast<ssize_t>(sizeof(v))) {
      v = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
          (static_cast<uint64_t>(::getpid()) << 48);
    }
  }
  return v;
}

}  // namespace

uint64_t ServiceEpoch() {
  static const uint64_t epoch = RandomToken();
  return epoch;
}

RegionMapping::RegionMapping(RegionMapping&& other) noexcept
    : reservation_(std::exchange(other.reservation_, nullptr)),
      reservation_bytes_(std::exchange(other.reservation_bytes_, 0)),
      base_(std::exchange(other.base_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

RegionMapping& RegionMapping::operator=(RegionMapping&& other) noexcept {
  if (this != &other) {
    Unmap();
    reservation_ = std::exchange(other.reservation_, nullptr);
    reservation_bytes_ = std::exchange(other.reservation_bytes_, 0);
    base_ = std::exchange(other.base_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

RegionMapping::~RegionMapping() { Unmap(); }

void RegionMapping::Unmap() {
  if (reservation_ != nullptr) ::munmap(reservation_, reservation_bytes_);
  reservation_ = nullptr;
  base_ = nullptr;
}

absl::StatusOr<ServiceRegion> ServiceRegion::Create(const Geometry& geometry, std::string_view name,
                                                    uint64_t service_epoch) {
  if (std::string error = geometry.Validate(); !error.empty()) {
    return absl::InvalidArgumentError("channel geometry: " + error);
  }
  const Layout layout = ComputeLayout(geometry);

  std::string memfd_name = "braid-channel:" + std::string(name);
  if (memfd_name.size() > kMaxMemfdNameBytes) memfd_name.resize(kMaxMemfdNameBytes);
  UniqueFd memfd(::memfd_create(memfd_name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!memfd.valid()) return absl::ErrnoToStatus(errno, "channel region: memfd_create");
  if (::ftruncate(memfd.get(), static_cast<off_t>(layout.region_bytes)) != 0) {
    return absl::ErrnoToStatus(errno, "channel region: ftruncate to " + Dec(layout.region_bytes));
  }
  // The app gets this descriptor: after these seals it can no longer change the size (a
  // shrink would turn the service's accesses into SIGBUS) nor the seals themselves.
  if (::fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return absl::ErrnoToStatus(errno, "channel region: F_ADD_SEALS");
  }

  // Reserve the region plus a guard page on each side, then map the memfd over the middle.
  const uint64_t page = PageBytes();
  const size_t reservation_bytes = AlignUp(layout.region_bytes, page) + 2 * page;
  void* reservation = ::mmap(nullptr, reservation_bytes, PROT_NONE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reservation == MAP_FAILED) {
    return absl::ErrnoToStatus(
        errno, "channel region: mmap of " + Dec(reservation_bytes) + " bytes (reservation)");
  }
  uint8_t* base = static_cast<uint8_t*>(reservation) + page;
  RegionMapping mapping(reservation, reservation_bytes, base, layout.region_bytes);
  if (::mmap(base, layout.region_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd.get(),
             0) == MAP_FAILED) {
    return absl::ErrnoToStatus(errno, "channel region: mmap of the memfd");
  }

  RegionHeader* header = new (base) RegionHeader{};
  header->magic = kMagic;
  header->version = kLayoutVersion;
  header->header_bytes = sizeof(RegionHeader);
  header->region_bytes = layout.region_bytes;
  header->service_epoch = service_epoch;
  header->geometry = geometry;
  header->command_ring_offset = layout.command_ring_offset;
  header->command_records_offset = layout.command_records_offset;
  header->event_ring_offset = layout.event_ring_offset;
  header->event_records_offset = layout.event_records_offset;
  header->slots_offset = layout.slots_offset;
  header->data_offset = layout.data_offset;
  header->slot_data_bytes = layout.slot_data_bytes;
  header->adopt_token = RandomToken();
  new (base + layout.command_ring_offset) RingIndices{};
  new (base + layout.event_ring_offset) RingIndices{};
  // Slots and data are left as the memfd starts, zeroed: touching every slot here would
  // allocate memory the app may never use.
  header->service_state.store(static_cast<uint32_t>(ServiceState::kRunning),
                              std::memory_order_release);
  return ServiceRegion(std::move(mapping), std::move(memfd), layout, service_epoch,
                       header->adopt_token);
}

void ServiceRegion::SetServiceState(ServiceState state) const {
  header()->service_state.store(static_cast<uint32_t>(state), std::memory_order_release);
}

RingConsumer<CommandRecord> ServiceRegion::CommandConsumer() const {
  uint8_t* base = mapping_.base();
  return RingConsumer<CommandRecord>(
      reinterpret_cast<RingIndices*>(base + layout_.command_ring_offset),
      reinterpret_cast<const CommandRecord*>(base + layout_.command_records_offset),
      layout_.geometry.command_entries, /*trusted_peer=*/false);
}

RingProducer<EventRecord> ServiceRegion::EventProducer() const {
  uint8_t* base = mapping_.base();
  return RingProducer<EventRecord>(
      reinterpret_cast<RingIndices*>(base + layout_.event_ring_offset),
      reinterpret_cast<EventRecord*>(base + layout_.event_records_offset),
      layout_.geometry.event_entries, /*trusted_peer=*/false);
}

SlotShared* ServiceRegion::slot(uint32_t slot) const {
  if (slot >= layout_.geometry.slots) return nullptr;
  return reinterpret_cast<SlotShared*>(mapping_.base() + layout_.SlotOffset(slot));
}

void ServiceRegion::ResetSlot(uint32_t slot) const {
  SlotShared* s = this->slot(slot);
  if (s == nullptr) return;
  ResetFifo(s->tx, 0);
  ResetFifo(s->rx, 0);
  s->tx_pending.store(0, std::memory_order_relaxed);
  s->rx_pending.store(0, std::memory_order_release);
}

FifoReader ServiceRegion::TxReader(uint32_t slot) const {
  SlotShared* s = this->slot(slot);
  if (s == nullptr) return {};
  return FifoReader(&s->tx, mapping_.base() + layout_.TxDataOffset(slot),
                    layout_.geometry.tx_fifo_bytes, /*trusted_peer=*/false);
}

FifoWriter ServiceRegion::RxWriter(uint32_t slot) const {
  SlotShared* s = this->slot(slot);
  if (s == nullptr) return {};
  return FifoWriter(&s->rx, mapping_.base() + layout_.RxDataOffset(slot),
                    layout_.geometry.rx_fifo_bytes, /*trusted_peer=*/false);
}

FifoReader ServiceRegion::ReleasedRxReader(uint32_t slot) const {
  SlotShared* s = this->slot(slot);
  if (s == nullptr) return {};
  return FifoReader(&s->rx, mapping_.base() + layout_.RxDataOffset(slot),
                    layout_.geometry.rx_fifo_bytes, /*trusted_peer=*/false);
}

absl::StatusOr<AppRegion> AppRegion::Attach(int memfd) {
  struct stat st;
  if (::fstat(memfd, &st) != 0) {
    return absl::ErrnoToStatus(errno, "channel region: fstat of descriptor " + Dec(memfd));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError("channel region: descriptor " + Dec(memfd) +
                                      " is not a memfd (not a regular file)");
  }
  const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
  if (file_bytes < sizeof(RegionHeader) || file_bytes > kMaxRegionBytes) {
    return absl::DataLossError("channel region: " + Dec(file_bytes) + " bytes is not between " +
                               "the header's " + Dec(sizeof(RegionHeader)) + " and " +
                               Dec(kMaxRegionBytes));
  }
  void* base = ::mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (base == MAP_FAILED) return absl::ErrnoToStatus(errno, "channel region: mmap");
  RegionMapping mapping(base, file_bytes, static_cast<uint8_t*>(base), file_bytes);

  HeaderCopy h;
  CopyFromShared(h.bytes.data(), base, h.bytes.size());
  const uint64_t magic = h.At<uint64_t>(offsetof(RegionHeader, magic));
  if (magic != kMagic) {
    return absl::InvalidArgumentError("channel region: magic " + Hex(magic) + " is not " +
                                      Hex(kMagic) + ": not a Braid channel region");
  }
  const uint32_t version = h.At<uint32_t>(offsetof(RegionHeader, version));
  if (version != kLayoutVersion) {
    return absl::FailedPreconditionError("Braid service speaks channel layout " + Dec(version) +
                                         ", this library speaks " + Dec(kLayoutVersion));
  }
  const uint32_t header_bytes = h.At<uint32_t>(offsetof(RegionHeader, header_bytes));
  if (header_bytes != sizeof(RegionHeader)) {
    return absl::DataLossError("channel region header: header_bytes is " + Dec(header_bytes) +
                               ", layout 1 has " + Dec(sizeof(RegionHeader)));
  }
  const Geometry geometry = h.At<Geometry>(offsetof(RegionHeader, geometry));
  if (std::string error = geometry.Validate(); !error.empty()) {
    return absl::DataLossError("channel region header: geometry: " + error);
  }
  const Layout layout = ComputeLayout(geometry);
  const uint64_t region_bytes = h.At<uint64_t>(offsetof(RegionHeader, region_bytes));
  if (region_bytes != layout.region_bytes || region_bytes != file_bytes) {
    return absl::DataLossError("channel region header: region_bytes is " + Dec(region_bytes) +
                               ", the geometry needs " + Dec(layout.region_bytes) +
                               " and the memfd has " + Dec(file_bytes));
  }
  const struct {
    const char* name;
    size_t field;
    uint64_t expected;
  } offsets[] = {
      {"command_ring_offset", offsetof(RegionHeader, command_ring_offset),
       layout.command_ring_offset},
      {"command_records_offset", offsetof(RegionHeader, command_records_offset),
       layout.command_records_offset},
      {"event_ring_offset", offsetof(RegionHeader, event_ring_offset), layout.event_ring_offset},
      {"event_records_offset", offsetof(RegionHeader, event_records_offset),
       layout.event_records_offset},
      {"slots_offset", offsetof(RegionHeader, slots_offset), layout.slots_offset},
      {"data_offset", offsetof(RegionHeader, data_offset), layout.data_offset},
      {"slot_data_bytes", offsetof(RegionHeader, slot_data_bytes), layout.slot_data_bytes},
  };
  for (const auto& o : offsets) {
    if (absl::Status s = CheckOffset(o.name, h.At<uint64_t>(o.field), o.expected); !s.ok()) {
      return s;
    }
  }
  const uint64_t epoch = h.At<uint64_t>(offsetof(RegionHeader, service_epoch));
  return AppRegion(std::move(mapping), layout, epoch);
}

RingProducer<CommandRecord> AppRegion::CommandProducer() const {
  uint8_t* base = mapping_.base();
  return RingProducer<CommandRecord>(
      reinterpret_cast<RingIndices*>(base + layout_.command_ring_offset),
      reinterpret_cast<CommandRecord*>(base + layout_.command_records_offset),
      layout_.geometry.command_entries, /*trusted_peer=*/true);
}

RingConsumer<EventRecord> AppRegion::EventConsumer() const {
  uint8_t* base = mapping_.base();
  return RingConsumer<EventRecord>(
      reinterpret_cast<RingIndices*>(base + layout_.event_ring_offset),
      reinterpret_cast<const EventRecord*>(base + layout_.event_records_offset),
      layout_.geometry.event_entries, /*trusted_peer=*/true);
}

SlotShared* AppRegion::slot(uint32_t slot) const {
  if (slot >= layout_.geometry.slots) return nullptr;
  return reinterpret_cast<SlotShared*>(mapping_.base() + layout_.SlotOffset(slot));
}

FifoWriter AppRegion::TxWriter(uint32_t slot) const {
  SlotShared* s = this->slot(slot);
  if (s == nullptr) return {};
  return FifoWriter(&s->tx, mapping_.base() + layout_.TxDataOffset(slot),
                    layout_.geometry.tx_fifo_bytes, /*trusted_peer=*/true);
}

uint64_t AppRegion::adopt_token() const {
  return Load<uint64_t>(mapping_.base() + offsetof(RegionHeader, adopt_token));
}

FifoReader AppRegion::RxReader(uint32_t slot) const {
  SlotShared* s = this->slot(slot);
  if (s == nullptr) return {};
  return FifoReader(&s->rx, mapping_.base() + layout_.RxDataOffset(slot),
                    layout_.geometry.rx_fifo_bytes, /*trusted_peer=*/true);
}

}  // namespace braid::channel
