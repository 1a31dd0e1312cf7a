#pragma once
/// A C++ module tree that mirrors the Linear and Conv layers of a Python
/// model, so the C++ hooks (sparse::DynamicSparsity, prune::Pruner), which
/// take a torch::nn::Module, run on a Python model unchanged.
///
/// A torch.nn.Module from Python is not a torch::nn::Module. The mirror holds
/// one torch::nn::Linear / Conv1d-3d per Python layer, at the same dotted
/// name and in the same registration order, whose registered parameter
/// "weight" is the Python parameter itself (same TensorImpl): in-place
/// masking, gradients and optimizer state all see one tensor.

#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace frugal::python {

class Mirror {
 public:
  /// `names`: the layers' module names (dotted, as named_modules() gives
  /// them); `weights`: their weight parameters (2-D Linear, 3-D to 5-D Conv).
  /// Draws nothing from torch's global generator.
  Mirror(const std::vector<std::string>& names, const std::vector<torch::Tensor>& weights);

  torch::nn::Module& root() { return *root_; }
  /// The `weight` member that the layer holding parameter `param_name`
  /// ("<module>.weight") reads in its forward; what the pruner rewrites.
  torch::Tensor& weight_member(const std::string& param_name);

 private:
  std::shared_ptr<torch::nn::Module> root_;
  std::map<std::string, torch::Tensor*> members_;
};

}  // namespace frugal::python
