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

void MaskedLinearImpl::set_pattern(const torch::Tensor& mask, KernelChoice kernel) {
  const int64_t out = options.out_features(), in = options.in_features();
  TORCH_CHECK(mask.dim() == 2 && mask.size(0) == out && mask.size(1) == in, "MaskedLinear::set_pattern: mask must have shape [",
              out, ", ", in, "], got ", mask.sizes());
  pattern_ = CsrPattern::from_mask(mask.to(at::kCPU));
  kernel_ = kernel;
  has_pattern_ = true;
  decisions_.clear();
}

torch::Tensor MaskedLinearImpl::set_compact_pattern(const torch::Tensor& mask, KernelChoice kernel) {
  TORCH_CHECK(weight.scalar_type() == at::kFloat && weight.device().is_cpu(),
              "MaskedLinear::set_compact_pattern: the compact form needs a float32 CPU weight, got ", weight.toString());
  const CsrPattern previous = values_.defined() ? pattern_ : CsrPattern();
  set_pattern(mask, kernel);
  torch::NoGradGuard no_grad;
  const auto gathered = csr_values(weight.detach(), pattern_);
  if (!values_.defined()) {
    values_ = gathered.clone().requires_grad_(true);
    return at::full({pattern_.nnz()}, -1, at::kLong);
  }
  if (values_.numel() == gathered.numel()) {
    values_.copy_(gathered);
  } else {
    values_.set_data(gathered.clone());
    values_.mutable_grad().reset();  // a gradient of the old size cannot be added to
  }
  dense_weight_ = torch::Tensor();
  return previous.rows() == pattern_.rows() && previous.cols() == pattern_.cols()
             ? pattern_source(previous, pattern_)
             : at::full({pattern_.nnz()}, -1, at::kLong);
}

void MaskedLinearImpl::write_back() {
  TORCH_CHECK(compact(), "MaskedLinear::write_back: the layer is not in the compact form");
  torch::NoGradGuard no_grad;
  weight.zero_();
  weight.view({-1}).index_copy_(0, pattern_.flat_indices(), values_.detach());
}

torch::Tensor MaskedLinearImpl::dense_weight_grad() const {
  return dense_weight_.defined() ? dense_weight_.grad() : torch::Tensor();
}

void MaskedLinearImpl::clear_pattern() {
  if (compact()) write_back();
  values_ = torch::Tensor();
  dense_weight_ = torch::Tensor();
  pattern_ = CsrPattern();
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
  if (compact()) {
    if (uses_sparse_kernel(input)) return sparse_linear(input, values_, pattern_, bias);
    // Dense product on the densified values; their gradient is its gather.
    auto dense = csr_to_dense(values_, pattern_);
    if (dense_gradient_ && dense.requires_grad()) {
      dense.retain_grad();
      dense_weight_ = dense;
    }
    return torch::nn::functional::linear(input, dense, bias);
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
