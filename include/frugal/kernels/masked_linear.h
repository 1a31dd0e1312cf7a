#pragma once
/// A torch::nn::Linear whose products can run on the CSR kernels while its
/// weight is masked: the layer dynamic sparse training trains sparse.
///
/// It is a subclass of torch::nn::LinearImpl with the same parameters, names,
/// initialization and, until a pattern is set, the same forward. So masks,
/// pruners, optimizers, checkpoints and exports treat it as any Linear, and a
/// model built from it trains dense unless a sparse trainer hook (see
/// sparse/dynamic_sparsity.h, option `kernel`) sets the mask's pattern.
///
/// With a pattern M, forward computes y = x (W ∘ M)^T + b with the sparse
/// kernels of sparse_linear.h: the forward product and the input gradient cost
/// O(batch · nnz), and the weight gradient is computed at the pattern's
/// positions only, which is exactly the masked dense gradient.
///
/// The pattern and the compact form are those of kernels::MaskedLayer
/// (masked_layer.h), which the sparse trainer hooks drive.

#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/masked_layer.h>

#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <ostream>

namespace frugal::kernels {

class MaskedLinearImpl : public torch::nn::LinearImpl, public MaskedLayer {
 public:
  MaskedLinearImpl(int64_t in_features, int64_t out_features)
      : MaskedLinearImpl(torch::nn::LinearOptions(in_features, out_features)) {}
  explicit MaskedLinearImpl(const torch::nn::LinearOptions& options) : torch::nn::LinearImpl(options) {}

  /// input [*, in] -> [*, out]. Dense (torch::nn::Linear's forward) without a
  /// pattern, while set_dense_gradient(true) holds, for inputs the CSR kernels
  /// do not take (not float32 on the CPU) under kAuto, and where the kernel
  /// choice says dense; otherwise sparse on the pattern.
  torch::Tensor forward(const torch::Tensor& input);

  const torch::Tensor& masked_weight() const override { return weight; }

  /// Whether a forward on `input` would run the sparse kernels now.
  bool uses_sparse_kernel(const torch::Tensor& input);

  void pretty_print(std::ostream& stream) const override;

 private:
  const char* layer_name() const override { return "MaskedLinear"; }
  void pattern_changed() override { decisions_.clear(); }

  KernelDecisions decisions_;
};

TORCH_MODULE(MaskedLinear);

}  // namespace frugal::kernels
