// The shared mask layer: which weights are masked, applying masks, save/load.
#include "support/expect_error.h"
#include "frugal/sparse/mask.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <sstream>

using namespace frugal::sparse;

namespace {

struct Net : torch::nn::Module {
  Net() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 5, {3, 2})));
    body = register_module("body", torch::nn::Sequential(torch::nn::Linear(7, 6), torch::nn::ReLU(),
                                                          torch::nn::Linear(6, 4)));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({4})));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Sequential body{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};

using frugal_test::expect_error;

}  // namespace

TEST(MaskSet, MasksTheWeightsOfLinearAndConvLayersOnly) {
  Net net;
  MaskSet masks(net, {});
  ASSERT_EQ(masks.size(), 3u);
  EXPECT_EQ(masks.params()[0].name, "conv.weight");
  EXPECT_EQ(masks.params()[1].name, "body.0.weight");
  EXPECT_EQ(masks.params()[2].name, "body.2.weight");
  const auto& conv = masks.at("conv.weight");
  EXPECT_EQ(conv.n_out, 5);
  EXPECT_EQ(conv.n_in, 3);
  EXPECT_EQ(conv.kernel, 6);
  EXPECT_EQ(masks.at("body.0.weight").kernel, 1);
  // The masked tensor is the module's parameter itself, not a copy.
  EXPECT_EQ(conv.weight.unsafeGetTensorImpl(), net.conv->weight.unsafeGetTensorImpl());
  EXPECT_EQ(masks.total(), 5 * 3 * 6 + 7 * 6 + 6 * 4);
  EXPECT_EQ(masks.active(), masks.total());
}

TEST(MaskSet, IncludeAndDensePatternsSelectLayersAndUnmatchedPatternsAreErrors) {
  Net net;
  MaskSelection keep_ends;
  keep_ends.dense = {"conv", "body\\.2"};
  MaskSet masks(net, keep_ends);
  ASSERT_EQ(masks.size(), 1u);
  EXPECT_EQ(masks.params()[0].name, "body.0.weight");

  MaskSelection only_body;
  only_body.include = {"body\\..*"};
  EXPECT_EQ(MaskSet(net, only_body).size(), 2u);

  MaskSelection missing;
  missing.dense = {"head"};
  expect_error([&] { MaskSet(net, missing); }, "dense layer pattern 'head' matches no");
  MaskSelection bad;
  bad.include = {"body[("};
  expect_error([&] { MaskSet(net, bad); }, "is not a valid regular expression");
  MaskSelection nothing;
  nothing.dense = {".*"};
  expect_error([&] { MaskSet(net, nothing); }, "no Linear or Conv weight left to mask");
}

TEST(MaskSet, ApplyZeroesExactlyTheInactiveWeightsAndGradients) {
  for (auto dtype : {torch::kFloat, torch::kDouble, torch::kBFloat16}) {
    Net net;
    net.to(dtype);
    MaskSet masks(net, {});
    torch::manual_seed(0);
    std::vector<torch::Tensor> before;
    for (auto& p : masks.params()) {
      p.mask.copy_(torch::rand(p.mask.sizes()) < 0.3);
      torch::NoGradGuard no_grad;
      p.weight.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
      p.weight.mutable_grad() = torch::randn_like(p.weight);
      before.push_back(p.weight.detach().clone());
    }
    masks.apply_to_weights();
    masks.apply_to_gradients();
    for (size_t i = 0; i < masks.size(); ++i) {
      const auto& p = masks.params()[i];
      const auto inactive = p.mask.logical_not();
      EXPECT_TRUE(p.weight.masked_select(inactive).eq(0).all().item<bool>()) << p.name;
      EXPECT_TRUE(p.weight.grad().masked_select(inactive).eq(0).all().item<bool>()) << p.name;
      // Active weights keep their exact bits (NaN included).
      EXPECT_TRUE(torch::equal(p.weight.masked_select(p.mask).nan_to_num(7),
                               before[i].masked_select(p.mask).nan_to_num(7)));
    }
  }
}

TEST(MaskSet, SaveAndLoadRoundTripAndShapeMismatchIsAnError) {
  Net net;
  MaskSet masks(net, {});
  torch::manual_seed(1);
  for (auto& p : masks.params()) p.mask.copy_(torch::rand(p.mask.sizes()) < 0.5);
  std::stringstream stream;
  {
    torch::serialize::OutputArchive archive;
    masks.save(archive, "m/");
    archive.save_to(stream);
  }
  MaskSet other(net, {});
  torch::serialize::InputArchive archive;
  archive.load_from(stream);
  other.load(archive, "m/");
  for (size_t i = 0; i < masks.size(); ++i)
    EXPECT_TRUE(torch::equal(masks.params()[i].mask, other.params()[i].mask));

  struct Wider : torch::nn::Module {
    Wider() {
      conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 6, {3, 2})));
    }
    torch::nn::Conv2d conv{nullptr};
  } wider;
  MaskSet mismatched(wider, {});
  expect_error([&] { mismatched.load(archive, "m/"); }, "mask for 'conv.weight' has shape");
}
