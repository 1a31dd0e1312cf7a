#pragma once
/// Optimizer-state surgery for weights that mask updates grow or move: the
/// state of SGD, Adam, AdamW, RMSprop and Adagrad, reset or remapped per entry.

#include <torch/optim/optimizer.h>
#include <torch/types.h>

namespace frugal::sparse {

/// Sets the optimizer state of `param` to its initial value (0) at the flat
/// positions `positions` (int64): SGD momentum_buffer; Adam / AdamW exp_avg,
/// exp_avg_sq, max_exp_avg_sq; RMSprop square_avg, momentum_buffer, grad_avg;
/// Adagrad sum (to its initial_accumulator_value). Nothing to do when the
/// optimizer holds no state for `param` yet; throws for other state types.
void reset_optimizer_state(torch::optim::Optimizer& optimizer, const torch::Tensor& param,
                           const torch::Tensor& positions);

/// Moves the per-entry optimizer state of a 1-D `param` (a compact layer's
/// values) to a new order: entry k takes old entry source[k], or the initial
/// state where source[k] == -1 (a grown weight). `source` is int64 with
/// param's size, as kernels::pattern_source() gives it. Same optimizers as
/// reset_optimizer_state().
void remap_optimizer_state(torch::optim::Optimizer& optimizer, const torch::Tensor& param,
                           const torch::Tensor& source);

}  // namespace frugal::sparse
