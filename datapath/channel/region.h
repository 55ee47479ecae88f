// The channel region, from each side: ServiceRegion creates the memfd, sizes and seals it, maps
// it and writes the header; AppRegion maps a memfd received over the handover socket and checks
// that its header describes a region this library understands. Both hand out the ring and FIFO
// endpoints of their side (layout.h has the format).
//
// The service side assumes a hostile app: it keeps the Layout it computed in private memory and
// never reads geometry or offsets back from the header; its endpoints treat every index the app
// owns as untrusted (spsc_ring.h, byte_fifo.h). The memfd is sealed against shrinking, growing
// and further sealing, so the app cannot truncate it under the service's mapping (which would
// make the service's accesses fault with SIGBUS). The service maps it between two inaccessible
// guard pages: an access past either end faults at once instead of reaching other memory.
//
// Endpoints read their own index from shared memory once, when constructed: take them once per
// use and keep them (the rings right after Create, a slot's FIFOs right after ResetSlot). An app
// that rewrites the service's index in between only disturbs its own data, since every access
// is masked into the area it belongs to.
//
// Errors (absl codes): InvalidArgument for a Geometry that does not validate or a descriptor
// that is not a region; FailedPrecondition for a layout version this library does not speak
// (the message names both versions); DataLoss for a header that contradicts itself or the
// file's size; the errno's code when a system call fails. Messages name the call or field.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "datapath/channel/byte_fifo.h"
#include "datapath/channel/layout.h"
#include "datapath/channel/spsc_ring.h"
#include "datapath/channel/unique_fd.h"

namespace braid::channel {

// A random non-zero value chosen once per process: the service's RegionHeader::service_epoch.
uint64_t ServiceEpoch();

// A mapped region, unmapped when destroyed. `bytes()` is the usable part; the reservation may
// be larger (guard pages).
class RegionMapping {
 public:
  RegionMapping() = default;
  RegionMapping(void* reservation, size_t reservation_bytes, uint8_t* base, size_t bytes)
      : reservation_(reservation),
        reservation_bytes_(reservation_bytes),
        base_(base),
        bytes_(bytes) {}
  RegionMapping(RegionMapping&& other) noexcept;
  RegionMapping& operator=(RegionMapping&& other) noexcept;
  RegionMapping(const RegionMapping&) = delete;
  RegionMapping& operator=(const RegionMapping&) = delete;
  ~RegionMapping();

  uint8_t* base() const { return base_; }
  std::span<uint8_t> bytes() const { return {base_, bytes_}; }

 private:
  void Unmap();
  void* reservation_ = nullptr;
  size_t reservation_bytes_ = 0;
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
};

class ServiceRegion {
 public:
  // Creates, sizes, seals and maps a region for `geometry`; `name` names the memfd (visible in
  // /proc/<pid>/fd as "memfd:braid-channel:<name>"). The header is written with `service_epoch`
  // and service_state kRunning; rings, slots and data start zeroed.
  static absl::StatusOr<ServiceRegion> Create(const Geometry& geometry, std::string_view name,
                                              uint64_t service_epoch = ServiceEpoch());

  ServiceRegion(ServiceRegion&&) noexcept = default;
  ServiceRegion& operator=(ServiceRegion&&) noexcept = default;

  // The layout computed at creation, from the service's own Geometry.
  const Layout& layout() const { return layout_; }
  uint64_t size() const { return layout_.region_bytes; }
  uint64_t epoch() const { return epoch_; }
  // The region's adopt token (RegionHeader::adopt_token), from the service's private copy.
  uint64_t adopt_token() const { return adopt_token_; }
  // The memfd, still owned here: pass it to SendWelcome.
  int fd() const { return memfd_.get(); }

  void SetServiceState(ServiceState state) const;
  // The sleep flags (doorbell.h): the service sleeps on service_sleeping and wakes the app
  // through app_sleeping. Both are writable by the app; doorbell.h copes with any value.
  std::atomic<uint32_t>& app_sleeping() const { return header()->app_sleeping; }
  std::atomic<uint32_t>& service_sleeping() const { return header()->service_sleeping; }

  RingConsumer<CommandRecord> CommandConsumer() const;
  RingProducer<EventRecord> EventProducer() const;

  // A slot's shared state, or nullptr when `slot` is not below the service's slot count.
  SlotShared* slot(uint32_t slot) const;
  // Empties both FIFOs of `slot` at position 0 and clears its flags: before a socket uses it.
  void ResetSlot(uint32_t slot) const;
  // The service's ends of a slot's FIFOs; detached (corrupt) for a slot out of range.
  FifoReader TxReader(uint32_t slot) const;
  FifoWriter RxWriter(uint32_t slot) const;
  // A reader of the RX FIFO of a slot the app released (kRelease): the bytes it did not read,
  // for the process that adopts the connection. The app's read index is checked as any index.
  FifoReader ReleasedRxReader(uint32_t slot) const;

  // The whole shared region, for diagnostics and tests. The service reads nothing from it
  // except through the endpoints above.
  std::span<uint8_t> bytes() const { return mapping_.bytes(); }

 private:
  ServiceRegion(RegionMapping mapping, UniqueFd memfd, const Layout& layout, uint64_t epoch,
                uint64_t adopt_token)
      : mapping_(std::move(mapping)),
        memfd_(std::move(memfd)),
        layout_(layout),
        epoch_(epoch),
        adopt_token_(adopt_token) {}
  RegionHeader* header() const { return reinterpret_cast<RegionHeader*>(mapping_.base()); }

  RegionMapping mapping_;
  UniqueFd memfd_;
  Layout layout_;
  uint64_t epoch_ = 0;
  uint64_t adopt_token_ = 0;
};

class AppRegion {
 public:
  // Maps the region behind `memfd` (which stays the caller's: it may be closed afterwards) and
  // checks its header: magic, layout version, header size, geometry, every offset and the size
  // against the file's size.
  static absl::StatusOr<AppRegion> Attach(int memfd);

  AppRegion(AppRegion&&) noexcept = default;
  AppRegion& operator=(AppRegion&&) noexcept = default;

  const Layout& layout() const { return layout_; }
  uint64_t size() const { return layout_.region_bytes; }
  uint64_t epoch() const { return epoch_; }
  // The region's adopt token: a fork child quotes it in kAdopt (read from the header: the
  // service checks it against its own copy).
  uint64_t adopt_token() const;
  ServiceState service_state() const {
    return static_cast<ServiceState>(header()->service_state.load(std::memory_order_acquire));
  }
  // The app sleeps on app_sleeping and wakes the service through service_sleeping.
  std::atomic<uint32_t>& app_sleeping() const { return header()->app_sleeping; }
  std::atomic<uint32_t>& service_sleeping() const { return header()->service_sleeping; }

  RingProducer<CommandRecord> CommandProducer() const;
  RingConsumer<EventRecord> EventConsumer() const;

  // A slot's shared state, or nullptr when `slot` is out of range.
  SlotShared* slot(uint32_t slot) const;
  // The app's ends of a slot's FIFOs; detached (corrupt) for a slot out of range.
  FifoWriter TxWriter(uint32_t slot) const;
  FifoReader RxReader(uint32_t slot) const;

  std::span<uint8_t> bytes() const { return mapping_.bytes(); }

 private:
  AppRegion(RegionMapping mapping, const Layout& layout, uint64_t epoch)
      : mapping_(std::move(mapping)), layout_(layout), epoch_(epoch) {}
  RegionHeader* header() const { return reinterpret_cast<RegionHeader*>(mapping_.base()); }

  RegionMapping mapping_;
  Layout layout_;
  uint64_t epoch_ = 0;
};

}  // namespace braid::channel
