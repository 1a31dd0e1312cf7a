#pragma once
/// Built-in models. They are ordinary torch::nn::Modules; the trainer works on
/// any module with `Tensor forward(Tensor)` through torch::nn::AnyModule.
/// Their Linear layers are kernels::MaskedLinear (a torch::nn::Linear that
/// sparse training can switch to the CSR kernels).

#include "frugal/kernels/masked_linear.h"

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace frugal::train {

/// A classifier as features (dense, none for an MLP) -> flatten ->
/// Linear (-> ReLU -> Linear)*: the form sparse inference (app/sparse_model.h)
/// rebuilds with sparse Linear layers.
struct LinearStack {
  torch::nn::Sequential features{nullptr};
  /// The Linear layers in forward order, named as in named_parameters()
  /// without ".weight" ("body.0", "head").
  std::vector<std::pair<std::string, torch::nn::Linear>> layers;
};

/// A classifier whose output layer can be swapped for a fresh one (transfer learning).
class Classifier : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  /// Replaces the output layer by a freshly initialized one with `num_classes` outputs.
  virtual void replace_head(int64_t num_classes) = 0;
  /// Name prefix of the output layer's parameters, e.g. "head".
  virtual std::string head_name() const = 0;
  /// The model's layers as a LinearStack (shared with the model, not copies).
  virtual LinearStack linear_stack() = 0;
};

/// Multi-layer perceptron: flatten, then Linear + ReLU per hidden width, then
/// the head. Default widths {300, 100}: LeNet-300-100.
class MlpImpl : public Classifier {
 public:
  MlpImpl(int64_t in_features, std::vector<int64_t> hidden, int64_t num_classes);
  torch::Tensor forward(torch::Tensor x) override;
  void replace_head(int64_t num_classes) override;
  std::string head_name() const override { return "head"; }
  LinearStack linear_stack() override;

 private:
  torch::nn::Sequential body_{nullptr};
  kernels::MaskedLinear head_{nullptr};
};

/// Small CNN for 28x28 inputs: two 3x3 conv + ReLU + 2x2 max-pool stages
/// (32, 64 channels), a 128-unit hidden Linear, and the head.
class SmallCnnImpl : public Classifier {
 public:
  SmallCnnImpl(int64_t in_channels, int64_t image_size, int64_t num_classes);
  torch::Tensor forward(torch::Tensor x) override;
  void replace_head(int64_t num_classes) override;
  std::string head_name() const override { return "head"; }
  LinearStack linear_stack() override;

 private:
  torch::nn::Sequential features_{nullptr};
  kernels::MaskedLinear hidden_{nullptr};
  kernels::MaskedLinear head_{nullptr};
};

/// ResNet for 32x32 inputs (He et al. 2016, CIFAR variant): a 3x3 stem
/// without max-pool, one stage of `blocks_per_stage` basic blocks per width
/// (stride 2 between stages), global average pooling, and the head.
/// Defaults: ResNet-20 (widths 16, 32, 64; 3 blocks). ResNet-18 as the
/// InfoBatch and ITOP papers train it on CIFAR: widths 64, 128, 256, 512; 2 blocks.
class ResNetImpl : public Classifier {
 public:
  ResNetImpl(int64_t in_channels, int64_t num_classes, int64_t blocks_per_stage = 3,
             std::vector<int64_t> widths = {16, 32, 64});
  torch::Tensor forward(torch::Tensor x) override;
  void replace_head(int64_t num_classes) override;
  std::string head_name() const override { return "head"; }
  LinearStack linear_stack() override;

 private:
  torch::nn::Sequential features_{nullptr};
  kernels::MaskedLinear head_{nullptr};
  int64_t features_out_ = 0;
};

/// What build_model() needs.
struct ModelSpec {
  /// One of model_names(). Default "mlp".
  std::string name = "mlp";
  /// Hidden widths of the MLP. Default {300, 100}.
  std::vector<int64_t> hidden = {300, 100};
  /// Shape of one input sample, e.g. {1, 28, 28}.
  std::vector<int64_t> input_shape;
  int64_t num_classes = 10;
};

/// One built-in model. Adding a model is its class and one entry in
/// built_in_models() (src/train/models.cpp); the recipe, its reference and
/// sparse inference take it from there.
struct ModelEntry {
  std::string name;
  /// Whether it reads ModelSpec::hidden (else [model] hidden is an error).
  bool uses_hidden = false;
  /// Builds it from spec.input_shape and spec.num_classes (checked already).
  std::function<std::shared_ptr<Classifier>(const ModelSpec& spec)> build;
};

/// Every built-in model, in the order the reference lists them.
const std::vector<ModelEntry>& built_in_models();

/// The entry named `name`; throws naming the known ones otherwise.
const ModelEntry& model_entry(const std::string& name);

/// Builds a built-in model; throws for an unknown name or an input shape the model cannot take.
std::shared_ptr<Classifier> build_model(const ModelSpec& spec);

/// Names of the built-in models, in built_in_models() order.
std::vector<std::string> model_names();
/// model_names() as "mlp, cnn, ..." for messages.
std::string model_list();

}  // namespace frugal::train
