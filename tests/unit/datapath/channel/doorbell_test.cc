#include "datapath/channel/doorbell.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace braid::channel {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

Doorbell::Pair MakePair() {
  auto pair = Doorbell::CreatePair();
  EXPECT_TRUE(pair.has_value());
  return std::move(*pair);
}

TEST(Doorbell, RingWakesTheOtherEnd) {
  Doorbell::Pair pair = MakePair();
  EXPECT_EQ(pair.app.Wait(milliseconds(0)), WaitResult::kTimeout);
  EXPECT_TRUE(pair.service.Ring());
  EXPECT_EQ(pair.app.Wait(milliseconds(1000)), WaitResult::kRung);
  EXPECT_EQ(pair.service.Wait(milliseconds(0)), WaitResult::kTimeout);  // not its own ring
  EXPECT_TRUE(pair.app.Drain());
  EXPECT_EQ(pair.app.Wait(milliseconds(0)), WaitResult::kTimeout);
  // And the other way.
  EXPECT_TRUE(pair.app.Ring());
  EXPECT_EQ(pair.service.Wait(milliseconds(1000)), WaitResult::kRung);
}

TEST(Doorbell, RingingWithoutEndNeverBlocksAndDrainIsBounded) {
  Doorbell::Pair pair = MakePair();
  // The other end makes its own descriptor blocking: it has its own file status flags, so this
  // changes nothing for the ringing side.
  const int flags = ::fcntl(pair.app.fd(), F_GETFL);
  ASSERT_EQ(::fcntl(pair.app.fd(), F_SETFL, flags & ~O_NONBLOCK), 0);
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < 200000; ++i) ASSERT_TRUE(pair.service.Ring());  // fills the buffer
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  // Drain takes a bounded amount per call; a few calls empty the (small) buffer.
  int drains = 0;
  while (pair.app.Wait(milliseconds(0)) == WaitResult::kRung) {
    ASSERT_TRUE(pair.app.Drain());
    ASSERT_LT(++drains, 100000);
  }
  EXPECT_GE(drains, 1);
  EXPECT_EQ(pair.app.Wait(milliseconds(0)), WaitResult::kTimeout);
}

TEST(Doorbell, AGoneEndIsReported) {
  Doorbell::Pair pair = MakePair();
  ASSERT_TRUE(pair.app.Ring());
  { Doorbell gone = std::move(pair.app); }
  EXPECT_FALSE(pair.service.Ring());
  EXPECT_EQ(pair.service.Wait(milliseconds(1000)), WaitResult::kPeerGone);
  // The ring sent before the close is still read, then the end of file.
  EXPECT_FALSE(pair.service.Drain() && pair.service.Drain());
  std::atomic<uint32_t> flag{0};
  EXPECT_EQ(SleepUntilWork(
                flag, pair.service, [] { return false; }, milliseconds(1000)),
            WaitResult::kPeerGone);
}

TEST(Doorbell, FromFdAdoptsAnEnd) {
  Doorbell::Pair pair = MakePair();
  Doorbell adopted = Doorbell::FromFd(pair.app.Release());
  EXPECT_FALSE(pair.app.valid());
  ASSERT_TRUE(adopted.valid());
  EXPECT_TRUE(pair.service.Ring());
  EXPECT_EQ(adopted.Wait(milliseconds(1000)), WaitResult::kRung);
  EXPECT_STREQ(WaitResultName(WaitResult::kPeerGone), "peer gone");
}

TEST(SleepProtocol, WakePeerRingsOnlyASleeperAndClearsItsFlag) {
  Doorbell::Pair pair = MakePair();
  std::atomic<uint32_t> app_sleeping{0};
  EXPECT_FALSE(WakePeer(app_sleeping, pair.service));
  EXPECT_EQ(pair.app.Wait(milliseconds(0)), WaitResult::kTimeout);

  app_sleeping.store(1);
  EXPECT_TRUE(WakePeer(app_sleeping, pair.service));
  EXPECT_EQ(app_sleeping.load(), 0u);  // one ring per sleep
  EXPECT_FALSE(WakePeer(app_sleeping, pair.service));
  EXPECT_EQ(pair.app.Wait(milliseconds(1000)), WaitResult::kRung);
  EXPECT_TRUE(pair.app.Drain());

  // Whatever an untrusted peer wrote: non-zero reads as asleep.
  app_sleeping.store(0xdeadbeef);
  EXPECT_TRUE(WakePeer(app_sleeping, pair.service));
  EXPECT_EQ(pair.app.Wait(milliseconds(1000)), WaitResult::kRung);
}

TEST(SleepProtocol, SleepReturnsAtOnceWhenTheRecheckFindsWork) {
  Doorbell::Pair pair = MakePair();
  std::atomic<uint32_t> flag{0};
  int checks = 0;
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(SleepUntilWork(
                flag, pair.app, [&] { return ++checks > 0; }, milliseconds(5000)),
            WaitResult::kWork);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(flag.load(), 0u);
  EXPECT_EQ(checks, 1);

  EXPECT_EQ(SleepUntilWork(
                flag, pair.app, [] { return false; }, milliseconds(20)),
            WaitResult::kTimeout);
  EXPECT_EQ(flag.load(), 0u);

  checks = 0;
  EXPECT_EQ(SpinThenSleep(flag, pair.app, [&] { return ++checks == 10; }, {100, milliseconds(20)}),
            WaitResult::kWork);
  EXPECT_EQ(checks, 10);
}

// Two threads hand a token back and forth, each sleeping on its doorbell until it gets it: every
// round makes both sides go through the whole sleep protocol against a waker that publishes at
// the same moment. A lost wake-up leaves a sleeper with the token and nobody ringing: it shows
// as a timeout with work pending, and the test fails instead of hanging.
TEST(SleepProtocol, NoLostWakeUpsInAPingPong) {
  Doorbell::Pair pair = MakePair();
  std::atomic<uint32_t> app_sleeping{0};
  std::atomic<uint32_t> service_sleeping{0};
  std::atomic<uint64_t> ping{0};  // written by the service side
  std::atomic<uint64_t> pong{0};  // written by the app side
  constexpr uint64_t kRounds = 20000;
  std::atomic<int> lost{0};
  std::atomic<int> slept{0};

  auto side = [&](std::atomic<uint64_t>& mine, std::atomic<uint64_t>& theirs,
                  std::atomic<uint32_t>& my_flag, std::atomic<uint32_t>& their_flag,
                  const Doorbell& bell, bool first) {
    for (uint64_t round = 1; round <= kRounds; ++round) {
      // The service side moves first in each round; the app side answers.
      const uint64_t want = first ? round - 1 : round;
      auto has_work = [&] { return theirs.load(std::memory_order_acquire) >= want; };
      while (!has_work()) {
        const WaitResult r = SpinThenSleep(my_flag, bell, has_work, {4, milliseconds(2000)});
        if (r == WaitResult::kRung) slept.fetch_add(1);
        if (r == WaitResult::kTimeout && has_work()) lost.fetch_add(1);
        if (r == WaitResult::kTimeout || r == WaitResult::kPeerGone || r == WaitResult::kError) {
          if (!has_work()) return;  // the other side died or a wake-up was lost
        }
      }
      mine.store(round, std::memory_order_release);
      WakePeer(their_flag, bell);
    }
  };
  std::thread app([&] { side(pong, ping, app_sleeping, service_sleeping, pair.app, false); });
  side(ping, pong, service_sleeping, app_sleeping, pair.service, true);
  app.join();
  EXPECT_EQ(lost.load(), 0);
  EXPECT_EQ(ping.load(), kRounds);
  EXPECT_EQ(pong.load(), kRounds);
  EXPECT_GT(slept.load(), 100);  // the protocol was exercised, not just the spin
}

}  // namespace
}  // namespace braid::channel
