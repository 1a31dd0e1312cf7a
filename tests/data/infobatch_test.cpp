#include "frugal/data/infobatch.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <set>

namespace {

using frugal::data::InfoBatchOptions;
using frugal::data::InfoBatchSampler;
using frugal::data::Shard;
using frugal::data::ShuffleSampler;
using frugal::data::TorchSampler;

InfoBatchOptions options(int64_t epochs = 10) {
  return InfoBatchOptions(epochs).prune_ratio(0.5).delta(0.875).seed(7);
}

/// Gives sample i the loss i (so the lower half is below the mean).
void score_all_by_index(InfoBatchSampler& s) {
  auto idx = torch::arange(s.size(), torch::kLong);
  s.update_scores(idx, idx.to(torch::kFloat));
}

std::vector<int32_t> sorted(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(InfoBatch, EpochZeroTrainsOnEverySampleOnce) {
  InfoBatchSampler s(1000, options());
  s.begin_epoch(0);
  ASSERT_EQ(s.order().size(), 1000u);
  auto o = sorted(s.order());
  for (int32_t i = 0; i < 1000; ++i) EXPECT_EQ(o[i], i);
  EXPECT_TRUE(torch::all(s.weights() == 1).item<bool>());
}

TEST(InfoBatch, KeepsAllAboveMeanAndExactlyFloorShareBelowWithUpWeight) {
  for (double r : {0.3, 0.5, 0.7}) {
    InfoBatchSampler s(1001, options().prune_ratio(r));
    score_all_by_index(s);  // mean 500: samples 0..499 are below
    s.begin_epoch(1);
    const int64_t n_below = 500;
    EXPECT_EQ(s.below_mean(), n_below);
    const auto expected_below = static_cast<int64_t>(std::floor((1 - r) * n_below + 1e-9));
    std::set<int32_t> kept(s.order().begin(), s.order().end());
    EXPECT_EQ(kept.size(), s.order().size()) << "an index appears twice";
    int64_t below = 0;
    for (int32_t i = 0; i < 1001; ++i) {
      if (i >= 500) {
        EXPECT_TRUE(kept.count(i)) << "above-mean sample " << i << " was pruned";
        EXPECT_EQ(s.weights()[i].item<float>(), 1.0f);
      } else if (kept.count(i)) {
        ++below;
        EXPECT_FLOAT_EQ(s.weights()[i].item<float>(), static_cast<float>(1 / (1 - r)));
      }
    }
    EXPECT_EQ(below, expected_below) << "r = " << r;
    EXPECT_EQ(s.kept(), 501 + expected_below);
  }
}

TEST(InfoBatch, BelowMeanWeightIsUnbiasedOverEpochs) {
  // Each below-mean sample's expected weight is 1 (as if trained unweighted),
  // and with (1-r) n_below whole the below-mean weights sum to n_below exactly.
  InfoBatchSampler s(200, options(1000).prune_ratio(0.7).delta(1.0));
  score_all_by_index(s);  // samples 0..99 are below the mean
  std::vector<double> weight_sum(100, 0.0);
  const int trials = 400;
  for (int e = 1; e <= trials; ++e) {
    s.begin_epoch(e);
    double epoch_total = 0;
    for (int32_t i : s.order())
      if (i < 100) {
        weight_sum[i] += s.weights()[i].item<float>();
        epoch_total += s.weights()[i].item<float>();
      }
    ASSERT_NEAR(epoch_total, 100.0, 1e-3) << "epoch " << e;
  }
  for (int i = 0; i < 100; ++i)
    EXPECT_NEAR(weight_sum[i] / trials, 1.0, 0.35) << "sample " << i;
}

TEST(InfoBatch, AnnealingStartsAtFloorDeltaTimesEpochsEvenWhenNotInteger) {
  // 0.875 * 10 = 8.75: the reference's float == check never resets weights here.
  InfoBatchSampler s(100, options(10));
  EXPECT_EQ(s.options().stop_epoch(), 8);
  score_all_by_index(s);
  for (int64_t e = 1; e < 10; ++e) {
    s.begin_epoch(e);
    if (e < 8) {
      EXPECT_LT(s.kept(), 100) << "epoch " << e << " should prune";
    } else {
      EXPECT_EQ(s.kept(), 100) << "epoch " << e << " should train on everything";
      EXPECT_TRUE(torch::all(s.weights() == 1).item<bool>()) << "up-weighting leaked into epoch " << e;
    }
  }
  EXPECT_EQ(InfoBatchOptions(100).delta(0.29).stop_epoch(), 29);
}

TEST(InfoBatch, WarmupEpochsDoNotPrune) {
  InfoBatchSampler s(100, options(10).warmup_epochs(3));
  score_all_by_index(s);
  for (int64_t e = 0; e < 3; ++e) {
    s.begin_epoch(e);
    EXPECT_EQ(s.kept(), 100);
  }
  s.begin_epoch(3);
  EXPECT_LT(s.kept(), 100);
}

TEST(InfoBatch, PrunedSamplesKeepOldScoreTrainedSamplesGetNewLoss) {
  InfoBatchSampler s(6, options());
  s.update_scores(torch::tensor({0, 1, 2, 3, 4, 5}), torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}));
  s.update_scores(torch::tensor({4, 1}), torch::tensor({0.5f, 9.f}));
  EXPECT_TRUE(torch::equal(s.scores(), torch::tensor({1.f, 9.f, 3.f, 4.f, 0.5f, 6.f})));
}

TEST(InfoBatch, MovingAverageScoreMixesOldAndNew) {
  InfoBatchSampler s(2, options().score_momentum(0.25));
  s.update_scores(torch::tensor({0}), torch::tensor({5.f}));  // 0.25*5 + 0.75*1
  EXPECT_FLOAT_EQ(s.scores()[0].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(s.scores()[1].item<float>(), 1.0f);
}

TEST(InfoBatch, NonFiniteLossIsRejected) {
  InfoBatchSampler s(3, options());
  EXPECT_THROW(s.update_scores(torch::tensor({0}), torch::tensor({NAN})), c10::Error);
  EXPECT_THROW(s.update_scores(torch::tensor({7}), torch::tensor({1.f})), c10::Error);
}

TEST(InfoBatch, SameSeedSameDecisionsOtherSeedOtherDecisions) {
  InfoBatchSampler a(500, options()), b(500, options()), c(500, options().seed(8));
  for (auto* s : {&a, &b, &c}) {
    score_all_by_index(*s);
    s->begin_epoch(2);
  }
  EXPECT_EQ(a.order(), b.order());
  EXPECT_NE(a.order(), c.order());
}

TEST(InfoBatch, SaveThenLoadGivesTheIdenticalNextEpoch) {
  InfoBatchSampler a(300, options());
  a.begin_epoch(0);
  score_all_by_index(a);
  a.begin_epoch(1);
  a.update_scores(torch::arange(0, 300, 3), torch::rand({100}));
  torch::serialize::OutputArchive out;
  a.save(out);
  std::stringstream buffer;
  out.save_to(buffer);

  InfoBatchSampler b(300, options().seed(99));  // the seed comes from the state
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  b.load(in);
  EXPECT_EQ(a.order(), b.order());
  a.begin_epoch(2);
  b.begin_epoch(2);
  EXPECT_EQ(a.order(), b.order());
  EXPECT_TRUE(torch::equal(a.weights(), b.weights()));
}

TEST(InfoBatch, RanksGetDisjointEqualShardsOfTheSamePlan) {
  const int64_t world = 3;
  std::vector<std::unique_ptr<InfoBatchSampler>> ranks;
  for (int64_t r = 0; r < world; ++r) {
    ranks.push_back(std::make_unique<InfoBatchSampler>(301, options(), Shard{r, world}));
    score_all_by_index(*ranks.back());
    ranks.back()->begin_epoch(1);
  }
  const int64_t kept = ranks[0]->kept();
  std::multiset<int32_t> all;
  for (auto& s : ranks) {
    EXPECT_EQ(s->kept(), kept);
    EXPECT_EQ(static_cast<int64_t>(s->order().size()), (kept + world - 1) / world);
    all.insert(s->order().begin(), s->order().end());
  }
  std::set<int32_t> distinct(all.begin(), all.end());
  EXPECT_EQ(static_cast<int64_t>(distinct.size()), kept) << "every kept sample is on some rank";
  EXPECT_LE(static_cast<int64_t>(all.size()) - kept, world - 1) << "padding only to equal length";
}

TEST(InfoBatch, OutOfRangeOptionsAreErrors) {
  EXPECT_THROW(InfoBatchSampler(10, options().prune_ratio(0.95)), c10::Error);
  EXPECT_THROW(InfoBatchSampler(10, options().prune_ratio(-0.1)), c10::Error);
  EXPECT_THROW(InfoBatchSampler(10, options().delta(1.5)), c10::Error);
  EXPECT_THROW(InfoBatchSampler(10, options().warmup_epochs(-1)), c10::Error);
  EXPECT_THROW(InfoBatchSampler(10, options().score_momentum(0)), c10::Error);
  EXPECT_THROW(InfoBatchSampler(10, options(0)), c10::Error);
  EXPECT_THROW(InfoBatchSampler(0, options()), c10::Error);
}

TEST(InfoBatch, TorchSamplerCopiesShareThePlanAndCoverTheEpoch) {
  auto plan = std::make_shared<InfoBatchSampler>(50, options());
  TorchSampler sampler(plan);
  TorchSampler copy = sampler;
  copy.reset(torch::nullopt);
  std::set<size_t> seen;
  while (auto batch = copy.next(8)) seen.insert(batch->begin(), batch->end());
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(plan->order().size(), 50u) << "the copy planned into the shared state";
}

TEST(ShuffleSampler, EveryIndexOncePerEpochAndEpochsDiffer) {
  ShuffleSampler s(100, 3);
  s.begin_epoch(0);
  auto first = s.order();
  s.begin_epoch(1);
  EXPECT_NE(first, s.order());
  auto o = sorted(s.order());
  for (int32_t i = 0; i < 100; ++i) EXPECT_EQ(o[i], i);
}

TEST(InfoBatch, PlanOverTenMillionSamplesKeepsExactCountsAndEachSampleAtMostOnce) {
  // The same invariants as on small data, at scale (no timing here: the
  // speed target lives in bench/infobatch_overhead).
  constexpr int64_t n = 10'000'000;
  InfoBatchSampler s(n, options());
  auto losses = torch::rand({n});
  s.update_scores(torch::arange(n, torch::kLong), losses);
  s.begin_epoch(1);
  const auto exact = losses.to(torch::kDouble);  // the mean in double, as the sampler takes it
  const int64_t below = exact.lt(exact.mean().item<double>()).sum().item<int64_t>();
  EXPECT_EQ(s.below_mean(), below);
  EXPECT_EQ(s.kept(), (n - below) + below / 2) << "all above the mean, floor(0.5 * below) below";
  ASSERT_EQ(static_cast<int64_t>(s.order().size()), s.kept());
  auto order = torch::from_blob(const_cast<int32_t*>(s.order().data()), {s.kept()}, torch::kInt)
                   .to(torch::kLong);
  EXPECT_EQ(torch::bincount(order, {}, n).max().item<int64_t>(), 1) << "a sample planned twice";
  EXPECT_EQ(s.weights().eq(2.0f).sum().item<int64_t>(), below / 2) << "kept below-mean weight 1/(1-r)";
}

}  // namespace
