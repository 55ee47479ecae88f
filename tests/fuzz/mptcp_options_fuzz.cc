// Fuzz target for the MPTCP option codec (datapath/wire/mptcp_options.h). Input: the first byte
// gives the carrying segment's flags (0x01 SYN, 0x02 ACK, 0x04 RST), the rest is one whole option.
// A parsed option has every field read, must re-emit to its own size, must refuse a buffer one
// byte short without writing, and must parse back to itself: Parse(Emit(x)) == x.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "datapath/wire/mptcp_options.h"

namespace braid::wire {
namespace {

// Folds every field into one value, so that each is read.
uint64_t Touch(const MpCapable& m) {
  return static_cast<uint64_t>(m.form) + m.version + m.checksum_required + m.extensibility +
         m.no_join_to_initial_address + m.hmac_sha256 + m.sender_key + m.receiver_key +
         m.data_level_length + m.checksum.value_or(0);
}
uint64_t Touch(const MpJoin& j) {
  uint64_t v = static_cast<uint64_t>(j.form) + j.backup + j.address_id + j.receiver_token +
               j.sender_truncated_hmac + j.sender_nonce;
  for (uint8_t b : j.sender_hmac) v += b;
  return v;
}
uint64_t Touch(const Dss& d) {
  uint64_t v = d.data_fin + d.Flags();
  if (d.data_ack) v += d.data_ack->value + d.data_ack->Expand(DataSeq(1)).raw();
  if (d.mapping) {
    v += d.mapping->data_seq.value + d.mapping->data_seq.Expand(DataSeq(~0ull)).raw() +
         d.mapping->subflow_seq + d.mapping->data_level_length + d.mapping->checksum.value_or(0);
  }
  return v;
}
uint64_t Touch(const AddAddr& a) {
  uint64_t v = a.echo + a.address_id + a.port.value_or(0) + a.truncated_hmac.value_or(0);
  std::visit(
      [&v](const auto& addr) {
        for (uint8_t b : addr.bytes) v += b;
      },
      a.address);
  return v;
}
uint64_t Touch(const RemoveAddr& r) {
  uint64_t v = r.count;
  for (uint8_t id : r.address_ids()) v += id;
  return v;
}
uint64_t Touch(const MpPrio& p) { return p.backup; }
uint64_t Touch(const MpFail& f) { return f.data_seq.raw(); }
uint64_t Touch(const MpFastclose& f) { return f.receiver_key; }
uint64_t Touch(const MpTcpRst& r) {
  return r.flag_u + r.flag_v + r.flag_w + r.transient + static_cast<uint64_t>(r.reason) +
         MpTcpRstReasonName(r.reason).size();
}

int FuzzOne(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const MptcpSegmentContext ctx{
      .syn = (data[0] & 0x01) != 0, .ack = (data[0] & 0x02) != 0, .rst = (data[0] & 0x04) != 0};
  const std::span<const uint8_t> option(data + 1, size - 1);

  const MptcpParseResult r = ParseMptcpOption(option, ctx);
  if (!r.ok()) {
    if (static_cast<size_t>(r.drop()) >= kMptcpOptionDropCount) __builtin_trap();
    if (MptcpOptionDropCounterName(r.drop()).empty()) __builtin_trap();
    return 0;
  }
  const MptcpOption& x = *r;
  volatile uint64_t sink = std::visit([](const auto& o) { return Touch(o); }, x);
  (void)sink;
  if (MptcpSubtypeName(MptcpOptionSubtype(x)) == "unknown") __builtin_trap();

  // The encoded size is the input's, except for a DSS without mapping whose two trailing bytes
  // (a checksum with nothing to cover) were ignored, as the kernel does.
  const size_t len = MptcpOptionLen(x);
  const Dss* dss = std::get_if<Dss>(&x);
  const bool dss_tail = dss && !dss->mapping && len + 2 == option.size();
  if (len > kMptcpOptionMaxLen || (len != option.size() && !dss_tail)) __builtin_trap();

  std::array<uint8_t, kMptcpOptionMaxLen + 1> buf;
  buf.fill(0xA5);
  if (EmitMptcpOption(x, std::span<uint8_t>(buf.data(), len - 1))) __builtin_trap();
  if (std::any_of(buf.begin(), buf.end(), [](uint8_t b) { return b != 0xA5; })) __builtin_trap();
  if (!EmitMptcpOption(x, std::span<uint8_t>(buf.data(), len))) __builtin_trap();
  if (buf[len] != 0xA5) __builtin_trap();

  const MptcpParseResult again = ParseMptcpOption(std::span<const uint8_t>(buf.data(), len), ctx);
  if (!again.ok() || *again != x) __builtin_trap();
  return 0;
}

}  // namespace
}  // namespace braid::wire

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return braid::wire::FuzzOne(data, size);
}
