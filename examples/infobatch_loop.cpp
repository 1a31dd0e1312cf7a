// InfoBatch in your own training loop: a torch::data DataLoader over your
// own tensors, frugal's sampler, and one call per batch that records the
// per-sample losses and returns the loss to backpropagate.
#include "frugal/data/indexed.h"
#include "frugal/data/infobatch.h"

#include <torch/torch.h>

#include <cstdio>
#include <memory>

int main() {
  using namespace frugal;
  torch::manual_seed(0);
  // Your data: 2000 points in 2-D, two classes on either side of a line.
  const int64_t n = 2000, epochs = 8;
  auto x = torch::randn({n, 2});
  auto y = (x.select(1, 0) + 0.5 * x.select(1, 1) > 0).to(torch::kLong);

  torch::nn::Sequential model(torch::nn::Linear(2, 16), torch::nn::ReLU(), torch::nn::Linear(16, 2));
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));

  // The plan holds the scores and weights; the DataLoader copies its sampler,
  // so both hold the plan through a shared_ptr.
  auto plan = std::make_shared<data::InfoBatchSampler>(
      n, data::InfoBatchOptions(epochs).prune_ratio(0.5));
  auto loader = torch::data::make_data_loader(
      data::WithIndex<data::TensorPairs>(data::TensorPairs(x, y)).map(data::StackIndexed()),
      data::TorchSampler(plan), torch::data::DataLoaderOptions(64));

  int64_t forwarded = 0;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    double loss_sum = 0.0;
    int64_t batches = 0;
    for (auto& batch : *loader) {  // each pass over the loader plans the next epoch
      auto losses = torch::nn::functional::cross_entropy(
          model->forward(batch.data), batch.target,
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
      auto loss = plan->update(batch.index, losses);  // scores <- losses; mean(w_i * loss_i)
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>();
      ++batches;
      forwarded += batch.index.size(0);
    }
    std::printf("epoch %lld: trained on %lld of %lld samples, loss %.3f\n",
                static_cast<long long>(epoch), static_cast<long long>(plan->kept()),
                static_cast<long long>(n), loss_sum / static_cast<double>(batches));
  }

  torch::NoGradGuard no_grad;
  const double accuracy = model->forward(x).argmax(1).eq(y).to(torch::kFloat).mean().item<double>();
  std::printf("accuracy %.1f%%, %.0f%% of the full-data forward passes saved\n", 100.0 * accuracy,
              100.0 * (1.0 - static_cast<double>(forwarded) / static_cast<double>(n * epochs)));
  if (accuracy < 0.9) {
    std::fprintf(stderr, "infobatch_loop: accuracy %.3f is below 0.9\n", accuracy);
    return 1;
  }
  return 0;
}
