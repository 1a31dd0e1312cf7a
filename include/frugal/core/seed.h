#pragma once
/// Seeds derived from the run's seed: every random stream of frugal (epoch
/// orders, sampler draws, L0 gate noise) is a pure function of the run's
/// seed and of where it is used, so a resumed run draws the same numbers
/// without saved generator state.

#include <cstdint>

namespace frugal::core {

/// Deterministic 64-bit seed for (seed, a, b), e.g. (seed, epoch, stream) or
/// (seed, step, layer): the SplitMix64 finalizer (Steele, Lea & Flood, "Fast
/// splittable pseudorandom number generators", OOPSLA 2014) over a mix of
/// the three, so neighbouring values of a or b get unrelated streams.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

}  // namespace frugal::core
