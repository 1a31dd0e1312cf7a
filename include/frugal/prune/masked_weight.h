#pragma once
/// The straight-through estimator of movement pruning (Sanh, Wolf & Rush,
/// NeurIPS 2020): the mask passes the gradient on to the scores.

#include <torch/types.h>

namespace frugal::prune {

/// The straight-through masked weight of movement pruning, as a
/// torch::autograd::Function: forward W' = W * M; backward
/// dL/dW = dL/dW' * M and dL/dS = dL/dW' * W. So masked weights get no
/// gradient but their scores do, and a weight can come back. `mask` is a
/// constant of W's dtype (no gradient).
torch::Tensor masked_weight(const torch::Tensor& weight, const torch::Tensor& scores,
                            const torch::Tensor& mask);

}  // namespace frugal::prune
