// RigL (dynamic sparse training) on your own model, in your own loop: the
// network trains at 20% density from the first step to the last, and every
// 25 steps each layer drops its weakest weights and regrows as many where
// the gradient is largest.
#include "frugal/sparse/dynamic_sparsity.h"

#include <torch/torch.h>

#include <cstdio>

// Your model, held however you like (here: on the stack).
struct Net : torch::nn::Module {
  Net() {
    fc1 = register_module("fc1", torch::nn::Linear(20, 64));
    fc2 = register_module("fc2", torch::nn::Linear(64, 64));
    fc3 = register_module("fc3", torch::nn::Linear(64, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc3(torch::relu(fc2(torch::relu(fc1(x)))));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};

int main() {
  using namespace frugal;
  torch::manual_seed(0);
  // Your data: three Gaussian blobs in 20-D.
  const int64_t n = 1500, batch = 50, epochs = 6;
  auto y = torch::randint(0, 3, {n}, torch::kLong);
  auto centres = torch::randn({3, 20}) * 1.5;
  auto x = centres.index_select(0, y) + torch::randn({n, 20});

  Net net;
  torch::optim::SGD optimizer(net.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  sparse::DynamicSparsity rigl(sparse::DynamicSparsityOptions(0.2)
                                   .method(sparse::SparseMethod::kGradient)
                                   .update_interval(25));
  const int64_t total_steps = epochs * (n / batch);
  rigl.attach(net, optimizer, total_steps);  // chooses the masks

  int64_t step = 0;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    auto order = torch::randperm(n, torch::kLong);
    for (int64_t start = 0; start < n; start += batch, ++step) {
      const auto rows = order.slice(0, start, start + batch);
      const auto info = core::StepInfo::at(step, total_steps, epoch);
      rigl.before_forward(true, info);
      optimizer.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(net.forward(x.index_select(0, rows)),
                                                       y.index_select(0, rows));
      loss.backward();
      rigl.before_step(info);   // masks the gradients (keeps the dense one at updates)
      optimizer.step();
      rigl.after_step(info);    // re-applies the masks; every 25 steps: drop and grow
    }
  }

  torch::NoGradGuard no_grad;
  const double accuracy = net.forward(x).argmax(1).eq(y).to(torch::kFloat).mean().item<double>();
  std::printf("density %.3f, %lld mask updates, ITOP rate %.2f, accuracy %.1f%%\n",
              rigl.masks().density(), static_cast<long long>(rigl.updates()), rigl.itop_rate(),
              100.0 * accuracy);
  if (accuracy < 0.9 || rigl.updates() == 0) {
    std::fprintf(stderr, "rigl_own_model: accuracy %.3f, %lld updates\n", accuracy,
                 static_cast<long long>(rigl.updates()));
    return 1;
  }
  return 0;
}
