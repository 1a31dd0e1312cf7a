#include "frugal/app/sparse_model.h"

#include "frugal/core/checked_file.h"
#include "frugal/kernels/masked_conv2d.h"

#include <torch/torch.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace frugal::app {

namespace nn = torch::nn;

namespace {

using NamedLinear = std::pair<std::string, nn::Linear>;

const char* kernel_name(int64_t code) {
  switch (code) {
    case -1: return "dense";
    case static_cast<int64_t>(kernels::KernelChoice::kAuto): return "sparse (auto)";
    case static_cast<int64_t>(kernels::KernelChoice::kSparse): return "sparse";
    case static_cast<int64_t>(kernels::KernelChoice::kDense): return "sparse layer, dense kernel";
    default: return "?";
  }
}

}  // namespace

SparseInferenceImpl::SparseInferenceImpl(const std::shared_ptr<train::Classifier>& model,
                                         const SparseInferenceOptions& options) {
  build(model, options, nullptr);
}

SparseInferenceImpl::SparseInferenceImpl(const std::shared_ptr<train::Classifier>& model,
                                         const std::vector<int64_t>& layout) {
  build(model, {}, &layout);
}

void SparseInferenceImpl::build(const std::shared_ptr<train::Classifier>& model, const SparseInferenceOptions& options,
                                const std::vector<int64_t>* layout) {
  TORCH_CHECK(model, "sparse inference: the model is null");
  TORCH_CHECK(options.batch() >= 1, "sparse inference: batch must be >= 1, got ", options.batch());
  TORCH_CHECK(options.threads() >= 0, "sparse inference: threads must be >= 0, got ", options.threads());
  auto [features, layers] = model->linear_stack();
  if (features) features_ = register_module("features", features);

  if (layout) {
    TORCH_CHECK(layout->size() == layers.size(), "sparse inference: layout has ", layout->size(),
                " entries but the model has ", layers.size(), " Linear layers");
    for (int64_t code : *layout)
      TORCH_CHECK(code >= -1 && code <= static_cast<int64_t>(kernels::KernelChoice::kDense),
                  "sparse inference: bad layout code ", code, " (expected -1 or a KernelChoice)");
  }
  auto eligible = [&](const std::string& name) {
    if (options.layers().empty()) return true;
    const auto& l = options.layers();
    return std::find(l.begin(), l.end(), name) != l.end() ||
           std::find(l.begin(), l.end(), name + ".weight") != l.end();
  };
  for (const auto& wanted : options.layers()) {
    const bool known = std::any_of(layers.begin(), layers.end(), [&](const NamedLinear& l) {
      return wanted == l.first || wanted == l.first + ".weight";
    });
    TORCH_CHECK(known, "sparse inference: model ", model->name(), " has no Linear layer '", wanted, "'");
  }
  const int64_t threads = options.threads() > 0 ? options.threads() : at::get_num_threads();

  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& [name, source] = layers[i];
    const auto weight = source->weight.detach();
    const auto nonzero = weight.ne(0);
    SparseLayerInfo info;
    info.name = name;
    info.out_features = weight.size(0);
    info.in_features = weight.size(1);
    info.density = weight.numel() > 0 ? nonzero.sum().item<double>() / static_cast<double>(weight.numel()) : 0.0;
    int64_t code = -1;
    if (layout) {
      code = (*layout)[i];
    } else if (eligible(name) &&
               kernels::use_sparse_kernel({info.out_features, info.in_features, options.batch(), threads},
                                          info.density, options.kernel())) {
      code = static_cast<int64_t>(options.kernel());
    }
    const bool has_bias = source->bias.defined() && source->bias.numel() > 0;
    const std::string key = "linear" + std::to_string(i);
    if (code < 0) {
      auto layer = nn::Linear(nn::LinearOptions(info.in_features, info.out_features).bias(has_bias));
      layer->weight.copy_(weight);
      if (has_bias) layer->bias.copy_(source->bias);
      dense_.push_back(register_module(key, layer));
      sparse_.push_back(nullptr);
    } else {
      auto layer = kernels::SparseLinear(kernels::SparseLinearOptions(info.in_features, info.out_features)
                                             .bias(has_bias)
                                             .kernel(static_cast<kernels::KernelChoice>(code)));
      // Starts from the full pattern (the default density 1): set_pattern()
      // from an empty one indexes into no values (remap_entries fails).
      layer->from_dense(weight, nonzero);
      if (has_bias) layer->bias.copy_(source->bias);
      sparse_.push_back(register_module(key, layer));
      dense_.push_back(nullptr);
    }
    info.sparse = code >= 0;
    info_.push_back(info);
    layout_.push_back(code);
  }
  // A loaded model (layout given) gets its weights after this; load_sparse_model sets the patterns then.
  if (!layout) sparsify_convolutions(options.kernel());
  eval();
}

void SparseInferenceImpl::sparsify_convolutions(kernels::KernelChoice kernel) {
  conv_info_.clear();
  if (!features_) return;
  torch::NoGradGuard no_grad;
  for (const auto& item : features_->named_modules()) {
    auto* conv = dynamic_cast<kernels::MaskedConv2dImpl*>(item.value().get());
    if (!conv) continue;
    const auto& weight = conv->weight;
    const auto nonzero = weight.ne(0);
    SparseLayerInfo info;
    info.name = "features." + item.key();
    info.out_features = weight.size(0);
    info.in_features = weight.numel() / std::max<int64_t>(weight.size(0), 1);
    info.density = weight.numel() > 0 ? nonzero.sum().item<double>() / static_cast<double>(weight.numel()) : 0.0;
    // A dense convolution gains nothing from a pattern; kDense keeps every layer dense.
    info.sparse = kernel != kernels::KernelChoice::kDense && info.density < 1.0;
    if (info.sparse)
      conv->set_pattern(nonzero, kernel);
    else if (conv->has_pattern())
      conv->clear_pattern();
    conv_info_.push_back(info);
  }
}

void SparseInferenceImpl::refresh_layer_info() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < info_.size(); ++i) {
    const auto numel = info_[i].out_features * info_[i].in_features;
    const double nnz = sparse_[i] ? static_cast<double>(sparse_[i]->values.ne(0).sum().item<int64_t>())
                                  : static_cast<double>(dense_[i]->weight.ne(0).sum().item<int64_t>());
    info_[i].density = numel > 0 ? nnz / static_cast<double>(numel) : 0.0;
  }
}

torch::Tensor SparseInferenceImpl::forward(torch::Tensor x) {
  if (features_) x = features_->forward(x);
  x = x.flatten(1);
  for (size_t i = 0; i < layout_.size(); ++i) {
    x = sparse_[i] ? sparse_[i]->forward(x) : dense_[i]->forward(x);
    if (i + 1 < layout_.size()) x = torch::relu(x);
  }
  return x;
}

std::string SparseInferenceImpl::layer_table() const {
  std::ostringstream out;
  out << "| layer | shape | density | kernel |\n|---|---|---|---|\n";
  for (const auto& c : conv_info_)
    out << "| " << c.name << " | " << c.out_features << "x" << c.in_features << " | " << std::fixed
        << std::setprecision(4) << c.density << " | " << (c.sparse ? "sparse conv" : "dense conv") << " |\n";
  for (size_t i = 0; i < info_.size(); ++i) {
    const auto& l = info_[i];
    out << "| " << l.name << " | " << l.out_features << "x" << l.in_features << " | " << std::fixed
        << std::setprecision(4) << l.density << " | " << kernel_name(layout_[i]) << " |\n";
  }
  return out.str();
}

void save_sparse_model(SparseInferenceImpl& model, const std::string& path) {
  torch::serialize::OutputArchive archive, weights;
  model.save(weights);
  archive.write("model", weights);
  archive.write("layout", torch::tensor(model.layout(), torch::kInt64));
  core::save_checked(archive, path);
}

SparseInference load_sparse_model(const std::string& path, const std::shared_ptr<train::Classifier>& architecture) {
  torch::serialize::InputArchive archive, weights;
  core::load_checked(archive, path, "sparse model");
  torch::Tensor layout;
  TORCH_CHECK(archive.try_read("layout", layout) && archive.try_read("model", weights), "sparse model: ", path,
              " has no \"layout\" and \"model\" entries (not written by save_sparse_model)");
  TORCH_CHECK(layout.dim() == 1 && layout.scalar_type() == torch::kInt64, "sparse model: ", path,
              " has a malformed layout of shape ", layout.sizes());
  const auto codes = std::vector<int64_t>(layout.data_ptr<int64_t>(), layout.data_ptr<int64_t>() + layout.numel());
  SparseInference model(architecture, codes);
  try {
    model->load(weights);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "sparse model: ", path, " does not fit the model: ", e.what_without_backtrace());
  }
  // Module::load does not check shapes; a file for another architecture must
  // not run on silently. The sparse layers check theirs in pattern().
  for (size_t i = 0; i < codes.size(); ++i) {
    const auto& info = model->layer_info()[i];
    const auto child = model->named_children()["linear" + std::to_string(i)];
    if (auto dense = std::dynamic_pointer_cast<nn::LinearImpl>(child)) {
      TORCH_CHECK(dense->weight.sizes() == torch::IntArrayRef({info.out_features, info.in_features}),
                  "sparse model: ", path, " holds a weight of shape ", dense->weight.sizes(), " for layer ", info.name,
                  ", expected [", info.out_features, ", ", info.in_features, "]");
    } else {
      auto sparse = std::dynamic_pointer_cast<kernels::SparseLinearImpl>(child);
      TORCH_CHECK(sparse, "sparse model: layer ", info.name, " is neither Linear nor SparseLinear");
      try {
        sparse->pattern();
      } catch (const c10::Error& e) {
        TORCH_CHECK(false, "sparse model: ", path, " holds a bad pattern for layer ", info.name, ": ",
                    e.what_without_backtrace());
      }
      TORCH_CHECK(!sparse->bias.defined() || sparse->bias.numel() == info.out_features, "sparse model: ", path,
                  " holds a bias of ", sparse->bias.numel(), " entries for layer ", info.name);
    }
  }
  model->refresh_layer_info();
  model->sparsify_convolutions(kernels::KernelChoice::kAuto);
  return model;
}

}  // namespace frugal::app
