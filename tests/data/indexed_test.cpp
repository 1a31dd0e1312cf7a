// The route a hand-written loop takes: torch::data::make_data_loader over a
// data set wrapped in WithIndex, frugal's sampler, and plan->update().
#include "support/expect_error.h"
#include "frugal/data/indexed.h"
#include "frugal/data/infobatch.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

namespace {

using namespace frugal::data;
using frugal_test::expect_error;

/// Sample i has input [i, -i] and target i % 3, so every batch shows which
/// samples it holds.
TensorPairs numbered(int64_t n) {
  auto i = torch::arange(n, torch::kFloat);
  return TensorPairs(torch::stack({i, -i}, 1), torch::arange(n, torch::kLong).remainder(3));
}

TEST(TorchSampler, DrivesTorchDataLoaderEpochByEpochThroughWithIndex) {
  constexpr int64_t n = 30, epochs = 4;
  auto plan = std::make_shared<InfoBatchSampler>(n, InfoBatchOptions(epochs).seed(3));
  auto loader = torch::data::make_data_loader(WithIndex<TensorPairs>(numbered(n)).map(StackIndexed()),
                                              TorchSampler(plan),
                                              torch::data::DataLoaderOptions(7));
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    std::multiset<int64_t> seen;
    for (auto& batch : *loader) {
      ASSERT_EQ(batch.index.scalar_type(), torch::kLong);
      ASSERT_EQ(batch.index.dim(), 1);
      EXPECT_TRUE(torch::equal(batch.data.select(1, 0), batch.index.to(torch::kFloat)))
          << "each row's index is its position in the data set";
      EXPECT_TRUE(torch::equal(batch.target, batch.index.remainder(3)));
      for (int64_t k = 0; k < batch.index.size(0); ++k) seen.insert(batch.index[k].item<int64_t>());
      // Sample i's loss is i: the lower half falls below the mean.
      plan->update(batch.index, batch.index.to(torch::kFloat));
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), plan->kept()) << "epoch " << epoch;
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), seen.size())
        << "a sample came twice in epoch " << epoch;
    if (epoch == 0) EXPECT_EQ(plan->kept(), n) << "epoch 0 trains on everything";
    if (epoch == 1) EXPECT_EQ(plan->kept(), 15 + 7) << "the loader's reset planned epoch 1";
  }
  EXPECT_TRUE(torch::equal(plan->scores(), torch::arange(n, torch::kFloat)))
      << "update() wrote each sample's loss back to its index";
}

TEST(EpochSampler, UpdateRecordsScoresAndReturnsTheWeightedMeanWithGradient) {
  InfoBatchSampler plan(4, InfoBatchOptions(10).prune_ratio(0.5).seed(1));
  plan.update_scores(torch::arange(4, torch::kLong), torch::tensor({0.0f, 0.0f, 10.0f, 10.0f}));
  plan.begin_epoch(1);  // one of samples 0, 1 kept with weight 2; 2 and 3 with weight 1
  int64_t low = -1;  // the kept below-mean sample
  for (int32_t i : plan.order())
    if (i < 2) low = i;
  ASSERT_GE(low, 0);
  const auto indices = torch::tensor({int64_t{3}, int64_t{2}, low}, torch::kLong);
  ASSERT_EQ(plan.weights_of(indices)[2].item<float>(), 2.0f);
  auto losses = torch::tensor({1.0f, 2.0f, 4.0f}, torch::requires_grad());
  auto loss = plan.update(indices, losses);
  EXPECT_FLOAT_EQ(loss.item<float>(), (1.0f + 2.0f + 2.0f * 4.0f) / 3.0f);
  loss.backward();
  EXPECT_TRUE(torch::allclose(losses.grad(), torch::tensor({1.0f, 1.0f, 2.0f}) / 3.0f));
  EXPECT_TRUE(torch::equal(plan.scores().index_select(0, indices), torch::tensor({1.0f, 2.0f, 4.0f})));
}

TEST(EpochSampler, UpdateRejectsAReducedLossAndMismatchedSizes) {
  ShuffleSampler plan(8, 0);
  plan.begin_epoch(0);
  auto indices = torch::tensor({0, 1, 2}, torch::kLong);
  expect_error([&] { plan.update(indices, torch::tensor(1.5f)); }, "reduction none");
  expect_error([&] { plan.update(indices, torch::ones({2})); }, "3 indices for 2 losses");
  expect_error([&] { plan.update(indices.to(torch::kFloat), torch::ones({3})); }, "integer");
}

TEST(InfoBatch, SamplerReportsTheEpochCountItWasPlannedFor) {
  EXPECT_EQ(InfoBatchSampler(5, InfoBatchOptions(12)).epochs(), c10::optional<int64_t>(12));
  EXPECT_FALSE(ShuffleSampler(5, 0).epochs().has_value());
}

}  // namespace
