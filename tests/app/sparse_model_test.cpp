#include "frugal/app/sparse_model.h"
#include "frugal/kernels/masked_conv2d.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

namespace {

namespace fs = std::filesystem;
using frugal::kernels::KernelChoice;
using frugal::app::SparseInference;
using frugal::app::SparseInferenceOptions;

/// Zeroes all but `density` of every weight matrix of `model` (a baked pruned
/// model), with row 0 of the first layer empty and the last layer left dense.
void prune_like_export(torch::nn::Module& model, double density) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> weights;
  for (const auto& p : model.named_parameters())
    if (p.key().size() > 7 && p.key().substr(p.key().size() - 7) == ".weight" && p.value().dim() == 2)
      weights.push_back(p.value());
  for (size_t i = 0; i + 1 < weights.size(); ++i) weights[i].mul_(torch::rand(weights[i].sizes()).lt(density));
  weights.front()[0].zero_();
}

std::shared_ptr<frugal::train::Classifier> mlp(int64_t in = 20, std::vector<int64_t> hidden = {16, 12}) {
  return frugal::train::build_model({"mlp", hidden, {in}, 5});
}

TEST(SparseInference, MlpOutputsEqualTheBakedModelWithEmptyRowAndDenseHead) {
  torch::manual_seed(1);
  auto model = mlp();
  prune_like_export(*model, 0.2);
  model->eval();
  SparseInference sparse(model, SparseInferenceOptions().kernel(KernelChoice::kSparse));
  ASSERT_EQ(sparse->layer_info().size(), 3u);
  for (const auto& l : sparse->layer_info()) EXPECT_TRUE(l.sparse) << l.name;
  EXPECT_EQ(sparse->layer_info()[0].name, "body.0");
  EXPECT_EQ(sparse->layer_info()[2].name, "head");
  EXPECT_DOUBLE_EQ(sparse->layer_info()[2].density, 1.0);
  EXPECT_LT(sparse->layer_info()[0].density, 0.3);

  torch::NoGradGuard no_grad;
  for (int64_t batch : {1, 7, 64}) {
    const auto x = torch::randn({batch, 20});
    EXPECT_TRUE(torch::allclose(sparse->forward(x), model->forward(x), 1e-5, 1e-5)) << "batch " << batch;
  }
  // The copy is independent: changing the source afterwards changes nothing.
  const auto x = torch::randn({4, 20});
  const auto before = sparse->forward(x);
  for (auto& p : model->parameters()) p.add_(1.0);
  EXPECT_TRUE(torch::equal(sparse->forward(x), before));
}

TEST(SparseInference, AutoKeepsDenseLayersDenseAndForcedDenseUsesNoSparseLayer) {
  torch::manual_seed(2);
  auto model = frugal::train::build_model({"mlp", {300, 100}, {784}, 10});
  prune_like_export(*model, 0.05);
  model->eval();
  SparseInference automatic(model, SparseInferenceOptions().batch(256).threads(1));
  // LeNet-300-100 at 5%: the big layers are below every crossover in the
  // table; the untouched 10x100 head is dense.
  EXPECT_TRUE(automatic->layer_info()[0].sparse);
  EXPECT_TRUE(automatic->layer_info()[1].sparse);
  EXPECT_FALSE(automatic->layer_info()[2].sparse);
  EXPECT_NE(automatic->layer_table().find("| head | 10x100 | 1.0000 | dense |"), std::string::npos)
      << automatic->layer_table();
  SparseInference dense(model, SparseInferenceOptions().kernel(KernelChoice::kDense));
  for (const auto& l : dense->layer_info()) EXPECT_FALSE(l.sparse);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({33, 784});
  EXPECT_TRUE(torch::allclose(automatic->forward(x), model->forward(x), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(dense->forward(x), model->forward(x), 1e-5, 1e-5));
}

TEST(SparseInference, LayersOptionLimitsWhichLayersBecomeSparse) {
  torch::manual_seed(3);
  auto model = mlp();
  prune_like_export(*model, 0.3);
  SparseInference sparse(model, SparseInferenceOptions().kernel(KernelChoice::kSparse).layers({"body.2.weight"}));
  EXPECT_FALSE(sparse->layer_info()[0].sparse);
  EXPECT_TRUE(sparse->layer_info()[1].sparse);
  EXPECT_FALSE(sparse->layer_info()[2].sparse);
  EXPECT_THROW(SparseInference(model, SparseInferenceOptions().layers({"body.1"})), c10::Error);
}

TEST(SparseInference, CnnLinearLayersRunSparseBehindTheDenseFeatures) {
  torch::manual_seed(4);
  auto model = frugal::train::build_model({"cnn", {}, {1, 8, 8}, 3});
  prune_like_export(*model, 0.1);  // the Linear weights only; the convolutions stay dense
  model->eval();
  SparseInference sparse(model, SparseInferenceOptions().kernel(KernelChoice::kSparse));
  ASSERT_EQ(sparse->layer_info().size(), 2u);
  EXPECT_EQ(sparse->layer_info()[0].name, "hidden");
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({5, 1, 8, 8});
  EXPECT_TRUE(torch::allclose(sparse->forward(x), model->forward(x), 1e-5, 1e-5));
}

/// Zeroes all but `density` of every convolution weight of `model`.
std::vector<frugal::kernels::MaskedConv2dImpl*> prune_convolutions(torch::nn::Module& model, double density) {
  torch::NoGradGuard no_grad;
  std::vector<frugal::kernels::MaskedConv2dImpl*> convs;
  for (const auto& m : model.modules())
    if (auto* conv = dynamic_cast<frugal::kernels::MaskedConv2dImpl*>(m.get())) {
      conv->weight.mul_(torch::rand(conv->weight.sizes()).lt(density));
      convs.push_back(conv);
    }
  return convs;
}

TEST(SparseInference, PrunedCnnConvolutionsRunOnTheSparseKernelsWithTheSameOutputs) {
  torch::manual_seed(6);
  auto model = frugal::train::build_model({"cnn", {}, {1, 8, 8}, 3});
  const auto convs = prune_convolutions(*model, 0.1);
  ASSERT_EQ(convs.size(), 2u);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({5, 1, 8, 8});
  const auto dense = model->forward(x);  // before any pattern: the plain dense convolutions
  for (auto* conv : convs) ASSERT_FALSE(conv->has_pattern());

  SparseInference sparse(model, SparseInferenceOptions().kernel(KernelChoice::kSparse));
  ASSERT_EQ(sparse->conv_layers().size(), 2u);
  for (const auto& c : sparse->conv_layers()) {
    EXPECT_TRUE(c.sparse) << c.name;
    EXPECT_LT(c.density, 0.2) << c.name;
  }
  EXPECT_EQ(sparse->conv_layers()[0].in_features, 1 * 3 * 3);
  EXPECT_TRUE(convs[0]->has_pattern());
  EXPECT_TRUE(convs[0]->uses_sparse_kernel(x));
  EXPECT_NE(sparse->layer_table().find("sparse conv"), std::string::npos);
  EXPECT_TRUE(torch::allclose(sparse->forward(x), dense, 1e-4, 1e-5));

  // Saved and loaded, the convolutions run on their patterns again.
  const auto path = (fs::temp_directory_path() / "frugal_sparse_cnn_test.pt").string();
  frugal::app::save_sparse_model(*sparse, path);
  torch::manual_seed(98);
  auto fresh = frugal::train::build_model({"cnn", {}, {1, 8, 8}, 3});
  auto loaded = frugal::app::load_sparse_model(path, fresh);
  fs::remove(path);
  ASSERT_EQ(loaded->conv_layers().size(), 2u);
  for (const auto& c : loaded->conv_layers()) EXPECT_TRUE(c.sparse) << c.name;
  EXPECT_TRUE(torch::allclose(loaded->forward(x), dense, 1e-4, 1e-5));

  // Forced dense: no pattern anywhere.
  SparseInference plain(model, SparseInferenceOptions().kernel(KernelChoice::kDense));
  for (auto* conv : convs) EXPECT_FALSE(conv->has_pattern());
}

TEST(SparseInference, SaveAndLoadGiveTheSameOutputs) {
  torch::manual_seed(5);
  auto model = mlp();
  prune_like_export(*model, 0.25);
  SparseInference sparse(model, SparseInferenceOptions().kernel(KernelChoice::kSparse).layers({"body.0", "body.2"}));
  const auto path = (fs::temp_directory_path() / "frugal_sparse_model_test.pt").string();
  frugal::app::save_sparse_model(*sparse, path);

  torch::manual_seed(99);  // a fresh architecture with other weights
  auto loaded = frugal::app::load_sparse_model(path, mlp());
  EXPECT_EQ(loaded->layout(), sparse->layout());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(loaded->layer_info()[i].sparse, sparse->layer_info()[i].sparse);
    EXPECT_DOUBLE_EQ(loaded->layer_info()[i].density, sparse->layer_info()[i].density);
  }
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({9, 20});
  EXPECT_TRUE(torch::allclose(loaded->forward(x), sparse->forward(x), 1e-6, 1e-6));

  // Another architecture does not load silently.
  EXPECT_THROW(frugal::app::load_sparse_model(path, mlp(20, {16, 13})), c10::Error);
  EXPECT_THROW(frugal::app::load_sparse_model(path, mlp(20, {16})), c10::Error);
  fs::remove(path);
  EXPECT_THROW(frugal::app::load_sparse_model(path, mlp()), c10::Error);
}

}  // namespace
