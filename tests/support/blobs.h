#pragma once
// A small learnable data set for trainer tests: Gaussian blobs in 8-D whose
// mean moves with the class, 3 classes.

#include "frugal/data/dataset.h"

#include <torch/torch.h>

#include <cstdint>

namespace frugal_test {

inline frugal::data::TensorDataset blobs(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto targets = torch::randint(0, 3, {n}, torch::kLong);
  auto inputs = torch::randn({n, 8}) + targets.to(torch::kFloat).unsqueeze(1) * 1.5;
  return {inputs, targets, 3};
}

}  // namespace frugal_test
