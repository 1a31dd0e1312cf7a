#include <frugal/kernels/masked_linear.h>
#include <frugal/kernels/sparse_linear.h>

#include <ATen/ATen.h>

namespace frugal::kernels {
namespace {

bool kernels_take(const torch::Tensor& input, const torch::Tensor& weight) {
  return input.scalar_type() == at::kFloat && input.device().is_cpu() && weight.scalar_type() == at::kFloat &&
         weight.device().is_cpu();
}

}  // namespace

void MaskedLinearImpl::set_pattern(const torch::Tensor& mask, KernelChoice kernel) {
  const int64_t out = options.out_features(), in = options.in_features();
  TORCH_CHECK(mask.dim() == 2 && mask.size(0) == out && mask.size(1) == in, "MaskedLinear::set_pattern: mask must have shape [",
              out, ", ", in, "], got ", mask.sizes());
  pattern_ = CsrPattern::from_mask(mask.to(at::kCPU));
  flat_indices_ = pattern_.flat_indices();
  kernel_ = kernel;
  has_pattern_ = true;
  decisions_.clear();
}

void MaskedLinearImpl::clear_pattern() {
  pattern_ = CsrPattern();
  flat_indices_ = torch::Tensor();
  has_pattern_ = false;
  dense_gradient_ = false;
  decisions_.clear();
}

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
  if (!uses_sparse_kernel(input)) return LinearImpl::forward(input);
  // Gathering the active entries is differentiable: its backward scatters the
  // values' gradient into a zero [out, in] tensor, so the weight's gradient
  // is exact at the pattern and zero elsewhere.
  const auto values = weight.reshape({-1}).index_select(0, flat_indices_);
  return sparse_linear(input, values, pattern_, bias);
}

void MaskedLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "frugal::kernels::MaskedLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", bias=" << (options.bias() ? "true" : "false");
  if (has_pattern_) stream << ", density=" << pattern_.density();
  stream << ")";
}

}  // namespace frugal::kernels
