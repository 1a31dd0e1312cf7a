// A program outside the frugal tree: plans an InfoBatch epoch over scores it
// makes up and prints how many samples the epoch keeps.
#include "frugal/core/threads.h"
#include "frugal/data/infobatch.h"

#include <torch/torch.h>

#include <iostream>

int main() {
  frugal::core::set_threads(1);
  const int64_t n = 1000;
  frugal::data::InfoBatchSampler sampler(n, frugal::data::InfoBatchOptions(4).seed(7));
  sampler.begin_epoch(0);  // epoch 0 trains on everything
  auto indices = torch::arange(n, torch::kLong);
  sampler.update_scores(indices, torch::linspace(0.0, 2.0, n));
  sampler.begin_epoch(1);  // half of the below-mean samples are skipped
  std::cout << "kept " << sampler.kept() << " of " << n << " samples\n";
  return sampler.kept() < n ? 0 : 1;
}
