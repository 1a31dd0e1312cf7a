// DynamicSparsity driven from a plain loop: attach(), StepInfo::at(), any module.
#include "support/expect_error.h"
#include "frugal/kernels/masked_linear.h"
#include "frugal/sparse/dynamic_sparsity.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

using namespace frugal::sparse;
using frugal::core::StepInfo;
using frugal_test::expect_error;

namespace {

/// A model the user owns directly (not through a shared_ptr).
struct Net : torch::nn::Module {
  Net() {
    fc1 = register_module("fc1", torch::nn::Linear(12, 16));
    fc2 = register_module("fc2", torch::nn::Linear(16, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::relu(fc1(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

/// RigL, updating often, over `steps` steps of one fixed batch.
template <typename Model>
void train_plain(Model& model, DynamicSparsity& hook, int64_t steps) {
  torch::manual_seed(3);
  auto x = torch::randn({32, 12});
  auto y = torch::randint(0, 3, {32});
  torch::optim::SGD optimizer(model.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  hook.attach(model, optimizer, steps, /*seed=*/5);
  for (int64_t step = 0; step < steps; ++step) {
    const auto info = StepInfo::at(step, steps);
    hook.before_forward(true, info);
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model.forward(x), y);
    loss.backward();
    hook.before_step(info);
    optimizer.step();
    hook.after_step(info);
  }
}

DynamicSparsityOptions rigl(double density) {
  return DynamicSparsityOptions(density).distribution(Distribution::kUniform).update_interval(4);
}

}  // namespace

TEST(DynamicSparsity, TrainsAStackAllocatedModelFromAPlainLoop) {
  torch::manual_seed(1);
  Net net;  // on the stack: torch's named_modules() on it would throw
  DynamicSparsity hook(rigl(0.25));
  train_plain(net, hook, 40);
  EXPECT_GT(hook.updates(), 0);
  EXPECT_EQ(hook.masks().active(), std::llround(0.25 * (12 * 16 + 16 * 3)));
  for (const auto& p : hook.masks().params())
    EXPECT_EQ(p.weight.masked_select(p.mask.logical_not()).abs().sum().item<float>(), 0.0f) << p.name;
}

TEST(DynamicSparsity, RunsTheSparseKernelsOnAStackAllocatedMaskedLinearRoot) {
  torch::manual_seed(2);
  frugal::kernels::MaskedLinearImpl layer(12, 3);
  DynamicSparsity hook(rigl(0.5).kernel(frugal::kernels::KernelChoice::kSparse));
  train_plain(layer, hook, 12);
  EXPECT_EQ(hook.masks().params()[0].name, "weight");
  EXPECT_TRUE(hook.is_compact(0)) << "the root layer got its CSR pattern";
  hook.write_back_weights();
  EXPECT_EQ(layer.weight.ne(0).sum().item<int64_t>(), 18);
}

TEST(DynamicSparsity, MasksTheHeadByDefaultAndKeepsItDenseOnRequest) {
  Net net;
  torch::optim::SGD optimizer(net.parameters(), torch::optim::SGDOptions(0.1));
  DynamicSparsity all(rigl(0.5));
  all.attach(net, optimizer, 10);
  EXPECT_EQ(all.masks().size(), 2u) << "fc2, the head, is masked like every layer";
  DynamicSparsity head_dense(rigl(0.5).keep_head_dense(true));
  head_dense.attach(net, optimizer, 10);
  ASSERT_EQ(head_dense.masks().size(), 1u);
  EXPECT_EQ(head_dense.masks().params()[0].name, "fc1.weight");
  EXPECT_EQ(head_dense.masks().kept_dense(), std::vector<std::string>{"fc2.weight"});
}

TEST(DynamicSparsity, RejectsAStepInfoWhoseProgressWasLeftUnset) {
  Net net;
  torch::optim::SGD optimizer(net.parameters(), torch::optim::SGDOptions(0.1));
  DynamicSparsity hook(rigl(0.5));
  hook.attach(net, optimizer, 100);
  StepInfo info;  // progress 0 at step 50: the drop schedule would stay at its start
  info.step = 50;
  info.planned_steps = 100;
  expect_error([&] { hook.before_forward(true, info); }, "StepInfo.progress 0 is behind step 50");
  expect_error([&] { hook.after_step(info); }, "StepInfo.progress 0 is behind step 50");
  info.progress = 1.5;
  expect_error([&] { hook.before_step(info); }, "StepInfo.progress must lie in [0, 1], got 1.5");
}
