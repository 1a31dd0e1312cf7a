#include "frugal/train/models.h"

#include "frugal/kernels/masked_conv2d.h"
#include "frugal/kernels/relu_max_pool2d.h"

#include <torch/torch.h>

#include <numeric>

namespace frugal::train {

namespace nn = torch::nn;

namespace {

/// The layer as a plain Linear holder, shared with the model.
nn::Linear as_linear(const kernels::MaskedLinear& layer) {
  return nn::Linear(std::shared_ptr<nn::LinearImpl>(layer.ptr()));
}

}  // namespace

MlpImpl::MlpImpl(int64_t in_features, std::vector<int64_t> hidden, int64_t num_classes) {
  TORCH_CHECK(in_features > 0, "mlp: input features must be > 0, got ", in_features);
  body_ = register_module("body", nn::Sequential());
  int64_t width = in_features;
  for (int64_t h : hidden) {
    TORCH_CHECK(h > 0, "mlp: hidden widths must be > 0, got ", h);
    body_->push_back(kernels::MaskedLinear(width, h));
    body_->push_back(nn::ReLU());
    width = h;
  }
  head_ = register_module("head", kernels::MaskedLinear(width, num_classes));
}

torch::Tensor MlpImpl::forward(torch::Tensor x) {
  return head_->forward(body_->forward(x.flatten(1)));
}

void MlpImpl::replace_head(int64_t num_classes) {
  head_ = replace_module("head", kernels::MaskedLinear(head_->options.in_features(), num_classes));
}

LinearStack MlpImpl::linear_stack() {
  LinearStack stack;
  // body = Linear, ReLU, Linear, ReLU, ...: the stack's form re-applies the ReLUs.
  for (const auto& child : body_->named_children())
    if (auto linear = std::dynamic_pointer_cast<nn::LinearImpl>(child.value()))
      stack.layers.emplace_back("body." + child.key(), nn::Linear(linear));
  stack.layers.emplace_back("head", as_linear(head_));
  return stack;
}

SmallCnnImpl::SmallCnnImpl(int64_t in_channels, int64_t image_size, int64_t num_classes) {
  TORCH_CHECK(image_size % 4 == 0 && image_size >= 8,
              "cnn: image size must be a multiple of 4 and >= 8, got ", image_size);
  features_ = register_module(
      "features",
      // ReLU and max-pool fused (kernels/relu_max_pool2d.h; unfused they
      // took a quarter of a dense training step on one core). Each Identity
      // keeps the slot the separate max-pool had, so the parameter names stay
      // features.0 and features.3.
      nn::Sequential(kernels::MaskedConv2d(nn::Conv2dOptions(in_channels, 32, 3).padding(1)),
                     kernels::ReluMaxPool2d(), nn::Identity(),
                     kernels::MaskedConv2d(nn::Conv2dOptions(32, 64, 3).padding(1)), kernels::ReluMaxPool2d(),
                     nn::Identity()));
  const int64_t side = image_size / 4;
  hidden_ = register_module("hidden", kernels::MaskedLinear(64 * side * side, 128));
  head_ = register_module("head", kernels::MaskedLinear(128, num_classes));
}

torch::Tensor SmallCnnImpl::forward(torch::Tensor x) {
  return head_->forward(torch::relu(hidden_->forward(features_->forward(x).flatten(1))));
}

void SmallCnnImpl::replace_head(int64_t num_classes) {
  head_ = replace_module("head", kernels::MaskedLinear(128, num_classes));
}

LinearStack SmallCnnImpl::linear_stack() {
  return {features_, {{"hidden", as_linear(hidden_)}, {"head", as_linear(head_)}}};
}

namespace {

/// Two 3x3 conv + batch-norm layers with an identity (or 1x1 projection) shortcut.
class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    conv1_ = register_module(
        "conv1", kernels::MaskedConv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm2d(out));
    conv2_ = register_module(
        "conv2", kernels::MaskedConv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2_ = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      shortcut_ = register_module(
          "shortcut",
          nn::Sequential(kernels::MaskedConv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)),
                         nn::BatchNorm2d(out)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    // In place on the batch norms' fresh outputs (their backward does not
    // read them): no extra activation-sized tensor per ReLU and sum.
    auto y = bn1_->forward(conv1_->forward(x)).relu_();
    y = bn2_->forward(conv2_->forward(y));
    return y.add_(shortcut_ ? shortcut_->forward(x) : x).relu_();
  }

 private:
  kernels::MaskedConv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(BasicBlock);

}  // namespace

ResNetImpl::ResNetImpl(int64_t in_channels, int64_t num_classes, int64_t blocks_per_stage,
                       std::vector<int64_t> widths) {
  TORCH_CHECK(!widths.empty() && blocks_per_stage >= 1, "resnet: needs at least one stage and block");
  features_ = register_module("features", nn::Sequential());
  features_->push_back(
      kernels::MaskedConv2d(nn::Conv2dOptions(in_channels, widths[0], 3).padding(1).bias(false)));
  features_->push_back(nn::BatchNorm2d(widths[0]));
  features_->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));  // on the batch norm's own output
  int64_t width = widths[0];
  for (size_t stage = 0; stage < widths.size(); ++stage) {
    for (int64_t b = 0; b < blocks_per_stage; ++b) {
      const int64_t stride = (b == 0 && stage > 0) ? 2 : 1;
      features_->push_back(BasicBlock(width, widths[stage], stride));
      width = widths[stage];
    }
  }
  features_->push_back(nn::AdaptiveAvgPool2d(1));
  features_out_ = width;
  head_ = register_module("head", kernels::MaskedLinear(width, num_classes));
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  return head_->forward(features_->forward(x).flatten(1));
}

void ResNetImpl::replace_head(int64_t num_classes) {
  head_ = replace_module("head", kernels::MaskedLinear(features_out_, num_classes));
}

LinearStack ResNetImpl::linear_stack() { return {features_, {{"head", as_linear(head_)}}}; }

namespace {

/// spec.input_shape as [channels, side, side], or a clear error naming the model.
const std::vector<int64_t>& square_image(const ModelSpec& spec) {
  const auto& s = spec.input_shape;
  TORCH_CHECK(s.size() == 3 && s[1] == s[2], "model '", spec.name,
              "' needs square image inputs [channels, side, side], got ", c10::IntArrayRef(s));
  return s;
}

}  // namespace

const std::vector<ModelEntry>& built_in_models() {
  static const std::vector<ModelEntry> models = {
      {"mlp", true,
       [](const ModelSpec& spec) -> std::shared_ptr<Classifier> {
         const auto& s = spec.input_shape;
         const int64_t features = std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
         return std::make_shared<MlpImpl>(features, spec.hidden, spec.num_classes);
       }},
      {"cnn", false,
       [](const ModelSpec& spec) -> std::shared_ptr<Classifier> {
         const auto& s = square_image(spec);
         return std::make_shared<SmallCnnImpl>(s[0], s[1], spec.num_classes);
       }},
      {"resnet20", false,
       [](const ModelSpec& spec) -> std::shared_ptr<Classifier> {
         return std::make_shared<ResNetImpl>(square_image(spec)[0], spec.num_classes);
       }},
      // The CIFAR variant of ResNet-18: 3x3 stem, no max-pool, two blocks per stage.
      {"resnet18", false,
       [](const ModelSpec& spec) -> std::shared_ptr<Classifier> {
         return std::make_shared<ResNetImpl>(square_image(spec)[0], spec.num_classes, 2,
                                             std::vector<int64_t>{64, 128, 256, 512});
       }},
  };
  return models;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& model : built_in_models()) names.push_back(model.name);
  return names;
}

std::string model_list() {
  std::string out;
  for (const auto& name : model_names()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

const ModelEntry& model_entry(const std::string& name) {
  for (const auto& model : built_in_models())
    if (model.name == name) return model;
  TORCH_CHECK(false, "model: unknown name '", name, "' (known: ", model_list(), ")");
}

std::shared_ptr<Classifier> build_model(const ModelSpec& spec) {
  TORCH_CHECK(spec.num_classes >= 2, "model: num_classes must be >= 2, got ", spec.num_classes);
  TORCH_CHECK(!spec.input_shape.empty(), "model: the input shape is unknown");
  return model_entry(spec.name).build(spec);
}

}  // namespace frugal::train
