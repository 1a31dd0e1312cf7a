#include "support/blobs.h"
#include "support/crash_hook.h"
#include "support/expect_error.h"
#include "frugal/core/checked_file.h"
#include "frugal/data/infobatch.h"
#include "frugal/sparse/dynamic_sparsity.h"
#include "frugal/train/models.h"
#include "frugal/train/optim.h"
#include "frugal/train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>

namespace {

namespace fs = std::filesystem;
using namespace frugal;

using frugal_test::blobs;

std::string temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("frugal_trainer_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir.string();
}

struct Setup {
  std::shared_ptr<train::Classifier> model;
  std::shared_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<train::Trainer> trainer;
};

/// `adjust` changes the trainer's options before the trainer is built.
Setup make(const std::string& run_dir, int64_t epochs, double lr = 0.05,
           const std::function<void(train::TrainerOptions&)>& adjust = {}) {
  torch::manual_seed(1);
  Setup s;
  s.model = std::make_shared<train::MlpImpl>(8, std::vector<int64_t>{16}, 3);
  train::OptimizerSpec spec;
  spec.lr = lr;
  s.optimizer = train::build_optimizer(spec, {torch::optim::OptimizerParamGroup(s.model->parameters())});
  train::TrainerOptions options;
  options.epochs = epochs;
  options.batch_size = 16;
  options.run_dir = run_dir;
  options.progress = false;
  options.threads = 1;
  if (adjust) adjust(options);
  s.trainer = std::make_unique<train::Trainer>(torch::nn::AnyModule(s.model), s.optimizer, options);
  return s;
}

data::InfoBatchSampler infobatch(int64_t n, int64_t epochs) {
  return data::InfoBatchSampler(n, data::InfoBatchOptions(epochs).seed(5));
}

using frugal_test::CrashAt;

TEST(Trainer, ResumedRunEqualsUninterruptedRun) {
  auto train_set = blobs(200, 1), test_set = blobs(50, 2);
  const std::string a_dir = temp_dir("a"), b_dir = temp_dir("b");

  auto a = make(a_dir, 4);
  auto a_sampler = infobatch(200, 4);
  auto a_summary = a.trainer->fit(train_set, test_set, a_sampler);

  {
    auto b = make(b_dir, 4);
    b.trainer->add_hook(std::make_shared<CrashAt>(2));
    auto b_sampler = infobatch(200, 4);
    EXPECT_THROW(b.trainer->fit(train_set, test_set, b_sampler), std::runtime_error);
  }
  auto c = make(b_dir, 4);
  c.trainer->add_hook(std::make_shared<CrashAt>(-1));  // same hooks, no crash
  c.trainer->resume_from(b_dir + "/checkpoint.pt");
  auto c_sampler = infobatch(200, 4);
  auto summary = c.trainer->fit(train_set, test_set, c_sampler);

  auto pa = a.model->parameters(), pc = c.model->parameters();
  ASSERT_EQ(pa.size(), pc.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pc[i])) << "parameter " << i;
  EXPECT_EQ(summary["samples_forwarded"], a_summary["samples_forwarded"]);
  EXPECT_EQ(summary["test_acc"], a_summary["test_acc"]);

  // metrics.jsonl holds each epoch once.
  std::ifstream metrics(b_dir + "/metrics.jsonl");
  std::string line;
  int64_t lines = 0;
  while (std::getline(metrics, line)) ++lines;
  EXPECT_EQ(lines, 4);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST(Trainer, ResumingAFinishedRunKeepsItsResults) {
  auto train_set = blobs(200, 1), test_set = blobs(50, 2);
  const std::string dir = temp_dir("finished");
  auto a = make(dir, 2);
  auto a_sampler = infobatch(200, 2);
  const auto first = a.trainer->fit(train_set, test_set, a_sampler);
  ASSERT_GT(first["test_acc"].get<double>(), 0.5);
  auto b = make(dir, 2);
  b.trainer->resume_from(dir + "/checkpoint.pt");
  auto b_sampler = infobatch(200, 2);
  const auto again = b.trainer->fit(train_set, test_set, b_sampler);
  EXPECT_EQ(again["test_acc"], first["test_acc"]);
  EXPECT_EQ(again["test_loss"], first["test_loss"]);
  EXPECT_EQ(again["best_test_acc"], first["best_test_acc"]);
  EXPECT_EQ(again["samples_forwarded"], first["samples_forwarded"]);
  fs::remove_all(dir);
}

TEST(Trainer, ACorruptCheckpointIsRejectedAndLoadsNothing) {
  auto train_set = blobs(200, 1);
  const std::string dir = temp_dir("corrupt");
  auto a = make(dir, 2);
  auto a_sampler = infobatch(200, 2);
  a.trainer->fit(train_set, data::TensorDataset{}, a_sampler);
  const std::string path = dir + "/checkpoint.pt";
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // 20 flipped bytes in the middle, as in the report that a resumed run lost 70 points.
  for (size_t i = 0; i < 20; ++i) bytes[bytes.size() / 2 + 37 * i] ^= 0x5a;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;

  auto b = make(dir, 4);
  std::vector<torch::Tensor> before;
  for (const auto& p : b.model->parameters()) before.push_back(p.detach().clone());
  b.trainer->resume_from(path);
  auto b_sampler = infobatch(200, 4);
  try {
    b.trainer->fit(train_set, data::TensorDataset{}, b_sampler);
    FAIL() << "a corrupt checkpoint must not be resumed";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("resume: " + path + " is corrupt"),
              std::string::npos)
        << e.what_without_backtrace();
  }
  const auto after = b.model->parameters();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i]));
  fs::remove_all(dir);
}

TEST(Trainer, CheckpointsAtTheIntervalAndAtTheLastEpoch) {
  auto train_set = blobs(100, 1);
  const std::string dir = temp_dir("interval");
  // Crashing at epoch 3 of 5 with checkpoint_every = 2 leaves the checkpoint after epoch 1.
  const auto every_two = [](train::TrainerOptions& options) { options.checkpoint_every = 2; };
  {
    auto a = make(dir, 5, 0.05, every_two);
    a.trainer->add_hook(std::make_shared<CrashAt>(3));
    auto sampler = infobatch(100, 5);
    EXPECT_THROW(a.trainer->fit(train_set, data::TensorDataset{}, sampler), std::runtime_error);
  }
  auto progress_of = [&] {
    torch::serialize::InputArchive archive;
    core::load_checked(archive, dir + "/checkpoint.pt", "test");
    torch::Tensor progress;
    archive.read("progress", progress);
    return progress[0].item<int64_t>();
  };
  EXPECT_EQ(progress_of(), 2) << "the checkpoint after epochs 0 and 1";
  {
    auto a = make(dir, 3, 0.05, every_two);
    auto sampler = infobatch(100, 3);
    a.trainer->fit(train_set, data::TensorDataset{}, sampler);
  }
  EXPECT_EQ(progress_of(), 3) << "the last epoch is always checkpointed";
  fs::remove_all(dir);
}

TEST(Trainer, EvaluatesAtTheIntervalAndAtTheLastEpoch) {
  auto train_set = blobs(100, 1), test_set = blobs(40, 2);
  const std::string dir = temp_dir("eval_every");
  auto a = make(dir, 5, 0.05, [](train::TrainerOptions& options) { options.eval_every = 2; });
  struct CountEvaluations : train::TrainHook {
    std::string name() const override { return "count"; }
    void before_forward(bool training, const train::StepInfo&) override { evaluations += !training; }
    int evaluations = 0;
  };
  auto counter = std::make_shared<CountEvaluations>();
  a.trainer->add_hook(counter);
  auto sampler = infobatch(100, 5);
  const auto summary = a.trainer->fit(train_set, test_set, sampler);
  EXPECT_EQ(counter->evaluations, 3) << "after epochs 1, 3 and the last, 4";
  std::ifstream metrics(dir + "/metrics.jsonl");
  std::vector<int64_t> evaluated;
  for (std::string line; std::getline(metrics, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record.contains("test_acc")) evaluated.push_back(record["epoch"].get<int64_t>());
  }
  EXPECT_EQ(evaluated, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_TRUE(summary.contains("test_acc"));
  fs::remove_all(dir);
}

TEST(Trainer, ResumedCompactSparseRunEqualsUninterruptedRun) {
  // RigL on the CSR kernels: the active weights live in the layers' compact
  // values between checkpoints, so a resume must rebuild them exactly.
  auto train_set = blobs(200, 1), test_set = blobs(50, 2);
  const std::string a_dir = temp_dir("sa"), b_dir = temp_dir("sb");
  auto sparsity = [] {
    return std::make_shared<sparse::DynamicSparsity>(sparse::DynamicSparsityOptions(0.3)
                                                         .distribution(sparse::Distribution::kUniform)
                                                         .update_interval(5)
                                                         .kernel(kernels::KernelChoice::kSparse));
  };
  auto a = make(a_dir, 4);
  auto a_hook = sparsity();
  a.trainer->add_hook(a_hook);
  auto a_sampler = infobatch(200, 4);
  auto a_summary = a.trainer->fit(train_set, test_set, a_sampler);
  EXPECT_EQ(a_summary["kernel_layers"], nlohmann::json({"body.0.weight", "head.weight"}));
  EXPECT_GT(a_summary["mask_updates"].get<int64_t>(), 3);
  {
    auto b = make(b_dir, 4);
    b.trainer->add_hook(sparsity());
    b.trainer->add_hook(std::make_shared<CrashAt>(2));
    auto b_sampler = infobatch(200, 4);
    EXPECT_THROW(b.trainer->fit(train_set, test_set, b_sampler), std::runtime_error);
  }
  auto c = make(b_dir, 4);
  c.trainer->add_hook(sparsity());
  c.trainer->add_hook(std::make_shared<CrashAt>(-1));
  c.trainer->resume_from(b_dir + "/checkpoint.pt");
  auto c_sampler = infobatch(200, 4);
  auto summary = c.trainer->fit(train_set, test_set, c_sampler);

  auto pa = a.model->named_parameters(), pc = c.model->named_parameters();
  for (const auto& item : pa)
    EXPECT_TRUE(torch::equal(item.value(), pc[item.key()])) << item.key();
  EXPECT_EQ(summary["test_acc"], a_summary["test_acc"]);
  EXPECT_EQ(summary["active_weights"], a_summary["active_weights"]);
  // After training the compact values are back in the weights, zero off the masks.
  for (const auto& p : a_hook->masks().params()) {
    EXPECT_EQ(p.weight.masked_select(p.mask.logical_not()).abs().sum().item<float>(), 0.0f) << p.name;
    EXPECT_GT(p.weight.masked_select(p.mask).abs().min().item<float>(), 0.0f) << p.name;
  }
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST(Trainer, NanLossStopsWithClearErrorAndKeepsLastGoodCheckpoint) {
  auto train_set = blobs(200, 1);
  const std::string dir = temp_dir("nan");
  auto s = make(dir, 3);
  struct PoisonAt : core::TrainHook {
    std::string name() const override { return "poison"; }
    torch::Tensor regularizer(const core::StepInfo& info) override {
      return info.epoch == 1 ? torch::tensor(NAN) : torch::Tensor();
    }
  };
  s.trainer->add_hook(std::make_shared<PoisonAt>());
  data::ShuffleSampler sampler(200, 0);
  try {
    s.trainer->fit(train_set, data::TensorDataset{}, sampler);
    FAIL() << "a NaN loss must stop training";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("training loss became nan at epoch 1"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::exists(dir + "/checkpoint.pt"));
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string().find(".checkpoint.pt."), std::string::npos)
        << "a temporary file is left: " << entry.path();
  EXPECT_FALSE(fs::exists(dir + "/model.pt")) << "no final model from a failed run";
  torch::serialize::InputArchive archive;
  core::load_checked(archive, dir + "/checkpoint.pt", "test");
  torch::Tensor progress;
  archive.read("progress", progress);
  EXPECT_EQ(progress[0].item<int64_t>(), 1) << "the checkpoint is the one after epoch 0";
  fs::remove_all(dir);
}

TEST(Trainer, InfoBatchRunForwardsOnlyKeptSamplesAndLearns) {
  auto train_set = blobs(400, 1), test_set = blobs(200, 2);
  auto full = make("", 8);
  data::ShuffleSampler full_sampler(400, 0);
  auto full_summary = full.trainer->fit(train_set, test_set, full_sampler);
  auto pruned = make("", 8);
  auto sampler = infobatch(400, 8);
  auto summary = pruned.trainer->fit(train_set, test_set, sampler);
  EXPECT_EQ(full_summary["samples_forwarded"].get<int64_t>(), 8 * 400);
  EXPECT_LT(summary["samples_forwarded"].get<int64_t>(), 8 * 400);
  EXPECT_GT(summary["saved_share"].get<double>(), 0.1);
  EXPECT_GT(summary["test_acc"].get<double>(), 0.8);
  EXPECT_NEAR(summary["test_acc"].get<double>(), full_summary["test_acc"].get<double>(), 0.05);
}

TEST(Trainer, WeightedLossIsMeanOfWeightTimesSampleLoss) {
  // With every weight 2 the gradient is exactly twice the unweighted one.
  struct Weights : data::ShuffleSampler {
    using ShuffleSampler::ShuffleSampler;
    double w = 1.0;
    torch::Tensor weights_of(const torch::Tensor& idx) const override {
      return torch::full({idx.size(0)}, w, torch::kFloat);
    }
  };
  auto train_set = blobs(16, 1);
  std::vector<torch::Tensor> grads;
  for (double w : {1.0, 2.0}) {
    auto s = make("", 1);
    struct Capture : core::TrainHook {
      std::vector<torch::Tensor>* out;
      torch::nn::Module* model = nullptr;
      std::string name() const override { return "capture"; }
      void on_train_begin(core::TrainContext& c) override { model = c.model; }
      void before_step(const core::StepInfo&) override {
        out->push_back(model->parameters()[0].grad().clone());
      }
    };
    auto hook = std::make_shared<Capture>();
    hook->out = &grads;
    s.trainer->add_hook(hook);
    Weights sampler(16, 0);
    sampler.w = w;
    s.trainer->fit(train_set, data::TensorDataset{}, sampler);
  }
  ASSERT_EQ(grads.size(), 2u);
  EXPECT_TRUE(torch::allclose(grads[1], 2 * grads[0], 1e-5, 1e-6));
}

TEST(Schedule, CosineStepOneCycleAndWarmupFollowTheirFormulas) {
  train::ScheduleSpec cosine;
  EXPECT_DOUBLE_EQ(train::lr_factor(cosine, 0.0, 10), 1.0);
  EXPECT_NEAR(train::lr_factor(cosine, 0.5, 10), 0.5, 1e-12);
  EXPECT_NEAR(train::lr_factor(cosine, 1.0, 10), 0.0, 1e-12);
  cosine.warmup = 0.2;
  EXPECT_NEAR(train::lr_factor(cosine, 0.1, 10), 0.5, 1e-12);
  EXPECT_NEAR(train::lr_factor(cosine, 0.2, 10), 1.0, 1e-12);
  EXPECT_NEAR(train::lr_factor(cosine, 0.6, 10), 0.5, 1e-12);

  train::ScheduleSpec step;
  step.name = "step";
  step.milestones = {3, 6};
  EXPECT_DOUBLE_EQ(train::lr_factor(step, 0.29, 10), 1.0);
  EXPECT_NEAR(train::lr_factor(step, 0.3, 10), 0.1, 1e-12);
  EXPECT_NEAR(train::lr_factor(step, 0.65, 10), 0.01, 1e-12);

  train::ScheduleSpec one;
  one.name = "onecycle";
  EXPECT_NEAR(train::lr_factor(one, 0.0, 10), 1.0 / 25, 1e-12);
  EXPECT_NEAR(train::lr_factor(one, 0.3, 10), 1.0, 1e-12);
  EXPECT_NEAR(train::lr_factor(one, 1.0, 10), 1.0 / 25 / 1e4, 1e-12);

  train::ScheduleSpec bad;
  bad.name = "exponential";
  EXPECT_THROW(bad.validate(), c10::Error);
}

TEST(Schedule, LastStepRateIsRightWhenInfoBatchShortensEpochs) {
  // A step-count schedule fixed at the start would end early or late when the
  // number of batches changes; a progress-keyed one reaches its end exactly.
  auto train_set = blobs(300, 1);
  auto s = make("", 6);
  struct LastLr : core::TrainHook {
    torch::optim::Optimizer* opt = nullptr;
    double last = -1;
    double progress = 0;
    std::string name() const override { return "lastlr"; }
    void on_train_begin(core::TrainContext& c) override { opt = c.optimizer; }
    void after_step(const core::StepInfo& info) override {
      last = opt->param_groups()[0].options().get_lr();
      progress = info.progress;
    }
  };
  auto hook = std::make_shared<LastLr>();
  s.trainer->add_hook(hook);
  auto sampler = infobatch(300, 6);
  auto summary = s.trainer->fit(train_set, data::TensorDataset{}, sampler);
  const int64_t last_epoch_batches = (300 + 15) / 16;  // the annealed epoch trains on everything
  EXPECT_NEAR(hook->progress, (5.0 + (last_epoch_batches - 1.0) / last_epoch_batches) / 6.0, 1e-9);
  train::ScheduleSpec cosine;
  EXPECT_NEAR(hook->last, 0.05 * train::lr_factor(cosine, hook->progress, 6), 1e-12);
  EXPECT_LT(hook->last, 0.001);
}

TEST(Models, CnnKeepsItsParameterNamesAndComputesConvReluPool) {
  train::ModelSpec spec;
  spec.name = "cnn";
  spec.input_shape = {1, 28, 28};
  auto model = train::build_model(spec);
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  // The names of the layout before the fused ReLU + max-pool, so earlier
  // checkpoints and exports still load.
  EXPECT_EQ(names, (std::vector<std::string>{"features.0.weight", "features.0.bias", "features.3.weight",
                                             "features.3.bias", "hidden.weight", "hidden.bias", "head.weight",
                                             "head.bias"}));
  const auto p = model->named_parameters();
  torch::manual_seed(8);
  const auto x = torch::randn({3, 1, 28, 28});
  auto h = torch::max_pool2d(torch::relu(torch::conv2d(x, p["features.0.weight"], p["features.0.bias"], 1, 1)), 2);
  h = torch::max_pool2d(torch::relu(torch::conv2d(h, p["features.3.weight"], p["features.3.bias"], 1, 1)), 2);
  h = torch::relu(torch::linear(h.flatten(1), p["hidden.weight"], p["hidden.bias"]));
  const auto want = torch::linear(h, p["head.weight"], p["head.bias"]);
  EXPECT_TRUE(torch::allclose(model->forward(x), want, 1e-5, 1e-5));
}

TEST(Models, ResNet18IsTheCifarVariantWithA3x3StemAndNoMaxPool) {
  train::ModelSpec spec;
  spec.name = "resnet18";
  spec.input_shape = {3, 32, 32};
  auto model = train::build_model(spec);
  int64_t params = 0;
  for (auto& p : model->parameters()) params += p.numel();
  // The CIFAR ResNet-18 of the InfoBatch and ITOP code bases: 11,173,962 parameters for 10 classes.
  EXPECT_EQ(params, 11173962);
  const auto named = model->named_parameters();
  EXPECT_EQ(named["features.0.weight"].sizes(), (std::vector<int64_t>{64, 3, 3, 3}));
  // No max-pool: after the stem and the first stage the maps keep all 32x32 positions.
  auto* features = model->named_children()["features"]->as<torch::nn::Sequential>();
  ASSERT_NE(features, nullptr);
  torch::NoGradGuard no_grad;
  model->eval();
  auto x = torch::randn({1, 3, 32, 32});
  int64_t i = 0;
  for (auto it = features->begin(); it != features->end() && i < 5; ++it, ++i) x = it->forward(x);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{1, 64, 32, 32}));
  EXPECT_EQ(model->forward(torch::randn({2, 3, 32, 32})).sizes(), (std::vector<int64_t>{2, 10}));
}

TEST(Models, BuiltInModelsTakeTheirInputsAndSwapHeads) {
  train::ModelSpec spec;
  spec.input_shape = {1, 28, 28};
  for (const auto& name : train::model_names()) {
    if (name == "resnet20") spec.input_shape = {3, 32, 32};
    spec.name = name;
    auto model = train::build_model(spec);
    auto x = torch::randn({2, spec.input_shape[0], spec.input_shape[1], spec.input_shape[2]});
    EXPECT_EQ(model->forward(x).sizes(), (std::vector<int64_t>{2, 10})) << name;
    model->replace_head(5);
    EXPECT_EQ(model->forward(x).sizes(), (std::vector<int64_t>{2, 5})) << name;
  }
  spec.name = "mlp";
  spec.input_shape = {1, 28, 28};
  auto lenet = train::build_model(spec);
  int64_t params = 0;
  for (auto& p : lenet->parameters()) params += p.numel();
  EXPECT_EQ(params, 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10) << "LeNet-300-100";
  spec.name = "vgg";
  EXPECT_THROW(train::build_model(spec), c10::Error);
}

/// A fixed plan over two samples with unequal loss weights.
struct FixedWeights : data::EpochSampler {
  void begin_epoch(int64_t) override {}
  const std::vector<int32_t>& order() const override { return order_; }
  int64_t kept() const override { return 2; }
  int64_t size() const override { return 2; }
  torch::Tensor weights_of(const torch::Tensor& indices) const override {
    return torch::tensor({2.0f, 1.0f}).index_select(0, indices.to(torch::kLong));
  }
  void save(torch::serialize::OutputArchive&) const override {}
  void load(torch::serialize::InputArchive&) override {}
  std::vector<int32_t> order_ = {0, 1};
};

TEST(Trainer, OneStepMinimizesTheMeanOfEachWeightTimesItsOwnLoss) {
  // Model y = w x (w = 1, no bias), per-sample loss = its output, inputs 1
  // and 3 with loss weights 2 and 1, one SGD step at lr 1 on the batch of both:
  // loss = mean(w_i * w x_i) = (2 * 1 + 1 * 3) / 2 = 2.5 = dL/dw, so w -> -1.5.
  // (mean(w_i) * mean(loss_i) would give 3 and w -> -2.)
  torch::nn::Linear model(torch::nn::LinearOptions(1, 1).bias(false));
  {
    torch::NoGradGuard no_grad;
    model->weight.fill_(1.0);
  }
  auto optimizer = std::make_shared<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(1.0));
  train::TrainerOptions options;
  options.epochs = 1;
  options.batch_size = 2;
  options.progress = false;
  options.threads = 1;
  options.schedule.name = "constant";
  train::Trainer trainer(torch::nn::AnyModule(model), optimizer, options);
  trainer.set_sample_loss([](const torch::Tensor& logits, const data::IndexedBatch&) {
    return logits.select(1, 0);
  });
  data::TensorDataset train_set{torch::tensor({1.0f, 3.0f}).view({2, 1}), torch::zeros({2}, torch::kLong), 1};
  FixedWeights sampler;
  auto summary = trainer.fit(train_set, data::TensorDataset{}, sampler);
  EXPECT_FLOAT_EQ(model->weight.item<float>(), -1.5f);
  EXPECT_EQ(summary["steps"].get<int64_t>(), 1);
}

TEST(Trainer, RejectsAnInfoBatchSamplerPlannedForAnotherNumberOfEpochs) {
  auto train_set = blobs(64, 2);
  auto s = make("", 3);
  auto sampler = infobatch(64, 5);
  frugal_test::expect_error([&] { s.trainer->fit(train_set, data::TensorDataset{}, sampler); },
                            "the sampler plans 5 epochs (InfoBatchOptions epochs) but the trainer runs 3");
}

}  // namespace
