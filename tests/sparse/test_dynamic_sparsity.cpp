// DynamicSparsity driven by a hand-written loop that calls the hook the way
// include/frugal/core/hook.h documents.
#include "support/expect_error.h"
#include "frugal/kernels/masked_conv2d.h"
#include "frugal/sparse/dynamic_sparsity.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <sstream>

using namespace frugal::sparse;
using frugal::core::StepInfo;
using frugal::core::TrainContext;

namespace {

/// A 3-layer MLP built from `Linear` (torch::nn::Linear, or
/// kernels::MaskedLinear for the sparse kernels).
template <typename Linear>
struct MlpOf : torch::nn::Module {
  MlpOf() {
    fc1 = register_module("fc1", Linear(64, 40));
    fc2 = register_module("fc2", Linear(40, 24));
    fc3 = register_module("fc3", Linear(24, 4));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc3(torch::relu(fc2(torch::relu(fc1(x.view({x.size(0), -1}))))));
  }
  Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};
using Mlp = MlpOf<torch::nn::Linear>;
using KernelMlp = MlpOf<frugal::kernels::MaskedLinear>;

/// Two conv layers and a Linear one, from `Conv` and `Linear` (the torch
/// layers, or kernels::MaskedConv2d and MaskedLinear for the sparse kernels).
template <typename Conv, typename Linear>
struct CnnOf : torch::nn::Module {
  CnnOf() {
    conv1 = register_module("conv1", Conv(torch::nn::Conv2dOptions(1, 6, 3)));
    conv2 = register_module("conv2", Conv(torch::nn::Conv2dOptions(6, 8, 3).stride(2).padding(1)));
    fc = register_module("fc", Linear(8 * 3 * 3, 4));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::relu(conv2(torch::relu(conv1(x.view({x.size(0), 1, 8, 8})))));
    return fc(h.flatten(1));
  }
  Conv conv1{nullptr}, conv2{nullptr};
  Linear fc{nullptr};
};
using Cnn = CnnOf<torch::nn::Conv2d, torch::nn::Linear>;
using KernelCnn = CnnOf<frugal::kernels::MaskedConv2d, frugal::kernels::MaskedLinear>;

enum class Opt { kSgd, kAdamW, kNone };

/// One model, optimizer, hook and fixed data, trained step by step.
template <typename Model>
struct Harness {
  Harness(DynamicSparsityOptions options, Opt opt = Opt::kSgd, uint64_t model_seed = 0,
      int64_t planned = 200)
      : hook(std::move(options)), planned_steps(planned) {
    torch::manual_seed(model_seed);
    model = std::make_shared<Model>();
    torch::manual_seed(4242);  // the same data whatever the model's seed
    x = torch::randn({64, 64});
    y = torch::randint(0, 4, {64}, torch::kLong);
    if (opt == Opt::kSgd)
      optimizer = std::make_unique<torch::optim::SGD>(
          model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
    else if (opt == Opt::kAdamW)
      optimizer = std::make_unique<torch::optim::AdamW>(
          model->parameters(), torch::optim::AdamWOptions(0.01).weight_decay(0.01));
    context.model = model.get();
    context.optimizer = optimizer.get();
    context.epochs = 10;
    context.planned_steps = planned_steps;
    context.seed = 1234;
    context.log_event = [this](const nlohmann::json& e) { events.push_back(e); };
  }

  void begin() { hook.on_train_begin(context); }

  StepInfo info(int64_t s) const {
    StepInfo i;
    i.step = s;
    i.epoch = s / 20;
    i.progress = static_cast<double>(s) / static_cast<double>(planned_steps);
    i.planned_steps = planned_steps;
    return i;
  }

  /// Steps [from, to); `check` runs after each after_step.
  void steps(int64_t from, int64_t to, const std::function<void(const StepInfo&)>& check = {}) {
    for (int64_t s = from; s < to; ++s) {
      const auto i = info(s);
      hook.before_forward(true, i);
      optimizer->zero_grad();
      const auto rows = torch::arange((s * 16) % 64, (s * 16) % 64 + 16, torch::kLong);
      auto loss = torch::nn::functional::cross_entropy(model->forward(x.index_select(0, rows)),
                                                       y.index_select(0, rows));
      loss.backward();
      hook.before_step(i);
      optimizer->step();
      hook.after_step(i);
      if (check) check(i);
    }
  }

  std::vector<torch::Tensor> mask_copies() const {
    std::vector<torch::Tensor> out;
    for (const auto& p : hook.masks().params()) out.push_back(p.mask.clone());
    return out;
  }

  std::shared_ptr<Model> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  TrainContext context;
  DynamicSparsity hook;
  torch::Tensor x, y;
  int64_t planned_steps;
  std::vector<nlohmann::json> events;
};

DynamicSparsityOptions busy(SparseMethod method, double density = 0.2) {
  // Frequent, large updates all run long, so many updates happen in few steps.
  return DynamicSparsityOptions(density)
      .method(method)
      .update_interval(3)
      .t_end(1.0)
      .drop_fraction(0.5)
      .schedule(DropSchedule::kConstant);
}

void expect_masked_weights_zero(const MaskSet& masks) {
  for (const auto& p : masks.params())
    ASSERT_EQ(p.weight.masked_select(p.mask.logical_not()).abs().sum().item<float>(), 0.0f)
        << p.name << " has a non-zero inactive weight";
}

using frugal_test::expect_error;

torch::Tensor state_tensor(torch::optim::Optimizer& opt, const torch::Tensor& p,
                           const std::string& which) {
  auto& state = *opt.state().at(c10::guts::to_string(p.unsafeGetTensorImpl()));
  if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(&state)) return s->momentum_buffer();
  auto& a = dynamic_cast<torch::optim::AdamWParamState&>(state);
  return which == "exp_avg" ? a.exp_avg() : a.exp_avg_sq();
}

template <typename Model>
void check_exact_density(SparseMethod method, Opt opt, Distribution dist) {
  Harness<Model> run(busy(method).distribution(dist), opt);
  run.begin();
  const auto& params = run.hook.masks().params();
  const auto counts = layer_active_counts(run.hook.masks(), 0.2, dist);
  const int64_t target = std::llround(0.2 * static_cast<double>(run.hook.masks().total()));
  const auto initial = run.mask_copies();
  run.steps(0, 90, [&](const StepInfo&) {
    ASSERT_EQ(run.hook.masks().active(), target);
    for (size_t i = 0; i < params.size(); ++i)
      ASSERT_EQ(params[i].active(), counts[i]) << params[i].name;
    expect_masked_weights_zero(run.hook.masks());
  });
  EXPECT_EQ(run.hook.updates(), 30);
  bool moved = false;
  for (size_t i = 0; i < params.size(); ++i) moved |= !torch::equal(initial[i], params[i].mask);
  EXPECT_TRUE(moved) << "the masks never changed";
}

}  // namespace

TEST(DynamicSparsity, DensityIsExactPerLayerAfterEveryUpdateWithSgdMomentumAndWeightDecay) {
  for (auto method : {SparseMethod::kRandom, SparseMethod::kGradient, SparseMethod::kRandomUnfired}) {
    SCOPED_TRACE(to_string(method));
    check_exact_density<Mlp>(method, Opt::kSgd, Distribution::kERK);
    check_exact_density<Cnn>(method, Opt::kSgd, Distribution::kUniform);
  }
}

TEST(DynamicSparsity, DensityIsExactPerLayerAfterEveryUpdateWithAdamW) {
  for (auto method : {SparseMethod::kRandom, SparseMethod::kGradient, SparseMethod::kRandomUnfired}) {
    SCOPED_TRACE(to_string(method));
    check_exact_density<Cnn>(method, Opt::kAdamW, Distribution::kERK);
  }
}

TEST(DynamicSparsity, MomentumGrowthKeepsTheTotalExactWhileLayersTradeWeights) {
  for (auto opt : {Opt::kSgd, Opt::kAdamW}) {
    Harness<Mlp> run(busy(SparseMethod::kMomentum).distribution(Distribution::kUniform), opt);
    run.begin();
    const auto& params = run.hook.masks().params();
    const int64_t target = std::llround(0.2 * static_cast<double>(run.hook.masks().total()));
    std::vector<int64_t> before;
    for (const auto& p : params) before.push_back(p.active());
    bool traded = false;
    run.steps(0, 90, [&](const StepInfo& info) {
      ASSERT_EQ(run.hook.masks().active(), target);
      expect_masked_weights_zero(run.hook.masks());
      for (size_t i = 0; i < params.size(); ++i) {
        int64_t expected = before[i];
        if (run.hook.is_update_step(info))
          expected += run.hook.last_update().grown[i].numel() -
                      run.hook.last_update().dropped[i].numel();
        ASSERT_EQ(params[i].active(), expected) << params[i].name;
        traded |= run.hook.is_update_step(info) && run.hook.last_update().grown[i].numel() !=
                                                      run.hook.last_update().dropped[i].numel();
        before[i] = params[i].active();
      }
    });
    EXPECT_TRUE(traded) << "redistribution never moved weights between layers";
  }
}

TEST(DynamicSparsity, GradientsOfInactiveWeightsAreZeroBeforeTheOptimizerStep) {
  Harness<Mlp> run(busy(SparseMethod::kGradient));
  run.begin();
  const auto i = run.info(2);  // an update step: the dense gradient is kept aside
  run.hook.before_forward(true, i);
  run.optimizer->zero_grad();
  torch::nn::functional::cross_entropy(run.model->forward(run.x), run.y).backward();
  run.hook.before_step(i);
  for (const auto& p : run.hook.masks().params())
    EXPECT_EQ(p.weight.grad().masked_select(p.mask.logical_not()).abs().sum().item<float>(), 0.0f);
  const auto kept = run.hook.statistics_to_average();
  ASSERT_EQ(kept.size(), run.hook.masks().size());
  for (size_t k = 0; k < kept.size(); ++k) {
    const auto& mask = run.hook.masks().params()[k].mask;
    if (mask.all().item<bool>()) continue;  // made dense by ERK
    EXPECT_GT(kept[k].masked_select(mask.logical_not()).abs().sum().item<float>(), 0.0f)
        << "the kept gradient must be dense";
  }
  // Not an update step: nothing kept.
  run.hook.after_step(i);
  run.hook.before_step(run.info(3));
  EXPECT_TRUE(run.hook.statistics_to_average().empty());
}

TEST(DynamicSparsity, GrownWeightsAreZeroWithZeroOptimizerStateRightAfterGrowth) {
  for (auto opt : {Opt::kSgd, Opt::kAdamW}) {
    for (auto method : {SparseMethod::kRandom, SparseMethod::kGradient, SparseMethod::kMomentum}) {
      SCOPED_TRACE(to_string(method));
      Harness<Mlp> run(busy(method), opt);
      run.begin();
      int64_t checked = 0;
      run.steps(0, 30, [&](const StepInfo& info) {
        if (!run.hook.is_update_step(info)) return;
        const auto& params = run.hook.masks().params();
        for (size_t i = 0; i < params.size(); ++i) {
          const auto& grown = run.hook.last_update().grown[i];
          if (grown.numel() == 0) continue;
          const auto& w = params[i].weight;
          ASSERT_TRUE(params[i].mask.view(-1).index_select(0, grown).all().item<bool>());
          ASSERT_EQ(w.view(-1).index_select(0, grown).abs().sum().item<float>(), 0.0f);
          for (const char* which : {"exp_avg", "exp_avg_sq"}) {
            auto state = state_tensor(*run.optimizer, w, which);
            ASSERT_EQ(state.view(-1).index_select(0, grown).abs().sum().item<float>(), 0.0f);
            // Meaningful only if the state is non-zero elsewhere.
            ASSERT_GT(state.abs().sum().item<float>(), 0.0f);
          }
          checked += grown.numel();
        }
      });
      EXPECT_GT(checked, 0);
    }
  }
}

TEST(DynamicSparsity, GradientGrowthPicksTheLargestGradientsAmongInactivePositions) {
  struct One : torch::nn::Module {
    One() { fc = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(4, 4).bias(false))); }
    torch::nn::Linear fc{nullptr};
  };
  auto model = std::make_shared<One>();
  TrainContext context;
  context.model = model.get();
  DynamicSparsity hook(DynamicSparsityOptions(0.5)
                           .distribution(Distribution::kUniform)
                           .method(SparseMethod::kGradient)
                           .drop_fraction(0.25)
                           .schedule(DropSchedule::kConstant)
                           .update_interval(1)
                           .t_end(1.0));
  hook.on_train_begin(context);
  auto& p = hook.masks().at("fc.weight");
  StepInfo info;  // step 0, progress 0: an update with f = 0.25 -> drop 2 of 8
  {
    torch::NoGradGuard no_grad;
    // Active: positions 0..7 with |w| = 1..8; so 0 and 1 are dropped.
    p.mask.copy_((torch::arange(16) < 8).view({4, 4}));
    p.weight.copy_((torch::arange(16, torch::kFloat) + 1).mul(torch::tensor(-1.0f).pow(torch::arange(16)))
                       .view({4, 4}));
  }
  auto grad = torch::full({16}, 0.01f);
  grad.narrow(0, 0, 8).fill_(100.0f);  // active: must never be picked
  grad[0] = 0.0f;                       // the two to be dropped: small
  grad[1] = 0.0f;
  grad[12] = -5.0f;
  grad[9] = 3.0f;
  grad[15] = 2.0f;
  p.weight.mutable_grad() = grad.view({4, 4}).clone();
  hook.before_forward(true, info);
  hook.before_step(info);
  hook.after_step(info);
  auto mask = p.mask.view(-1);
  std::vector<int64_t> active;
  for (int64_t i = 0; i < 16; ++i)
    if (mask[i].item<bool>()) active.push_back(i);
  EXPECT_EQ(active, (std::vector<int64_t>{2, 3, 4, 5, 6, 7, 9, 12}));
  EXPECT_EQ(p.weight.view(-1)[9].item<float>(), 0.0f);
  EXPECT_EQ(p.weight.view(-1)[12].item<float>(), 0.0f);
  EXPECT_EQ(p.weight.view(-1)[7].item<float>(), -8.0f);  // kept weights untouched

  // ITOP's defect: fewer non-zero gradients among inactive positions than must
  // grow. Exactly 2 are still grown, both inactive, the non-zero one first.
  {
    torch::NoGradGuard no_grad;
    p.mask.copy_((torch::arange(16) < 8).view({4, 4}));
    p.weight.copy_((torch::arange(16, torch::kFloat) + 1).view({4, 4}));
  }
  grad.zero_();
  grad.narrow(0, 2, 6).fill_(100.0f);
  grad[14] = 1.0f;
  p.weight.mutable_grad() = grad.view({4, 4}).clone();
  hook.before_step(info);
  hook.after_step(info);
  EXPECT_EQ(p.active(), 8);
  EXPECT_TRUE(mask[14].item<bool>());
  for (int64_t i = 2; i < 8; ++i) EXPECT_TRUE(mask[i].item<bool>()) << i;
  const auto grown = hook.last_update().grown[0];
  EXPECT_EQ(grown.numel(), 2);
  for (int64_t k = 0; k < grown.numel(); ++k) {
    const int64_t g = grown[k].item<int64_t>();
    EXPECT_TRUE(g < 2 || g >= 8) << "grew an active position " << g;
  }
}

TEST(DynamicSparsity, RandomUnfiredGrowsOnlyNeverActivePositionsWhileAnyRemain) {
  Harness<Mlp> run(busy(SparseMethod::kRandomUnfired, 0.3).distribution(Distribution::kUniform));
  run.begin();
  const auto& params = run.hook.masks().params();
  std::vector<torch::Tensor> union_before;
  for (const auto& u : run.hook.union_masks()) union_before.push_back(u.clone());
  int64_t exhausted = 0, fresh = 0;
  run.steps(0, 60, [&](const StepInfo& info) {
    if (!run.hook.is_update_step(info)) return;
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& grown = run.hook.last_update().grown[i];
      const auto was_fired = union_before[i].view(-1).index_select(0, grown);
      const int64_t unfired = union_before[i].numel() - union_before[i].sum().item<int64_t>();
      if (unfired >= grown.numel()) {
        ASSERT_FALSE(was_fired.any().item<bool>()) << "grew a weight that had been active";
        ++fresh;
      } else {
        // Every never-active weight is grown, the rest from the others.
        ASSERT_EQ(was_fired.logical_not().sum().item<int64_t>(), unfired);
        ++exhausted;
      }
      union_before[i] = run.hook.union_masks()[i].clone();
    }
  });
  EXPECT_GT(fresh, 0);
  EXPECT_GT(exhausted, 0) << "the run never used up the unfired weights";
  EXPECT_DOUBLE_EQ(run.hook.itop_rate(), 1.0);
}

TEST(DynamicSparsity, ItopRateIsNonDecreasingAndEqualsTheUnionCount) {
  Harness<Cnn> run(busy(SparseMethod::kRandom, 0.1).update_interval(5).drop_fraction(0.3)
                   .schedule(DropSchedule::kCosine));
  run.begin();
  const auto& params = run.hook.masks().params();
  double last = run.hook.itop_rate();
  EXPECT_NEAR(last, 0.1, 1.0 / static_cast<double>(run.hook.masks().total()));
  run.steps(0, 100, [&](const StepInfo& info) {
    int64_t fired = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& u = run.hook.union_masks()[i];
      ASSERT_TRUE((u | params[i].mask).equal(u)) << "the union misses an active weight";
      fired += u.sum().item<int64_t>();
      EXPECT_DOUBLE_EQ(run.hook.itop_rate_per_layer()[i],
                       u.sum().item<double>() / static_cast<double>(u.numel()));
    }
    const double rate = run.hook.itop_rate();
    EXPECT_DOUBLE_EQ(rate, static_cast<double>(fired) / run.hook.masks().total());
    ASSERT_GE(rate, last);
    last = rate;
  });
  EXPECT_GT(last, 0.15);
  ASSERT_EQ(run.events.size(), static_cast<size_t>(run.hook.updates()));
  const auto& e = run.events.back();
  EXPECT_EQ(e["event"], "mask_update");
  EXPECT_EQ(e["step"], 99);
  EXPECT_DOUBLE_EQ(e["itop_rate"].get<double>(), last);
  EXPECT_EQ(e["itop_rate_per_layer"].size(), params.size());
  EXPECT_NEAR(e["density"].get<double>(), 0.1, 1e-3);
  for (const char* key : {"epoch", "drop_fraction", "update_ms"}) EXPECT_TRUE(e.contains(key)) << key;
  nlohmann::json record, summary;
  run.hook.on_epoch_end(4, record);
  run.hook.on_train_end(summary);
  EXPECT_DOUBLE_EQ(record["itop_rate"].get<double>(), last);
  EXPECT_EQ(summary["mask_updates"], run.hook.updates());
  EXPECT_EQ(summary["active_weights"], run.hook.masks().active());
}

TEST(DynamicSparsity, UpdatesFollowDeltaTAndStopAtTEnd) {
  // 200 planned steps, t_end 0.5: updates after steps 9, 19, ..., 99 (progress < 0.5).
  Harness<Mlp> run(DynamicSparsityOptions(0.3).method(SparseMethod::kRandom).update_interval(10)
                   .t_end(0.5));
  run.begin();
  std::vector<int64_t> at;
  run.steps(0, 160, [&](const StepInfo& info) {
    if (run.hook.last_update().step == info.step) at.push_back(info.step);
  });
  std::vector<int64_t> expected;
  for (int64_t s = 9; s < 100; s += 10) expected.push_back(s);
  EXPECT_EQ(at, expected);
  EXPECT_EQ(run.hook.drop_fraction(run.info(100)), 0.0);
}

TEST(DynamicSparsity, ExternalLayersAreNotMaskedBetweenUpdatesOnlyAtThem) {
  Harness<Mlp> run(DynamicSparsityOptions(0.3).method(SparseMethod::kRandom).update_interval(5));
  run.begin();
  run.hook.set_external(1);
  run.steps(0, 1);
  const auto& params = run.hook.masks().params();
  auto inactive = [&](size_t i) { return params[i].weight.masked_select(params[i].mask.logical_not()); };
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < 2; ++i) params[i].weight.masked_fill_(params[i].mask.logical_not(), 1.0);
  }
  run.steps(1, 2);
  EXPECT_EQ(inactive(0).abs().sum().item<float>(), 0.0f) << "a held layer is masked at each step";
  EXPECT_EQ(inactive(1).eq(0.0).sum().item<int64_t>(), 0) << "an external layer is not";
  run.steps(2, 5);  // step 4 updates: the caller's stand-in, as handed over, is dropped and grown on
  EXPECT_EQ(run.hook.updates(), 1);
  EXPECT_EQ(run.hook.masks().active(), std::llround(0.3 * static_cast<double>(run.hook.masks().total())));
  expect_error([&] { run.hook.set_external(3); }, "set_external: index 3 out of range (3 masked weights)");
}

TEST(DynamicSparsity, StaticKeepsTheInitialMask) {
  Harness<Mlp> run(DynamicSparsityOptions(0.2).method(SparseMethod::kStatic).update_interval(1));
  run.begin();
  const auto initial = run.mask_copies();
  run.steps(0, 20, [&](const StepInfo&) { expect_masked_weights_zero(run.hook.masks()); });
  for (size_t i = 0; i < initial.size(); ++i)
    EXPECT_TRUE(torch::equal(initial[i], run.hook.masks().params()[i].mask));
  EXPECT_EQ(run.hook.updates(), 0);
  EXPECT_NEAR(run.hook.itop_rate(), 0.2, 1e-3);
}

TEST(DynamicSparsity, SameSeedSameMasksAndAnotherSeedOthers) {
  auto masks_after = [](uint64_t seed) {
    Harness<Mlp> run(busy(SparseMethod::kRandom).seed(seed));
    run.begin();
    auto initial = run.mask_copies();
    run.steps(0, 12);
    auto later = run.mask_copies();
    initial.insert(initial.end(), later.begin(), later.end());
    return initial;
  };
  const auto a = masks_after(7), b = masks_after(7), c = masks_after(8);
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i], b[i])) << "mask " << i;
    differs |= !torch::equal(a[i], c[i]);
  }
  EXPECT_TRUE(differs);
}

TEST(DynamicSparsity, DenseLayersAreNotMaskedAndTheDensityAppliesToTheRest) {
  Harness<Mlp> run(DynamicSparsityOptions(0.25).dense_layers({"fc3"}).distribution(Distribution::kUniform));
  run.begin();
  EXPECT_EQ(run.hook.masks().size(), 2u);
  EXPECT_EQ(run.hook.masks().total(), 64 * 40 + 40 * 24);
  EXPECT_EQ(run.hook.masks().active(), std::llround(0.25 * (64 * 40 + 40 * 24)));
  run.steps(0, 3);
  EXPECT_EQ((run.model->fc3->weight == 0).sum().item<int64_t>(), 0);
}

TEST(DynamicSparsity, SaveAndLoadContinueIdentically) {
  for (auto method : {SparseMethod::kRandomUnfired, SparseMethod::kMomentum, SparseMethod::kGradient}) {
    for (bool load_first : {false, true}) {
      SCOPED_TRACE(to_string(method) + (load_first ? " load before begin" : " load after begin"));
      Harness<Mlp> whole(busy(method));
      whole.begin();
      whole.steps(0, 40);

      Harness<Mlp> first(busy(method));
      first.begin();
      first.steps(0, 20);
      std::stringstream stream;
      {
        torch::serialize::OutputArchive archive, model, optimizer, hook;
        first.model->save(model);
        first.optimizer->save(optimizer);
        first.hook.save(hook);
        archive.write("model", model);
        archive.write("optimizer", optimizer);
        archive.write("hook", hook);
        archive.save_to(stream);
      }
      // A fresh process: another model init, then everything from the checkpoint.
      Harness<Mlp> resumed(busy(method), Opt::kSgd, /*model_seed=*/99);
      torch::serialize::InputArchive archive, model, optimizer, hook;
      archive.load_from(stream);
      archive.read("model", model);
      archive.read("optimizer", optimizer);
      archive.read("hook", hook);
      resumed.model->load(model);
      resumed.optimizer->load(optimizer);
      if (load_first) {
        resumed.hook.load(hook);
        resumed.begin();
      } else {
        resumed.begin();
        resumed.hook.load(hook);
      }
      EXPECT_EQ(resumed.hook.updates(), first.hook.updates());
      resumed.steps(20, 40);

      const auto& a = whole.hook.masks().params();
      const auto& b = resumed.hook.masks().params();
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_TRUE(torch::equal(a[i].mask, b[i].mask)) << a[i].name;
        EXPECT_TRUE(torch::equal(whole.hook.union_masks()[i], resumed.hook.union_masks()[i]));
        EXPECT_TRUE(torch::equal(a[i].weight, b[i].weight)) << a[i].name;
      }
      EXPECT_EQ(whole.hook.updates(), resumed.hook.updates());
    }
  }
}

TEST(DynamicSparsity, BadOptionsAreClearErrors) {
  auto make = [](DynamicSparsityOptions o) { DynamicSparsity hook(std::move(o)); };
  expect_error([&] { make(DynamicSparsityOptions(0.0)); }, "density must be in (0, 1], got 0");
  expect_error([&] { make(DynamicSparsityOptions(1.2)); }, "got 1.2");
  expect_error([&] { make(DynamicSparsityOptions(0.1).update_interval(0)); },
               "update_interval (delta_t) must be >= 1, got 0");
  expect_error([&] { make(DynamicSparsityOptions(0.1).drop_fraction(1.5)); },
               "drop_fraction must be in [0, 1], got 1.5");
  expect_error([&] { make(DynamicSparsityOptions(0.1).drop_fraction(-0.1)); }, "got -0.1");
  expect_error([&] { make(DynamicSparsityOptions(0.1).t_end(0.0)); }, "t_end must be in (0, 1]");
  expect_error([&] { make(DynamicSparsityOptions(0.1).momentum(1.0)); }, "momentum must be in [0, 1)");
  expect_error([] { parse_sparse_method("lottery"); }, "unknown sparse training method 'lottery'");
  EXPECT_EQ(parse_sparse_method("rigl"), SparseMethod::kGradient);
  EXPECT_EQ(parse_sparse_method("set"), SparseMethod::kRandom);
  EXPECT_EQ(parse_sparse_method("snfs"), SparseMethod::kMomentum);
  EXPECT_EQ(to_string(parse_sparse_method("random_unfired")), "random_unfired");

  Harness<Mlp> run(DynamicSparsityOptions(0.1).dense_layers({"fc9"}));
  expect_error([&] { run.begin(); }, "dense layer pattern 'fc9' matches no Linear or Conv layer");
  Harness<Mlp> low(DynamicSparsityOptions(0.001).distribution(Distribution::kUniform));
  expect_error([&] { low.begin(); }, "leaves layer 'fc3.weight'");
}

using frugal::kernels::KernelChoice;

TEST(DynamicSparsity, SparseKernelTrainingEqualsMaskedDenseTrainingForEveryMethod) {
  for (auto method : {SparseMethod::kRandom, SparseMethod::kGradient, SparseMethod::kMomentum}) {
    for (auto opt : {Opt::kSgd, Opt::kAdamW}) {
      SCOPED_TRACE(to_string(method) + (opt == Opt::kSgd ? " sgd" : " adamw"));
      Harness<KernelMlp> sparse(busy(method).kernel(KernelChoice::kSparse), opt);
      Harness<KernelMlp> dense(busy(method).kernel(KernelChoice::kDense), opt);
      sparse.begin();
      dense.begin();
      int64_t sparse_steps = 0;
      sparse.steps(0, 30, [&](const StepInfo& i) {
        // The step's forward ran sparse unless it needed the dense gradient:
        // RigL at update steps, SNFS at every step before T_end (= 1 here).
        const bool ran_sparse = !sparse.model->fc1->dense_gradient();
        EXPECT_TRUE(sparse.model->fc1->has_pattern());
        EXPECT_EQ(ran_sparse, method == SparseMethod::kRandom ||
                                  (method == SparseMethod::kGradient && !sparse.hook.is_update_step(i)))
            << "step " << i.step;
        sparse_steps += ran_sparse;
        // In the compact form the optimizer never sees a dense weight gradient.
        if (sparse.hook.is_compact(0)) EXPECT_FALSE(sparse.model->fc1->weight.grad().defined());
        EXPECT_TRUE(sparse.model->fc1->pattern().to_mask().equal(sparse.hook.masks().params()[0].mask));
      });
      dense.steps(0, 30);
      EXPECT_FALSE(dense.model->fc1->has_pattern());
      // SET and RigL train the active weights in the compact form; SNFS keeps
      // the dense weight (its dense gradient is needed every step).
      EXPECT_EQ(sparse.hook.is_compact(0), method != SparseMethod::kMomentum);
      sparse.hook.write_back_weights();
      if (method != SparseMethod::kMomentum) EXPECT_GE(sparse_steps, 20);
      EXPECT_EQ(sparse.hook.updates(), 10);
      for (size_t l = 0; l < sparse.hook.masks().size(); ++l)
        EXPECT_TRUE(sparse.hook.masks().params()[l].mask.equal(dense.hook.masks().params()[l].mask))
            << "layer " << l << " chose another mask";
      const auto a = sparse.model->named_parameters(), b = dense.model->named_parameters();
      for (const auto& item : a)
        EXPECT_TRUE(torch::allclose(item.value(), b[item.key()], 1e-4, 1e-5))
            << item.key() << " differs by " << (item.value() - b[item.key()]).abs().max().item<float>();
      expect_masked_weights_zero(sparse.hook.masks());
    }
  }
}

TEST(DynamicSparsity, KernelLayersAreReportedAndLoseTheirPatternAtTrainEnd) {
  Harness<KernelMlp> run(
      busy(SparseMethod::kGradient).distribution(Distribution::kUniform).kernel(KernelChoice::kSparse));
  run.begin();
  run.steps(0, 4);
  EXPECT_TRUE(run.model->fc2->has_pattern());
  nlohmann::json summary;
  run.hook.on_train_end(summary);
  EXPECT_EQ(summary["kernel_layers"], nlohmann::json({"fc1.weight", "fc2.weight", "fc3.weight"}));
  EXPECT_FALSE(run.model->fc2->has_pattern());

  Harness<KernelMlp> off(busy(SparseMethod::kGradient).kernel(KernelChoice::kDense));
  off.begin();
  off.steps(0, 2);
  nlohmann::json none;
  off.hook.on_train_end(none);
  EXPECT_TRUE(none["kernel_layers"].empty());
}

TEST(DynamicSparsity, ForcedSparseKernelsRejectAPlainTorchLinear) {
  Harness<Mlp> run(busy(SparseMethod::kGradient).kernel(KernelChoice::kSparse));
  expect_error([&] { run.begin(); }, "layer 'fc1.weight' is a torch::nn::Linear");
  Harness<Mlp> automatic(busy(SparseMethod::kGradient).kernel(KernelChoice::kAuto));
  automatic.begin();  // plain Linear layers simply stay masked dense
  automatic.steps(0, 3);
  expect_masked_weights_zero(automatic.hook.masks());
}

TEST(DynamicSparsity, ConvLayersTrainOnTheSparseKernelsAsMaskedDenseOnesDo) {
  for (auto method : {SparseMethod::kRandom, SparseMethod::kGradient}) {
    for (auto opt : {Opt::kSgd, Opt::kAdamW}) {
      SCOPED_TRACE(to_string(method) + (opt == Opt::kSgd ? " sgd" : " adamw"));
      const auto options = busy(method).distribution(Distribution::kUniform);
      Harness<KernelCnn> sparse(DynamicSparsityOptions(options).kernel(KernelChoice::kSparse), opt);
      Harness<KernelCnn> dense(DynamicSparsityOptions(options).kernel(KernelChoice::kDense), opt);
      sparse.begin();
      dense.begin();
      int64_t sparse_steps = 0;
      sparse.steps(0, 30, [&](const StepInfo& i) {
        EXPECT_TRUE(sparse.model->conv2->has_pattern());
        sparse_steps += !sparse.model->conv2->dense_gradient();
        EXPECT_FALSE(sparse.model->conv2->weight.grad().defined()) << "compact form: no dense weight gradient";
        EXPECT_TRUE(sparse.model->conv2->pattern().to_mask().view({8, 6, 3, 3}).equal(
            sparse.hook.masks().params()[1].mask));
      });
      dense.steps(0, 30);
      EXPECT_TRUE(sparse.hook.is_compact(0) && sparse.hook.is_compact(1));
      EXPECT_GE(sparse_steps, 20);
      sparse.hook.write_back_weights();
      for (size_t l = 0; l < sparse.hook.masks().size(); ++l)
        EXPECT_TRUE(sparse.hook.masks().params()[l].mask.equal(dense.hook.masks().params()[l].mask))
            << "layer " << l << " chose another mask";
      const auto a = sparse.model->named_parameters(), b = dense.model->named_parameters();
      for (const auto& item : a)
        EXPECT_TRUE(torch::allclose(item.value(), b[item.key()], 1e-4, 1e-5))
            << item.key() << " differs by " << (item.value() - b[item.key()]).abs().max().item<float>();
      expect_masked_weights_zero(sparse.hook.masks());
      nlohmann::json summary;
      sparse.hook.on_train_end(summary);
      EXPECT_EQ(summary["kernel_layers"], nlohmann::json({"conv1.weight", "conv2.weight", "fc.weight"}));
      EXPECT_FALSE(sparse.model->conv1->has_pattern());
    }
  }
}

TEST(DynamicSparsity, ForcedSparseKernelsRejectAPlainTorchConv2d) {
  Harness<Cnn> run(busy(SparseMethod::kGradient).kernel(KernelChoice::kSparse));
  expect_error([&] { run.begin(); }, "layer 'conv1.weight' is a torch::nn::Conv2d");
}
