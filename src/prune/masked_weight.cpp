#include "frugal/prune/masked_weight.h"

#include <torch/csrc/autograd/custom_function.h>
#include <torch/torch.h>

namespace frugal::prune {

namespace {

class MaskedWeightFunction : public torch::autograd::Function<MaskedWeightFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& weight,
                               const torch::Tensor& scores, const torch::Tensor& mask) {
    ctx->save_for_backward({weight, mask});
    return weight * mask;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_output) {
    auto saved = ctx->get_saved_variables();
    const auto& grad = grad_output[0];
    // The mask is treated as the identity of the scores (straight through):
    // dL/dS = dL/dM = dL/dW' * W, for masked and kept weights alike.
    return {grad * saved[1], grad * saved[0], torch::Tensor()};
  }
};

}  // namespace

torch::Tensor masked_weight(const torch::Tensor& weight, const torch::Tensor& scores,
                            const torch::Tensor& mask) {
  TORCH_CHECK(weight.sizes() == scores.sizes(), "scores have shape ", scores.sizes(),
              ", the weight has ", weight.sizes());
  TORCH_CHECK(weight.sizes() == mask.sizes(), "mask has shape ", mask.sizes(),
              ", the weight has ", weight.sizes());
  TORCH_CHECK(!mask.requires_grad(), "the mask must be a constant (no gradient)");
  return MaskedWeightFunction::apply(weight, scores, mask.to(weight.dtype()));
}

}  // namespace frugal::prune
