// Movement pruning of a model loaded from a file: fine-tune it while the
// share of remaining weights falls to 10% (cubic schedule), then fold the
// masks in and save an ordinary model with zeros.
//
// Usage: example_prune_saved_model [model.pt]; without a file, it first
// trains and saves a small one there.
#include "frugal/prune/pruner.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace {

torch::nn::Sequential make_model() {
  return torch::nn::Sequential(torch::nn::Linear(10, 32), torch::nn::ReLU(),
                               torch::nn::Linear(32, 32), torch::nn::ReLU(),
                               torch::nn::Linear(32, 4));
}

/// Four classes: the quadrant of the first two of ten features.
std::pair<torch::Tensor, torch::Tensor> make_data(int64_t n) {
  auto x = torch::randn({n, 10});
  auto y = (x.select(1, 0) > 0).to(torch::kLong) * 2 + (x.select(1, 1) > 0).to(torch::kLong);
  return {x, y};
}

double accuracy(torch::nn::Sequential& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  return model->forward(x).argmax(1).eq(y).to(torch::kFloat).mean().item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace frugal;
  torch::manual_seed(0);
  auto [x, y] = make_data(2000);
  const std::string path =
      argc > 1 ? argv[1]
               : (std::filesystem::temp_directory_path() /
                  ("frugal_example_model_" + std::to_string(getpid()) + ".pt")).string();
  if (!std::filesystem::exists(path)) {  // a small trained model to start from
    auto dense = make_model();
    torch::optim::Adam optimizer(dense->parameters(), torch::optim::AdamOptions(1e-2));
    for (int64_t step = 0; step < 100; ++step) {
      optimizer.zero_grad();
      torch::nn::functional::cross_entropy(dense->forward(x), y).backward();
      optimizer.step();
    }
    torch::save(dense, path);
  }

  // Your code starts here: the model as you load it.
  auto model = make_model();
  torch::load(model, path);
  std::printf("loaded %s: accuracy %.1f%%\n", path.c_str(), 100.0 * accuracy(model, x, y));

  prune::Pruner pruner(*model, prune::PruneOptions(prune::PruneMethod::kMovement)
                                   .final_remaining(0.1));
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  const int64_t total_steps = 200;
  pruner.attach(*model, optimizer, total_steps);  // adds the scores to the optimizer
  for (int64_t step = 0; step < total_steps; ++step) {
    const auto info = core::StepInfo::at(step, total_steps);
    pruner.before_forward(true, info);  // installs W * M, M = top 10..100% of the scores
    optimizer.zero_grad();
    const auto rows = torch::randint(0, x.size(0), {64}, torch::kLong);
    torch::nn::functional::cross_entropy(model->forward(x.index_select(0, rows)),
                                         y.index_select(0, rows))
        .backward();
    pruner.before_step(info);
    optimizer.step();
    pruner.after_step(info);
  }
  pruner.before_forward(false, core::StepInfo::at(total_steps, total_steps));
  const auto report = pruner.bake();  // W <- W * M: an ordinary model with zeros
  std::printf("%s", report.table().c_str());

  const std::string pruned_path = path + ".pruned.pt";
  torch::save(model, pruned_path);
  auto reloaded = make_model();
  torch::load(reloaded, pruned_path);
  const double pruned_accuracy = accuracy(reloaded, x, y);
  std::printf("pruned to %.1f%% of the weights: accuracy %.1f%%\n", 100.0 * report.share(),
              100.0 * pruned_accuracy);
  if (argc <= 1) std::filesystem::remove(path);
  std::filesystem::remove(pruned_path);
  if (pruned_accuracy < 0.85 || report.share() > 0.11) {
    std::fprintf(stderr, "prune_saved_model: accuracy %.3f at %.3f remaining\n", pruned_accuracy,
                 report.share());
    return 1;
  }
  return 0;
}
