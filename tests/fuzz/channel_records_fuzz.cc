// Fuzzes the channel's record decoders with what a hostile app (or a broken service) can put in
// a ring slot: any 64 bytes. The input is cut into 64-byte records (the last one zero-padded),
// each decoded as a command and as an event. Whatever decodes must re-encode to exactly the same
// bytes (decoding rejects every byte it does not understand), and decoding never crashes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "datapath/channel/layout.h"

namespace {

template <typename Record, typename Decoded, typename Decode, typename Encode>
void CheckRecord(const uint8_t* bytes, Decode decode, Encode encode) {
  Record record;
  std::memcpy(&record, bytes, sizeof(record));
  Decoded decoded;
  const braid::channel::RecordError error = decode(record, decoded);
  if (braid::channel::RecordErrorName(error)[0] == '?') __builtin_trap();
  if (error != braid::channel::RecordError::kOk) return;
  const Record again = encode(decoded);
  if (std::memcmp(&again, &record, sizeof(record)) != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid::channel;
  static_assert(sizeof(CommandRecord) == sizeof(EventRecord));
  for (size_t at = 0; at < size || at == 0; at += sizeof(CommandRecord)) {
    uint8_t bytes[sizeof(CommandRecord)] = {};
    if (at < size) std::memcpy(bytes, data + at, std::min(sizeof(bytes), size - at));
    CheckRecord<CommandRecord, Command>(
        bytes, [](const CommandRecord& r, Command& c) { return DecodeCommand(r, c); },
        [](const Command& c) { return EncodeCommand(c); });
    CheckRecord<EventRecord, Event>(
        bytes, [](const EventRecord& r, Event& e) { return DecodeEvent(r, e); },
        [](const Event& e) { return EncodeEvent(e); });
    if (size == 0) break;
  }
  return 0;
}
