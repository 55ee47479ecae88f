// Seed derivation and the few draws the links need; see random.h for why they are hand-made.
#include "datapath/sim/random.h"

namespace braid::sim {

double UniformUnit(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

bool Chance(Rng& rng, double p) { return UniformUnit(rng) < p; }

int64_t UniformSymmetric(Rng& rng, int64_t bound) {
  if (bound <= 0) {
    rng();
    return 0;
  }
  // Uniform to within one part in 2^53 of the span; spans are jitter bounds in nanoseconds.
  const auto span = static_cast<double>(bound) * 2 + 1;
  return static_cast<int64_t>(UniformUnit(rng) * span) - bound;
}

double ApproxStandardNormal(Rng& rng) {
  double sum = 0;
  for (int i = 0; i < 12; ++i) {
    sum += UniformUnit(rng);
  }
  return sum - 6.0;
}

}  // namespace braid::sim
