#include "datapath/tcp/rtt_estimator.h"

#include <gtest/gtest.h>

#include <chrono>

#include "datapath/tcp/time.h"

namespace braid::tcp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Instant kT0 = InstantFromNanos(1'000'000'000);

TEST(RttEstimatorTest, InitialRtoIsOneSecond) {
  RttEstimator est;
  // RFC 6298 §2.1.
  EXPECT_FALSE(est.has_sample());
  EXPECT_EQ(est.rto(), seconds(1));
  EXPECT_EQ(est.srtt(), Duration::zero());
  EXPECT_EQ(est.rttvar(), Duration::zero());
  EXPECT_EQ(est.min_rtt(), Duration::zero());
  EXPECT_EQ(est.backoff(), 0u);
}

TEST(RttEstimatorTest, FirstSampleGivesThreeR) {
  RttEstimator est;
  const Duration r = milliseconds(500);
  est.OnRttSample(r, kT0);
  // RFC 6298 §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4·RTTVAR) = 3R.
  EXPECT_TRUE(est.has_sample());
  EXPECT_EQ(est.srtt(), r);
  EXPECT_EQ(est.rttvar(), r / 2);
  EXPECT_EQ(est.rto(), 3 * r);
  EXPECT_EQ(est.latest_rtt(), r);
  EXPECT_EQ(est.min_rtt(), r);
}

TEST(RttEstimatorTest, LaterSamplesUpdateRttvarFromTheOldSrtt) {
  RttEstimator est;
  est.OnRttSample(milliseconds(100), kT0);
  est.OnRttSample(milliseconds(180), kT0 + milliseconds(100));
  // RFC 6298 §2.3: RTTVAR = 3/4·50 + 1/4·|100 − 180| = 57.5 ms (with the OLD SRTT of 100 ms;
  // the new one would give 55 ms), SRTT = 7/8·100 + 1/8·180 = 110 ms, RTO = 110 + 4·57.5 = 340 ms.
  EXPECT_EQ(est.rttvar(), std::chrono::microseconds(57'500));
  EXPECT_EQ(est.srtt(), milliseconds(110));
  EXPECT_EQ(est.rto(), milliseconds(340));
  EXPECT_EQ(est.latest_rtt(), milliseconds(180));
  EXPECT_EQ(est.min_rtt(), milliseconds(100));

  est.OnRttSample(milliseconds(30), kT0 + milliseconds(200));
  // RTTVAR = 3/4·57.5 + 1/4·80 = 63.125 ms; SRTT = 7/8·110 + 1/8·30 = 100 ms.
  EXPECT_EQ(est.rttvar(), std::chrono::microseconds(63'125));
  EXPECT_EQ(est.srtt(), milliseconds(100));
  EXPECT_EQ(est.rto(), milliseconds(100) + 4 * std::chrono::microseconds(63'125));
  EXPECT_EQ(est.min_rtt(), milliseconds(30));
}

TEST(RttEstimatorTest, GranularityFloorsTheVarianceTerm) {
  RttEstimatorConfig config;
  config.min_rto = Duration::zero();
  config.granularity = milliseconds(1);
  RttEstimator est(config);
  // Identical samples shrink RTTVAR by 3/4 each time, far below G/4 after 60 of them.
  for (int i = 0; i < 60; ++i) est.OnRttSample(milliseconds(100), kT0 + i * milliseconds(100));
  EXPECT_EQ(est.srtt(), milliseconds(100));
  EXPECT_LT(4 * est.rttvar(), milliseconds(1));
  EXPECT_EQ(est.rto(), milliseconds(101));
}

TEST(RttEstimatorTest, MinimumRtoClamp) {
  RttEstimator linux_like;  // default 200 ms floor
  linux_like.OnRttSample(milliseconds(10), kT0);
  EXPECT_EQ(linux_like.base_rto(), milliseconds(200));  // 3·10 ms = 30 ms, raised to the floor
  EXPECT_EQ(linux_like.rto(), milliseconds(200));

  RttEstimatorConfig rfc;
  rfc.min_rto = seconds(1);  // RFC 6298 §2.4
  RttEstimator strict(rfc);
  strict.OnRttSample(milliseconds(10), kT0);
  EXPECT_EQ(strict.rto(), seconds(1));
  strict.OnRttSample(milliseconds(10), kT0 + milliseconds(10));
  EXPECT_EQ(strict.rto(), seconds(1));
}

TEST(RttEstimatorTest, MaximumRtoClamp) {
  RttEstimator est;
  est.OnRttSample(seconds(100), kT0);  // 3R = 300 s
  EXPECT_EQ(est.rto(), seconds(120));
}

TEST(RttEstimatorTest, BackoffDoublesUpToTheMaximum) {
  RttEstimator est;
  est.OnRttSample(milliseconds(100), kT0);
  ASSERT_EQ(est.rto(), milliseconds(300));
  // RFC 6298 §5.5.
  est.OnRetransmitTimeout();
  EXPECT_EQ(est.backoff(), 1u);
  EXPECT_EQ(est.rto(), milliseconds(600));
  est.OnRetransmitTimeout();
  EXPECT_EQ(est.rto(), milliseconds(1200));
  est.OnRetransmitTimeout();
  EXPECT_EQ(est.rto(), milliseconds(2400));
  EXPECT_EQ(est.base_rto(), milliseconds(300));
  // 300 ms · 2^9 = 153.6 s > 120 s.
  for (int i = 0; i < 6; ++i) est.OnRetransmitTimeout();
  EXPECT_EQ(est.backoff(), 9u);
  EXPECT_EQ(est.rto(), seconds(120));
  for (int i = 0; i < 100; ++i) est.OnRetransmitTimeout();
  EXPECT_EQ(est.rto(), seconds(120));
}

TEST(RttEstimatorTest, BackoffCapFromConfig) {
  RttEstimatorConfig config;
  config.max_rto = seconds(60);  // the smallest cap RFC 6298 §2.5 allows
  RttEstimator est(config);
  // Before any sample: 1 s, 2 s, 4 s, ... 32 s, then 60 s.
  EXPECT_EQ(est.rto(), seconds(1));
  est.OnRetransmitTimeout();
  EXPECT_EQ(est.rto(), seconds(2));
  est.OnRetransmitTimeout();
  EXPECT_EQ(est.rto(), seconds(4));
  for (int i = 0; i < 3; ++i) est.OnRetransmitTimeout();
  EXPECT_EQ(est.rto(), seconds(32));
  est.OnRetransmitTimeout();
  EXPECT_EQ(est.rto(), seconds(60));
}

TEST(RttEstimatorTest, NewSampleResetsBackoff) {
  RttEstimator est;
  est.OnRttSample(milliseconds(100), kT0);
  est.OnRetransmitTimeout();
  est.OnRetransmitTimeout();
  ASSERT_EQ(est.rto(), milliseconds(1200));
  // Karn's algorithm: the backed-off RTO holds until a valid sample, which recomputes it.
  est.OnRttSample(milliseconds(100), kT0 + seconds(2));
  EXPECT_EQ(est.backoff(), 0u);
  // RTTVAR = 3/4·50 = 37.5 ms; RTO = 100 + 150 = 250 ms.
  EXPECT_EQ(est.rto(), milliseconds(250));
}

TEST(RttEstimatorTest, HandshakeFallbackWithoutSample) {
  RttEstimator est;
  est.OnRetransmitTimeout();  // the SYN timed out
  est.ApplyHandshakeFallback();
  // RFC 6298 §5.7: 3 s once data transmission begins, backoff cleared.
  EXPECT_EQ(est.backoff(), 0u);
  EXPECT_EQ(est.rto(), seconds(3));

  RttEstimator sampled;
  sampled.OnRttSample(milliseconds(100), kT0);
  sampled.ApplyHandshakeFallback();
  EXPECT_EQ(sampled.rto(), milliseconds(300));
}

TEST(RttEstimatorTest, NegativeSampleIgnored) {
  RttEstimator est;
  est.OnRttSample(milliseconds(-5), kT0);
  EXPECT_FALSE(est.has_sample());
  EXPECT_EQ(est.rto(), seconds(1));
}

TEST(RttEstimatorTest, MinRttHoldsForItsWindowThenExpires) {
  RttEstimatorConfig config;
  config.min_rtt_window = seconds(300);
  RttEstimator est(config);
  est.OnRttSample(milliseconds(10), kT0);
  for (int s = 10; s <= 290; s += 10) {
    est.OnRttSample(milliseconds(20), kT0 + seconds(s));
    EXPECT_EQ(est.min_rtt(), milliseconds(10)) << "at " << s << " s";
  }
  for (int s = 310; s <= 400; s += 10) {
    est.OnRttSample(milliseconds(20), kT0 + seconds(s));
    EXPECT_EQ(est.min_rtt(), milliseconds(20)) << "at " << s << " s";
  }
  // A lower sample takes effect at once.
  est.OnRttSample(milliseconds(5), kT0 + seconds(401));
  EXPECT_EQ(est.min_rtt(), milliseconds(5));
  EXPECT_EQ(est.latest_rtt(), milliseconds(5));
}

TEST(WindowedMinRttTest, RisesStepwiseAsMinimaAgeOut) {
  WindowedMinRtt filter(seconds(100));
  EXPECT_TRUE(filter.empty());
  EXPECT_EQ(filter.Get(), Duration::zero());
  // A falling-then-rising path: 30 ms early, 40 ms later, 50 ms at the end.
  filter.Update(milliseconds(30), kT0);
  filter.Update(milliseconds(40), kT0 + seconds(40));
  filter.Update(milliseconds(50), kT0 + seconds(80));
  EXPECT_EQ(filter.Get(), milliseconds(30));
  filter.Update(milliseconds(50), kT0 + seconds(101));  // the 30 ms sample is now too old
  EXPECT_EQ(filter.Get(), milliseconds(40));
  filter.Update(milliseconds(50), kT0 + seconds(141));  // and the 40 ms one
  EXPECT_EQ(filter.Get(), milliseconds(50));
  filter.Reset();
  EXPECT_TRUE(filter.empty());
}

}  // namespace
}  // namespace braid::tcp
