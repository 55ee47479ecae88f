// Wire-level costs: the Internet checksum against a straightforward RFC 1071 word-at-a-time
// reference (the baseline), over the payload sizes the datapath sees.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "datapath/wire/checksum.h"

namespace {

std::vector<uint8_t> RandomBytes(size_t n) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(42);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// RFC 1071 §4.1's reference loop: one 16-bit word per step, folded at the end.
uint16_t ReferenceChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  while (n > 1) {
    sum += static_cast<uint32_t>(p[0] << 8 | p[1]);
    p += 2;
    n -= 2;
  }
  if (n > 0) sum += static_cast<uint32_t>(p[0] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void BM_Checksum(benchmark::State& state) {
  auto data = RandomBytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(braid::wire::ComputeChecksum(data));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_ChecksumReference(benchmark::State& state) {
  auto data = RandomBytes(static_cast<size_t>(state.range(0)));
  if (ReferenceChecksum(data.data(), data.size()) != braid::wire::ComputeChecksum(data)) {
    state.SkipWithError("checksum implementations disagree");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(ReferenceChecksum(data.data(), data.size()));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

BENCHMARK(BM_Checksum)->Arg(64)->Arg(1460)->Arg(9000);
BENCHMARK(BM_ChecksumReference)->Arg(64)->Arg(1460)->Arg(9000);

}  // namespace

BENCHMARK_MAIN();
