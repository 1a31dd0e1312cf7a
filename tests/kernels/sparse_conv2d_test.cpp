#include "support/expect_error.h"

#include <frugal/kernels/csr.h>
#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/sparse_conv2d.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <string>

namespace fk = frugal::kernels;
using frugal_test::expect_error;

namespace {

using Pair = std::array<int64_t, 2>;

struct ConvCase {
  int64_t batch, cin, cout, h, w;
  Pair k, stride, padding, dilation;
  double density;
  bool bias;
  std::string name() const {
    auto pair = [](const Pair& p) { return std::to_string(p[0]) + "x" + std::to_string(p[1]); };
    return "batch=" + std::to_string(batch) + " cin=" + std::to_string(cin) + " cout=" + std::to_string(cout) +
           " " + std::to_string(h) + "x" + std::to_string(w) + " k=" + pair(k) + " s=" + pair(stride) +
           " p=" + pair(padding) + " d=" + pair(dilation) + " density=" + std::to_string(density) +
           (bias ? " bias" : "");
  }
};

/// Output and all three gradients of the sparse convolution equal those of
/// torch::conv2d on the masked dense weight.
void expect_matches_dense(const ConvCase& c) {
  SCOPED_TRACE(c.name());
  torch::manual_seed(11);
  auto mask = torch::rand({c.cout, c.cin, c.k[0], c.k[1]}).lt(c.density);
  if (c.density > 0 && c.density < 1 && c.cout > 2) {
    mask[0].fill_(false);  // an empty filter
    mask[1].fill_(true);   // a full one
  }
  const auto weight = torch::randn({c.cout, c.cin, c.k[0], c.k[1]}) * mask;
  const auto bias = c.bias ? torch::randn({c.cout}) : torch::Tensor();
  const auto x = torch::randn({c.batch, c.cin, c.h, c.w});
  const auto opts = fk::SparseConv2dOptions(c.k).stride(c.stride).padding(c.padding).dilation(c.dilation);

  auto xd = x.clone().requires_grad_(true);
  auto wd = weight.clone().requires_grad_(true);
  auto bd = c.bias ? bias.clone().requires_grad_(true) : torch::Tensor();
  auto yd = torch::conv2d(xd, wd, bd, c.stride, c.padding, c.dilation);
  const auto grad_y = torch::randn_like(yd);
  yd.backward(grad_y);

  const auto pattern = fk::CsrPattern::from_mask(mask.view({c.cout, -1}));
  auto xs = x.clone().requires_grad_(true);
  auto vs = fk::csr_values(weight.view({c.cout, -1}), pattern).clone().requires_grad_(true);
  auto bs = c.bias ? bias.clone().requires_grad_(true) : torch::Tensor();
  auto ys = fk::sparse_conv2d(xs, vs, pattern, bs, opts);
  ASSERT_EQ(ys.sizes(), yd.sizes());
  ys.backward(grad_y);

  EXPECT_TRUE(torch::allclose(ys, yd, 1e-4, 1e-4)) << (ys - yd).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(xs.grad(), xd.grad(), 1e-4, 1e-4)) << (xs.grad() - xd.grad()).abs().max().item<float>();
  const auto wd_grad = fk::csr_values(wd.grad().view({c.cout, -1}), pattern);
  EXPECT_TRUE(torch::allclose(vs.grad(), wd_grad, 1e-4, 1e-3)) << (vs.grad() - wd_grad).abs().max().item<float>();
  if (c.bias) EXPECT_TRUE(torch::allclose(bs.grad(), bd.grad(), 1e-4, 1e-4));

  // Without autograd (inference), the same output.
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(fk::sparse_conv2d(x, vs.detach(), pattern, bias, opts), yd, 1e-4, 1e-4));
}

const ConvCase kCases[] = {
    // batch, cin, cout, h, w, kernel, stride, padding, dilation, density, bias
    {4, 3, 5, 9, 9, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 0.4, true},      // the usual 3x3 "same"
    {3, 4, 6, 10, 7, {3, 3}, {1, 1}, {0, 0}, {1, 1}, 0.5, true},     // no padding, non-square
    {2, 3, 4, 11, 9, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 0.5, false},    // stride 2, odd sizes
    {2, 4, 5, 10, 12, {3, 3}, {2, 2}, {0, 0}, {1, 1}, 0.6, true},    // stride 2, no padding
    {2, 3, 4, 12, 11, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 0.5, true},    // dilation 2
    {2, 3, 4, 13, 12, {3, 3}, {2, 2}, {1, 1}, {2, 2}, 0.5, false},   // stride 2 and dilation 2
    {3, 8, 6, 6, 5, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 0.5, true},      // 1x1
    {3, 8, 6, 7, 9, {1, 1}, {2, 2}, {0, 0}, {1, 1}, 0.5, false},     // 1x1 stride 2 (a shortcut)
    {1, 5, 7, 8, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 0.3, true},      // batch 1
    {2, 3, 4, 6, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1.0, true},      // density 1
    {2, 3, 4, 6, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 0.0, true},      // density 0: bias only
    {2, 2, 3, 5, 6, {5, 5}, {1, 1}, {2, 2}, {1, 1}, 0.5, true},      // 5x5
    {2, 3, 4, 7, 7, {3, 3}, {3, 3}, {1, 1}, {1, 1}, 0.5, true},      // stride 3
    {2, 3, 4, 11, 10, {3, 2}, {2, 1}, {1, 0}, {1, 2}, 0.5, true},    // every size differs per axis
    {2, 3, 4, 9, 12, {2, 3}, {1, 3}, {0, 2}, {2, 1}, 0.5, false},    // and the other way round
    {4, 16, 24, 14, 14, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 0.1, true},  // a CNN-like layer at 90% sparsity
};

}  // namespace

TEST(SparseConv2d, OutputAndGradientsEqualMaskedDenseConv2d) {
  for (const auto& c : kCases) expect_matches_dense(c);
}

TEST(SparseConv2d, PortableKernelsAgreeWithTheDenseConvolutionToo) {
  fk::set_portable_kernels(true);
  for (const auto& c : {kCases[0], kCases[2], kCases[4], kCases[7]}) expect_matches_dense(c);
  fk::set_portable_kernels(false);
}

TEST(SparseConv2d, RejectsWhatItCannotComputeNamingTheValue) {
  const auto pattern = fk::CsrPattern::from_mask(torch::ones({4, 27}));
  const auto values = torch::randn({pattern.nnz()});
  const auto x = torch::randn({2, 3, 8, 8});
  const auto opts = fk::SparseConv2dOptions(3).padding(1);
  expect_error([&] { fk::sparse_conv2d(x.to(torch::kDouble), values, pattern, {}, opts); },
               "input must be a float32 CPU tensor, got CPUDoubleType");
  expect_error([&] { fk::sparse_conv2d(x[0], values, pattern, {}, opts); }, "input must be [N, C, H, W], got [3, 8, 8]");
  expect_error([&] { fk::sparse_conv2d(torch::randn({2, 4, 8, 8}), values, pattern, {}, opts); },
               "the pattern has 27 columns, but in_channels * kh * kw = 4 * 3 * 3 = 36");
  expect_error([&] { fk::sparse_conv2d(x, values.narrow(0, 0, 5), pattern, {}, opts); }, "values must have shape [108]");
  expect_error([&] { fk::sparse_conv2d(x, values, pattern, torch::randn({3}), opts); }, "bias must have shape [4]");
  expect_error([&] { fk::sparse_conv2d(x, values, pattern, {}, fk::SparseConv2dOptions(3).stride(0)); },
               "stride must be >= 1, got [0, 0]");
  expect_error([&] { fk::sparse_conv2d(torch::randn({2, 3, 2, 2}), values, pattern, {}, fk::SparseConv2dOptions(3)); },
               "is smaller than the dilated kernel");
}
