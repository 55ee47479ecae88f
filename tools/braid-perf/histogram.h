// Latency histogram with logarithmic buckets, HdrHistogram-style: every power of two is split
// into 64 linear sub-buckets, so a quantile is known to within 1/64 (1.6 %) of its value at any
// magnitude, in a fixed array (no allocation when recording) that merges by addition.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace braid::perf {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;                   // 64 sub-buckets per power of two
  static constexpr uint64_t kLinear = 2u << kSubBits;  // values below 128 ns: exact
  // The largest value (bit width 64) has shift 64 - (kSubBits + 1) and a top part below kLinear.
  static constexpr size_t kBuckets = static_cast<size_t>(64 - kSubBits + 1) << kSubBits;

  void Record(std::chrono::nanoseconds latency) {
    const uint64_t ns = latency.count() > 0 ? static_cast<uint64_t>(latency.count()) : 0;
    ++buckets_[Index(ns)];
    ++count_;
    sum_ns_ += ns;
    max_ns_ = std::max(max_ns_, ns);
  }

  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    sum_ns_ += other.sum_ns_;
    max_ns_ = std::max(max_ns_, other.max_ns_);
  }

  uint64_t count() const { return count_; }
  uint64_t max_ns() const { return max_ns_; }
  double mean_ns() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_ns_) / count_; }

  // The smallest recorded latency such that a fraction q (0..1] of the samples are at or below
  // it, as the highest value of its bucket (HdrHistogram's "highest equivalent value"), never
  // above the largest sample. 0 when empty.
  uint64_t QuantileNs(double q) const {
    if (count_ == 0) return 0;
    const double want = std::clamp(q, 0.0, 1.0) * static_cast<double>(count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (buckets_[i] != 0 && static_cast<double>(seen) >= want) {
        return std::min(HighestInBucket(i), max_ns_);
      }
    }
    return max_ns_;
  }

  // Bucket of a value: exact below kLinear; above, the top kSubBits + 1 bits of the value.
  static size_t Index(uint64_t v) {
    if (v < kLinear) return static_cast<size_t>(v);
    const int shift = std::bit_width(v) - (kSubBits + 1);
    return (static_cast<size_t>(shift) << kSubBits) + static_cast<size_t>(v >> shift);
  }
  static uint64_t LowestInBucket(size_t i) {
    if (i < kLinear) return i;
    const size_t shift = (i >> kSubBits) - 1;
    return static_cast<uint64_t>(i - (shift << kSubBits)) << shift;
  }
  static uint64_t HighestInBucket(size_t i) {
    if (i + 1 >= kBuckets) return UINT64_MAX;
    return LowestInBucket(i + 1) - 1;
  }

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ns_ = 0;
  uint64_t max_ns_ = 0;
};

}  // namespace braid::perf
