// Overheads of the InfoBatch machinery and of the training loop itself:
//  - a sampler reset (plan an epoch) over 10 million samples, target < 1 s;
//  - one epoch of LeNet-300-100 on 60000 Fashion-MNIST-sized samples through
//    frugal's Trainer vs a bare LibTorch loop over the same tensors, target:
//    the trainer within 5% of the bare loop.
// Run: bash bench/overhead.sh (builds with -DFRUGAL_BUILD_BENCH=ON).

#include "frugal/data/infobatch.h"
#include "frugal/train/models.h"
#include "frugal/train/optim.h"
#include "frugal/train/trainer.h"

#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

using namespace frugal;

void BM_InfoBatchReset(benchmark::State& state) {
  const int64_t n = state.range(0);
  data::InfoBatchSampler sampler(n, data::InfoBatchOptions(100));
  sampler.update_scores(torch::arange(n, torch::kLong), torch::rand({n}));
  int64_t epoch = 1;
  for (auto _ : state) {
    sampler.begin_epoch(epoch++);
    benchmark::DoNotOptimize(sampler.order().data());
  }
  state.counters["kept"] = static_cast<double>(sampler.kept());
}
BENCHMARK(BM_InfoBatchReset)->Arg(60'000)->Arg(10'000'000)->Unit(benchmark::kMillisecond);

void BM_InfoBatchScoreUpdate(benchmark::State& state) {
  const int64_t n = 10'000'000, batch = 128;
  data::InfoBatchSampler sampler(n, data::InfoBatchOptions(100));
  auto idx = torch::randint(0, n, {batch}, torch::kLong);
  auto loss = torch::rand({batch});
  for (auto _ : state) sampler.update_scores(idx, loss);
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_InfoBatchScoreUpdate);

struct Data {
  torch::Tensor x = torch::randn({60000, 1, 28, 28});
  torch::Tensor y = torch::randint(0, 10, {60000}, torch::kLong);
};
Data& data_set() {
  static Data d;
  return d;
}

std::shared_ptr<train::MlpImpl> lenet() {
  torch::manual_seed(0);
  return std::make_shared<train::MlpImpl>(784, std::vector<int64_t>{300, 100}, 10);
}

void BM_EpochBareLoop(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(0)));
  auto& d = data_set();
  auto model = lenet();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  for (auto _ : state) {
    auto perm = torch::randperm(60000, torch::kLong);
    for (int64_t start = 0; start < 60000; start += 128) {
      auto idx = perm.slice(0, start, std::min<int64_t>(start + 128, 60000));
      auto x = d.x.index_select(0, idx), y = d.y.index_select(0, idx);
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      loss.backward();
      opt.step();
    }
  }
}
BENCHMARK(BM_EpochBareLoop)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_EpochTrainer(benchmark::State& state) {
  auto& d = data_set();
  auto model = lenet();
  train::OptimizerSpec spec;
  spec.weight_decay = 0;
  std::shared_ptr<torch::optim::Optimizer> opt =
      train::build_optimizer(spec, {torch::optim::OptimizerParamGroup(model->parameters())});
  train::TrainerOptions options;
  options.epochs = 1;
  options.progress = false;
  options.threads = state.range(0);
  options.schedule.name = "constant";
  data::TensorDataset train_set{d.x, d.y, 10};
  for (auto _ : state) {
    train::Trainer trainer(torch::nn::AnyModule(model), opt, options);
    data::ShuffleSampler sampler(60000, 0);
    trainer.fit(train_set, data::TensorDataset{}, sampler);
  }
}
BENCHMARK(BM_EpochTrainer)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
