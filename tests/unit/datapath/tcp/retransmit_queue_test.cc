#include "datapath/tcp/retransmit_queue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/datapath/tcp/loss_harness.h"

namespace braid::tcp {
namespace {

using namespace loss_test;  // S(), T(), Segs(), SackReceiver, Scoreboard()
using ::testing::Optional;

AckResult Ack(RetransmitQueue& q, TcpSeq ack, std::vector<TcpSackBlock> blocks, Instant now,
              Duration min_rtt = Duration::zero(), std::optional<Instant> echoed = std::nullopt) {
  AckResult r = q.OnAck({ack, blocks, now, echoed, min_rtt});
  EXPECT_TRUE(q.CheckInvariants());
  return r;
}

void SendSegments(RetransmitQueue& q, int first, int count, Instant now) {
  for (int n = first; n < first + count; ++n) {
    ASSERT_EQ(q.OnTransmit(S(n), S(n + 1), now, false), TransmitResult::kOk) << n;
  }
}

TEST(RetransmitQueueTest, RecordsTileTheFlightAcrossTheWrap) {
  RetransmitQueue q(8, S(0));
  for (int n = 0; n < 5; ++n) {
    EXPECT_EQ(q.OnTransmit(S(n), S(n + 1), T(n), false), TransmitResult::kOk);
  }
  EXPECT_EQ(S(5).raw(), 1500u);  // the flight crossed 2^32
  EXPECT_EQ(q.size(), 5u);
  EXPECT_EQ(q.snd_una(), S(0));
  EXPECT_EQ(q.snd_nxt(), S(5));
  EXPECT_EQ(q.flight_size(), 5 * kMss);
  EXPECT_EQ(q.Find(S(3) + 600), 3u);  // raw 100, past the wrap
  EXPECT_EQ(q.Find(S(5)), q.size());
  EXPECT_EQ(q.Find(S(0) - 1), q.size());
  EXPECT_EQ(q[2].xmit_ts, T(2));
  EXPECT_TRUE(q.CheckInvariants());
}

TEST(RetransmitQueueTest, RejectsWhatCannotBeRecorded) {
  RetransmitQueue q(4, S(0));
  SendSegments(q, 0, 3, T(0));
  EXPECT_EQ(q.OnTransmit(S(4), S(5), T(1), false), TransmitResult::kOutOfRange);  // gap
  EXPECT_EQ(q.OnTransmit(S(2), S(4), T(1), false), TransmitResult::kOutOfRange);  // overlap
  EXPECT_EQ(q.OnTransmit(S(3), S(3), T(1), false), TransmitResult::kEmpty);
  EXPECT_EQ(q.OnTransmit(S(3), S(3) - 1, T(1), false), TransmitResult::kOutOfRange);
  EXPECT_EQ(q.OnTransmit(S(3), S(3) + 0x80000000u, T(1), false), TransmitResult::kOutOfRange);
  EXPECT_EQ(q.OnTransmit(S(2), S(4), T(1), true), TransmitResult::kOutOfRange);  // past snd_nxt
  EXPECT_EQ(q.OnTransmit(S(0) - 1, S(1), T(1), true), TransmitResult::kOutOfRange);
  EXPECT_EQ(q.OnTransmit(S(3), S(4), T(1), false), TransmitResult::kOk);
  EXPECT_EQ(q.OnTransmit(S(4), S(5), T(1), false), TransmitResult::kFull);
  EXPECT_EQ(q.snd_nxt(), S(4));
  EXPECT_TRUE(q.CheckInvariants());
}

TEST(RetransmitQueueTest, CumulativeAckKarnSampleAndDispositions) {
  RetransmitQueue q(16, S(0));
  for (int n = 0; n < 4; ++n) SendSegments(q, n, 1, T(n));

  AckResult r = Ack(q, S(2), {}, T(50));
  EXPECT_EQ(r.disposition, AckDisposition::kAdvanced);
  EXPECT_EQ(r.prior_snd_una, S(0));
  EXPECT_EQ(r.acked_bytes, 2 * kMss);
  EXPECT_EQ(r.delivered_bytes, 2 * kMss);
  // The most recently sent of the newly acknowledged segments gives the sample.
  EXPECT_THAT(r.rtt_sample, Optional(Duration(49ms)));
  EXPECT_THAT(r.rack_delivery, Optional(RackDelivery{T(1), S(2), 49ms}));
  EXPECT_FALSE(r.reordering_seen);
  EXPECT_FALSE(r.duplicate());
  EXPECT_EQ(q.snd_una(), S(2));
  EXPECT_EQ(q.size(), 2u);

  // RFC 6298 §3: no sample from a retransmitted segment.
  ASSERT_EQ(q.OnTransmit(S(2), S(3), T(60), true), TransmitResult::kOk);
  EXPECT_TRUE(q[0].retransmitted);
  EXPECT_EQ(q[0].rtx_count, 1);
  EXPECT_EQ(q[0].xmit_ts, T(60));
  r = Ack(q, S(3), {}, T(100));
  EXPECT_EQ(r.acked_bytes, kMss);
  EXPECT_EQ(r.rtt_sample, std::nullopt);
  EXPECT_THAT(r.rack_delivery, Optional(RackDelivery{T(60), S(3), 40ms}));

  r = Ack(q, S(3), {}, T(101));
  EXPECT_EQ(r.disposition, AckDisposition::kDuplicate);
  EXPECT_EQ(r.acked_bytes, 0u);

  r = Ack(q, S(2), {}, T(102));
  EXPECT_EQ(r.disposition, AckDisposition::kOld);
  EXPECT_EQ(q.snd_una(), S(3));

  // RFC 9293 §3.10.7.4: an ACK for data never sent changes nothing.
  r = Ack(q, S(5), {Segs(3, 3)}, T(103));
  EXPECT_EQ(r.disposition, AckDisposition::kUnsent);
  EXPECT_EQ(q.snd_una(), S(3));
  EXPECT_EQ(q.sacked_bytes(), 0u);

  r = Ack(q, S(4), {}, T(110));
  EXPECT_THAT(r.rtt_sample, Optional(Duration(107ms)));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.snd_una(), q.snd_nxt());
}

// An ACK overtaken by a later one: its cumulative part is stale, its SACK blocks are still news.
TEST(RetransmitQueueTest, AckBelowSndUnaStillCarriesUsableSackBlocks) {
  RetransmitQueue q(16, S(0));
  SendSegments(q, 0, 6, T(0));
  Ack(q, S(2), {}, T(40));
  AckResult r = Ack(q, S(1), {Segs(3, 3)}, T(41));
  EXPECT_EQ(r.disposition, AckDisposition::kOld);
  EXPECT_EQ(r.acked_bytes, 0u);
  EXPECT_EQ(r.sacked_bytes, kMss);
  EXPECT_EQ(q.snd_una(), S(2));
  EXPECT_EQ(Scoreboard(q), "[2,3). [3,4)S [4,5). [5,6).");
  // Its first block below its own acknowledgment number is a D-SACK (RFC 2883 §4).
  r = Ack(q, S(1), {Segs(0, 0)}, T(42));
  EXPECT_THAT(r.dsack, Optional(Segs(0, 0)));
  EXPECT_FALSE(r.drops.any());
}

TEST(RetransmitQueueTest, ResetForgetsTheFlight) {
  RetransmitQueue q(4, S(0));
  SendSegments(q, 0, 3, T(0));
  Ack(q, S(0), {Segs(1, 1)}, T(40));
  q.Reset(S(7));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.snd_una(), S(7));
  EXPECT_EQ(q.snd_nxt(), S(7));
  EXPECT_EQ(q.sacked_bytes(), 0u);
  EXPECT_EQ(q.OnTransmit(S(7), S(8), T(50), false), TransmitResult::kOk);
  EXPECT_TRUE(q.CheckInvariants());
}

TEST(RetransmitQueueTest, PartialAckTrimsARecord) {
  RetransmitQueue q(4, S(0));
  ASSERT_EQ(q.OnTransmit(S(0), S(4), T(0), false), TransmitResult::kOk);  // one TSO burst
  const AckResult r = Ack(q, S(1) + 500, {}, T(30));
  EXPECT_EQ(r.acked_bytes, 1500u);
  EXPECT_THAT(r.rtt_sample, Optional(Duration(30ms)));
  EXPECT_THAT(r.rack_delivery, Optional(RackDelivery{T(0), S(1) + 500, 30ms}));
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].start, S(1) + 500);
  EXPECT_EQ(q[0].end, S(4));
}

// Segments 2 and 5 of ten are dropped; the receiver's ACK stream builds the scoreboard.
TEST(RetransmitQueueTest, ScoreboardFromTheReceiversSackStream) {
  RetransmitQueue q(32, S(0));
  SackReceiver rx(S(0));
  SendSegments(q, 0, 10, T(0));
  AckResult r;
  for (int n = 0; n < 10; ++n) {
    if (n == 2 || n == 5) continue;
    const ReceiverAck a = rx.ReceiveSeg(n);
    r = Ack(q, a.ack, a.blocks, T(40 + n));
  }
  EXPECT_EQ(r.disposition, AckDisposition::kDuplicate);
  EXPECT_EQ(r.sacked_bytes, kMss);
  EXPECT_TRUE(r.duplicate());
  EXPECT_FALSE(r.drops.any());
  EXPECT_EQ(Scoreboard(q), "[2,3). [3,5)S [5,6). [6,10)S");
  EXPECT_EQ(q.sacked_bytes(), 6 * kMss);
  EXPECT_EQ(q.sacked_segments(), 6u);
  EXPECT_THAT(q.highest_sacked_end(), Optional(S(10)));
  EXPECT_EQ(q.fack(), S(10));

  // Segment 2 was only late: the cumulative ACK passes the SACKed segments above it.
  const ReceiverAck a = rx.ReceiveSeg(2);
  r = Ack(q, a.ack, a.blocks, T(60));
  EXPECT_EQ(r.acked_bytes, 3 * kMss);
  EXPECT_EQ(r.delivered_bytes, kMss);  // 3 and 4 were delivered before
  EXPECT_TRUE(r.reordering_seen);      // never retransmitted, below RACK.fack
  EXPECT_EQ(Scoreboard(q), "[5,6). [6,10)S");
  EXPECT_EQ(q.sacked_bytes(), 4 * kMss);
  EXPECT_EQ(q.sacked_segments(), 4u);
}

TEST(RetransmitQueueTest, SackBlocksStaleStraddlingOutOfWindowEmptyTooManyOverlapping) {
  RetransmitQueue q(32, S(0));
  SendSegments(q, 0, 10, T(0));
  Ack(q, S(2), {}, T(40));

  AckResult r = Ack(q, S(2),
                    {Segs(4, 4),           // valid
                     Segs(0, 0),           // stale: below SND.UNA
                     Block(S(1), S(3)),    // straddles SND.UNA
                     Block(S(9), S(11))},  // beyond SND.NXT
                    T(41));
  EXPECT_EQ(r.sacked_bytes, kMss);
  EXPECT_EQ(r.dsack, std::nullopt);
  EXPECT_EQ(r.drops.count(SackBlockDrop::kBelowSndUna), 2u);
  EXPECT_EQ(r.drops.count(SackBlockDrop::kAboveSndNxt), 1u);
  EXPECT_EQ(r.drops.total(), 3u);

  r = Ack(
      q, S(2),
      {Segs(6, 6), Block(S(7), S(7)), Block(S(8), S(7)), Segs(5, 5), Segs(3, 3)},  // a fifth block
      T(42));
  EXPECT_EQ(r.sacked_bytes, 2 * kMss);
  EXPECT_EQ(r.drops.count(SackBlockDrop::kEmpty), 2u);
  EXPECT_EQ(r.drops.count(SackBlockDrop::kTooMany), 1u);
  EXPECT_EQ(Scoreboard(q), "[2,3). [3,4). [4,7)S [7,8). [8,9). [9,10).");

  // Overlapping blocks count each byte once.
  r = Ack(q, S(2), {Segs(6, 7), Segs(7, 8)}, T(43));
  EXPECT_EQ(r.sacked_bytes, 2 * kMss);
  EXPECT_EQ(Scoreboard(q), "[2,3). [3,4). [4,9)S [9,10).");
  EXPECT_EQ(q.sacked_bytes(), 5 * kMss);
  EXPECT_EQ(q.sacked_segments(), 5u);

  // Repeating known blocks is not a duplicate ACK (RFC 6675 §2).
  r = Ack(q, S(2), {Segs(4, 8)}, T(44));
  EXPECT_EQ(r.sacked_bytes, 0u);
  EXPECT_FALSE(r.duplicate());

  EXPECT_EQ(q.sack_block_drops(SackBlockDrop::kBelowSndUna), 2u);
  EXPECT_EQ(q.sack_block_drops(SackBlockDrop::kAboveSndNxt), 1u);
  EXPECT_EQ(q.sack_block_drops(SackBlockDrop::kEmpty), 2u);
  EXPECT_EQ(q.sack_block_drops(SackBlockDrop::kTooMany), 1u);
  EXPECT_EQ(SackBlockDropName(SackBlockDrop::kTooMany), "too_many");
}

// RFC 2883 §4: where a D-SACK block sits, and that it never marks the scoreboard.
TEST(RetransmitQueueTest, DsackBelowAckOrInsideTheSecondBlock) {
  RetransmitQueue q(16, S(0));
  SendSegments(q, 0, 6, T(0));
  Ack(q, S(2), {}, T(40));

  AckResult r = Ack(q, S(2), {Segs(1, 1)}, T(41));
  EXPECT_THAT(r.dsack, Optional(Segs(1, 1)));
  EXPECT_EQ(r.sacked_bytes, 0u);
  EXPECT_FALSE(r.drops.any());
  EXPECT_TRUE(r.sack_option);

  r = Ack(q, S(2), {Segs(4, 4), Segs(3, 5)}, T(42));
  EXPECT_THAT(r.dsack, Optional(Segs(4, 4)));
  EXPECT_EQ(r.sacked_bytes, 3 * kMss);
  EXPECT_EQ(Scoreboard(q), "[2,3). [3,6)S");

  // A "D-SACK" reaching past SND.NXT is bogus.
  r = Ack(q, S(2), {Block(S(1), S(7))}, T(43));
  EXPECT_EQ(r.dsack, std::nullopt);
  EXPECT_EQ(r.drops.count(SackBlockDrop::kAboveSndNxt), 1u);
}

TEST(RetransmitQueueTest, SackBlocksCutRecordsAndSackedPiecesMerge) {
  RetransmitQueue q(16, S(0));
  ASSERT_EQ(q.OnTransmit(S(0), S(4), T(0), false), TransmitResult::kOk);
  AckResult r = Ack(q, S(0), {Segs(1, 1)}, T(40));
  EXPECT_EQ(r.sacked_bytes, kMss);
  EXPECT_EQ(Scoreboard(q), "[0,1). [1,2)S [2,4).");
  r = Ack(q, S(0), {Block(S(2) + 500, S(4)), Segs(1, 1)}, T(41));
  EXPECT_EQ(r.sacked_bytes, 1500u);
  EXPECT_EQ(Scoreboard(q), "[0,1). [1,2)S [2,2+500). [2+500,4)S");
  r = Ack(q, S(0), {Block(S(1), S(4))}, T(42));
  EXPECT_EQ(r.sacked_bytes, 500u);
  EXPECT_EQ(Scoreboard(q), "[0,1). [1,4)S");
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.sacked_segments(), 3u);  // the three pieces count as segments
}

TEST(RetransmitQueueTest, FullQueueDegradesSafelyAndCounts) {
  RetransmitQueue q(3, S(0));
  SendSegments(q, 0, 3, T(0));
  // No free record for the cut: the partly covered segment stays unSACKed.
  AckResult r = Ack(q, S(0), {Block(S(1) + 500, S(2))}, T(40));
  EXPECT_EQ(r.sacked_bytes, 0u);
  EXPECT_EQ(r.drops.count(SackBlockDrop::kQueueFull), 1u);
  // A block covering whole records needs no cut.
  r = Ack(q, S(0), {Segs(1, 1)}, T(41));
  EXPECT_EQ(r.sacked_bytes, kMss);
  EXPECT_EQ(Scoreboard(q), "[0,1). [1,2)S [2,3).");
  // A retransmission of half a segment restamps the whole record.
  EXPECT_EQ(q.OnTransmit(S(0), S(0) + 500, T(50), true), TransmitResult::kOk);
  EXPECT_EQ(q.retransmit_split_failures(), 1u);
  EXPECT_EQ(q[0].end, S(1));
  EXPECT_TRUE(q[0].retransmitted);
  EXPECT_EQ(q[0].xmit_ts, T(50));
  // The same when the cut would be at the retransmission's start.
  EXPECT_EQ(q.OnTransmit(S(2) + 500, S(3), T(51), true), TransmitResult::kOk);
  EXPECT_EQ(q.retransmit_split_failures(), 2u);
  EXPECT_EQ(q[2].start, S(2));
  EXPECT_EQ(q[2].xmit_ts, T(51));
  EXPECT_EQ(q.OnTransmit(S(3), S(4), T(50), false), TransmitResult::kFull);
  // A block whose right edge cuts a record.
  r = Ack(q, S(0), {Block(S(2), S(2) + 500)}, T(52));
  EXPECT_EQ(r.sacked_bytes, 0u);
  EXPECT_EQ(r.drops.count(SackBlockDrop::kQueueFull), 1u);
  EXPECT_EQ(q.sack_block_drops(SackBlockDrop::kQueueFull), 2u);
  EXPECT_TRUE(q.CheckInvariants());
}

TEST(RetransmitQueueTest, RetransmissionBecomesOneRecord) {
  RetransmitQueue q(16, S(0));
  SendSegments(q, 0, 4, T(0));
  ASSERT_EQ(q.OnTransmit(S(0), S(2), T(10), true), TransmitResult::kOk);
  EXPECT_EQ(Scoreboard(q), "[0,2)R [2,3). [3,4).");
  EXPECT_EQ(q[0].segs, 1u);
  ASSERT_EQ(q.OnTransmit(S(2) + 500, S(3) + 500, T(11), true), TransmitResult::kOk);
  EXPECT_EQ(Scoreboard(q), "[0,2)R [2,2+500). [2+500,3+500)R [3+500,4).");
  EXPECT_EQ(q[2].xmit_ts, T(11));
  EXPECT_EQ(q[3].xmit_ts, T(0));
  EXPECT_TRUE(q.CheckInvariants());

  // Over a SACKed record (go-back-N after an RTO): it stays SACKed.
  RetransmitQueue g(16, S(0));
  SendSegments(g, 0, 3, T(0));
  Ack(g, S(0), {Segs(1, 1)}, T(40));
  ASSERT_EQ(g.OnTransmit(S(0), S(3), T(50), true), TransmitResult::kOk);
  EXPECT_EQ(Scoreboard(g), "[0,1)R [1,2)S [2,3)R");
  EXPECT_EQ(g.sacked_bytes(), kMss);
}

TEST(RetransmitQueueTest, SynAndFinCarryingRecords) {
  RetransmitQueue q(8, Iss());
  // A SYN carrying 500 bytes (TCP Fast Open), then data and a FIN on the last segment.
  ASSERT_EQ(q.OnTransmit(Iss(), S(0) + 500, T(0), false, {.syn = true}), TransmitResult::kOk);
  ASSERT_EQ(q.OnTransmit(S(0) + 500, S(1), T(1), false), TransmitResult::kOk);
  ASSERT_EQ(q.OnTransmit(S(1), S(2) + 1, T(2), false, {.fin = true}), TransmitResult::kOk);
  EXPECT_TRUE(q[0].syn);
  EXPECT_TRUE(q[2].fin);

  // Nobody SACKs a SYN: it is acknowledged cumulatively first.
  AckResult r = Ack(q, Iss(), {Block(Iss(), S(0) + 500)}, T(10));
  EXPECT_EQ(r.drops.count(SackBlockDrop::kCoversSyn), 1u);
  EXPECT_EQ(q.sacked_bytes(), 0u);

  // The SYN alone acknowledged: the record loses it and keeps its data.
  r = Ack(q, S(0), {}, T(20));
  EXPECT_TRUE(r.syn_acked);
  EXPECT_EQ(r.acked_bytes, 1u);
  EXPECT_FALSE(q[0].syn);
  EXPECT_EQ(q[0].start, S(0));

  // A block that cuts the FIN-carrying record: the FIN stays with the unSACKed tail.
  r = Ack(q, S(0), {Block(S(1), S(1) + 500)}, T(30));
  EXPECT_EQ(r.sacked_bytes, 500u);
  EXPECT_EQ(Scoreboard(q), "[0,0+500). [0+500,1). [1,1+500)S [1+500,2+1).");
  EXPECT_FALSE(q[2].fin);
  EXPECT_TRUE(q[3].fin);
  // A receiver may SACK the FIN's octet with the data before it.
  r = Ack(q, S(0), {Block(S(1), S(2) + 1)}, T(31));
  EXPECT_EQ(r.sacked_bytes, 501u);
  EXPECT_TRUE(q[2].fin);
  EXPECT_TRUE(q[2].sacked);
  r = Ack(q, S(2) + 1, {}, T(40));
  EXPECT_TRUE(r.fin_acked);
  EXPECT_FALSE(r.syn_acked);
  EXPECT_TRUE(q.empty());
}

// RFC 8985 §6.2 step 2's filters for retransmitted segments.
TEST(RetransmitQueueTest, RackDeliveryIgnoresAmbiguousRetransmissions) {
  {  // Retransmitted less than min_RTT ago: the ACK is most likely for the original.
    RetransmitQueue q(8, S(0));
    SendSegments(q, 0, 2, T(0));
    ASSERT_EQ(q.OnTransmit(S(0), S(1), T(10), true), TransmitResult::kOk);
    const AckResult r = Ack(q, S(1), {}, T(20), /*min_rtt=*/40ms);
    EXPECT_EQ(r.rack_delivery, std::nullopt);
    EXPECT_EQ(r.rtt_sample, std::nullopt);
  }
  {  // TSecr echoes the original transmission.
    RetransmitQueue q(8, S(0));
    SendSegments(q, 0, 1, T(5));
    ASSERT_EQ(q.OnTransmit(S(0), S(1), T(30), true), TransmitResult::kOk);
    EXPECT_EQ(Ack(q, S(1), {}, T(80), 40ms, /*echoed=*/T(5)).rack_delivery, std::nullopt);
  }
  {  // TSecr echoes the retransmission itself.
    RetransmitQueue q(8, S(0));
    SendSegments(q, 0, 1, T(5));
    ASSERT_EQ(q.OnTransmit(S(0), S(1), T(30), true), TransmitResult::kOk);
    EXPECT_THAT(Ack(q, S(1), {}, T(80), 40ms, T(30)).rack_delivery,
                Optional(RackDelivery{T(30), S(1), 50ms}));
  }
  {  // The most recently sent delivered segment wins; equal times are ordered by sequence.
    RetransmitQueue q(8, S(0));
    for (int n = 0; n < 4; ++n) SendSegments(q, n, 1, T(n));
    EXPECT_THAT(Ack(q, S(1), {Segs(3, 3)}, T(50)).rack_delivery,
                Optional(RackDelivery{T(3), S(4), 47ms}));
    RetransmitQueue b(8, S(0));
    SendSegments(b, 0, 2, T(0));
    EXPECT_THAT(Ack(b, S(2), {}, T(50)).rack_delivery, Optional(RackDelivery{T(0), S(2), 50ms}));
  }
}

TEST(RetransmitQueueTest, LostMarksClearOnSackAndRetransmission) {
  RetransmitQueue q(8, S(0));
  SendSegments(q, 0, 4, T(0));
  EXPECT_EQ(q.MarkLostAt(1), kMss);
  EXPECT_EQ(q.MarkLostAt(1), 0u);
  EXPECT_EQ(q.MarkLostAt(2), kMss);
  EXPECT_EQ(q.lost_bytes(), 2 * kMss);
  EXPECT_EQ(Scoreboard(q), "[0,1). [1,2)L [2,3)L [3,4).");
  ASSERT_EQ(q.OnTransmit(S(1), S(2), T(10), true), TransmitResult::kOk);
  Ack(q, S(0), {Segs(2, 2)}, T(40));
  EXPECT_EQ(Scoreboard(q), "[0,1). [1,2)R [2,3)S [3,4).");
  EXPECT_EQ(q.lost_bytes(), 0u);

  // A SACKed head marked lost (after an RTO, RFC 2018 §8) loses its SACK mark.
  RetransmitQueue h(8, S(0));
  SendSegments(h, 0, 2, T(0));
  Ack(h, S(0), {Segs(0, 0)}, T(40));
  EXPECT_EQ(h.sacked_bytes(), kMss);
  EXPECT_EQ(h.MarkLostAt(0), kMss);
  EXPECT_EQ(h.sacked_bytes(), 0u);
  EXPECT_EQ(Scoreboard(h), "[0,1)L [1,2).");
  EXPECT_TRUE(h.CheckInvariants());
}

}  // namespace
}  // namespace braid::tcp
