// A scripted ACK clock for congestion-control tests: a sender limited only by cwnd, a path with a
// per-flight RTT and no serialisation delay, and a receiver that ACKs every `segments_per_ack`
// segments. Each flight (what the sender released when the previous flight's ACKs arrived) is a
// burst that arrives one RTT later; its ACKs are fed to the controller in order, each carrying a
// Karn-clean RTT sample passed through a real RttEstimator. No wall clock: time is the scripted
// engine time.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/rtt_estimator.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"

namespace braid::tcp::test {

template <typename Cc>
class AckClock {
 public:
  AckClock(Cc& cc, Instant start, Duration rtt) : cc_(cc), now_(start) {
    rtt_for_flight = [rtt](uint64_t) { return rtt; };
  }

  // RTT seen by every segment of flight f (flights are numbered from 0).
  std::function<Duration(uint64_t)> rtt_for_flight;
  uint32_t segments_per_ack = 1;
  bool in_recovery = false;
  bool cwnd_limited = true;

  // Releases what cwnd allows now (the first flight). Called by RunFlight when nothing is queued.
  void Fill() { SendAllowed(next_flight_); }

  // Delivers every ACK of the oldest outstanding flight (sending new data as cwnd allows after
  // each one) and returns cwnd after the flight's last ACK.
  uint64_t RunFlight() {
    if (queue_.empty()) Fill();
    if (queue_.empty()) return cc_.cwnd();
    const uint64_t flight = queue_.front().flight;
    while (!queue_.empty() && queue_.front().flight == flight) {
      uint64_t bytes = 0;
      Segment last = queue_.front();
      for (uint32_t i = 0;
           i < segments_per_ack && !queue_.empty() && queue_.front().flight == flight; ++i) {
        last = queue_.front();
        bytes += last.len;
        queue_.pop_front();
      }
      const Duration rtt = rtt_for_flight(flight);
      now_ = last.sent_at + rtt;
      snd_una_ = last.end;
      rtt_.OnRttSample(rtt, now_);
      AckEvent ack;
      ack.now = now_;
      ack.bytes_acked = bytes;
      ack.rtt_sample = rtt;
      ack.srtt = rtt_.srtt();
      ack.min_rtt = rtt_.min_rtt();
      ack.bytes_in_flight = InFlight();
      ack.in_recovery = in_recovery;
      ack.cwnd_limited = cwnd_limited;
      ack.snd_una = snd_una_;
      ack.snd_nxt = snd_nxt_;
      cc_.OnAck(ack);
      ++acks_;
      SendAllowed(flight + 1);
    }
    return cc_.cwnd();
  }

  uint64_t InFlight() const { return static_cast<uint32_t>(snd_nxt_ - snd_una_); }
  Instant now() const { return now_; }
  void set_now(Instant t) { now_ = t; }
  uint64_t acks() const { return acks_; }
  const RttEstimator& rtt() const { return rtt_; }
  wire::TcpSeq snd_una() const { return snd_una_; }
  wire::TcpSeq snd_nxt() const { return snd_nxt_; }
  // Forgets what is in flight (e.g. after an idle period in which everything was ACKed).
  void Drain() {
    queue_.clear();
    snd_una_ = snd_nxt_;
  }

 private:
  struct Segment {
    wire::TcpSeq end;
    uint32_t len;
    Instant sent_at;
    uint64_t flight;
  };

  void SendAllowed(uint64_t flight) {
    const uint32_t smss = cc_.smss();
    if (!cwnd_limited && !queue_.empty()) return;
    while (InFlight() + smss <= cc_.cwnd()) {
      snd_nxt_ += smss;
      queue_.push_back({snd_nxt_, smss, now_, flight});
      next_flight_ = flight + 1;
      // An application-limited sender releases one segment at a time.
      if (!cwnd_limited) break;
    }
  }

  Cc& cc_;
  Instant now_;
  RttEstimator rtt_;
  std::deque<Segment> queue_;
  // Near the 2^32 wrap, so round tracking is exercised across it.
  wire::TcpSeq snd_una_{0xfff00000u};
  wire::TcpSeq snd_nxt_{0xfff00000u};
  uint64_t next_flight_ = 0;
  uint64_t acks_ = 0;
};

}  // namespace braid::tcp::test
