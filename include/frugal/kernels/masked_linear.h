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
/// Two ways to hold the weights under a pattern:
/// - set_pattern(): the dense `weight` stays the parameter that is trained;
///   forward gathers its active entries, and its gradient is a dense tensor,
///   zero off the pattern. Every step still touches all out * in entries (the
///   gradient, the optimizer's update, the masking).
/// - set_compact_pattern(): the active weights live in values() [nnz], a
///   tensor of its own with its own gradient, which the optimizer steps
///   instead of `weight` (whose gradient stays undefined, so optimizers skip
///   it). A step then costs O(nnz) everywhere. `weight` is stale until
///   write_back().
///
/// RigL's growth step needs the dense gradient; set_dense_gradient(true) runs
/// the next forwards dense for that (Evci et al., "Rigging the Lottery",
/// ICML 2020: the dense gradient only every ΔT steps).

#include <frugal/kernels/csr.h>
#include <frugal/kernels/dispatch.h>

#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <ostream>

namespace frugal::kernels {

class MaskedLinearImpl : public torch::nn::LinearImpl {
 public:
  MaskedLinearImpl(int64_t in_features, int64_t out_features)
      : MaskedLinearImpl(torch::nn::LinearOptions(in_features, out_features)) {}
  explicit MaskedLinearImpl(const torch::nn::LinearOptions& options) : torch::nn::LinearImpl(options) {}

  /// input [*, in] -> [*, out]. Dense (torch::nn::Linear's forward) without a
  /// pattern, while set_dense_gradient(true) holds, for inputs the CSR kernels
  /// do not take (not float32 on the CPU) under kAuto, and where the kernel
  /// choice says dense; otherwise sparse on the pattern.
  torch::Tensor forward(const torch::Tensor& input);

  /// Multiplies on the non-zeros of `mask` [out, in] from now on, with the
  /// kernel `kernel` picks (kAuto: sparse below the crossover density for
  /// each call's batch and thread count). Entries of the weight outside the
  /// mask are ignored by the sparse products (keep them zero, as a mask hook
  /// does, so that both paths agree). Builds the index once per call.
  void set_pattern(const torch::Tensor& mask, KernelChoice kernel = KernelChoice::kAuto);
  /// Compact form: sets the pattern as set_pattern() does, then values() =
  /// the weight's entries on it (so call write_back() first when values() is
  /// newer than `weight`). values() is created on the first call and keeps
  /// its TensorImpl while the number of entries stays the same (drop and
  /// grow), so an optimizer holding it stays valid; otherwise it is resized in
  /// place. Returns, per new entry, the index of the same position under the
  /// previous compact pattern or -1 (kernels::pattern_source), to remap
  /// per-entry optimizer state. Needs a float32 CPU weight.
  torch::Tensor set_compact_pattern(const torch::Tensor& mask, KernelChoice kernel = KernelChoice::kAuto);
  /// Whether the weights live in values().
  bool compact() const { return values_.defined(); }
  /// The active weights [nnz] in the pattern's order (compact form only).
  const torch::Tensor& values() const { return values_; }
  /// weight <- values() on the pattern and 0 elsewhere (compact form only).
  void write_back();
  /// Compact form: the full [out, in] gradient of the weight from the last
  /// forward that ran under set_dense_gradient(true); undefined otherwise.
  torch::Tensor dense_weight_grad() const;
  /// Back to the dense forward of torch::nn::Linear (writing values() back
  /// into `weight` first in the compact form).
  void clear_pattern();
  bool has_pattern() const { return has_pattern_; }
  /// The pattern set last (empty when none).
  const CsrPattern& pattern() const { return pattern_; }

  /// While true, forward runs dense even with a pattern, so the weight's
  /// gradient is dense (RigL's growth criterion). Default false.
  void set_dense_gradient(bool dense) { dense_gradient_ = dense; }
  bool dense_gradient() const { return dense_gradient_; }

  /// Whether a forward on `input` would run the sparse kernels now.
  bool uses_sparse_kernel(const torch::Tensor& input);

  void pretty_print(std::ostream& stream) const override;

 private:
  CsrPattern pattern_;
  /// The compact form's weights (a leaf tensor, not a registered parameter:
  /// the module's parameters and saved state stay those of a Linear).
  torch::Tensor values_;
  /// The densified weight of the last dense-gradient forward (compact form).
  torch::Tensor dense_weight_;
  KernelChoice kernel_ = KernelChoice::kAuto;
  bool has_pattern_ = false;
  bool dense_gradient_ = false;
  KernelDecisions decisions_;
};

TORCH_MODULE(MaskedLinear);

}  // namespace frugal::kernels
