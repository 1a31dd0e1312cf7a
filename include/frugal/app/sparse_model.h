#pragma once
/// Inference with sparse layers: a baked model (masks multiplied into the
/// weights, see export_run.h) whose pruned Linear layers are replaced by
/// kernels::SparseLinear, so that the zeros cost no time.
///
/// Where sparse pays off is decided per layer from the measured crossover
/// density (kernels/dispatch.h): Elsen, Dukhan, Gale & Simonyan, "Fast Sparse
/// ConvNets", CVPR 2020; the kernels: Gale, Zaharia, Young & Elsen, "Sparse
/// GPU Kernels for Deep Learning", SC 2020.
///
/// LibTorch C++ modules call their children through typed members, so a
/// child cannot be swapped from outside. The inference model therefore
/// rebuilds the forward of a classifier from its train::LinearStack:
/// features (optional, kept dense) -> flatten -> Linear (-> ReLU -> Linear)*.

#include "frugal/kernels/dispatch.h"
#include "frugal/kernels/sparse_linear.h"
#include "frugal/train/models.h"

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <vector>

namespace frugal::app {

struct SparseInferenceOptions {
  /// Which layers may become sparse: kAuto = those whose density is below the
  /// crossover density for (`batch`, `threads`); kSparse = all of them; kDense
  /// = none. A layer chosen sparse keeps this choice as its kernel option, so
  /// under kAuto it still runs dense at a batch size where sparse would lose.
  /// Default kAuto.
  TORCH_ARG(kernels::KernelChoice, kernel) = kernels::KernelChoice::kAuto;
  /// The batch size kAuto decides for. Default 32.
  TORCH_ARG(int64_t, batch) = 32;
  /// The thread count kAuto decides for; 0 = the current intra-op thread
  /// count. Default 0.
  TORCH_ARG(int64_t, threads) = 0;
  /// Parameter-name prefixes of the Linear layers that may become sparse
  /// (e.g. "body.0", "head": the pruned layers); empty = every Linear layer.
  /// Default empty.
  TORCH_ARG(std::vector<std::string>, layers);
};

/// What one Linear layer of the model became.
struct SparseLayerInfo {
  /// The layer's name in the source model, e.g. "body.0" or "head".
  std::string name;
  int64_t out_features = 0;
  int64_t in_features = 0;
  /// Share of non-zero weights.
  double density = 1.0;
  /// Whether the layer is a SparseLinear (else an ordinary Linear).
  bool sparse = false;
};

/// The inference form of a built-in classifier. Submodules: "features" (the
/// source model's feature extractor, shared with it, absent for the mlp) and
/// "linear<i>" (the Linear layers in order, each a torch Linear or a
/// kernels::SparseLinear). The pruned convolutions of the feature extractor
/// (kernels::MaskedConv2d with zero weights) get their non-zeros as pattern,
/// so they run on the sparse convolution kernels where those are faster
/// (see conv_layers()); the source model shares that pattern.
class SparseInferenceImpl : public torch::nn::Module {
 public:
  /// Builds from `model`, copying the Linear layers: a sparse one gets
  /// from_dense(weight, weight != 0). Puts itself, and so the shared feature
  /// extractor, in eval mode (batch norm uses its running statistics). Throws
  /// when options.layers names a layer the model does not have.
  SparseInferenceImpl(const std::shared_ptr<train::Classifier>& model, const SparseInferenceOptions& options = {});

  /// x [N, ...] -> logits [N, classes], as the source model.
  torch::Tensor forward(torch::Tensor x);

  /// One entry per Linear layer, in forward order.
  const std::vector<SparseLayerInfo>& layer_info() const { return info_; }
  /// Recomputes layer_info()'s densities (non-zero weights) from the current
  /// weights, e.g. after load().
  void refresh_layer_info();
  /// One entry per convolution of the feature extractor, in module order:
  /// out_features = output channels, in_features = input channels x kernel
  /// area; `sparse` = it runs on its pattern (the sparse kernels, chosen per
  /// call under kAuto by the measured crossover).
  const std::vector<SparseLayerInfo>& conv_layers() const { return conv_info_; }
  /// Gives each pruned MaskedConv2d of the features its non-zeros as pattern
  /// under `kernel` (none under kDense) and refreshes conv_layers(); done by
  /// the options constructor and by load_sparse_model().
  void sparsify_convolutions(kernels::KernelChoice kernel);
  /// A Markdown table: layer, shape, density, kernel (convolutions first).
  std::string layer_table() const;
  /// Per Linear layer: -1 = ordinary Linear, else the KernelChoice (as int)
  /// of its SparseLinear.
  const std::vector<int64_t>& layout() const { return layout_; }

  /// Builds with a given layout() instead of deciding per layer, as
  /// load_sparse_model() needs it. Throws when its length is not the number
  /// of Linear layers or a code is not -1 or a KernelChoice.
  SparseInferenceImpl(const std::shared_ptr<train::Classifier>& model, const std::vector<int64_t>& layout);

 private:
  void build(const std::shared_ptr<train::Classifier>& model, const SparseInferenceOptions& options,
             const std::vector<int64_t>* layout);

  torch::nn::Sequential features_{nullptr};
  std::vector<torch::nn::Linear> dense_;
  std::vector<kernels::SparseLinear> sparse_;
  std::vector<SparseLayerInfo> info_;
  std::vector<SparseLayerInfo> conv_info_;
  /// Per layer: -1 = dense Linear, else the SparseLinear's KernelChoice.
  std::vector<int64_t> layout_;
};

TORCH_MODULE(SparseInference);

/// Writes `model` to `path`: an archive with "model" (parameters and buffers,
/// the sparse layers as CSR: row_ptr, col_idx, values) and "layout" (int64
/// per Linear layer: -1 dense, else the kernels::KernelChoice of its
/// SparseLinear).
void save_sparse_model(SparseInferenceImpl& model, const std::string& path);

/// Reads what save_sparse_model() wrote. `architecture` is a model of the
/// same kind and shape (its weights do not matter; its feature extractor is
/// shared with the result and overwritten). Throws when the file is not such
/// an archive or does not fit the architecture.
SparseInference load_sparse_model(const std::string& path, const std::shared_ptr<train::Classifier>& architecture);

}  // namespace frugal::app
