#pragma once
/// Binary masks over the weights of a module's Linear and Conv layers: the one
/// mask layer that dynamic sparse training (sparse/) and score-based pruning
/// (prune/) both use. Masks are keyed by the parameter's full name from
/// named_parameters() and applied in place: parameters are never replaced, so
/// optimizer state (keyed by TensorImpl) stays valid.

#include <torch/nn/module.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace frugal::sparse {

/// One masked weight tensor.
struct MaskedParam {
  /// Full parameter name, e.g. "layers.0.weight".
  std::string name;
  /// The parameter itself (shares storage with the module's).
  torch::Tensor weight;
  /// Boolean mask of the same shape (1 byte per weight); true = active.
  torch::Tensor mask;
  /// Fan-in and fan-out (n_in, n_out) and kernel size (k_h * k_w, 1 for Linear).
  int64_t n_in = 0, n_out = 0, kernel = 1;

  int64_t numel() const { return weight.numel(); }
  int64_t active() const;
};

/// Which weights to mask.
struct MaskSelection {
  /// Regular expressions (std::regex, matched against the whole parameter
  /// name); a weight is masked when it matches one. Empty: every weight of a
  /// Linear, Conv1d, Conv2d or Conv3d module.
  std::vector<std::string> include;
  /// Regular expressions of layers kept dense even if included. A pattern is
  /// matched against the parameter name and against its module's name.
  std::vector<std::string> dense;
  /// Keep the output head dense: the last Linear module in registration
  /// order (named_modules()). Default false: every selected weight is masked,
  /// so a density or remaining share applies to all Linear and Conv weights.
  bool keep_head_dense = false;
};

/// The module and all its submodules, the root first with name "", in
/// registration order (as named_modules()). Unlike torch's named_modules(),
/// it works for a module that is not held in a shared_ptr (stack-allocated,
/// or a member).
std::vector<std::pair<std::string, torch::nn::Module*>> modules_of(torch::nn::Module& model);

class MaskSet {
 public:
  MaskSet() = default;
  /// Collects the weights `selection` picks, each with an all-true mask.
  /// Throws when a pattern matches no maskable weight, or nothing is selected
  /// (naming keep_head_dense when the head was the only candidate).
  MaskSet(torch::nn::Module& model, const MaskSelection& selection);

  std::vector<MaskedParam>& params() { return params_; }
  const std::vector<MaskedParam>& params() const { return params_; }
  /// Full names of the Linear and Conv weights the selection left dense
  /// (dense patterns, keep_head_dense), in model order.
  const std::vector<std::string>& kept_dense() const { return kept_dense_; }
  size_t size() const { return params_.size(); }
  MaskedParam& at(const std::string& name);

  /// W <- W * M for every masked weight (in place, no autograd).
  void apply_to_weights();
  /// W <- W * M for params()[index] only.
  void apply_to_weight(size_t index);
  /// grad <- grad * M for every masked weight that has a gradient.
  void apply_to_gradients();

  int64_t active() const;
  int64_t total() const;
  /// active() / total().
  double density() const;

  void save(torch::serialize::OutputArchive& archive, const std::string& prefix) const;
  /// Loads masks saved by save(); names and shapes must match.
  void load(torch::serialize::InputArchive& archive, const std::string& prefix);

 private:
  std::vector<MaskedParam> params_;
  std::vector<std::string> kept_dense_;
};

}  // namespace frugal::sparse
