#pragma once
/// A linear layer whose weight is stored and multiplied sparse (CSR), for
/// forward and backward, with the same convention as torch::nn::Linear:
/// y = x W^T + b, W [out, in], x [*, in].
///
/// Forward is a sparse x dense product (SpMM), the input gradient the same
/// with the transposed pattern, and the weight gradient is computed only at
/// the stored positions (a sampled dense-dense product, SDDMM):
///   grad_values[k] = sum_b grad_y[b, o_k] * x[b, j_k].
/// Gale, Zaharia, Young & Elsen, "Sparse GPU Kernels for Deep Learning",
/// SC 2020; for training with such layers from scratch: Evci, Gale, Menick,
/// Castro & Elsen, "Rigging the Lottery: Making All Tickets Winners", ICML
/// 2020 (RigL), whose growth step needs the dense gradient, see
/// dense_weight_grad().

#include <frugal/kernels/csr.h>
#include <frugal/kernels/dispatch.h>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <ostream>

namespace frugal::kernels {

// ----------------------------------------------------------------- functional

/// y = input W^T + bias with W given by (`values`, `pattern`) [out, in]:
/// input [*, in] float32 CPU, values [nnz], bias [out] or undefined. Records
/// a torch::autograd::Function, so gradients flow to input, values and bias
/// (through the sparse kernels in both directions).
torch::Tensor sparse_linear(const torch::Tensor& input, const torch::Tensor& values, const CsrPattern& pattern,
                            const torch::Tensor& bias = {});

/// grad_input = grad_output W ([*, out] -> [*, in]). No autograd.
torch::Tensor sparse_linear_input_grad(const torch::Tensor& grad_output, const torch::Tensor& values,
                                       const CsrPattern& pattern);

/// grad_values[k] = sum_b grad_output[b, o_k] * input[b, j_k]: the weight
/// gradient at the stored positions only ([nnz]). No autograd.
torch::Tensor sparse_linear_values_grad(const torch::Tensor& grad_output, const torch::Tensor& input,
                                        const CsrPattern& pattern);

/// The dense weight gradient grad_output^T input ([out, in]; leading
/// dimensions are flattened into the batch). Costs a dense matmul: meant for
/// RigL's growth criterion at mask-update steps only.
torch::Tensor dense_weight_grad(const torch::Tensor& grad_output, const torch::Tensor& input);

// --------------------------------------------------------------------- module

struct SparseLinearOptions {
  SparseLinearOptions(int64_t in_features, int64_t out_features);
  /// Size of each input sample. No default.
  TORCH_ARG(int64_t, in_features);
  /// Size of each output sample. No default.
  TORCH_ARG(int64_t, out_features);
  /// Whether to learn an additive bias. Default true.
  TORCH_ARG(bool, bias) = true;
  /// Share of weights reset() keeps, in [0, 1]: exactly
  /// round(density * in * out) positions drawn uniformly at random (from
  /// torch's global generator). Default 1 (dense pattern).
  TORCH_ARG(double, density) = 1.0;
  /// Which kernel forward runs. Default kAuto: sparse below the crossover
  /// density for the batch size and thread count of each call.
  TORCH_ARG(KernelChoice, kernel) = KernelChoice::kAuto;
};

/// A Linear layer with a CSR weight. Parameters: "values" [nnz] (the stored
/// weights, what an optimizer updates) and "bias" [out]; buffers "row_ptr"
/// and "col_idx" (the pattern, saved and loaded with the module).
///
/// The pattern changes through set_pattern() / from_dense(), which rewrite the
/// index buffers and the values in place whenever the number of entries stays
/// the same (as in SET / RigL drop-and-grow), so optimizer state keyed by the
/// values' TensorImpl stays attached.
class SparseLinearImpl : public torch::nn::Cloneable<SparseLinearImpl> {
 public:
  SparseLinearImpl(int64_t in_features, int64_t out_features)
      : SparseLinearImpl(SparseLinearOptions(in_features, out_features)) {}
  explicit SparseLinearImpl(const SparseLinearOptions& options);

  /// Draws a random pattern of options.density and initializes like
  /// torch::nn::Linear: values and bias ~ U(-1/sqrt(in), 1/sqrt(in)).
  void reset() override;
  /// Re-draws values and bias (pattern unchanged).
  void reset_parameters();

  /// input [*, in] -> [*, out].
  torch::Tensor forward(const torch::Tensor& input);

  /// Sets the pattern to the non-zeros of `mask` [out, in]. Weights active in
  /// both patterns keep their value; new ones start at 0. Returns, for each
  /// new entry, the index of the same weight in the old values or -1 (pass it
  /// to remap_entries() for per-entry optimizer state). In place when the
  /// number of entries is unchanged; otherwise the parameter's data is
  /// replaced (same TensorImpl, new size) and optimizer state must be remapped.
  torch::Tensor set_pattern(const torch::Tensor& mask);
  /// set_pattern(mask), then values = weight [out, in] on the new pattern.
  torch::Tensor from_dense(const torch::Tensor& weight, const torch::Tensor& mask);
  /// The weight as a dense [out, in] tensor (zeros off the pattern), detached.
  torch::Tensor to_dense() const;
  /// bool [out, in]: the pattern.
  torch::Tensor mask() const;
  /// The current pattern (rebuilt if the buffers were replaced, e.g. by load()).
  const CsrPattern& pattern() const;
  /// nnz / (out * in).
  double density() const;
  /// Whether forward runs the sparse kernel for a batch of `batch` rows with
  /// the current thread count. kAuto decisions are cached per (batch, threads)
  /// until the pattern changes.
  bool uses_sparse_kernel(int64_t batch) const;

  void pretty_print(std::ostream& stream) const override;

  SparseLinearOptions options;
  /// The parameter "values" [nnz].
  torch::Tensor values;
  /// The parameter "bias" [out], undefined without bias.
  torch::Tensor bias;
  /// The buffer "row_ptr", int64 [out + 1].
  torch::Tensor row_ptr;
  /// The buffer "col_idx", int32 [nnz].
  torch::Tensor col_idx;

 private:
  /// Rewrites the buffers (in place when sizes allow) and the cached pattern.
  void install(const CsrPattern& next);
  /// Rebuilds the cached pattern over the buffers as they are and stamps it.
  void adopt_buffers() const;

  mutable CsrPattern pattern_;
  /// What pattern_ was built from: data pointers, versions and size of the
  /// buffers; a mismatch means they were replaced behind our back.
  mutable const void* stamp_row_ptr_ = nullptr;
  mutable const void* stamp_col_idx_ = nullptr;
  mutable int64_t stamp_version_ = -1;
  mutable int64_t stamp_nnz_ = -1;
  mutable KernelDecisions decisions_;
};

TORCH_MODULE(SparseLinear);

}  // namespace frugal::kernels
