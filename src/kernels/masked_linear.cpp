#include <frugal/kernels/masked_linear.h>
#include <frugal/kernels/sparse_linear.h>

#include <ATen/ATen.h>
#include <torch/nn/functional/linear.h>

namespace frugal::kernels {
namespace {

bool kernels_take(const torch::Tensor& input, const torch::Tensor& weight) {
  return input.scalar_type() == at::kFloat && input.device().is_cpu() && weight.scalar_type() == at::kFloat &&
         weight.device().is_cpu();
}

}  // namespace

bool MaskedLinearImpl::uses_sparse_kernel(const torch::Tensor& input) {
  if (!has_pattern_ || dense_gradient_) return false;
  if (!kernels_take(input, weight)) {
    TORCH_CHECK(kernel_ != KernelChoice::kSparse, "MaskedLinear: the sparse kernels take float32 CPU tensors, got input ",
                input.toString(), " and weight ", weight.toString(), " (use the dense or auto kernel choice)");
    return false;
  }
  const int64_t batch = input.numel() / std::max<int64_t>(1, options.in_features());
  return decisions_.use_sparse(options.out_features(), options.in_features(), batch, pattern_.density(), kernel_);
}

torch::Tensor MaskedLinearImpl::forward(const torch::Tensor& input) {
  if (compact()) {
    if (uses_sparse_kernel(input)) return sparse_linear(input, values_, pattern_, bias);
    // Dense product on the densified values; their gradient is its gather.
    return torch::nn::functional::linear(input, compact_dense_weight(), bias);
  }
  if (!uses_sparse_kernel(input)) return LinearImpl::forward(input);
  // Gathering the active entries is differentiable: its backward scatters the
  // values' gradient into a zero [out, in] tensor, so the weight's gradient
  // is exact at the pattern and zero elsewhere.
  return sparse_linear(input, csr_values(weight, pattern_), pattern_, bias);
}

void MaskedLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "frugal::kernels::MaskedLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", bias=" << (options.bias() ? "true" : "false");
  if (has_pattern_) stream << ", density=" << pattern_.density();
  stream << ")";
}

}  // namespace frugal::kernels
