#include "compact_layers.h"

#include "frugal/sparse/dynamic_sparsity.h"

#include <torch/torch.h>

#include <map>
#include <string>

// The kernel layers of dynamic sparse training: which masked layers run the
// sparse kernels, and their compact form (values the optimizer steps).

namespace frugal::sparse {

namespace {

/// A shared handle on `module` as a masked layer (kernels::MaskedLinear,
/// kernels::MaskedConv2d), or null. A root module that no shared_ptr holds
/// gets a non-owning handle: the model outlives the hook.
std::shared_ptr<kernels::MaskedLayer> as_masked_layer(torch::nn::Module& module) {
  auto* layer = dynamic_cast<kernels::MaskedLayer*>(&module);
  if (layer == nullptr) return nullptr;
  if (auto owner = module.weak_from_this().lock())
    return std::shared_ptr<kernels::MaskedLayer>(owner, layer);
  return std::shared_ptr<kernels::MaskedLayer>(std::shared_ptr<void>(), layer);
}

}  // namespace

std::vector<std::shared_ptr<kernels::MaskedLayer>> find_kernel_layers(torch::nn::Module& model, const MaskSet& masks,
                                                                      const std::vector<bool>& frozen,
                                                                      kernels::KernelChoice choice) {
  std::vector<std::shared_ptr<kernels::MaskedLayer>> layers(masks.size());
  if (choice == kernels::KernelChoice::kDense) return layers;
  std::map<std::string, torch::nn::Module*> modules;
  for (const auto& [module_name, module] : modules_of(model))
    modules[module_name.empty() ? "weight" : module_name + ".weight"] = module;
  for (size_t i = 0; i < masks.size(); ++i) {
    const auto& name = masks.params()[i].name;
    auto it = modules.find(name);
    if (frozen[i] || it == modules.end()) continue;
    layers[i] = as_masked_layer(*it->second);
    const bool plain_linear = dynamic_cast<torch::nn::LinearImpl*>(it->second) != nullptr;
    const bool plain_conv = dynamic_cast<torch::nn::Conv2dImpl*>(it->second) != nullptr;
    TORCH_CHECK(layers[i] != nullptr || choice != kernels::KernelChoice::kSparse || !(plain_linear || plain_conv),
                "sparse kernel 'sparse': layer '", name, "' is a ",
                plain_linear ? "torch::nn::Linear; the CSR kernels need a frugal::kernels::MaskedLinear"
                             : "torch::nn::Conv2d; the sparse kernels need a frugal::kernels::MaskedConv2d",
                " there (or use kernel 'auto' or 'dense')");
  }
  return layers;
}

void DynamicSparsity::start_compact_layers() {
  // The compact form needs an optimizer to step the values, the kernels'
  // float32 CPU tensors, and a method that does without the dense gradient
  // at most steps (not SNFS).
  if (context_.optimizer == nullptr || options_.method() == SparseMethod::kMomentum) return;
  std::vector<torch::Tensor> values;
  for (size_t i = 0; i < kernel_layers_.size(); ++i) {
    auto& layer = kernel_layers_[i];
    if (!layer || layer->masked_weight().scalar_type() != torch::kFloat || !layer->masked_weight().device().is_cpu())
      continue;
    layer->set_compact_pattern(masks_.params()[i].mask, options_.kernel());
    values.push_back(layer->values());
  }
  if (values.empty()) return;
  // Same hyper-parameters as the weights they stand for (the first group's).
  auto& optimizer = *context_.optimizer;
  optimizer.add_param_group(
      torch::optim::OptimizerParamGroup(values, optimizer.param_groups().front().options().clone()));
}

bool DynamicSparsity::is_compact(size_t index) const {
  return index < kernel_layers_.size() && kernel_layers_[index] && kernel_layers_[index]->compact();
}

bool DynamicSparsity::fixed_parameters() const {
  for (size_t i = 0; i < kernel_layers_.size(); ++i)
    if (is_compact(i)) return false;
  return true;
}

void DynamicSparsity::write_back_weights() {
  for (size_t i = 0; i < kernel_layers_.size(); ++i)
    if (is_compact(i)) kernel_layers_[i]->write_back();
}

void DynamicSparsity::set_kernel_patterns(bool remap_state) {
  for (size_t i = 0; i < kernel_layers_.size(); ++i) {
    auto& layer = kernel_layers_[i];
    if (!layer) continue;
    const auto& mask = masks_.params()[i].mask;
    if (!layer->compact()) {
      layer->set_pattern(mask, options_.kernel());
      continue;
    }
    auto source = layer->set_compact_pattern(mask, options_.kernel());
    if (!remap_state || context_.optimizer == nullptr) continue;
    // A weight dropped and grown again in the same update holds its old
    // position but starts afresh, as every grown weight does.
    const auto& grown = last_update_.grown[i];
    if (grown.numel() > 0) {
      auto fresh = torch::zeros({mask.numel()}, torch::kBool);
      fresh.index_fill_(0, grown, true);
      source.masked_fill_(fresh.index_select(0, layer->pattern().flat_indices()), -1);
    }
    remap_optimizer_state(*context_.optimizer, layer->values(), source);
  }
}

}  // namespace frugal::sparse
