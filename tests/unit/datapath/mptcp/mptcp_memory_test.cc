// Bounded memory at the data level (RFC 8684 §3.3.4): a receiver that does not read. The
// sender's Send takes less and less and then nothing, the receiver never holds more than its
// receive_buffer (in order and out of order together) and the sender never more than its
// send_buffer; once the app reads, everything arrives byte-exact and the sender hears
// OnWritable. Over one subflow and over two (where data also waits out of order).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "tests/unit/datapath/mptcp/mptcp_stacks.h"

namespace braid::mptcp::test {
namespace {

constexpr uint32_t kBuffer = 256 * 1024;

class MemoryTest : public MptcpStacksTest, public ::testing::WithParamInterface<uint32_t> {
 protected:
  // The largest receive_queue + out_of_order and send_queue seen at any step.
  struct Peaks {
    uint32_t receiver = 0;
    uint32_t receiver_in_order = 0;
    uint32_t sender = 0;
  };
  void Observe(SocketId c, SocketId s, Peaks& peaks) {
    const std::optional<MptcpInfo> r = B().ConnectionInfo(s);
    const std::optional<MptcpInfo> w = A().ConnectionInfo(c);
    if (r) {
      peaks.receiver = std::max(peaks.receiver, r->receive_queue + r->out_of_order);
      peaks.receiver_in_order = std::max(peaks.receiver_in_order, r->receive_queue);
    }
    if (w) peaks.sender = std::max(peaks.sender, w->send_queue);
  }
};

INSTANTIATE_TEST_SUITE_P(Subflows, MemoryTest, ::testing::Values(1u, 2u),
                         [](const auto& p) { return std::to_string(p.param); });

TEST_P(MemoryTest, AReceiverThatDoesNotReadStopsTheSender) {
  const uint32_t subflows = GetParam();
  MptcpConfig config = subflows == 1 ? Config() : Ndiffports(subflows);
  config.scheduler = "roundrobin";
  config.send_buffer = kBuffer;
  config.receive_buffer = kBuffer;
  MptcpConfig server_config = Config();
  server_config.send_buffer = kBuffer;
  server_config.receive_buffer = kBuffer;
  Start(config, server_config);
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, subflows)) << Describe(c, s);

  server().auto_read = false;
  up_ = std::make_unique<BulkSender>(A(), c, Pattern(60, 8'000'000));
  client().on_writable = [this](SocketId) { up_->Push(); };
  up_->Push();
  Peaks peaks;
  // 30 s of scripted time with nobody reading: every step is checked.
  stacks().RunUntil(
      [&] {
        Observe(c, s, peaks);
        return false;
      },
      30s);
  const size_t offered = up_->offset();
  EXPECT_LT(offered, up_->data().size());
  // The send buffer is full: Send takes nothing now.
  const uint8_t more[100] = {};
  EXPECT_EQ(A().Send(c, more, now()), 0u);
  // A data-level window's worth waits at the receiver: its buffer less the room one pull
  // needs; the sender holds the rest of what it took.
  const MptcpInfo r = *B().ConnectionInfo(s);
  EXPECT_LE(peaks.receiver, kBuffer) << Describe(c, s);
  EXPECT_LE(peaks.sender, kBuffer);
  EXPECT_GE(r.receive_queue, kBuffer - 64 * 1024) << Describe(c, s);
  EXPECT_EQ(A().ConnectionInfo(c)->send_queue, kBuffer) << Describe(c, s);
  EXPECT_EQ(CountB(Counter::kRcvPruned), 0u);
  EXPECT_EQ(server().stream(s).bytes, 0u);
  const size_t writable_before = client().Count(Ev::kWritable);
  // Still stuck: the sender offered nothing more during the last seconds.
  stacks().RunFor(10s);
  EXPECT_EQ(up_->offset(), offered);
  EXPECT_EQ(client().Count(Ev::kWritable), writable_before);
  EXPECT_EQ(client().Count(Ev::kError), 0u);

  // The app reads: everything arrives, byte for byte, and the sender is told to write again.
  server().auto_read = true;
  server().Read(s);
  ASSERT_TRUE(stacks().RunUntil(
      [&] {
        Observe(c, s, peaks);
        return server().stream(s).fin;
      },
      2min))
      << Describe(c, s);
  EXPECT_EQ(server().stream(s).bytes, up_->data().size());
  EXPECT_EQ(server().Digest(s), Sha(up_->data()));
  EXPECT_GT(client().Count(Ev::kWritable), writable_before);
  EXPECT_LE(peaks.receiver, kBuffer);
  EXPECT_LE(peaks.sender, kBuffer);
}

}  // namespace
}  // namespace braid::mptcp::test
