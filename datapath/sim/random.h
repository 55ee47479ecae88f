// Seeded randomness for the simulator. Every stream is a std::mt19937_64 whose seed is derived
// from the simulator's seed and a stream number (the link id), so adding a link leaves every other
// link's draws unchanged. The draws are built from the generator's raw 64-bit output with integer
// and basic floating-point arithmetic only (no std:: distributions, whose algorithms differ
// between standard libraries, and no libm), so a seed gives the same run on every platform.
#pragma once

#include <cstdint>
#include <random>

#include "datapath/util/stream_check.h"

namespace braid::sim {

using Rng = std::mt19937_64;

// Mixes (seed, stream) into an independent-looking seed (util/stream_check.h).
using util::DeriveSeed;

// Uniform in [0, 1), 53 bits. One draw.
double UniformUnit(Rng& rng);

// True with probability p (p <= 0: never, p >= 1: always). Always exactly one draw, so the
// number of draws per packet does not depend on the outcome.
bool Chance(Rng& rng, double p);

// Uniform integer in [-bound, bound]. One draw.
int64_t UniformSymmetric(Rng& rng, int64_t bound);

// Approximately standard normal: the Irwin-Hall sum of 12 uniforms minus 6 (mean 0, variance 1,
// never beyond +-6). Twelve draws.
double ApproxStandardNormal(Rng& rng);

}  // namespace braid::sim
