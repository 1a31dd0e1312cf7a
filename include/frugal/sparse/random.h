#pragma once
/// The seeded random source of sparse training. Mask decisions must not touch
/// LibTorch's global generator: a run has to be reproducible from its seed,
/// a resumed run must continue with the same draws (so the generator's whole
/// state goes into checkpoints), and every process of a distributed run must
/// draw the same masks from the same seed.

#include <torch/types.h>

#include <cstdint>
#include <random>

namespace frugal::sparse {

/// A 64-bit Mersenne Twister whose state can be saved as a tensor.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0);

  /// 64 uniformly random bits.
  uint64_t next() { return engine_(); }
  /// Uniform integer in [0, n), without modulo bias. Requires n > 0.
  uint64_t below(uint64_t n);

  /// The generator's full state (uint8 tensor) and its inverse.
  torch::Tensor state() const;
  void set_state(const torch::Tensor& state);

 private:
  std::mt19937_64 engine_;
};

/// Chooses `k` distinct entries of `candidates` (1-D int64, contiguous)
/// uniformly at random, every k-subset equally likely, by a partial
/// Fisher-Yates shuffle: O(k) draws. Reorders `candidates` in place and
/// returns its first k entries (a view). Throws when k > candidates.numel().
torch::Tensor choose(torch::Tensor& candidates, int64_t k, Rng& rng);

/// A bool tensor of `shape` with exactly `k` true entries, every k-subset of
/// positions equally likely. Uses no memory beyond the result (distinct
/// positions are drawn by rejection, from the smaller of the set and its
/// complement, so at most ~2 draws per position on average).
torch::Tensor random_mask(at::IntArrayRef shape, int64_t k, Rng& rng);

}  // namespace frugal::sparse
