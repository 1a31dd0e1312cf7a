#pragma once
/// A torch::nn::Conv2d whose convolutions can run on the direct sparse
/// convolution kernels (sparse_conv2d.h) while its weight is masked: the conv
/// layer dynamic sparse training trains sparse.
///
/// It is a subclass of torch::nn::Conv2dImpl with the same parameters, names,
/// initialization and, until a pattern is set, the same forward, so masks,
/// pruners, optimizers, checkpoints and exports treat it as any Conv2d. With a
/// pattern M over the weight [out, in, kh, kw] (held in CSR as
/// [out, in * kh * kw]) forward computes conv2d(x, W ∘ M) + b directly on the
/// non-zeros: forward, input gradient and the weight gradient (at the
/// pattern's positions only, exactly the masked dense gradient) each cost
/// O(batch · nnz · output pixels). Park et al., "Faster CNNs with Direct
/// Sparse Convolutions and Guided Pruning", ICLR 2017.
///
/// The pattern and the compact form are those of kernels::MaskedLayer
/// (masked_layer.h). The sparse kernels take float32 CPU tensors, 4-D inputs,
/// groups = 1, zero padding given as numbers (or kValid); anything else runs
/// dense under kAuto and is an error under kSparse.

#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/masked_layer.h>

#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>

namespace frugal::kernels {

class MaskedConv2dImpl : public torch::nn::Conv2dImpl, public MaskedLayer {
 public:
  MaskedConv2dImpl(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size)
      : MaskedConv2dImpl(torch::nn::Conv2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit MaskedConv2dImpl(const torch::nn::Conv2dOptions& options) : torch::nn::Conv2dImpl(options) {}

  /// input [N, in, H, W] -> [N, out, H', W']. Dense (torch::nn::Conv2d's
  /// forward) without a pattern, while set_dense_gradient(true) holds, for
  /// what the sparse kernels do not take under kAuto, and where the kernel
  /// choice says dense; otherwise sparse on the pattern.
  torch::Tensor forward(const torch::Tensor& input);

  const torch::Tensor& masked_weight() const override { return weight; }

  /// Whether a forward on `input` would run the sparse kernels now (kAuto:
  /// measured once per input size, batch and thread count, see
  /// measure_conv_crossover_density). Throws under kSparse when the kernels
  /// cannot take the call, saying why.
  bool uses_sparse_kernel(const torch::Tensor& input);

  void pretty_print(std::ostream& stream) const override;

 private:
  const char* layer_name() const override { return "MaskedConv2d"; }
  void pattern_changed() override { decisions_.clear(); }
  /// Why the sparse kernels cannot run this call; empty when they can.
  std::string unsupported(const torch::Tensor& input) const;

  /// kAuto decisions per (batch, height, width, threads).
  std::map<std::array<int64_t, 4>, bool> decisions_;
};

TORCH_MODULE(MaskedConv2d);

}  // namespace frugal::kernels
