#include <frugal/kernels/masked_layer.h>

#include <ATen/ATen.h>
#include <torch/utils.h>

namespace frugal::kernels {

void MaskedLayer::set_pattern(const torch::Tensor& mask, KernelChoice kernel) {
  const auto& weight = masked_weight();
  TORCH_CHECK(mask.sizes() == weight.sizes(), layer_name(), "::set_pattern: mask must have shape ", weight.sizes(),
              ", got ", mask.sizes());
  pattern_ = CsrPattern::from_mask(mask.to(at::kCPU).reshape({weight.size(0), -1}));
  kernel_ = kernel;
  has_pattern_ = true;
  pattern_changed();
}

torch::Tensor MaskedLayer::set_compact_pattern(const torch::Tensor& mask, KernelChoice kernel) {
  const auto& weight = masked_weight();
  TORCH_CHECK(weight.scalar_type() == at::kFloat && weight.device().is_cpu(), layer_name(),
              "::set_compact_pattern: the compact form needs a float32 CPU weight, got ", weight.toString());
  const CsrPattern previous = values_.defined() ? pattern_ : CsrPattern();
  set_pattern(mask, kernel);
  torch::NoGradGuard no_grad;
  const auto gathered = csr_values(weight.detach().reshape({weight.size(0), -1}), pattern_);
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

void MaskedLayer::write_back() {
  TORCH_CHECK(compact(), layer_name(), "::write_back: the layer is not in the compact form");
  torch::NoGradGuard no_grad;
  auto weight = masked_weight();  // shares the parameter's storage
  weight.zero_();
  weight.view({-1}).index_copy_(0, pattern_.flat_indices(), values_.detach());
}

torch::Tensor MaskedLayer::dense_weight_grad() const {
  return dense_weight_.defined() ? dense_weight_.grad() : torch::Tensor();
}

void MaskedLayer::clear_pattern() {
  if (compact()) write_back();
  values_ = torch::Tensor();
  dense_weight_ = torch::Tensor();
  pattern_ = CsrPattern();
  has_pattern_ = false;
  dense_gradient_ = false;
  pattern_changed();
}

torch::Tensor MaskedLayer::compact_dense_weight() {
  auto dense = csr_to_dense(values_, pattern_).view(masked_weight().sizes());
  if (dense_gradient_ && dense.requires_grad()) {
    dense.retain_grad();
    dense_weight_ = dense;
  }
  return dense;
}

}  // namespace frugal::kernels
