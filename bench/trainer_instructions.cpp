// One LeNet-300-100 pass over n random samples (batch 128, SGD, 1 thread),
// either in a bare LibTorch loop or through frugal's Trainer, for
// bench/overhead_instructions.sh, which counts the instructions of each under
// callgrind: a figure that does not depend on what else the machine runs.
//
//   bench_trainer_instructions bare|trainer [n = 7680]
#include "frugal/data/epoch_sampler.h"
#include "frugal/train/models.h"
#include "frugal/train/optim.h"
#include "frugal/train/trainer.h"
#include "frugal/core/threads.h"
#include <torch/torch.h>
#include <chrono>
#include <iostream>
using namespace frugal;
int main(int argc, char** argv) {
  const std::string mode = argv[1];
  const int64_t n = argc > 2 ? atoi(argv[2]) : 7680;
  core::set_threads(1);
  torch::manual_seed(0);
  auto x = torch::randn({n, 1, 28, 28});
  auto y = torch::randint(0, 10, {n}, torch::kLong);
  auto model = std::make_shared<train::MlpImpl>(784, std::vector<int64_t>{300, 100}, 10);
  train::OptimizerSpec spec; spec.weight_decay = 0; spec.lr = 0.05; spec.momentum = 0.9;
  std::shared_ptr<torch::optim::Optimizer> opt = train::build_optimizer(spec, {torch::optim::OptimizerParamGroup(model->parameters())});
  auto t0 = std::chrono::steady_clock::now();
  if (mode == "bare") {
    auto perm = torch::randperm(n, torch::kLong);
    for (int64_t start = 0; start < n; start += 128) {
      auto idx = perm.slice(0, start, std::min<int64_t>(start + 128, n));
      auto bx = x.index_select(0, idx), by = y.index_select(0, idx);
      opt->zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model->forward(bx), by);
      loss.backward();
      opt->step();
    }
  } else {
    train::TrainerOptions options; options.epochs = 1; options.progress = false; options.threads = 1;
    options.schedule.name = "constant";
    data::TensorDataset train_set{x, y, 10};
    train::Trainer trainer(torch::nn::AnyModule(model), opt, options);
    data::ShuffleSampler sampler(n, 0);
    trainer.fit(train_set, data::TensorDataset{}, sampler);
  }
  std::cout << mode << " " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
}
