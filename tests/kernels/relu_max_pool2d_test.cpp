#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/relu_max_pool2d.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <vector>

namespace fk = frugal::kernels;

namespace {

/// Equal element for element, a NaN matching only a NaN.
void expect_same(const torch::Tensor& got, const torch::Tensor& want, const char* what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  ASSERT_TRUE(torch::equal(got.isnan(), want.isnan())) << what << ": NaNs at other places";
  const auto numbers = want.isnan().logical_not();
  EXPECT_TRUE(torch::equal(got.masked_select(numbers), want.masked_select(numbers))) << what;
}

/// Values on a coarse grid, about half of them negative, so that windows
/// tie, lose to zero entirely, or mix signs.
torch::Tensor grid_values(const std::vector<int64_t>& sizes) {
  return torch::round(torch::randn(sizes) * 2) / 2;
}

/// Forward and input gradient of the fused op equal max_pool2d(relu(x), 2),
/// on the AVX2 and the portable path.
void expect_matches_unfused(const torch::Tensor& x) {
  SCOPED_TRACE(::testing::Message() << "input " << x.sizes());
  for (const bool portable : {false, true}) {
    SCOPED_TRACE(portable ? "portable" : "automatic");
    fk::set_portable_kernels(portable);
    const auto a = x.clone().requires_grad_(true), b = x.clone().requires_grad_(true);
    const auto got = fk::relu_max_pool2d(a);
    const auto want = torch::max_pool2d(torch::relu(b), 2);
    expect_same(got, want, "output");
    const auto grad = torch::randn(want.sizes());
    got.backward(grad);
    want.backward(grad);
    expect_same(a.grad(), b.grad(), "input gradient");
  }
  fk::set_portable_kernels(false);
}

TEST(ReluMaxPool2d, MatchesReluThenMaxPoolOverShapes) {
  torch::manual_seed(3);
  // The CNN's two pools (14 and 7 outputs a row: one full vector and a
  // tail, a tail only), odd sizes (floor mode), the smallest window, a row
  // of several vectors, batch 1 and a 3-D input.
  for (const auto& sizes : std::vector<std::vector<int64_t>>{
           {4, 3, 28, 28}, {2, 5, 14, 14}, {1, 1, 7, 9}, {3, 2, 2, 2}, {1, 2, 5, 40}, {1, 1, 3, 35}, {3, 6, 6}})
    expect_matches_unfused(grid_values(sizes));
}

TEST(ReluMaxPool2d, TiesGoToTheFirstLargestElement) {
  // Every window of the plane ties; its gradient must reach the top-left.
  torch::manual_seed(4);
  auto x = torch::ones({1, 1, 4, 20});
  expect_matches_unfused(x);
  const auto a = x.clone().requires_grad_(true);
  fk::relu_max_pool2d(a).sum().backward();
  const auto top_left = torch::zeros({4, 20}).index_put_({torch::indexing::Slice(0, 4, 2),
                                                          torch::indexing::Slice(0, 20, 2)}, 1.0);
  EXPECT_TRUE(torch::equal(a.grad()[0][0], top_left));
}

TEST(ReluMaxPool2d, NaNWinsAndNonPositiveWindowsGetNoGradient) {
  torch::manual_seed(5);
  auto x = grid_values({2, 3, 8, 18});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // NaN in several lanes and window positions, two NaNs in one window, and
  // a window of only zeros and negatives.
  x[0][0][0][0] = nan;
  x[0][1][3][5] = nan;
  x[1][2][6][17] = nan;
  x[1][2][7][16] = nan;
  x[1][0][4][9] = nan;
  x[1][1].slice(0, 2, 4).slice(1, 4, 6) = torch::tensor({{0.f, -1.f}, {-0.5f, 0.f}});
  expect_matches_unfused(x);
  const auto a = x.clone().requires_grad_(true);
  const auto out = fk::relu_max_pool2d(a);
  EXPECT_TRUE(std::isnan(out[0][0][0][0].item<float>()));
  EXPECT_EQ(out[1][1][1][2].item<float>(), 0.f);
  out.sum().backward();
  EXPECT_TRUE(torch::equal(a.grad()[1][1].slice(0, 2, 4).slice(1, 4, 6), torch::zeros({2, 2})));
}

TEST(ReluMaxPool2d, NonContiguousInputAndOtherDtypes) {
  torch::manual_seed(6);
  expect_matches_unfused(grid_values({2, 3, 12, 10}).transpose(2, 3));
  // float64 takes LibTorch's ops: the same numbers.
  const auto x = grid_values({2, 2, 6, 6}).to(torch::kDouble);
  EXPECT_TRUE(torch::equal(fk::relu_max_pool2d(x), torch::max_pool2d(torch::relu(x), 2)));
}

TEST(ReluMaxPool2d, ModuleInSequential) {
  torch::manual_seed(7);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)), fk::ReluMaxPool2d());
  const auto x = torch::randn({2, 1, 10, 10});
  const auto conv = net->ptr<torch::nn::Conv2dImpl>(0);
  EXPECT_TRUE(torch::equal(net->forward(x), torch::max_pool2d(torch::relu(conv->forward(x)), 2)));
}

}  // namespace
