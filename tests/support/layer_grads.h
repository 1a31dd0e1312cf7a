#pragma once
// Forward and backward of a layer with weight and bias on one input and a
// fixed upstream gradient: what the masked-layer tests compare between the
// dense and the sparse paths.

#include <torch/torch.h>

namespace frugal_test {

struct Grads {
  torch::Tensor y, input, weight, bias;
};

template <typename Layer>
Grads run_layer(Layer& layer, const torch::Tensor& x, const torch::Tensor& grad_y) {
  layer.zero_grad();
  auto input = x.detach().clone().requires_grad_(true);
  auto y = layer.forward(input);
  y.backward(grad_y);
  return {y.detach(), input.grad(), layer.weight.grad().clone(), layer.bias.grad().clone()};
}

}  // namespace frugal_test
