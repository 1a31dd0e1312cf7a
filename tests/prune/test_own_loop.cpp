// The Pruner outside the Trainer: attach(), StepInfo::at(), any module, and
// the cases that must say what they do.
#include "support/expect_error.h"
#include "frugal/prune/pruner.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace prune = frugal::prune;
using frugal::core::StepInfo;
using frugal_test::error_of;
using frugal_test::expect_error;
using prune::PruneMethod;
using prune::PruneOptions;
using prune::Pruner;

namespace {

/// A model the user owns directly (not through a shared_ptr).
struct Net : torch::nn::Module {
  Net() {
    fc1 = register_module("fc1", torch::nn::Linear(6, 10));
    fc2 = register_module("fc2", torch::nn::Linear(10, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::relu(fc1(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

void train_plain(Net& net, Pruner& pruner, int64_t steps) {
  torch::manual_seed(4);
  auto x = torch::randn({32, 6});
  auto y = torch::randint(0, 3, {32});
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(1e-2));
  pruner.attach(net, optimizer, steps);
  for (int64_t step = 0; step < steps; ++step) {
    const auto info = StepInfo::at(step, steps);
    pruner.before_forward(true, info);
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net.forward(x), y);
    auto reg = pruner.regularizer(info);
    if (reg.defined()) loss = loss + reg;
    loss.backward();
    pruner.before_step(info);
    optimizer.step();
    pruner.after_step(info);
  }
  pruner.before_forward(false, StepInfo::at(steps, steps));
}

}  // namespace

TEST(Pruner, PrunesAStackAllocatedModelFromAPlainLoop) {
  torch::manual_seed(1);
  Net net;  // on the stack: torch's named_modules() on it would throw
  Pruner pruner(net, PruneOptions(PruneMethod::kMovement).final_remaining(0.2));
  EXPECT_EQ(pruner.pruned_names(), (std::vector<std::string>{"fc1.weight", "fc2.weight"}))
      << "the head is pruned by default, as DynamicSparsity masks it";
  train_plain(net, pruner, 30);
  EXPECT_FALSE(pruner.score_parameters()[0].grad().defined()) << "after_step clears the scores' gradients";
  auto report = pruner.bake();
  EXPECT_EQ(report.kept, std::llround(0.2 * 60) + std::llround(0.2 * 30));
  EXPECT_EQ(report.total, 90);
}

TEST(Pruner, MovementMaskIsTopVOfTheLearnedScoresNotOfTheWeights) {
  torch::manual_seed(2);
  Net net;
  Pruner pruner(net, PruneOptions(PruneMethod::kMovement).final_remaining(0.3));
  {
    // Scores that rank the weights the other way round from |W|.
    torch::NoGradGuard no_grad;
    auto scores = pruner.score_parameters();
    scores[0].copy_(-net.fc1->weight.abs());
    scores[1].copy_(-net.fc2->weight.abs());
  }
  pruner.before_forward(false, StepInfo::at(10, 10));  // past the cool-down: v = 0.3
  const auto& masks = pruner.masks();
  const auto scores = pruner.score_parameters();
  for (size_t i = 0; i < 2; ++i) {
    const auto& p = masks.params()[i];
    const int64_t keep = std::llround(0.3 * p.numel());
    EXPECT_TRUE(torch::equal(p.mask, prune::top_v_mask(scores[i], keep))) << p.name;
    EXPECT_FALSE(torch::equal(p.mask, prune::top_v_mask(p.weight.abs(), keep)))
        << p.name << ": the mask is magnitude's";
  }
}

TEST(Pruner, RejectsAStepInfoWhoseProgressWasLeftUnsetAsDynamicSparsityDoes) {
  Net net;
  Pruner pruner(net, PruneOptions(PruneMethod::kMagnitude));
  StepInfo info;
  info.step = 50;
  info.planned_steps = 100;
  expect_error([&] { pruner.before_forward(true, info); }, "StepInfo.progress 0 is behind step 50");
  expect_error([&] { pruner.after_step(info); }, "StepInfo.progress 0 is behind step 50");
  info.progress = 1.5;
  expect_error([&] { pruner.regularizer(info); }, "StepInfo.progress must lie in [0, 1], got 1.5");
}

TEST(Pruner, BakeBeforeAnyStepOfAGradualScheduleIsAnErrorNamingOneShot) {
  Net net;
  Pruner gradual(net, PruneOptions(PruneMethod::kMagnitude).final_remaining(0.2));
  const auto message = error_of([&] { gradual.bake(); });
  EXPECT_NE(message.find("before any training step"), std::string::npos) << message;
  EXPECT_NE(message.find("one_shot"), std::string::npos) << message;
  EXPECT_FALSE(gradual.baked());
  // One-shot magnitude pruning does what was asked without a step.
  Pruner once(net, PruneOptions(PruneMethod::kMagnitude).final_remaining(0.2).one_shot(true));
  EXPECT_EQ(once.bake().kept, std::llround(0.2 * 60) + std::llround(0.2 * 30));
}

TEST(Pruner, KeepHeadDenseIsReportedWithTheOverallShare) {
  Net net;
  Pruner pruner(net, PruneOptions(PruneMethod::kMagnitude).final_remaining(0.2).one_shot(true)
                         .keep_head_dense(true));
  EXPECT_EQ(pruner.pruned_names(), std::vector<std::string>{"fc1.weight"});
  auto report = pruner.bake();
  EXPECT_DOUBLE_EQ(report.share(), 0.2);
  ASSERT_EQ(report.dense.size(), 1u);
  EXPECT_EQ(report.dense[0].name, "fc2.weight");
  EXPECT_DOUBLE_EQ(report.overall_share(), (12.0 + 30.0) / 90.0) << "20% of fc1 and all of the head";
  const auto json = report.to_json();
  EXPECT_EQ(json["kept_dense"], nlohmann::json::array({"fc2.weight"}));
  EXPECT_NE(report.table().find("| fc2.weight (kept dense) | 30 | 30 | 100.00% |"), std::string::npos)
      << report.table();
  EXPECT_NE(report.table().find("| overall | 42 | 90 |"), std::string::npos) << report.table();
}

TEST(Pruner, SingleLinearModelWithKeepHeadDenseNamesTheOption) {
  torch::nn::Linear only(4, 2);
  const auto message =
      error_of([&] { Pruner(*only, PruneOptions(PruneMethod::kMagnitude).keep_head_dense(true)); });
  EXPECT_NE(message.find("keep_head_dense"), std::string::npos) << message;
  // Without it, the single layer (the root module) is pruned.
  Pruner pruner(*only, PruneOptions(PruneMethod::kMagnitude).final_remaining(0.5).one_shot(true));
  EXPECT_EQ(pruner.bake().kept, 4);
}
