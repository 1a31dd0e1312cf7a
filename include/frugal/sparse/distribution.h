#pragma once
/// How a target density is spread over the masked layers, and the random
/// initial masks.
///
/// Uniform, Erdős–Rényi (ER) and Erdős–Rényi-Kernel (ERK) as in
/// Mocanu et al., "Scalable training of artificial neural networks with
/// adaptive sparse connectivity inspired by network science", Nature
/// Communications 2018 (ER), and Evci et al., "Rigging the Lottery: Making All
/// Tickets Winners", ICML 2020 (ERK, and the loop that makes layers dense when
/// their share would exceed 1).
///
/// Unlike the reference implementations, the result is exact: the per-layer
/// counts are integers summing to round(density * total), not densities that
/// are right only on average (see SPEC.md §2, "Defects").

#include "frugal/sparse/mask.h"
#include "frugal/sparse/random.h"

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::sparse {

enum class Distribution {
  /// Every layer at the target density.
  kUniform,
  /// Density proportional to (n_in + n_out) / (n_in * n_out); kernel ignored.
  kER,
  /// Density proportional to sum(shape) / prod(shape), i.e.
  /// (n_in + n_out + k_h + k_w) / (n_in * n_out * k_h * k_w) for Conv2d.
  kERK,
};

/// "uniform", "er" or "erk" (lower case). Throws on any other name.
Distribution parse_distribution(const std::string& name);
std::string to_string(Distribution distribution);

/// The unscaled density weight of a layer whose weight has `shape`
/// ([n_out, n_in, kernel...]); the distribution scales all of them by one
/// factor epsilon.
double raw_density(const std::vector<int64_t>& shape, Distribution distribution);

/// Number of active weights of each layer of `shapes` for overall `density`
/// in (0, 1]. The counts sum to exactly round(density * total), where total is
/// the number of weights in all of `shapes`. For ER / ERK, a layer whose share
/// would exceed its size is made dense (count = its size) and epsilon is
/// solved again for the others, until no layer exceeds 1. Real-valued shares
/// are rounded by largest remainder (ties to the earlier layer), so no count
/// is more than one weight away from its exact share. Throws when density is
/// outside (0, 1] or when a layer would get no active weight at all (it would
/// cut the network in two).
std::vector<int64_t> layer_active_counts(const std::vector<std::vector<int64_t>>& shapes,
                                         double density, Distribution distribution);

/// The same for the layers of `masks`, in the order of masks.params().
std::vector<int64_t> layer_active_counts(const MaskSet& masks, double density,
                                         Distribution distribution);

/// Replaces every mask of `masks` by one with exactly counts[i] active
/// positions, chosen uniformly at random without replacement, layer by layer
/// in order, from `rng` (same rng state => same masks). Weights are not
/// touched; call masks.apply_to_weights() after.
void init_random_masks(MaskSet& masks, const std::vector<int64_t>& counts, Rng& rng);

}  // namespace frugal::sparse
