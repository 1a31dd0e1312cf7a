// The trainer with on-the-fly augmentation and loader workers: a resumed run
// equals an uninterrupted one, and the worker count changes nothing.

#include "support/crash_hook.h"
#include "frugal/data/infobatch.h"
#include "frugal/train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

namespace fs = std::filesystem;
using namespace frugal;

namespace {

/// 96 small two-class images [1, 6, 6] as bytes: a bright left or right half plus noise.
data::TensorDataset images() {
  torch::manual_seed(3);
  auto labels = torch::randint(0, 2, {96}, torch::kLong);
  auto x = torch::randint(0, 60, {96, 1, 6, 6}, torch::kLong);
  for (int64_t i = 0; i < 96; ++i) {
    const int64_t half = labels[i].item<int64_t>();
    x[i].slice(2, 3 * half, 3 * half + 3) += 150;
  }
  return data::TensorDataset(x.to(torch::kUInt8), labels, 2);
}

using frugal_test::CrashAt;

/// A conv, a ReLU and a linear head (a plain Sequential cannot go into an AnyModule).
struct TinyCnn : torch::nn::Module {
  TinyCnn() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)));
    head = register_module("head", torch::nn::Linear(4 * 36, 2));
  }
  torch::Tensor forward(torch::Tensor x) { return head->forward(torch::relu(conv->forward(x)).flatten(1)); }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear head{nullptr};
};

struct Run {
  std::shared_ptr<TinyCnn> model;
  std::unique_ptr<train::Trainer> trainer;
};

Run make(const std::string& dir, int64_t workers, bool augment = true) {
  torch::manual_seed(1);
  Run r;
  r.model = std::make_shared<TinyCnn>();
  auto optimizer = std::make_shared<torch::optim::SGD>(r.model->parameters(),
                                                       torch::optim::SGDOptions(0.05).momentum(0.9));
  train::TrainerOptions options;
  options.epochs = 3;
  options.batch_size = 16;
  options.threads = 1;
  options.progress = false;
  options.run_dir = dir;
  options.seed = 11;
  if (augment) options.augment = data::AugmentOptions().crop(6).padding(2).flip(true);
  options.normalization = {{0.4}, {0.25}};
  options.loader.workers(workers);
  r.trainer = std::make_unique<train::Trainer>(torch::nn::AnyModule(r.model), optimizer, options);
  return r;
}

std::string temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("frugal_augment_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir.string();
}

void expect_same_parameters(torch::nn::Module& a, torch::nn::Module& b, bool same = true) {
  auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool all_equal = true;
  for (size_t i = 0; i < pa.size(); ++i) all_equal = all_equal && torch::equal(pa[i], pb[i]);
  EXPECT_EQ(all_equal, same);
}

TEST(AugmentedTraining, ResumeAfterAStopEqualsTheUninterruptedRun) {
  const auto train_set = images();
  const std::string a_dir = temp_dir("a"), b_dir = temp_dir("b");
  auto a = make(a_dir, 2);
  data::InfoBatchSampler a_sampler(96, data::InfoBatchOptions(3).seed(4));
  a.trainer->fit(train_set, train_set, a_sampler);
  {
    auto b = make(b_dir, 2);
    b.trainer->add_hook(std::make_shared<CrashAt>(2));
    data::InfoBatchSampler sampler(96, data::InfoBatchOptions(3).seed(4));
    EXPECT_THROW(b.trainer->fit(train_set, train_set, sampler), std::runtime_error);
  }
  auto c = make(b_dir, 2);
  c.trainer->add_hook(std::make_shared<CrashAt>(-1));
  c.trainer->resume_from(b_dir + "/checkpoint.pt");
  data::InfoBatchSampler c_sampler(96, data::InfoBatchOptions(3).seed(4));
  c.trainer->fit(train_set, train_set, c_sampler);
  expect_same_parameters(*a.model, *c.model);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST(AugmentedTraining, OneAndFourWorkersTrainTheSameModel) {
  const auto train_set = images();
  auto one = make("", 1), four = make("", 4), inline_loader = make("", 0);
  for (auto* r : {&one, &four, &inline_loader}) {
    data::ShuffleSampler sampler(96, 2);
    r->trainer->fit(train_set, data::TensorDataset{}, sampler);
  }
  expect_same_parameters(*one.model, *four.model);
  expect_same_parameters(*one.model, *inline_loader.model);
  // The augmentation is real: without it the same run ends elsewhere.
  auto plain = make("", 1, /*augment=*/false);
  data::ShuffleSampler sampler(96, 2);
  plain.trainer->fit(train_set, data::TensorDataset{}, sampler);
  expect_same_parameters(*one.model, *plain.model, /*same=*/false);
}

}  // namespace
