#include <frugal/kernels/sparse_conv2d.h>

#include "conv_kernels.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <vector>

namespace frugal::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void check_float_cpu(const torch::Tensor& t, const char* what) {
  TORCH_CHECK(t.scalar_type() == at::kFloat && t.device().is_cpu(), "sparse_conv2d: ", what,
              " must be a float32 CPU tensor, got ", t.toString());
}

/// The checked geometry of one call.
detail::ConvGeometry geometry(const torch::Tensor& input, const CsrPattern& pattern,
                              const SparseConv2dOptions& o) {
  TORCH_CHECK(input.dim() == 4, "sparse_conv2d: input must be [N, C, H, W], got ", input.sizes());
  const at::IntArrayRef k = o.kernel_size(), s = o.stride(), p = o.padding(), d = o.dilation();
  TORCH_CHECK(k[0] >= 1 && k[1] >= 1, "sparse_conv2d: kernel_size must be >= 1, got ", k);
  TORCH_CHECK(s[0] >= 1 && s[1] >= 1, "sparse_conv2d: stride must be >= 1, got ", s);
  TORCH_CHECK(p[0] >= 0 && p[1] >= 0, "sparse_conv2d: padding must be >= 0, got ", p);
  TORCH_CHECK(d[0] >= 1 && d[1] >= 1, "sparse_conv2d: dilation must be >= 1, got ", d);
  const int64_t cin = input.size(1);
  TORCH_CHECK(pattern.cols() == cin * k[0] * k[1], "sparse_conv2d: the pattern has ", pattern.cols(),
              " columns, but in_channels * kh * kw = ", cin, " * ", k[0], " * ", k[1], " = ", cin * k[0] * k[1]);
  auto g = detail::make_conv_geometry(input.size(0), cin, pattern.rows(), input.size(2), input.size(3), k[0], k[1],
                                      s[0], s[1], p[0], p[1], d[0], d[1]);
  TORCH_CHECK(input.size(2) + 2 * p[0] >= d[0] * (k[0] - 1) + 1 && input.size(3) + 2 * p[1] >= d[1] * (k[1] - 1) + 1,
              "sparse_conv2d: the padded input ", input.sizes(), " (padding ", p,
              ") is smaller than the dilated kernel ", k, " (dilation ", d, ")");
  return g;
}

std::vector<int64_t> pack_geometry(const detail::ConvGeometry& g) {
  return {g.batch, g.cin, g.cout, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw};
}

detail::ConvGeometry unpack_geometry(const std::vector<int64_t>& v) {
  return detail::make_conv_geometry(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]);
}

/// The phase-split input and the non-zeros' offsets into it.
struct Prepared {
  torch::Tensor x, off;
};

Prepared prepare(const detail::ConvGeometry& g, const torch::Tensor& input, const CsrPattern& pattern) {
  const auto in = input.contiguous();
  Prepared p{at::empty({g.batch, g.x_stride}, in.options()), at::empty({pattern.nnz()}, at::kLong)};
  detail::conv_split_input(g, in.data_ptr<float>(), p.x.data_ptr<float>());
  detail::conv_forward_offsets(g, pattern.nnz(), pattern.col_idx().data_ptr<int32_t>(), p.off.data_ptr<int64_t>());
  return p;
}

torch::Tensor forward_prepared(const detail::ConvGeometry& g, const Prepared& p, const torch::Tensor& values,
                               const CsrPattern& pattern, const torch::Tensor& bias) {
  auto out = at::empty({g.batch, g.cout, g.hout, g.wout}, values.options());
  const auto v = values.contiguous();
  const auto b = bias.defined() ? bias.contiguous() : bias;
  detail::conv_forward(g, p.x.data_ptr<float>(), pattern.row_ptr().data_ptr<int64_t>(), p.off.data_ptr<int64_t>(),
                       v.data_ptr<float>(), b.defined() ? b.data_ptr<float>() : nullptr, out.data_ptr<float>());
  return out;
}

/// Keeps the pattern alive in the autograd graph.
struct PatternCapsule : torch::CustomClassHolder {
  explicit PatternCapsule(CsrPattern p) : pattern(std::move(p)) {}
  CsrPattern pattern;
};

struct SparseConv2dFunction : torch::autograd::Function<SparseConv2dFunction> {
  /// `bias` is always a tensor (Function::apply rejects undefined inputs);
  /// `has_bias` says whether it is used.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& values,
                               const torch::Tensor& bias, bool has_bias, const CsrPattern& pattern,
                               const std::vector<int64_t>& packed) {
    const auto g = unpack_geometry(packed);
    const Prepared p = prepare(g, input, pattern);
    auto out = forward_prepared(g, p, values, pattern, has_bias ? bias : torch::Tensor());
    ctx->save_for_backward({values});
    ctx->saved_data["x"] = p.x;
    ctx->saved_data["off"] = p.off;
    ctx->saved_data["geometry"] = packed;
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["pattern"] = c10::IValue::make_capsule(c10::make_intrusive<PatternCapsule>(pattern));
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto values = ctx->get_saved_variables()[0];
    const auto capsule = ctx->saved_data["pattern"].toCapsule();
    const CsrPattern& pattern = static_cast<PatternCapsule*>(capsule.get())->pattern;
    const auto g = unpack_geometry(ctx->saved_data["geometry"].toIntVector());
    const auto grad_out = grad_outputs[0].contiguous();
    torch::Tensor grad_input, grad_values, grad_bias;
    if (ctx->needs_input_grad(0) || ctx->needs_input_grad(1)) {
      auto gz = at::empty({g.batch, g.cout, g.g_row}, grad_out.options());
      detail::conv_split_grad(g, grad_out.data_ptr<float>(), gz.data_ptr<float>());
      if (ctx->needs_input_grad(0)) {
        const CsrPattern t = pattern.transposed();
        const auto tv = values.index_select(0, pattern.transpose_perm()).contiguous();
        auto ptr = at::empty({g.cin * g.phases + 1}, at::kLong);
        auto off = at::empty({pattern.nnz()}, at::kLong);
        auto val = at::empty({pattern.nnz()}, at::kFloat);
        detail::conv_grad_lists(g, t.row_ptr().data_ptr<int64_t>(), t.col_idx().data_ptr<int32_t>(),
                                tv.data_ptr<float>(), ptr.data_ptr<int64_t>(), off.data_ptr<int64_t>(),
                                val.data_ptr<float>());
        grad_input = at::empty({g.batch, g.cin, g.h, g.w}, grad_out.options());
        detail::conv_input_grad(g, gz.data_ptr<float>(), ptr.data_ptr<int64_t>(), off.data_ptr<int64_t>(),
                                val.data_ptr<float>(), grad_input.data_ptr<float>());
      }
      if (ctx->needs_input_grad(1)) {
        grad_values = at::empty({pattern.nnz()}, grad_out.options());
        detail::conv_values_grad(g, gz.data_ptr<float>(), ctx->saved_data["x"].toTensor().data_ptr<float>(),
                                 pattern.row_ptr().data_ptr<int64_t>(),
                                 ctx->saved_data["off"].toTensor().data_ptr<int64_t>(), grad_values.data_ptr<float>());
      }
    }
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) grad_bias = grad_out.sum({0, 2, 3});
    return {grad_input, grad_values, grad_bias, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sparse_conv2d(const torch::Tensor& input, const torch::Tensor& values, const CsrPattern& pattern,
                            const torch::Tensor& bias, const SparseConv2dOptions& options) {
  check_float_cpu(input, "input");
  TORCH_CHECK(values.defined() && values.dim() == 1 && values.numel() == pattern.nnz(),
              "sparse_conv2d: values must have shape [", pattern.nnz(), "] (the pattern's entries), got ",
              values.defined() ? values.sizes() : at::IntArrayRef{});
  check_float_cpu(values, "values");
  if (bias.defined()) {
    TORCH_CHECK(bias.dim() == 1 && bias.size(0) == pattern.rows(), "sparse_conv2d: bias must have shape [",
                pattern.rows(), "], got ", bias.sizes());
    check_float_cpu(bias, "bias");
  }
  const auto g = geometry(input, pattern, options);
  const bool record = at::GradMode::is_enabled() &&
                      (input.requires_grad() || values.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (!record) return forward_prepared(g, prepare(g, input, pattern), values, pattern, bias);
  return SparseConv2dFunction::apply(input, values, bias.defined() ? bias : at::empty({0}, values.options()),
                                     bias.defined(), pattern, pack_geometry(g));
}

}  // namespace frugal::kernels
