// Opening a connection: the handshake (option negotiation, MSS, window scale), SYN-SENT,
// SYN-RECEIVED and simultaneous open (RFC 9293 §3.5, §3.10.7.3, figure 8; RFC 7323 §2; RFC 2018
// §2; RFC 6298 §5.7).
#include <gtest/gtest.h>

#include "tests/unit/datapath/tcp/tcp_fixture.h"

namespace braid::tcp::testing {
namespace {

// ---- Handshake
// ------------------------------------------------------------------------------------

using Handshake = TcpTest;

TEST_F(Handshake, ActiveOpenNegotiatesEverything) {
  Establish();
  const TcpInfo info = conn_->Info();
  EXPECT_EQ(info.iss, TcpSeq(kIss));
  EXPECT_EQ(info.irs, TcpSeq(kIrs));
  EXPECT_EQ(info.snd_una, TcpSeq(kIss + 1));
  EXPECT_EQ(info.rcv_nxt, TcpSeq(kIrs + 1));
  EXPECT_TRUE(info.sack_enabled);
  EXPECT_TRUE(info.timestamps_enabled);
  EXPECT_EQ(info.snd_wscale, kPeerWscale);
  EXPECT_EQ(info.rcv_wscale, kOurWscale);
  // RFC 9293 §3.7.1: MSS less the 12 bytes of timestamps on every segment.
  EXPECT_EQ(info.snd_mss, kPayloadMss);
  // RFC 7323 §2.2: the SYN-ACK's window is not scaled.
  EXPECT_EQ(info.snd_wnd, 65535u);
  // RFC 6298: the handshake gave the first RTT sample (10 ms).
  EXPECT_EQ(info.srtt, 10ms);
  EXPECT_EQ(info.rto, 200ms);
  EXPECT_EQ(info.congestion_control, "newreno");
  EXPECT_EQ(info.cwnd, 10u * kPayloadMss);  // RFC 6928
}

TEST_F(Handshake, PassiveOpenAnswersOnlyWhatThePeerOffered) {
  peer_ws_ = false;
  peer_sack_ = false;
  Accept();  // SynAckOut(): MSS and timestamps only
  const TcpInfo info = conn_->Info();
  EXPECT_FALSE(info.sack_enabled);
  EXPECT_EQ(info.rcv_wscale, 0);
  EXPECT_EQ(info.snd_wscale, 0);
}

TEST_F(Handshake, NoOptionsFromPeerMeansDefaultMssNoScaleNoTimestamps) {
  peer_mss_.reset();
  peer_ws_ = false;
  peer_sack_ = false;
  peer_ts_ = false;
  Connect();
  Advance(10ms);
  Send(PeerSynAck());
  // Unscaled: the 1 MiB buffer is announced as 65535.
  ExpectSegments({O(kAck, kIss + 1, kIrs + 1).Win(65535)});
  const TcpInfo info = conn_->Info();
  // RFC 9293 §3.7.1: 536 for IPv4 without the option.
  EXPECT_EQ(info.snd_mss, 536u);
  EXPECT_FALSE(info.timestamps_enabled);
  EXPECT_FALSE(info.sack_enabled);
  EXPECT_EQ(info.rcv_wscale, 0);
}

TEST_F(Handshake, Ipv6AnnouncesTwentyBytesLessAndDefaultsTo1220) {
  flow_.local = wire::Ipv6Address{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  flow_.remote = wire::Ipv6Address{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}};
  TcpError err = TcpError::kInvalidState;
  conn_ =
      TcpConnection::Connect(config_, flow_, TcpSeq(kIss), kTsOffset, nullptr, now_, sink_, &err);
  ASSERT_EQ(err, TcpError::kOk);
  std::vector<Captured> segs = TakeSegments();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].header.options.mss, std::optional<uint16_t>(1440));
  peer_mss_.reset();
  Advance(10ms);
  Send(PeerSynAck());
  TakeSegments();
  EXPECT_EQ(conn_->Info().snd_mss, 1220u - 12u);
}

TEST_F(Handshake, SmallerPeerMssWins) {
  peer_mss_ = 1000;
  Establish();
  EXPECT_EQ(conn_->Info().snd_mss, 1000u - 12u);
}

TEST_F(Handshake, WindowScaleFollowsTheReceiveBuffer) {
  // RFC 7323 §2.3: the smallest shift covering the buffer, at most 14.
  const std::pair<uint32_t, uint8_t> cases[] = {
      {65535, 0}, {65536, 1}, {6u << 20, 7}, {1u << 29, 14}};
  for (const auto& [buffer, shift] : cases) {
    config_.receive_buffer = buffer;
    config_.receive_buffer_autotune = true;
    TcpError err;
    auto c =
        TcpConnection::Connect(config_, flow_, TcpSeq(kIss), kTsOffset, nullptr, now_, sink_, &err);
    ASSERT_NE(c, nullptr);
    std::vector<Captured> segs = TakeSegments();
    ASSERT_EQ(segs.size(), 1u);
    EXPECT_EQ(segs[0].header.options.window_scale, std::optional<uint8_t>(shift)) << buffer;
    // Auto-tuning starts from the initial window (64 KiB), never above the buffer.
    EXPECT_EQ(segs[0].header.window, std::min<uint32_t>(buffer, 65535)) << buffer;
  }
}

TEST_F(Handshake, UnknownCongestionControlIsRefused) {
  config_.congestion_control = "bbr";
  TcpError err = TcpError::kOk;
  auto c =
      TcpConnection::Connect(config_, flow_, TcpSeq(kIss), kTsOffset, nullptr, now_, sink_, &err);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(err, TcpError::kUnknownCongestionControl);
  EXPECT_TRUE(TakeSegments().empty());
  c = TcpConnection::AcceptSyn(config_, PeerSyn(), nullptr, now_, sink_, &err);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(err, TcpError::kUnknownCongestionControl);
  EXPECT_EQ(TcpErrorName(err), "unknown_congestion_control");
}

TEST_F(Handshake, SynCookieAckEstablishesAndDeliversItsData) {
  InboundSegment ack;
  ack.header.src_port = flow_.remote_port;
  ack.header.dst_port = flow_.local_port;
  ack.header.seq = TcpSeq(kIrs + 1);
  ack.header.ack = TcpSeq(kIss + 1);
  ack.header.flags = kPshAck;
  ack.header.window = kPeerWindowField;
  ack.header.options.timestamps = TcpTimestamps{kPeerTsVal, TsVal(now_)};
  std::vector<uint8_t> data(100, 7);
  ack.payload = data;
  ack.header.payload_len = data.size();
  TcpError err;
  conn_ = TcpConnection::AcceptCookie(config_, PeerSyn(), ack, nullptr, now_, sink_, &err);
  ASSERT_EQ(err, TcpError::kOk);
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_TRUE(ev.established);
  EXPECT_TRUE(ev.readable);
  EXPECT_EQ(conn_->Info().snd_wnd, uint32_t{kPeerWindowField} << kPeerWscale);
  // A short segment: the ACK is delayed (40 ms).
  ExpectNothing(now_ + 39ms);
  Advance(1ms);
  ExpectSegments({O(kAck, kIss + 1, kIrs + 101).Win((kRcvBuf - 100) >> kOurWscale)});
}

// ---- SYN-SENT ---------------------------------------------------------------------------------

using SynSent = TcpTest;

TEST_F(SynSent, SynIsRetransmittedWithBackoffThenGivesUp) {
  config_.syn_retries = 3;
  Connect();
  const Instant t0 = now_;
  // RFC 6298 §2.1/§5.5: 1 s, then doubling.
  for (int64_t at : {1000, 3000, 7000}) {
    ExpectNothing(t0 + std::chrono::milliseconds(at) - 1ns);
    AdvanceTo(t0 + std::chrono::milliseconds(at));
    ExpectSegments({SynOut()});
    EXPECT_EQ(conn_->state(), TcpState::kSynSent);
  }
  ExpectNothing(t0 + 15s - 1ns);
  AdvanceTo(t0 + 15s);
  // Not synchronized: no RST, just the timeout.
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_TRUE(ev.closed);
  EXPECT_EQ(ev.reset, TcpEvent::ResetReason::kTimeout);
  EXPECT_EQ(conn_->PollAt(), std::nullopt);
}

TEST_F(SynSent, RetransmittedSynGivesNoRttSampleAndTheFallbackRto) {
  Connect();
  AdvanceTo(now_ + 1s);
  ExpectSegments({SynOut()});
  Advance(10ms);
  // The SYN-ACK echoes the first SYN's TSval... but with timestamps RTT is unambiguous: echo the
  // retransmission's.
  peer_ts_ = false;
  config_.timestamps = false;
  Send(PeerSynAck());
  TakeSegments();
  // Karn: no sample from an ACK of a retransmitted SYN; RFC 6298 §5.7: RTO of 3 s.
  EXPECT_EQ(conn_->Info().srtt, Duration::zero());
  EXPECT_EQ(conn_->Info().rto, 3s);
}

TEST_F(SynSent, RstWithAcceptableAckMeansRefused) {
  Connect();
  Send(I(kRstAck, 0, kIss + 1).NoTs());
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_EQ(ev.reset, TcpEvent::ResetReason::kRefused);
  EXPECT_TRUE(ev.closed);
}

TEST_F(SynSent, RstWithoutAckIsIgnored) {
  Connect();
  Send(I(kRst, kIrs).NoTs());
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kSynSent);
}

TEST_F(SynSent, RstWithUnacceptableAckIsIgnored) {
  Connect();
  Send(I(kRstAck, kIrs, kIss + 7).NoTs());
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kSynSent);
}

TEST_F(SynSent, UnacceptableAckIsAnsweredWithReset) {
  Connect();
  // RFC 9293 §3.10.7.3: SEG.ACK =< ISS or > SND.NXT: <SEQ=SEG.ACK><CTL=RST>.
  Send(I(kAck, kIrs, kIss + 5).NoTs());
  ExpectSegments({O(kRst, kIss + 5).Win(0).NoTs()});
  Send(I(kSynAck, kIrs, kIss).NoTs());
  ExpectSegments({O(kRst, kIss).Win(0).NoTs()});
  EXPECT_EQ(conn_->state(), TcpState::kSynSent);
}

TEST_F(SynSent, SegmentWithoutSynOrRstIsDropped) {
  Connect();
  Send(I(kAck, kIrs, kIss + 1).NoTs());
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kSynSent);
}

TEST_F(SynSent, DataQueuedBeforeEstablishmentGoesWithTheHandshakeAck) {
  Connect();
  const SendResult r = AppSend(100);
  EXPECT_EQ(r.accepted, 100u);
  EXPECT_EQ(r.first_seq, TcpSeq(kIss + 1));
  ExpectNoSegments();
  Advance(10ms);
  Send(PeerSynAck());
  // The data carries the ACK; no separate pure ACK.
  ExpectSegments({O(kPshAck, kIss + 1, kIrs + 1).Len(100)});
}

TEST_F(SynSent, ShutdownDeletesTheConnection) {
  Connect();
  EXPECT_EQ(conn_->Shutdown(now_, sink_), TcpError::kOk);
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_TRUE(conn_->TakeEvents().closed);
}

TEST_F(SynSent, AbortSendsNothing) {
  Connect();
  conn_->Abort(now_, sink_);
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kAbortedLocally);
}

// ---- SYN-RECEIVED -----------------------------------------------------------------------------

using SynReceived = TcpTest;

TEST_F(SynReceived, ThirdAckEstablishes) {
  EstablishPassive();
  EXPECT_EQ(conn_->Info().snd_wnd, uint32_t{kPeerWindowField} << kPeerWscale);
  EXPECT_EQ(conn_->Info().srtt, 10ms);
}

TEST_F(SynReceived, SynAckIsRetransmittedThenGivesUpSilently) {
  config_.synack_retries = 2;
  Accept();
  const Instant t0 = now_;
  AdvanceTo(t0 + 1s);
  ExpectSegments({SynAckOut()});
  ExpectNothing(t0 + 3s - 1ns);
  AdvanceTo(t0 + 3s);
  ExpectSegments({SynAckOut()});
  AdvanceTo(t0 + 7s);
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kTimeout);
}

TEST_F(SynReceived, RetransmittedSynGetsTheSynAckAgain) {
  Accept();
  Advance(300ms);
  Send(I(kSyn, kIrs).Ts(kPeerTsVal, 0));
  ExpectSegments({SynAckOut()});
  EXPECT_EQ(conn_->state(), TcpState::kSynReceived);
}

TEST_F(SynReceived, AckOfSomethingElseIsAnsweredWithReset) {
  Accept();
  Send(I(kAck, kIrs + 1, kIss + 9));
  ExpectSegments({O(kRst, kIss + 9).Win(0).NoTs()});
  EXPECT_EQ(conn_->state(), TcpState::kSynReceived);
}

TEST_F(SynReceived, RstAtRcvNxtCloses) {
  Accept();
  Send(I(kRst, kIrs + 1));
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kPeerReset);
}

TEST_F(SynReceived, DataOnTheThirdAckIsDelivered) {
  Accept();
  Advance(10ms);
  Send(I(kPshAck, kIrs + 1, kIss + 1).Data(100));
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
  ExpectNoSegments();
  std::vector<uint8_t> buf(1000);
  const ReceiveResult r = AppReceive(buf);
  EXPECT_EQ(r.bytes, 100u);
  EXPECT_EQ(r.first_seq, TcpSeq(kIrs + 1));
}

TEST_F(SynReceived, ShutdownSendsFinOnceEstablished) {
  Accept();
  EXPECT_EQ(conn_->Shutdown(now_, sink_), TcpError::kOk);
  ExpectNoSegments();
  Advance(10ms);
  Send(I(kAck, kIrs + 1, kIss + 1));
  ExpectSegments({O(kFinAck, kIss + 1, kIrs + 1)});
  EXPECT_EQ(conn_->state(), TcpState::kFinWait1);
}

TEST_F(SynReceived, AbortSendsReset) {
  Accept();
  conn_->Abort(now_, sink_);
  ExpectSegments({O(kRstAck, kIss + 1, kIrs + 1).Win(0)});
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
}

// ---- Simultaneous open (RFC 9293 figure 8)
// --------------------------------------------------------

using SimultaneousOpen = TcpTest;

TEST_F(SimultaneousOpen, SynInSynSentGoesToSynReceivedThenEstablished) {
  Connect();
  Advance(5ms);
  In syn = I(kSyn, kIrs).Win(65535);
  syn.options.mss = kMss;
  syn.options.window_scale = kPeerWscale;
  syn.options.sack_permitted = true;
  syn.ts = TcpTimestamps{kPeerTsVal, 0};
  Send(syn);
  // Our SYN again, now with the ACK of theirs and the same options.
  Out synack = O(kSynAck, kIss, kIrs + 1).Win(65535);
  wire::TcpOptionsRepr opts;
  opts.mss = kMss;
  opts.window_scale = kOurWscale;
  opts.sack_permitted = true;
  opts.timestamps = TcpTimestamps{TsVal(now_), kPeerTsVal};
  ExpectSegments({synack.Opts(opts)});
  EXPECT_EQ(conn_->state(), TcpState::kSynReceived);
  // Their SYN-ACK completes it: nothing more to send.
  Advance(5ms);
  Send(I(kSynAck, kIrs, kIss + 1).Win(65535));
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
  EXPECT_TRUE(conn_->TakeEvents().established);
  const TcpInfo info = conn_->Info();
  EXPECT_TRUE(info.sack_enabled);
  EXPECT_EQ(info.snd_wscale, kPeerWscale);
  // Data flows both ways.
  AppSend(10);
  ExpectSegments({O(kPshAck, kIss + 1, kIrs + 1).Len(10)});
}

TEST_F(SimultaneousOpen, PlainAckAlsoCompletesIt) {
  Connect();
  In syn = I(kSyn, kIrs).Win(65535);
  syn.options.mss = kMss;
  syn.options.window_scale = kPeerWscale;
  syn.options.sack_permitted = true;
  syn.ts = TcpTimestamps{kPeerTsVal, 0};
  Send(syn);
  TakeSegments();
  Send(I(kAck, kIrs + 1, kIss + 1));
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
}

TEST_F(SimultaneousOpen, RstInSynReceivedMeansRefused) {
  Connect();
  In syn = I(kSyn, kIrs).Win(65535);
  syn.options.mss = kMss;
  syn.options.window_scale = kPeerWscale;
  syn.options.sack_permitted = true;
  syn.ts = TcpTimestamps{kPeerTsVal, 0};
  Send(syn);
  TakeSegments();
  Send(I(kRst, kIrs + 1));
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kRefused);
}

}  // namespace
}  // namespace braid::tcp::testing
