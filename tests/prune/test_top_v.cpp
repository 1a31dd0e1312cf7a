#include "frugal/prune/top_v.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

using namespace frugal;

TEST(TopV, OtherDtypesKeepWhatFloatScoresKeepWithTiesToTheLowerIndex) {
  // Integer-valued scores with many ties: exact in every dtype below.
  auto scores = torch::tensor({3, 1, 3, 2, 3, 0, 2, 3}, torch::kFloat);
  const auto expected = prune::top_v_mask(scores, 5);
  EXPECT_TRUE(expected.equal(torch::tensor({1, 0, 1, 1, 1, 0, 0, 1}, torch::kBool)));
  for (auto dtype : {torch::kDouble, torch::kHalf, torch::kBFloat16, torch::kInt, torch::kLong})
    EXPECT_TRUE(prune::top_v_mask(scores.to(dtype), 5).equal(expected)) << dtype;
}

TEST(TopV, GlobalSelectionBreaksTiesByTensorOrderThenIndex) {
  const std::vector<torch::Tensor> scores = {torch::ones({2, 2}), torch::ones({3})};
  auto masks = prune::top_v_masks(scores, 5.0 / 7.0, prune::PruneSelection::kGlobal);
  EXPECT_EQ(masks[0].sum().item<int64_t>(), 4);
  EXPECT_TRUE(masks[1].equal(torch::tensor({1, 0, 0}, torch::kBool)));
}

}  // namespace
