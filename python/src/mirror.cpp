#include "mirror.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <mutex>

namespace frugal::python {

namespace {

/// A C++ layer of type Impl whose "weight" parameter is `weight`.
template <typename Impl>
struct Borrowed : Impl {
  template <typename Options>
  Borrowed(const Options& options, const torch::Tensor& weight) : Impl(options) {
    this->parameters_["weight"] = weight;  // the registered parameter
    this->weight = weight;                 // the member forward reads
  }
};

template <typename Impl, typename Options>
std::shared_ptr<torch::nn::Module> make(const Options& options, const torch::Tensor& weight,
                                        torch::Tensor** member) {
  auto layer = std::make_shared<Borrowed<Impl>>(options, weight);
  *member = &layer->weight;
  return layer;
}

/// The layer for a weight of weight.dim() dimensions, built 1 x 1 (the
/// borrowed weight replaces the drawn one) with torch's global generator
/// restored after, so the user's random stream is untouched.
std::shared_ptr<torch::nn::Module> borrow(const std::string& name, const torch::Tensor& weight,
                                          torch::Tensor** member) {
  namespace nn = torch::nn;
  auto gen = at::detail::getDefaultCPUGenerator();
  at::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  std::shared_ptr<nn::Module> layer;
  switch (weight.dim()) {
    case 2: layer = make<nn::LinearImpl>(nn::LinearOptions(1, 1).bias(false), weight, member); break;
    case 3: layer = make<nn::Conv1dImpl>(nn::Conv1dOptions(1, 1, 1).bias(false), weight, member); break;
    case 4: layer = make<nn::Conv2dImpl>(nn::Conv2dOptions(1, 1, 1).bias(false), weight, member); break;
    case 5: layer = make<nn::Conv3dImpl>(nn::Conv3dOptions(1, 1, 1).bias(false), weight, member); break;
    default:
      TORCH_CHECK(false, "layer '", name, "': weight of shape ", weight.sizes(),
                  " is neither a Linear (2-D) nor a Conv (3-D to 5-D) weight");
  }
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  return layer;
}

std::vector<std::string> split(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t dot = name.find('.', start);
    parts.push_back(name.substr(start, dot == std::string::npos ? dot : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

}  // namespace

Mirror::Mirror(const std::vector<std::string>& names, const std::vector<torch::Tensor>& weights)
    : root_(std::make_shared<torch::nn::Module>("Mirror")) {
  TORCH_CHECK(names.size() == weights.size(), names.size(), " layer names but ", weights.size(), " weights");
  std::map<std::string, std::shared_ptr<torch::nn::Module>> inner = {{"", root_}};
  for (size_t i = 0; i < names.size(); ++i) {
    const auto& name = names[i];
    TORCH_CHECK(!name.empty(), "the model itself is a Linear or Conv layer: wrap it in a module "
                               "(e.g. torch.nn.Sequential)");
    TORCH_CHECK(weights[i].defined() && weights[i].is_contiguous(), "layer '", name,
                "': the weight must be a contiguous tensor");
    TORCH_CHECK(inner.count(name) == 0, "layer '", name, "' holds other Linear or Conv layers");
    const auto parts = split(name);
    std::string path;
    auto parent = root_;
    for (size_t k = 0; k + 1 < parts.size(); ++k) {
      path += (k ? "." : "") + parts[k];
      TORCH_CHECK(members_.count(path + ".weight") == 0, "layer '", path, "' holds other Linear or Conv layers");
      auto& node = inner[path];
      if (!node) node = parent->register_module(parts[k], std::make_shared<torch::nn::Module>());
      parent = node;
    }
    torch::Tensor* member = nullptr;
    parent->register_module(parts.back(), borrow(name, weights[i], &member));
    members_[name + ".weight"] = member;
  }
}

torch::Tensor& Mirror::weight_member(const std::string& param_name) {
  auto it = members_.find(param_name);
  TORCH_CHECK(it != members_.end(), "no mirrored layer holds '", param_name, "'");
  return *it->second;
}

}  // namespace frugal::python
