#include "frugal/prune/pruner.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>

namespace prune = frugal::prune;
using frugal::core::StepInfo;
using frugal::core::TrainContext;
using prune::PruneMethod;
using prune::PruneOptions;
using prune::PruneSelection;
using prune::Pruner;

namespace {

using frugal_test::error_of;

/// 4 -> 8 -> 6 -> 3; the head is module "4".
torch::nn::Sequential tiny_mlp(uint64_t seed = 0) {
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Linear(4, 8), torch::nn::ReLU(), torch::nn::Linear(8, 6),
                               torch::nn::ReLU(), torch::nn::Linear(6, 3));
}

StepInfo at_step(int64_t step, int64_t total) {
  StepInfo info;
  info.step = step;
  info.planned_steps = total;
  info.progress = static_cast<double>(step) / static_cast<double>(total);
  return info;
}

torch::Tensor param(torch::nn::Module& m, const std::string& name) {
  return m.named_parameters()[name];
}

/// A hand-written loop calling the hooks in the order hook.h documents.
void train_loop(torch::nn::Sequential& model, Pruner& pruner, int64_t steps, double lr = 1e-2,
                uint64_t seed = 0) {
  torch::manual_seed(seed + 1);
  auto x = torch::randn({64, 4});
  auto y = torch::randint(0, 3, {64});
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(lr));
  TrainContext context;
  context.model = model.ptr().get();
  context.optimizer = &optimizer;
  context.planned_steps = steps;
  context.seed = seed;
  pruner.on_train_begin(context);
  for (int64_t step = 0; step < steps; ++step) {
    auto info = at_step(step, steps);
    pruner.before_forward(true, info);
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    auto reg = pruner.regularizer(info);
    if (reg.defined()) loss = loss + reg;
    optimizer.zero_grad();
    loss.backward();
    pruner.before_step(info);
    optimizer.step();
    pruner.after_step(info);
  }
  pruner.before_forward(false, at_step(steps, steps));
}

}  // namespace

// ---------------------------------------------------------------------------
// Top-v

TEST(TopV, KeepsExactlyRoundedShareOfEachTensorLocally) {
  torch::manual_seed(1);
  // Few distinct values, so the threshold falls inside a block of ties.
  std::vector<torch::Tensor> scores = {torch::randint(0, 4, {7, 9}).to(torch::kFloat),
                                       torch::randint(0, 4, {5, 3}).to(torch::kFloat)};
  for (double v : {0.0, 0.1, 0.3, 0.5, 0.77, 1.0}) {
    auto masks = prune::top_v_masks(scores, v, PruneSelection::kLocal);
    for (size_t i = 0; i < scores.size(); ++i) {
      EXPECT_EQ(masks[i].sum().item<int64_t>(), std::llround(v * scores[i].numel())) << v;
      if (masks[i].all().item<bool>() || !masks[i].any().item<bool>()) continue;
      EXPECT_GE(scores[i].masked_select(masks[i]).min().item<float>(),
                scores[i].masked_select(~masks[i]).max().item<float>());
    }
  }
}

TEST(TopV, KeepsExactlyRoundedShareOfAllTensorsGlobally) {
  torch::manual_seed(2);
  std::vector<torch::Tensor> scores = {torch::randint(0, 5, {10, 10}).to(torch::kFloat),
                                       torch::randint(3, 9, {4, 6}).to(torch::kFloat)};
  for (double v : {0.05, 0.25, 0.6}) {
    auto masks = prune::top_v_masks(scores, v, PruneSelection::kGlobal);
    const int64_t kept = masks[0].sum().item<int64_t>() + masks[1].sum().item<int64_t>();
    EXPECT_EQ(kept, std::llround(v * 124)) << v;
    // One threshold: every kept score is >= every dropped score, across tensors.
    auto all = torch::cat({scores[0].flatten(), scores[1].flatten()});
    auto mask = torch::cat({masks[0].flatten(), masks[1].flatten()});
    EXPECT_GE(all.masked_select(mask).min().item<float>(),
              all.masked_select(~mask).max().item<float>());
  }
  // The second tensor's scores are mostly higher, so a global choice is not per tensor.
  auto masks = prune::top_v_masks(scores, 0.25, PruneSelection::kGlobal);
  EXPECT_GT(masks[1].to(torch::kFloat).mean().item<float>(),
            masks[0].to(torch::kFloat).mean().item<float>());
}

TEST(TopV, BreaksTiesByLowestFlatIndex) {
  auto mask = prune::top_v_mask(torch::zeros({2, 3}), 4);
  auto expected = torch::tensor({1, 1, 1, 1, 0, 0}, torch::kBool).view({2, 3});
  EXPECT_TRUE(torch::equal(mask, expected));
  auto s = torch::tensor({0.5, 2.0, 0.5, 0.5, 1.0});
  EXPECT_TRUE(torch::equal(prune::top_v_mask(s, 3), torch::tensor({1, 1, 0, 0, 1}, torch::kBool)));
}

TEST(TopV, MatchesStableSortOnLargeTensors) {
  // Oracle: a stable descending sort keeps equal scores in index order.
  auto oracle = [](const torch::Tensor& s, int64_t keep) {
    auto order = std::get<1>(s.flatten().sort(/*stable=*/true, 0, /*descending=*/true));
    auto mask = torch::zeros({s.numel()}, torch::kBool);
    mask.index_fill_(0, order.slice(0, 0, keep), true);
    return mask.view(s.sizes());
  };
  torch::manual_seed(10);
  const int64_t n = 30000;
  auto spiky = torch::rand({n});
  // Every value the strided sample reads is huge, so its bracket misses the
  // threshold and the selection must fall back to a full one.
  for (int64_t j = 0; j < 2048; ++j) spiky[j * n / 2048] = 1000.0;
  std::vector<torch::Tensor> cases = {torch::randn({n}), torch::randint(0, 7, {100, 300}).to(torch::kFloat),
                                      torch::arange(n).to(torch::kDouble), spiky};
  for (size_t c = 0; c < cases.size(); ++c)
    for (int64_t keep : {int64_t{1}, int64_t{300}, n / 10, n / 2, n - 1})
      EXPECT_TRUE(torch::equal(prune::top_v_mask(cases[c], keep), oracle(cases[c], keep)))
          << "case " << c << ", keep " << keep;
}

TEST(TopV, AgreesAcrossScoreTypes) {
  torch::manual_seed(9);
  auto ints = torch::randint(0, 6, {11, 13}, torch::kLong);  // the generic ATen path
  for (int64_t keep : {1, 20, 71, 142})
    EXPECT_TRUE(torch::equal(prune::top_v_mask(ints, keep),
                             prune::top_v_mask(ints.to(torch::kFloat), keep)))
        << keep;
  EXPECT_TRUE(torch::equal(prune::top_v_mask(ints.to(torch::kDouble), 50),
                           prune::top_v_mask(ints.to(torch::kFloat), 50)));
}

TEST(TopV, RejectsNanScores) {
  auto s = torch::tensor({1.0, std::nan(""), 0.0});
  EXPECT_NE(error_of([&] { prune::top_v_mask(s, 1); }).find("NaN"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Straight-through estimator

TEST(MaskedWeight, ScoreGradientEqualsUpstreamGradientTimesWeight) {
  auto w = torch::tensor({{1.0, -2.0}, {3.0, 0.5}}).requires_grad_();
  auto s = torch::zeros({2, 2}).requires_grad_();
  auto m = torch::tensor({{1.0, 0.0}, {0.0, 1.0}});
  auto x = torch::tensor({1.0, 2.0});
  auto c = torch::tensor({1.0, -1.0});
  // L = c . (W' x), so dL/dW' = c x^T = [[1, 2], [-1, -2]].
  auto w_masked = prune::masked_weight(w, s, m);
  EXPECT_TRUE(torch::equal(w_masked.detach(), torch::tensor({{1.0, 0.0}, {0.0, 0.5}})));
  (c * torch::mv(w_masked, x)).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), torch::tensor({{1.0, 0.0}, {0.0, -2.0}})));
  EXPECT_TRUE(torch::allclose(s.grad(), torch::tensor({{1.0, -4.0}, {-3.0, -1.0}})));
}

TEST(Pruner, MaskedWeightsGetNoGradientButTheirScoresDo) {
  auto model = tiny_mlp();
  Pruner pruner(*model, PruneOptions(PruneMethod::kMovement).initial_remaining(0.5)
                            .final_remaining(0.5));
  torch::manual_seed(3);
  {
    // Distinct scores, so the mask is not the tie-break's index order.
    torch::NoGradGuard no_grad;
    for (auto& s : pruner.score_parameters()) s.normal_();
  }
  pruner.before_forward(true, at_step(0, 10));
  model->forward(torch::randn({16, 4})).pow(2).sum().backward();
  for (const auto& p : pruner.masks().params()) {
    auto masked = ~p.mask;
    ASSERT_GT(masked.sum().item<int64_t>(), 0);
    EXPECT_EQ(p.weight.grad().masked_select(masked).abs().max().item<float>(), 0.0f) << p.name;
    EXPECT_GT(p.weight.grad().masked_select(p.mask).abs().max().item<float>(), 0.0f) << p.name;
  }
  for (const auto& s : pruner.score_parameters()) {
    ASSERT_TRUE(s.grad().defined());
    EXPECT_GT(s.grad().abs().sum().item<float>(), 0.0f);
  }
  // Scores of masked weights learn too: their gradient is dL/dW' * W, not 0.
  const auto& p0 = pruner.masks().params()[0];
  auto score_grad = pruner.score_parameters()[0].grad();
  EXPECT_GT(score_grad.masked_select(~p0.mask).abs().max().item<float>(), 0.0f);
}

TEST(Pruner, ModuleForwardUsesMaskedWeightWhileParameterStaysTheLeaf) {
  auto model = tiny_mlp();
  auto w = param(*model, "0.weight");
  auto* impl = w.unsafeGetTensorImpl();
  Pruner pruner(*model, PruneOptions(PruneMethod::kMagnitude).final_remaining(0.25).one_shot(true));
  pruner.before_forward(true, at_step(0, 10));
  EXPECT_EQ(param(*model, "0.weight").unsafeGetTensorImpl(), impl);
  EXPECT_TRUE(param(*model, "0.weight").is_leaf());
  auto x = torch::randn({5, 4});
  auto* lin = (*model)[0]->as<torch::nn::Linear>();
  auto mask = pruner.masks().params()[0].mask.to(torch::kFloat);
  auto expected = torch::nn::functional::linear(x, w * mask, lin->bias);
  EXPECT_TRUE(torch::allclose(lin->forward(x), expected));
  pruner.restore();
  EXPECT_EQ(lin->weight.unsafeGetTensorImpl(), impl);
}

TEST(Pruner, MasksConvolutionWeights) {
  torch::manual_seed(4);
  torch::nn::Sequential model(torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3)),
                              torch::nn::Flatten(), torch::nn::Linear(4 * 3 * 3, 2));
  Pruner pruner(*model, PruneOptions(PruneMethod::kMagnitude).keep_head_dense(true).final_remaining(0.3).one_shot(true));
  ASSERT_EQ(pruner.pruned_names(), std::vector<std::string>{"0.weight"});
  pruner.before_forward(false, at_step(0, 10));
  auto* conv = (*model)[0]->as<torch::nn::Conv2d>();
  auto w = param(*model, "0.weight");
  auto mask = pruner.masks().params()[0].mask.to(torch::kFloat);
  EXPECT_EQ(mask.sum().item<int64_t>(), std::llround(0.3 * w.numel()));
  auto x = torch::randn({1, 2, 5, 5});
  auto expected = torch::nn::functional::conv2d(x, w * mask, torch::nn::functional::Conv2dFuncOptions().bias(conv->bias));
  EXPECT_TRUE(torch::allclose(conv->forward(x), expected, 1e-5, 1e-6));
}

// ---------------------------------------------------------------------------
// Selection, schedule, methods

TEST(Pruner, PrunesTheHeadByDefaultAndKeepsItDenseOnRequest) {
  auto model = tiny_mlp();
  Pruner all(*model, PruneOptions(PruneMethod::kMagnitude));
  EXPECT_EQ(all.pruned_names(), (std::vector<std::string>{"0.weight", "2.weight", "4.weight"}));
  auto model2 = tiny_mlp();
  Pruner head_dense(*model2, PruneOptions(PruneMethod::kMagnitude).keep_head_dense(true));
  EXPECT_EQ(head_dense.pruned_names(), (std::vector<std::string>{"0.weight", "2.weight"}));
  EXPECT_EQ(head_dense.masks().kept_dense(), std::vector<std::string>{"4.weight"});
  auto model3 = tiny_mlp();
  Pruner picked(*model3, PruneOptions(PruneMethod::kMovement).include({"2\\.weight"}));
  EXPECT_EQ(picked.pruned_names(), std::vector<std::string>{"2.weight"});
}

TEST(Pruner, MovementKeepsExactCountsLocallyAndGloballyAfterTraining) {
  for (auto selection : {PruneSelection::kLocal, PruneSelection::kGlobal}) {
    auto model = tiny_mlp();
    Pruner pruner(*model, PruneOptions(PruneMethod::kMovement).keep_head_dense(true).final_remaining(0.25)
                              .selection(selection).warmup(0.1).cooldown(0.2));
    train_loop(model, pruner, 30);
    auto report = pruner.remaining();
    ASSERT_EQ(report.layers.size(), 2u);
    if (selection == PruneSelection::kLocal) {
      EXPECT_EQ(report.layers[0].kept, std::llround(0.25 * 32));
      EXPECT_EQ(report.layers[1].kept, std::llround(0.25 * 48));
    }
    EXPECT_EQ(report.kept, std::llround(0.25 * 80)) << prune::to_string(selection);
    EXPECT_EQ(report.total, 80);
  }
}

TEST(Pruner, TargetFollowsTheCubicSchedule) {
  auto model = tiny_mlp();
  Pruner pruner(*model, PruneOptions(PruneMethod::kMovement).final_remaining(0.1).warmup(0.1)
                            .cooldown(0.2));
  EXPECT_DOUBLE_EQ(pruner.target_remaining(at_step(10, 100)), 1.0);
  EXPECT_DOUBLE_EQ(pruner.target_remaining(at_step(81, 100)), 0.1);
  EXPECT_NEAR(pruner.target_remaining(at_step(45, 100)), 0.2125, 1e-12);
  // With explicit total steps the schedule reads the step, not the progress.
  auto model2 = tiny_mlp();
  Pruner by_step(*model2, PruneOptions(PruneMethod::kMovement).final_remaining(0.1).warmup(0.1)
                              .cooldown(0.2).total_steps(100));
  // Step 45 at 90% of a 50-step run: progress alone would put it in the cool-down.
  EXPECT_NEAR(by_step.target_remaining(at_step(45, 50)), 0.2125, 1e-12);
  // A trainer that never fills progress is an error, not a schedule stuck at v_i.
  StepInfo info;
  info.step = 45;
  info.planned_steps = 100;
  EXPECT_NE(error_of([&] { pruner.target_remaining(info); }).find("progress"), std::string::npos);
  EXPECT_NE(error_of([&] { by_step.target_remaining(info); }).find("progress"), std::string::npos)
      << "checked the same way when the schedule reads the step";
}

TEST(Pruner, GradualMagnitudeReachesFinalShareAndOneShotKeepsItsMask) {
  auto model = tiny_mlp();
  Pruner gradual(*model, PruneOptions(PruneMethod::kMagnitude).keep_head_dense(true).final_remaining(0.2));
  train_loop(model, gradual, 20);
  EXPECT_EQ(gradual.remaining().kept, std::llround(0.2 * 32) + std::llround(0.2 * 48));

  auto model2 = tiny_mlp();
  Pruner once(*model2, PruneOptions(PruneMethod::kMagnitude).keep_head_dense(true).final_remaining(0.2).one_shot(true));
  auto w = param(*model2, "0.weight").detach().clone();
  auto expected = prune::top_v_mask(w.abs(), std::llround(0.2 * 32));
  train_loop(model2, once, 20);
  EXPECT_TRUE(torch::equal(once.masks().params()[0].mask, expected));
}

TEST(Pruner, SoftMovementNeverKeepsLessThanHalfAPercent) {
  torch::manual_seed(5);
  torch::nn::Sequential model(torch::nn::Linear(100, 50), torch::nn::ReLU(),
                              torch::nn::Linear(50, 2));
  Pruner pruner(*model, PruneOptions(PruneMethod::kSoftMovement).keep_head_dense(true).final_threshold(0.1));
  {
    torch::NoGradGuard no_grad;
    pruner.score_parameters()[0].uniform_(-12.0, -8.0);  // sigmoid < 0.001 everywhere
  }
  pruner.before_forward(false, at_step(100, 100));
  const int64_t kept = pruner.remaining().kept;
  EXPECT_EQ(kept, 5000 / 200 + 1);
  EXPECT_GT(kept, 0.005 * 5000);
  // Above the floor, the threshold alone decides.
  {
    torch::NoGradGuard no_grad;
    auto s = pruner.score_parameters()[0];
    s.fill_(-5.0);
    s.view({-1}).slice(0, 0, 700).fill_(0.0);  // sigmoid 0.5 > tau
  }
  EXPECT_EQ(pruner.remaining().kept, 700);
}

TEST(Pruner, SoftMovementRegularizerRampsWithThreshold) {
  auto model = tiny_mlp();
  Pruner pruner(*model, PruneOptions(PruneMethod::kSoftMovement));
  EXPECT_DOUBLE_EQ(pruner.lambda(at_step(5, 100)), 0.0);
  EXPECT_DOUBLE_EQ(pruner.lambda(at_step(90, 100)), 400.0);
  EXPECT_NEAR(pruner.threshold(at_step(45, 100)), 0.1 - 0.1 / 8.0, 1e-12);
  // Scores start at 0: mean sigmoid 0.5 whatever the normalization.
  EXPECT_NEAR(pruner.regularizer(at_step(90, 100)).item<double>(), 200.0, 1e-4);
}

TEST(Pruner, RegularizerNormalizationPerTensorOrPerWeight) {
  auto model = tiny_mlp();
  Pruner per_tensor(*model, PruneOptions(PruneMethod::kSoftMovement).keep_head_dense(true).lambda(1.0));
  auto model2 = tiny_mlp();
  Pruner per_weight(*model2, PruneOptions(PruneMethod::kSoftMovement).keep_head_dense(true).lambda(1.0)
                                 .regularizer_norm(prune::RegularizerNorm::kPerWeight));
  for (Pruner* p : {&per_tensor, &per_weight}) {
    torch::NoGradGuard no_grad;
    p->score_parameters()[0].fill_(100.0);   // 32 weights, sigmoid 1
    p->score_parameters()[1].fill_(-100.0);  // 48 weights, sigmoid 0
  }
  auto info = at_step(100, 100);
  EXPECT_NEAR(per_tensor.regularizer(info).item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(per_weight.regularizer(info).item<double>(), 32.0 / 80.0, 1e-6);
}

TEST(Pruner, L0EvaluationMaskIsDeterministicAndTrainingMaskIsSampled) {
  auto model = tiny_mlp();
  Pruner pruner(*model, PruneOptions(PruneMethod::kL0));
  torch::manual_seed(6);
  {
    torch::NoGradGuard no_grad;
    for (auto& s : pruner.score_parameters()) s.uniform_(-4.0, 4.0);
  }
  auto* lin = (*model)[0]->as<torch::nn::Linear>();
  auto scores = pruner.score_parameters()[0];
  pruner.before_forward(false, at_step(3, 10));
  auto first = lin->weight.clone();
  torch::manual_seed(123);  // the global RNG must not matter
  pruner.before_forward(false, at_step(7, 10));
  EXPECT_TRUE(torch::equal(first, lin->weight));
  auto gate = torch::clamp(torch::sigmoid(scores.detach()) * 1.2 - 0.1, 0.0, 1.0);
  EXPECT_TRUE(torch::allclose(first, param(*model, "0.weight").detach() * gate));

  pruner.before_forward(true, at_step(3, 10));
  auto sample_a = lin->weight.detach().clone();
  pruner.before_forward(true, at_step(4, 10));
  auto sample_b = lin->weight.detach().clone();
  pruner.before_forward(true, at_step(3, 10));
  EXPECT_FALSE(torch::equal(sample_a, sample_b));
  EXPECT_TRUE(torch::equal(sample_a, lin->weight.detach()));  // noise is a function of the step
}

TEST(Pruner, L0RegularizerIsExpectedShareOfOpenGates) {
  auto model = tiny_mlp();
  Pruner pruner(*model, PruneOptions(PruneMethod::kL0).lambda(2.0));
  // Scores start at 2.197: P(gate != 0) = sigmoid(2.197 - (2/3) log(1/11)).
  const double expected = 2.0 / (1.0 + std::exp(-(2.197 + 2.0 / 3.0 * std::log(11.0))));
  EXPECT_NEAR(pruner.regularizer(at_step(0, 10)).item<double>(), expected, 1e-5);
  pruner.regularizer(at_step(0, 10)).backward();
  EXPECT_GT(pruner.score_parameters()[0].grad().abs().min().item<float>(), 0.0f);
}

TEST(Pruner, AddsScoresToOptimizerWithScoreLearningRateAndNoDecay) {
  auto model = tiny_mlp();
  Pruner pruner(*model, PruneOptions(PruneMethod::kMovement).keep_head_dense(true).score_lr(0.05));
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.1));
  TrainContext context;
  context.model = model.ptr().get();
  context.optimizer = &optimizer;
  pruner.on_train_begin(context);
  ASSERT_EQ(optimizer.param_groups().size(), 2u);
  auto& group = optimizer.param_groups()[1];
  EXPECT_EQ(group.params().size(), 2u);
  auto& options = static_cast<torch::optim::AdamWOptions&>(group.options());
  EXPECT_DOUBLE_EQ(options.lr(), 0.05);
  EXPECT_DOUBLE_EQ(options.weight_decay(), 0.0);
  pruner.on_train_begin(context);  // already there: not added twice
  EXPECT_EQ(optimizer.param_groups().size(), 2u);
}

TEST(Pruner, LogsRemainingShareAndScheduleEveryEpoch) {
  auto model = tiny_mlp();
  Pruner pruner(*model, PruneOptions(PruneMethod::kMovement).final_remaining(0.5));
  train_loop(model, pruner, 10);
  nlohmann::json record;
  pruner.on_epoch_end(0, record);
  ASSERT_TRUE(record.contains("prune"));
  EXPECT_DOUBLE_EQ(record["prune"]["remaining"].get<double>(), 40.0 / 80.0);
  EXPECT_DOUBLE_EQ(record["prune"]["target"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(record["prune"]["layers"]["0.weight"].get<double>(), 0.5);
  EXPECT_EQ(record["prune"]["method"], "movement");
}

// ---------------------------------------------------------------------------
// Bake, save, load

TEST(Pruner, BakedModelGivesTheMaskedModelsOutputs) {
  for (auto method : {PruneMethod::kMagnitude, PruneMethod::kMovement, PruneMethod::kSoftMovement,
                      PruneMethod::kL0}) {
    auto model = tiny_mlp();
    Pruner pruner(*model, PruneOptions(method).keep_head_dense(true).final_remaining(0.3));
    train_loop(model, pruner, 12, 5e-2);
    auto x = torch::randn({10, 4});
    torch::Tensor masked;
    {
      torch::NoGradGuard no_grad;
      masked = model->forward(x);
    }
    auto report = pruner.bake();
    EXPECT_TRUE(pruner.score_parameters().empty());
    auto* lin = (*model)[0]->as<torch::nn::Linear>();
    EXPECT_EQ(lin->weight.unsafeGetTensorImpl(),
              param(*model, "0.weight").unsafeGetTensorImpl());
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::allclose(model->forward(x), masked, 1e-6, 1e-6)) << prune::to_string(method);
    if (method == PruneMethod::kMagnitude || method == PruneMethod::kMovement)
      EXPECT_EQ(report.kept, std::llround(0.3 * 32) + std::llround(0.3 * 48));
    EXPECT_NE(error_of([&] { pruner.before_forward(false, at_step(0, 1)); }).find("bake"),
              std::string::npos);
  }
}

TEST(Pruner, SaveLoadRoundTripKeepsScoreTensorsAndMasks) {
  auto model = tiny_mlp();
  Pruner pruner(*model, PruneOptions(PruneMethod::kMovement).final_remaining(0.4));
  train_loop(model, pruner, 15);
  const std::string path = ::testing::TempDir() + "/pruner_state.pt";
  {
    torch::serialize::OutputArchive archive;
    pruner.save(archive);
    archive.save_to(path);
  }
  auto model2 = tiny_mlp();
  Pruner restored(*model2, PruneOptions(PruneMethod::kMovement).final_remaining(0.4));
  auto* impl = restored.score_parameters()[0].unsafeGetTensorImpl();
  {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    restored.load(archive);
  }
  EXPECT_EQ(restored.score_parameters()[0].unsafeGetTensorImpl(), impl);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_TRUE(torch::equal(restored.score_parameters()[i], pruner.score_parameters()[i]));
  // Same scores and position: same masks and report.
  EXPECT_EQ(restored.remaining().to_json(), pruner.remaining().to_json());
  for (size_t i = 0; i < 2; ++i)
    EXPECT_TRUE(torch::equal(restored.masks().params()[i].mask, pruner.masks().params()[i].mask));

  auto model3 = tiny_mlp();
  Pruner other(*model3, PruneOptions(PruneMethod::kL0));
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  EXPECT_NE(error_of([&] { other.load(archive); }).find("movement"), std::string::npos);
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------
// Options

TEST(PruneOptions, RejectsBadValuesWithClearMessages) {
  auto model = tiny_mlp();
  auto message = [&](const PruneOptions& o) { return error_of([&] { Pruner p(*model, o); }); };
  EXPECT_NE(message(PruneOptions().final_remaining(0.0)).find("final remaining share must be in (0, 1], got 0"),
            std::string::npos);
  EXPECT_NE(message(PruneOptions().final_remaining(1.5)).find("got 1.5"), std::string::npos);
  EXPECT_NE(message(PruneOptions().initial_remaining(-0.2)).find("initial remaining"),
            std::string::npos);
  EXPECT_NE(message(PruneOptions().initial_remaining(0.2).final_remaining(0.5)).find("exceeds"),
            std::string::npos);
  EXPECT_NE(message(PruneOptions().warmup(0.6).cooldown(0.5)).find("warm-up"), std::string::npos);
  EXPECT_NE(message(PruneOptions(PruneMethod::kMovement).one_shot(true)).find("one_shot"),
            std::string::npos);
  EXPECT_NE(message(PruneOptions().score_lr(0.0)).find("score learning rate"), std::string::npos);
  EXPECT_NE(message(PruneOptions().lambda(-1.0)).find("lambda"), std::string::npos);
  EXPECT_NE(message(PruneOptions().include({"encoder\\..*"})).find("encoder"), std::string::npos);
  EXPECT_NE(message(PruneOptions().dense({"nothing_here"})).find("nothing_here"), std::string::npos);
  EXPECT_NE(message(PruneOptions().include({"4\\.weight"}).keep_head_dense(true)).find("no Linear or Conv weight left"),
            std::string::npos);
  EXPECT_NE(error_of([] { prune::parse_prune_method("snip"); }).find("unknown pruning method 'snip'"),
            std::string::npos);
  EXPECT_NE(error_of([] { prune::parse_prune_selection("both"); }).find("'both'"), std::string::npos);
  EXPECT_EQ(prune::parse_prune_method("soft_movement"), PruneMethod::kSoftMovement);
  EXPECT_EQ(prune::parse_prune_method(prune::to_string(PruneMethod::kL0)), PruneMethod::kL0);
}

TEST(PruneOptions, DefaultsFollowTheReference) {
  PruneOptions movement(PruneMethod::kMovement), soft(PruneMethod::kSoftMovement),
      l0(PruneMethod::kL0);
  EXPECT_DOUBLE_EQ(movement.score_lr(), 1e-2);
  EXPECT_DOUBLE_EQ(movement.resolved_score_init(), 0.0);
  EXPECT_DOUBLE_EQ(l0.resolved_score_init(), 2.197);
  EXPECT_DOUBLE_EQ(soft.resolved_lambda(), 400.0);
  EXPECT_DOUBLE_EQ(l0.resolved_lambda(), 125.0);
  EXPECT_DOUBLE_EQ(soft.final_threshold(), 0.1);
  EXPECT_DOUBLE_EQ(movement.initial_remaining(), 1.0);
}
