#pragma once
/// ReLU followed by a 2x2 max-pool of stride 2, in one pass: the small CNN's
/// "conv, ReLU, MaxPool2d(2)" without the full-resolution ReLU output and its
/// gradient. LibTorch 1.13's max_pool2d and the separate ReLU took 48 ms of
/// a 179 ms dense CNN training step on one core (docs/RESULTS.md, speed); the
/// fused form writes the pooled output and a one-byte winner per window, and
/// its backward writes the input gradient once.
///
/// Exactly max_pool2d(relu(x), 2) with LibTorch's rules, forward and backward:
/// floor mode (an odd last row or column is dropped), the first largest
/// element of a window (row-major) wins, a NaN wins over any number and the
/// last NaN of a window wins; the gradient reaches the winner where the
/// output is not <= 0.

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace frugal::kernels {

/// max_pool2d(relu(input), 2) for input [N, C, H, W] (or [C, H, W]) with
/// H, W >= 2; gradients flow to input. float32 CPU tensors take the fused
/// kernel, anything else LibTorch's two ops.
torch::Tensor relu_max_pool2d(const torch::Tensor& input);

/// The module form, for nn::Sequential.
class ReluMaxPool2dImpl : public torch::nn::Cloneable<ReluMaxPool2dImpl> {
 public:
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& input) { return relu_max_pool2d(input); }
  void pretty_print(std::ostream& stream) const override;
};
TORCH_MODULE(ReluMaxPool2d);

}  // namespace frugal::kernels
