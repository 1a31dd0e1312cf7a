#include "support/expect_error.h"
#include "support/layer_grads.h"

#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/masked_conv2d.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace fk = frugal::kernels;
namespace nn = torch::nn;
using frugal_test::expect_error;

namespace {

using frugal_test::Grads;
using frugal_test::run_layer;

void mask_weight(fk::MaskedConv2dImpl& layer, const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  layer.weight.mul_(mask);
}

}  // namespace

TEST(MaskedConv2d, IsATorchConv2dWithItsNamesAndItsForwardUntilAPatternIsSet) {
  torch::manual_seed(0);
  fk::MaskedConv2d layer(nn::Conv2dOptions(3, 5, 3).padding(1));
  nn::Module& module = *layer;
  EXPECT_NE(dynamic_cast<nn::Conv2dImpl*>(&module), nullptr);
  EXPECT_NE(dynamic_cast<fk::MaskedLayer*>(&module), nullptr);
  EXPECT_EQ(layer->named_parameters().keys(), (std::vector<std::string>{"weight", "bias"}));
  const auto x = torch::randn({2, 3, 6, 6});
  EXPECT_TRUE(layer->forward(x).equal(torch::conv2d(x, layer->weight, layer->bias, 1, 1)));
  EXPECT_FALSE(layer->has_pattern());
  EXPECT_FALSE(layer->uses_sparse_kernel(x));
}

TEST(MaskedConv2d, SparseForwardAndGradientsEqualTheMaskedDenseOnes) {
  torch::manual_seed(4);
  fk::MaskedConv2d layer(nn::Conv2dOptions(6, 8, 3).stride(2).padding(1));
  const auto mask = torch::rand({8, 6, 3, 3}).lt(0.2);
  mask_weight(*layer, mask);
  const auto x = torch::randn({3, 6, 11, 10});
  const auto grad_y = torch::randn({3, 8, 6, 5});
  const Grads dense = run_layer(*layer, x, grad_y);
  layer->set_pattern(mask, fk::KernelChoice::kSparse);
  ASSERT_TRUE(layer->uses_sparse_kernel(x));
  const Grads sparse = run_layer(*layer, x, grad_y);
  EXPECT_TRUE(torch::allclose(sparse.y, dense.y, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(sparse.input, dense.input, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(sparse.bias, dense.bias, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(sparse.weight, dense.weight * mask, 1e-4, 1e-4));
  EXPECT_EQ(sparse.weight.masked_select(mask.logical_not()).abs().sum().item<float>(), 0.0f);
}

TEST(MaskedConv2d, CompactFormTrainsValuesGivesTheDenseGradientOnRequestAndWritesBack) {
  torch::manual_seed(5);
  fk::MaskedConv2d layer(nn::Conv2dOptions(4, 6, 3).padding(1));
  const auto mask = torch::rand({6, 4, 3, 3}).lt(0.3);
  mask_weight(*layer, mask);
  const auto weight0 = layer->weight.detach().clone();
  const auto x = torch::randn({2, 4, 7, 7});
  const auto grad_y = torch::randn({2, 6, 7, 7});
  const Grads dense = run_layer(*layer, x, grad_y);
  layer->weight.mutable_grad().reset();

  layer->set_compact_pattern(mask, fk::KernelChoice::kSparse);
  ASSERT_TRUE(layer->compact());
  layer->forward(x).backward(grad_y);
  EXPECT_FALSE(layer->weight.grad().defined());
  EXPECT_TRUE(torch::allclose(layer->values().grad(), fk::csr_values(dense.weight.view({6, -1}), layer->pattern()),
                              1e-4, 1e-4));

  layer->set_dense_gradient(true);
  EXPECT_FALSE(layer->uses_sparse_kernel(x));
  layer->forward(x).backward(grad_y);
  ASSERT_TRUE(layer->dense_weight_grad().defined());
  EXPECT_EQ(layer->dense_weight_grad().sizes(), layer->weight.sizes());
  EXPECT_TRUE(torch::allclose(layer->dense_weight_grad(), dense.weight, 1e-4, 1e-4));
  layer->set_dense_gradient(false);

  {
    torch::NoGradGuard no_grad;
    layer->values().add_(1.0);
  }
  EXPECT_TRUE(layer->weight.equal(weight0)) << "weight is stale until write_back";
  layer->write_back();
  EXPECT_TRUE(layer->weight.equal(weight0 + mask.to(torch::kFloat)));
  layer->clear_pattern();
  EXPECT_FALSE(layer->compact());
  EXPECT_FALSE(layer->has_pattern());
}

namespace {

/// Two conv layers (the second strided, without bias) and a sum-of-squares loss.
struct TinyCnn {
  fk::MaskedConv2d conv1{nn::Conv2dOptions(3, 8, 3).padding(1)};
  fk::MaskedConv2d conv2{nn::Conv2dOptions(8, 6, 3).stride(2).padding(1).bias(false)};
  torch::Tensor loss(const torch::Tensor& x) {
    return conv2->forward(torch::relu(conv1->forward(x))).pow(2).mean();
  }
};

using MakeOptimizer = std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<torch::Tensor>)>;

/// The weights after `steps` steps, trained masked dense (masked gradients,
/// weights masked after each step) or in the sparse compact form.
std::vector<torch::Tensor> train(bool sparse, const MakeOptimizer& make, int steps) {
  torch::manual_seed(21);
  TinyCnn net;
  const std::vector<torch::Tensor> masks = {torch::rand({8, 3, 3, 3}).lt(0.3), torch::rand({6, 8, 3, 3}).lt(0.15)};
  mask_weight(*net.conv1, masks[0]);
  mask_weight(*net.conv2, masks[1]);
  const auto x = torch::randn({4, 3, 9, 9});
  std::vector<torch::Tensor> params = {net.conv1->bias};
  if (sparse) {
    net.conv1->set_compact_pattern(masks[0], fk::KernelChoice::kSparse);
    net.conv2->set_compact_pattern(masks[1], fk::KernelChoice::kSparse);
    params.push_back(net.conv1->values());
    params.push_back(net.conv2->values());
  } else {
    params.push_back(net.conv1->weight);
    params.push_back(net.conv2->weight);
  }
  auto optimizer = make(params);
  for (int s = 0; s < steps; ++s) {
    optimizer->zero_grad();
    net.loss(x).backward();
    if (!sparse) {
      net.conv1->weight.grad().mul_(masks[0]);
      net.conv2->weight.grad().mul_(masks[1]);
    }
    optimizer->step();
    if (!sparse) {
      mask_weight(*net.conv1, masks[0]);
      mask_weight(*net.conv2, masks[1]);
    }
  }
  if (sparse) {
    net.conv1->write_back();
    net.conv2->write_back();
  }
  return {net.conv1->weight.detach().clone(), net.conv1->bias.detach().clone(), net.conv2->weight.detach().clone()};
}

}  // namespace

TEST(MaskedConv2d, SparseTrainingEqualsMaskedDenseTrainingWithSgdMomentumAndAdamW) {
  const std::vector<std::pair<const char*, MakeOptimizer>> optimizers = {
      {"sgd", [](std::vector<torch::Tensor> p) {
         return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-3));
       }},
      {"adamw", [](std::vector<torch::Tensor> p) {
         return std::make_unique<torch::optim::AdamW>(p, torch::optim::AdamWOptions(0.01).weight_decay(0.01));
       }},
  };
  for (const auto& [name, make] : optimizers) {
    SCOPED_TRACE(name);
    const auto dense = train(false, make, 6);
    const auto sparse = train(true, make, 6);
    for (size_t i = 0; i < dense.size(); ++i) {
      EXPECT_TRUE(torch::allclose(sparse[i], dense[i], 1e-4, 1e-4)) << (sparse[i] - dense[i]).abs().max().item<float>();
      EXPECT_FALSE(dense[i].equal(train(false, make, 0)[i])) << "the weights moved";
    }
  }
}

TEST(MaskedConv2d, ForcedSparseRejectsWhatTheKernelsCannotTakeAndAutoRunsItDense) {
  const auto x = torch::randn({2, 4, 8, 8});
  const auto mask = torch::rand({6, 4, 3, 3}).lt(0.1);
  {
    fk::MaskedConv2d layer(nn::Conv2dOptions(4, 6, 3).padding(1));
    layer->set_pattern(mask, fk::KernelChoice::kDense);
    EXPECT_FALSE(layer->uses_sparse_kernel(x));
    layer->to(torch::kDouble);
    layer->set_pattern(mask, fk::KernelChoice::kAuto);
    EXPECT_FALSE(layer->uses_sparse_kernel(x.to(torch::kDouble)));
    EXPECT_EQ(layer->forward(x.to(torch::kDouble)).scalar_type(), torch::kDouble);
    layer->set_pattern(mask, fk::KernelChoice::kSparse);
    expect_error([&] { layer->forward(x.to(torch::kDouble)); },
                 "MaskedConv2d: the sparse kernels take float32 CPU tensors, got input CPUDoubleType");
    expect_error([&] { layer->set_pattern(torch::ones({6, 36}, torch::kBool)); },
                 "MaskedConv2d::set_pattern: mask must have shape [6, 4, 3, 3], got [6, 36]");
  }
  {
    fk::MaskedConv2d grouped(nn::Conv2dOptions(4, 6, 3).groups(2));
    grouped->set_pattern(torch::ones({6, 2, 3, 3}), fk::KernelChoice::kAuto);
    EXPECT_FALSE(grouped->uses_sparse_kernel(x));
    grouped->set_pattern(torch::ones({6, 2, 3, 3}), fk::KernelChoice::kSparse);
    expect_error([&] { grouped->forward(x); }, "the sparse kernels take groups = 1, got groups = 2");
  }
  {
    fk::MaskedConv2d reflect(nn::Conv2dOptions(4, 6, 3).padding(1).padding_mode(torch::kReflect));
    reflect->set_pattern(mask, fk::KernelChoice::kSparse);
    expect_error([&] { reflect->forward(x); }, "the sparse kernels take zero padding, got padding_mode kReflect");
  }
  {
    fk::MaskedConv2d same(nn::Conv2dOptions(4, 6, 3).padding(torch::kSame));
    same->set_pattern(mask, fk::KernelChoice::kSparse);
    expect_error([&] { same->forward(x); }, "numeric padding");
    same->set_pattern(mask, fk::KernelChoice::kAuto);
    EXPECT_TRUE(same->forward(x).equal(torch::conv2d(x, same->weight, same->bias, 1, "same")));
  }
}

TEST(MaskedConv2d, AutoMeasuresTheCrossoverOncePerShape) {
  fk::MaskedConv2d layer(nn::Conv2dOptions(8, 8, 3).padding(1));
  const auto x = torch::randn({4, 8, 10, 10});
  layer->set_pattern(torch::zeros({8, 8, 3, 3}), fk::KernelChoice::kAuto);
  const fk::ConvShape shape{8, 8, 3, 3, 10, 10, 1, 1, 1, 1, 1, 1, 4, at::get_num_threads()};
  const double crossover = fk::measure_conv_crossover_density(shape);
  EXPECT_GE(crossover, 0.0);
  EXPECT_LE(crossover, 1.0);
  EXPECT_EQ(fk::measure_conv_crossover_density(shape), crossover) << "cached";
  EXPECT_EQ(layer->uses_sparse_kernel(x), 0.0 < crossover);
}
