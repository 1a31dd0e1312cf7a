#include <frugal/kernels/sparse_linear.h>

#include "csr_kernels.h"
#include "huge_pages.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/init.h>
#include <torch/utils.h>

#include <cmath>
#include <string>

namespace frugal::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

detail::CsrView view(const CsrPattern& p) {
  const auto& panels = p.panel_offsets();
  return {p.rows(),
          p.cols(),
          p.row_ptr().data_ptr<int64_t>(),
          p.col_idx().data_ptr<int32_t>(),
          panels.data_ptr<int32_t>(),
          panels.size(1) - 1};
}

void check_float_cpu(const torch::Tensor& t, const char* what) {
  TORCH_CHECK(t.scalar_type() == at::kFloat && t.device().is_cpu(), what, " must be a float32 CPU tensor, got ",
              t.toString());
}

/// A batch [B, n] held transposed as x^T [n, ld] (ld >= B, see padded_ld).
struct Packed {
  torch::Tensor data;
  int64_t batch = 0;
  int64_t ld = 0;
};

Packed pack(const torch::Tensor& x2d) {
  const int64_t batch = x2d.size(0), n = x2d.size(1);
  Packed p{torch::Tensor(), batch, detail::padded_ld(batch)};
  const auto x = x2d.contiguous();
  if (batch == 1) {
    p.data = x.view({n, 1});
    return p;
  }
  p.data = detail::empty_huge({n, p.ld});
  detail::transpose(x.data_ptr<float>(), batch, n, p.data.data_ptr<float>(), p.ld);
  return p;
}

/// y [B, rows] = bias + x W^T for W on `pattern`, from x^T.
torch::Tensor spmm_packed(const Packed& xt, const torch::Tensor& values, const CsrPattern& pattern,
                          const torch::Tensor& bias) {
  auto y = at::empty({xt.batch, pattern.rows()}, values.options());
  const auto v = values.contiguous();
  const float* b = bias.defined() ? bias.data_ptr<float>() : nullptr;
  if (xt.batch == 1)
    detail::spmv(view(pattern), v.data_ptr<float>(), xt.data.data_ptr<float>(), b, y.data_ptr<float>());
  else
    detail::spmm(view(pattern), v.data_ptr<float>(), xt.data.data_ptr<float>(), xt.ld, xt.batch, b,
                 y.data_ptr<float>(), pattern.rows());
  return y;
}

/// grad_values [nnz] from grad_y^T and x^T.
torch::Tensor sddmm_packed(const Packed& gt, const Packed& xt, const CsrPattern& pattern) {
  auto out = at::empty({pattern.nnz()}, gt.data.options());
  detail::sddmm(view(pattern), gt.data.data_ptr<float>(), gt.ld, xt.data.data_ptr<float>(), xt.ld, xt.batch,
                out.data_ptr<float>());
  return out;
}

/// grad_x [B, cols] = grad_y W, through the transposed pattern.
torch::Tensor input_grad_packed(const Packed& gt, const torch::Tensor& values, const CsrPattern& pattern) {
  const auto vt = values.index_select(0, pattern.transpose_perm());
  return spmm_packed(gt, vt, pattern.transposed(), torch::Tensor());
}

/// Flattens [*, n] to [B, n], checking n.
torch::Tensor flatten_batch(const torch::Tensor& t, int64_t n, const char* what) {
  TORCH_CHECK(t.dim() >= 1 && t.size(-1) == n, what, " must have shape [*, ", n, "], got ", t.sizes());
  check_float_cpu(t, what);
  return t.reshape({-1, n});
}

std::vector<int64_t> with_last(at::IntArrayRef sizes, int64_t last) {
  std::vector<int64_t> out(sizes.begin(), sizes.end());
  out.back() = last;
  return out;
}

void check_values(const torch::Tensor& values, const CsrPattern& pattern) {
  TORCH_CHECK(values.defined() && values.dim() == 1 && values.numel() == pattern.nnz(),
              "values must have shape [", pattern.nnz(), "] (the pattern's entries), got ",
              values.defined() ? values.sizes() : at::IntArrayRef{});
  check_float_cpu(values, "values");
}

/// Keeps the pattern alive in the autograd graph (AutogradContext::saved_data
/// holds IValues only).
struct PatternCapsule : torch::CustomClassHolder {
  explicit PatternCapsule(CsrPattern p) : pattern(std::move(p)) {}
  CsrPattern pattern;
};

/// The sparse layer as an autograd node: forward SpMM, backward SpMM through
/// the transposed pattern and SDDMM for the values.
struct SparseLinearFunction : torch::autograd::Function<SparseLinearFunction> {
  /// `bias` is always a tensor (LibTorch 1.13's Function::apply rejects
  /// undefined inputs); `has_bias` says whether it is used.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input2d, const torch::Tensor& values,
                               const torch::Tensor& bias, bool has_bias, const CsrPattern& pattern) {
    Packed xt = pack(input2d);
    auto y = spmm_packed(xt, values, pattern, has_bias ? bias : torch::Tensor());
    ctx->save_for_backward({values});
    ctx->saved_data["xt"] = xt.data;
    ctx->saved_data["batch"] = xt.batch;
    ctx->saved_data["ld"] = xt.ld;
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["pattern"] = c10::IValue::make_capsule(c10::make_intrusive<PatternCapsule>(pattern));
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto values = ctx->get_saved_variables()[0];
    const auto capsule = ctx->saved_data["pattern"].toCapsule();
    const CsrPattern& pattern = static_cast<PatternCapsule*>(capsule.get())->pattern;
    const Packed xt{ctx->saved_data["xt"].toTensor(), ctx->saved_data["batch"].toInt(),
                    ctx->saved_data["ld"].toInt()};
    const auto grad_y = grad_outputs[0].contiguous();
    torch::Tensor grad_input, grad_values, grad_bias;
    if (ctx->needs_input_grad(0) || ctx->needs_input_grad(1)) {
      const Packed gt = pack(grad_y);
      if (ctx->needs_input_grad(0)) grad_input = input_grad_packed(gt, values, pattern);
      if (ctx->needs_input_grad(1)) grad_values = sddmm_packed(gt, xt, pattern);
    }
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) grad_bias = grad_y.sum(0);
    return {grad_input, grad_values, grad_bias, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sparse_linear(const torch::Tensor& input, const torch::Tensor& values, const CsrPattern& pattern,
                            const torch::Tensor& bias) {
  check_values(values, pattern);
  if (bias.defined()) {
    TORCH_CHECK(bias.dim() == 1 && bias.size(0) == pattern.rows(), "bias must have shape [", pattern.rows(),
                "], got ", bias.sizes());
    check_float_cpu(bias, "bias");
  }
  const auto x = flatten_batch(input, pattern.cols(), "input");
  const bool record = at::GradMode::is_enabled() &&
                      (input.requires_grad() || values.requires_grad() || (bias.defined() && bias.requires_grad()));
  // Inference skips the autograd node: its bookkeeping costs several
  // microseconds, more than a small layer's whole product.
  auto y = record ? SparseLinearFunction::apply(x, values, bias.defined() ? bias : at::empty({0}, values.options()),
                                                bias.defined(), pattern)
                  : spmm_packed(pack(x), values, pattern, bias);
  return y.view(with_last(input.sizes(), pattern.rows()));
}

torch::Tensor sparse_linear_input_grad(const torch::Tensor& grad_output, const torch::Tensor& values,
                                       const CsrPattern& pattern) {
  check_values(values, pattern);
  torch::NoGradGuard no_grad;
  const auto g = flatten_batch(grad_output, pattern.rows(), "grad_output");
  return input_grad_packed(pack(g), values, pattern).view(with_last(grad_output.sizes(), pattern.cols()));
}

torch::Tensor sparse_linear_values_grad(const torch::Tensor& grad_output, const torch::Tensor& input,
                                        const CsrPattern& pattern) {
  torch::NoGradGuard no_grad;
  const auto g = flatten_batch(grad_output, pattern.rows(), "grad_output");
  const auto x = flatten_batch(input, pattern.cols(), "input");
  TORCH_CHECK(g.size(0) == x.size(0), "grad_output has ", g.size(0), " rows but input has ", x.size(0));
  return sddmm_packed(pack(g), pack(x), pattern);
}

torch::Tensor dense_weight_grad(const torch::Tensor& grad_output, const torch::Tensor& input) {
  TORCH_CHECK(grad_output.dim() >= 1 && input.dim() >= 1, "dense_weight_grad: need [*, out] and [*, in], got ",
              grad_output.sizes(), " and ", input.sizes());
  const auto g = grad_output.reshape({-1, grad_output.size(-1)});
  const auto x = input.reshape({-1, input.size(-1)});
  TORCH_CHECK(g.size(0) == x.size(0), "dense_weight_grad: grad_output has ", g.size(0), " rows but input has ",
              x.size(0));
  return g.t().mm(x);
}

// --------------------------------------------------------------------- module

SparseLinearOptions::SparseLinearOptions(int64_t in_features, int64_t out_features)
    : in_features_(in_features), out_features_(out_features) {}

SparseLinearImpl::SparseLinearImpl(const SparseLinearOptions& options_) : options(options_) { reset(); }

void SparseLinearImpl::reset() {
  const int64_t in = options.in_features(), out = options.out_features();
  TORCH_CHECK(in >= 0 && out >= 0, "SparseLinear: feature counts must be >= 0, got in = ", in, ", out = ", out);
  const double d = options.density();
  TORCH_CHECK(d >= 0.0 && d <= 1.0, "SparseLinear: density must be in [0, 1], got ", d);
  const int64_t total = in * out;
  const auto keep = static_cast<int64_t>(std::llround(d * static_cast<double>(total)));
  auto mask = at::zeros({total}, at::kBool);
  if (keep == total)
    mask.fill_(true);
  else if (keep > 0)
    mask.index_fill_(0, at::randperm(total, at::kLong).slice(0, 0, keep), true);
  const auto pattern = CsrPattern::from_mask(mask.view({out, in}));

  row_ptr = register_buffer("row_ptr", pattern.row_ptr());
  col_idx = register_buffer("col_idx", pattern.col_idx());
  values = register_parameter("values", at::empty({pattern.nnz()}));
  if (options.bias())
    bias = register_parameter("bias", at::empty({out}));
  else
    bias = register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
  install(pattern);
  reset_parameters();
}

void SparseLinearImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  // torch::nn::Linear's init: kaiming_uniform(a = sqrt(5)) on the weight is
  // U(-1/sqrt(in), 1/sqrt(in)), and the bias uses the same bound.
  const double bound = options.in_features() > 0 ? 1.0 / std::sqrt(static_cast<double>(options.in_features())) : 0.0;
  values.uniform_(-bound, bound);
  if (bias.defined()) bias.uniform_(-bound, bound);
}

void SparseLinearImpl::install(const CsrPattern& next) {
  torch::NoGradGuard no_grad;
  if (!row_ptr.is_same(next.row_ptr())) {
    // Same size always (out + 1): rewrite in place.
    row_ptr.copy_(next.row_ptr());
  }
  if (!col_idx.is_same(next.col_idx())) {
    if (col_idx.numel() == next.nnz())
      col_idx.copy_(next.col_idx());
    else
      col_idx.set_data(next.col_idx().clone());
  }
  adopt_buffers();
}

void SparseLinearImpl::adopt_buffers() const {
  // The pattern views the buffers themselves, so that saving the module saves
  // what the kernels use; the stamp tells pattern() when they were replaced.
  pattern_ = CsrPattern(row_ptr, col_idx, options.in_features());
  stamp_row_ptr_ = row_ptr.data_ptr();
  stamp_col_idx_ = col_idx.data_ptr();
  stamp_version_ = static_cast<int64_t>(row_ptr._version() + col_idx._version());
  stamp_nnz_ = col_idx.numel();
  decisions_.clear();
}

const CsrPattern& SparseLinearImpl::pattern() const {
  const bool stale = row_ptr.data_ptr() != stamp_row_ptr_ || col_idx.data_ptr() != stamp_col_idx_ ||
                     static_cast<int64_t>(row_ptr._version() + col_idx._version()) != stamp_version_ ||
                     col_idx.numel() != stamp_nnz_;
  if (stale) {
    TORCH_CHECK(row_ptr.numel() == options.out_features() + 1, "SparseLinear: row_ptr buffer has ",
                row_ptr.numel(), " entries, expected out_features + 1 = ", options.out_features() + 1);
    TORCH_CHECK(values.numel() == col_idx.numel(), "SparseLinear: values has ", values.numel(),
                " entries but the pattern has ", col_idx.numel());
    adopt_buffers();
  }
  return pattern_;
}

double SparseLinearImpl::density() const { return pattern().density(); }

torch::Tensor SparseLinearImpl::set_pattern(const torch::Tensor& mask) {
  TORCH_CHECK(mask.dim() == 2 && mask.size(0) == options.out_features() && mask.size(1) == options.in_features(),
              "SparseLinear::set_pattern: mask must have shape [", options.out_features(), ", ",
              options.in_features(), "], got ", mask.sizes());
  const CsrPattern prev = pattern();
  const CsrPattern next = CsrPattern::from_mask(mask);
  const auto source = pattern_source(prev, next);
  torch::NoGradGuard no_grad;
  const auto remapped = remap_entries(values.detach(), source);
  if (values.numel() == next.nnz())
    values.copy_(remapped);
  else
    values.set_data(remapped);
  install(next);
  return source;
}

torch::Tensor SparseLinearImpl::from_dense(const torch::Tensor& weight, const torch::Tensor& mask) {
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == options.out_features() &&
                  weight.size(1) == options.in_features(),
              "SparseLinear::from_dense: weight must have shape [", options.out_features(), ", ",
              options.in_features(), "], got ", weight.sizes());
  auto source = set_pattern(mask);
  torch::NoGradGuard no_grad;
  values.copy_(csr_values(weight.to(values.dtype()), pattern()));
  return source;
}

torch::Tensor SparseLinearImpl::to_dense() const {
  torch::NoGradGuard no_grad;
  return csr_to_dense(values.detach(), pattern());
}

torch::Tensor SparseLinearImpl::mask() const { return pattern().to_mask(); }

bool SparseLinearImpl::uses_sparse_kernel(int64_t batch) const {
  const double density = pattern().density();
  return decisions_.use_sparse(options.out_features(), options.in_features(), batch, density, options.kernel());
}

torch::Tensor SparseLinearImpl::forward(const torch::Tensor& input) {
  const CsrPattern& p = pattern();
  TORCH_CHECK(input.dim() >= 1 && input.size(-1) == options.in_features(), "SparseLinear: input must have shape [*, ",
              options.in_features(), "], got ", input.sizes());
  const int64_t batch = input.numel() / std::max<int64_t>(1, options.in_features());
  if (uses_sparse_kernel(batch)) return sparse_linear(input, values, p, bias);
  // Dense path: the weight is densified differentiably, so gradients still
  // reach `values` (and only there).
  return at::linear(input, csr_to_dense(values, p), bias);
}

void SparseLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "frugal::kernels::SparseLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", bias=" << (options.bias() ? "true" : "false")
         << ", density=" << density() << ")";
}

}  // namespace frugal::kernels
