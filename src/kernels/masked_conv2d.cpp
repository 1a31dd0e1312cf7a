#include <frugal/kernels/masked_conv2d.h>
#include <frugal/kernels/sparse_conv2d.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <sstream>

namespace frugal::kernels {
namespace {

/// The numeric padding of `options`, or false for padding "same".
bool numeric_padding(const torch::nn::Conv2dOptions::padding_t& padding, std::array<int64_t, 2>& out) {
  if (const auto* p = c10::get_if<torch::ExpandingArray<2>>(&padding)) {
    out = {(**p)[0], (**p)[1]};
    return true;
  }
  if (c10::get_if<torch::enumtype::kValid>(&padding)) {
    out = {0, 0};
    return true;
  }
  return false;
}

}  // namespace

std::string MaskedConv2dImpl::unsupported(const torch::Tensor& input) const {
  std::ostringstream why;
  std::array<int64_t, 2> pad{};
  if (input.scalar_type() != at::kFloat || !input.device().is_cpu() || weight.scalar_type() != at::kFloat ||
      !weight.device().is_cpu())
    why << "the sparse kernels take float32 CPU tensors, got input " << input.toString() << " and weight "
        << weight.toString();
  else if (input.dim() != 4)
    why << "the sparse kernels take 4-D input [N, C, H, W], got " << input.sizes();
  else if (options.groups() != 1)
    why << "the sparse kernels take groups = 1, got groups = " << options.groups();
  else if (!c10::get_if<torch::enumtype::kZeros>(&options.padding_mode()))
    why << "the sparse kernels take zero padding, got padding_mode "
        << torch::enumtype::get_enum_name(options.padding_mode());
  else if (!numeric_padding(options.padding(), pad))
    why << "the sparse kernels take numeric padding, got padding 'same'";
  return why.str();
}

bool MaskedConv2dImpl::uses_sparse_kernel(const torch::Tensor& input) {
  if (!has_pattern_ || dense_gradient_) return false;
  if (const auto why = unsupported(input); !why.empty()) {
    TORCH_CHECK(kernel_ != KernelChoice::kSparse, "MaskedConv2d: ", why, " (use the dense or auto kernel choice)");
    return false;
  }
  if (kernel_ != KernelChoice::kAuto) return kernel_ == KernelChoice::kSparse;
  const int64_t threads = at::get_num_threads();
  const std::array<int64_t, 4> key = {input.size(0), input.size(2), input.size(3), threads};
  if (const auto it = decisions_.find(key); it != decisions_.end()) return it->second;
  std::array<int64_t, 2> pad{};
  numeric_padding(options.padding(), pad);
  const auto k = *options.kernel_size(), s = *options.stride(), d = *options.dilation();
  const ConvShape shape{options.out_channels(), options.in_channels(), k[0], k[1], input.size(2), input.size(3),
                        s[0], s[1], pad[0], pad[1], d[0], d[1], input.size(0), threads};
  const bool sparse = use_sparse_conv_kernel(shape, pattern_.density(), kernel_);
  decisions_.emplace(key, sparse);
  return sparse;
}

torch::Tensor MaskedConv2dImpl::forward(const torch::Tensor& input) {
  const bool sparse = uses_sparse_kernel(input);
  if (!sparse) return compact() ? _conv_forward(input, compact_dense_weight()) : Conv2dImpl::forward(input);
  std::array<int64_t, 2> pad{};
  numeric_padding(options.padding(), pad);
  const auto conv = SparseConv2dOptions(options.kernel_size())
                        .stride(options.stride())
                        .padding({pad[0], pad[1]})
                        .dilation(options.dilation());
  if (compact()) return sparse_conv2d(input, values_, pattern_, bias, conv);
  // Gathering the active entries is differentiable: the weight's gradient
  // is exact at the pattern and zero elsewhere.
  return sparse_conv2d(input, csr_values(weight.reshape({weight.size(0), -1}), pattern_), pattern_, bias, conv);
}

void MaskedConv2dImpl::pretty_print(std::ostream& stream) const {
  stream << "frugal::kernels::MaskedConv2d(" << options.in_channels() << ", " << options.out_channels()
         << ", kernel_size=" << options.kernel_size() << ", stride=" << options.stride();
  if (has_pattern_) stream << ", density=" << pattern_.density();
  stream << ")";
}

}  // namespace frugal::kernels
