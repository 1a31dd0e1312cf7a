#pragma once
/// Top-v selection: the masks of magnitude and movement pruning keep the
/// share v of the weights with the largest scores.

#include "frugal/prune/options.h"

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace frugal::prune {

/// round(v * n): how many weights top-v keeps out of n.
int64_t kept_count(double v, int64_t n);

/// Boolean mask keeping exactly `keep` entries of `scores` (any shape): those
/// with the largest scores; among equal scores the lower flat index wins.
torch::Tensor top_v_mask(const torch::Tensor& scores, int64_t keep);

/// Top-v masks for several score tensors: local keeps round(v * numel) of each,
/// global keeps round(v * total) across all of them (ties broken by tensor
/// order, then flat index). Boolean masks shaped like the scores.
std::vector<torch::Tensor> top_v_masks(const std::vector<torch::Tensor>& scores, double v,
                                       PruneSelection selection);

}  // namespace frugal::prune
