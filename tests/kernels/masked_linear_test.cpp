#include "support/expect_error.h"
#include "support/layer_grads.h"

#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/masked_linear.h>
#include <frugal/kernels/sparse_linear.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace fk = frugal::kernels;
using frugal_test::expect_error;

namespace {

using frugal_test::Grads;
using frugal_test::run_layer;

}  // namespace

TEST(MaskedLinear, IsATorchLinearWithItsNamesAndItsForwardUntilAPatternIsSet) {
  torch::manual_seed(0);
  fk::MaskedLinear layer(9, 5);
  torch::nn::Module& module = *layer;
  EXPECT_NE(dynamic_cast<torch::nn::LinearImpl*>(&module), nullptr);
  EXPECT_EQ(layer->named_parameters().keys(), (std::vector<std::string>{"weight", "bias"}));
  const auto x = torch::randn({4, 9});
  EXPECT_TRUE(layer->forward(x).equal(torch::nn::functional::linear(x, layer->weight, layer->bias)));
  EXPECT_FALSE(layer->has_pattern());
  EXPECT_FALSE(layer->uses_sparse_kernel(x));
}

TEST(MaskedLinear, SparseForwardAndGradientsEqualTheMaskedDenseOnes) {
  struct Case {
    int64_t out, in, batch;
    double density;
  };
  // Batch 1, ragged shapes, an empty and a full row, density 1 and 0.
  for (const Case c : {Case{7, 13, 1, 0.3}, Case{40, 70, 33, 0.1}, Case{65, 129, 128, 0.05},
                       Case{12, 10, 5, 1.0}, Case{12, 10, 5, 0.0}}) {
    SCOPED_TRACE("out=" + std::to_string(c.out) + " in=" + std::to_string(c.in) + " batch=" +
                 std::to_string(c.batch) + " density=" + std::to_string(c.density));
    torch::manual_seed(3);
    auto mask = torch::rand({c.out, c.in}).lt(c.density);
    if (c.density > 0 && c.density < 1) {
      mask[0].fill_(false);
      mask[1].fill_(true);
    }
    fk::MaskedLinear layer(c.in, c.out);
    {
      torch::NoGradGuard no_grad;
      layer->weight.mul_(mask);
    }
    const auto x = torch::randn({c.batch, c.in});
    const auto grad_y = torch::randn({c.batch, c.out});
    const Grads dense = run_layer(*layer, x, grad_y);

    layer->set_pattern(mask, fk::KernelChoice::kSparse);
    ASSERT_TRUE(layer->uses_sparse_kernel(x));
    const Grads sparse = run_layer(*layer, x, grad_y);
    EXPECT_TRUE(torch::allclose(sparse.y, dense.y, 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(sparse.input, dense.input, 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(sparse.bias, dense.bias, 1e-4, 1e-5));
    // The weight gradient exists at the pattern only, where it is the dense one.
    EXPECT_TRUE(torch::allclose(sparse.weight, dense.weight * mask, 1e-4, 1e-5));
    EXPECT_EQ(sparse.weight.masked_select(mask.logical_not()).abs().sum().item<float>(), 0.0f);
  }
}

TEST(MaskedLinear, DenseGradientModeGivesTheFullWeightGradient) {
  torch::manual_seed(1);
  fk::MaskedLinear layer(20, 8);
  const auto mask = torch::rand({8, 20}).lt(0.2);
  {
    torch::NoGradGuard no_grad;
    layer->weight.mul_(mask);
  }
  const auto x = torch::randn({6, 20});
  const auto grad_y = torch::randn({6, 8});
  layer->set_pattern(mask, fk::KernelChoice::kSparse);
  layer->set_dense_gradient(true);
  EXPECT_FALSE(layer->uses_sparse_kernel(x));
  const Grads full = run_layer(*layer, x, grad_y);
  EXPECT_TRUE(torch::allclose(full.weight, grad_y.t().mm(x), 1e-4, 1e-5));
  EXPECT_GT(full.weight.masked_select(mask.logical_not()).abs().sum().item<float>(), 0.0f);
  layer->set_dense_gradient(false);
  EXPECT_TRUE(layer->uses_sparse_kernel(x));
  layer->clear_pattern();
  EXPECT_FALSE(layer->uses_sparse_kernel(x));
}

TEST(MaskedLinear, KernelChoiceDecidesAndForcedSparseRejectsWhatTheKernelsCannotTake) {
  fk::MaskedLinear layer(300, 100);
  const auto mask = torch::rand({100, 300}).lt(0.02);
  const auto x = torch::randn({256, 300});
  layer->set_pattern(mask, fk::KernelChoice::kDense);
  EXPECT_FALSE(layer->uses_sparse_kernel(x));
  layer->set_pattern(mask, fk::KernelChoice::kAuto);
  EXPECT_EQ(layer->uses_sparse_kernel(x),
            fk::use_sparse_kernel({100, 300, 256, at::get_num_threads()}, layer->pattern().density()));
  // Double inputs: auto falls back to dense, forced sparse says why it cannot.
  const auto x64 = x.to(torch::kDouble);
  layer->to(torch::kDouble);
  EXPECT_FALSE(layer->uses_sparse_kernel(x64));
  EXPECT_EQ(layer->forward(x64).scalar_type(), torch::kDouble);
  layer->set_pattern(mask, fk::KernelChoice::kSparse);
  expect_error([&] { layer->forward(x64); }, "the sparse kernels take float32 CPU tensors");
  expect_error([&] { layer->set_pattern(torch::ones({3, 3}, torch::kBool)); }, "mask must have shape [100, 300]");
  expect_error([] { fk::parse_kernel_choice("fast"); }, "unknown kernel choice 'fast' (expected auto, sparse or dense)");
  EXPECT_EQ(fk::to_string(fk::parse_kernel_choice("sparse")), "sparse");
}

TEST(SparseLinearModule, PatternsMayStartOrEndEmpty) {
  fk::SparseLinear layer(fk::SparseLinearOptions(6, 4).density(0.0));
  EXPECT_EQ(layer->values.numel(), 0);
  const auto weight = torch::randn({4, 6});
  const auto mask = torch::rand({4, 6}).lt(0.5);
  const auto source = layer->from_dense(weight, mask);
  EXPECT_TRUE(source.lt(0).all().item<bool>());
  EXPECT_TRUE(layer->to_dense().equal(weight * mask));
  layer->set_pattern(torch::zeros({4, 6}, torch::kBool));
  EXPECT_EQ(layer->values.numel(), 0);
  EXPECT_TRUE(layer->forward(torch::randn({2, 6})).equal(layer->bias.detach().expand({2, 4})));
}

TEST(MaskedLinear, CompactFormTrainsTheActiveWeightsOnlyAndWritesThemBack) {
  torch::manual_seed(2);
  fk::MaskedLinear layer(12, 6);
  auto mask = torch::rand({6, 12}).lt(0.4);
  mask[0][0] = true;
  mask[0][1] = false;
  {
    torch::NoGradGuard no_grad;
    layer->weight.mul_(mask);
  }
  const auto weight0 = layer->weight.detach().clone();
  const auto first = layer->set_compact_pattern(mask, fk::KernelChoice::kSparse);
  ASSERT_TRUE(layer->compact());
  EXPECT_TRUE(first.lt(0).all().item<bool>());
  EXPECT_TRUE(layer->values().equal(fk::csr_values(weight0, layer->pattern())));

  // Gradients reach the values, never the dense weight.
  const auto x = torch::randn({5, 12});
  layer->forward(x).sum().backward();
  EXPECT_FALSE(layer->weight.grad().defined());
  EXPECT_TRUE(torch::allclose(layer->values().grad(), fk::csr_values(torch::ones({5, 6}).t().mm(x), layer->pattern())));
  {
    torch::NoGradGuard no_grad;
    layer->values().add_(1.0);
  }
  EXPECT_TRUE(layer->weight.equal(weight0)) << "weight is stale until write_back";
  layer->write_back();
  EXPECT_TRUE(layer->weight.equal(weight0 + mask.to(torch::kFloat)));

  // Swap one entry: the survivors keep their index map, the new one is -1.
  auto next = mask.clone();
  next[0][0] = false;
  next[0][1] = true;
  const auto values = layer->values();
  const auto source = layer->set_compact_pattern(next, fk::KernelChoice::kSparse);
  EXPECT_TRUE(layer->values().is_same(values)) << "same entry count: same tensor, in place";
  EXPECT_EQ(source.lt(0).sum().item<int64_t>(), 1);
  EXPECT_EQ(source[0].item<int64_t>(), -1) << "row 0's first entry is the new position (0, 1)";
  layer->clear_pattern();
  EXPECT_FALSE(layer->compact());
  EXPECT_TRUE(layer->weight.equal(layer->weight * next)) << "clear_pattern writes back on the last pattern";
}
