#include "support/expect_error.h"
#include "frugal/data/loader.h"
#include "frugal/data/transform.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <string>
#include <vector>

using frugal::data::AugmentOptions;
using frugal::data::BatchLoader;
using frugal::data::crop_choice;
using frugal::data::IndexedBatch;
using frugal::data::LoaderOptions;
using frugal::data::load_batch;
using frugal::data::SampleTransform;
using frugal::data::TensorDataset;

namespace {

/// n images [2, 6, 5] of distinct bytes: pixel value encodes (sample, channel, row, col).
TensorDataset images(int64_t n) {
  auto x = (torch::arange(n * 2 * 6 * 5, torch::kLong) % 251).to(torch::kUInt8).view({n, 2, 6, 5});
  return TensorDataset(x, torch::arange(n, torch::kLong) % 3, 3);
}

SampleTransform augmenting(int64_t epoch) {
  SampleTransform t;
  t.augment = AugmentOptions().crop(4).padding(2).flip(true);
  t.train = true;
  t.seed = 7;
  t.epoch = epoch;
  return t;
}

TEST(Augment, SameSeedEpochAndIndexGiveTheSameCropAndFlip) {
  const auto data = images(40);
  const auto idx = torch::arange(40, torch::kLong);
  auto a = load_batch(data, idx, augmenting(3));
  auto b = load_batch(data, idx.flip(0), augmenting(3));
  // The same sample gets the same crop whatever batch or position it is in.
  EXPECT_TRUE(torch::equal(a.inputs, b.inputs.flip(0)));
  EXPECT_EQ(a.inputs.sizes(), (std::vector<int64_t>{40, 2, 4, 4}));
}

TEST(Augment, DifferentEpochsChooseDifferentCrops) {
  const std::vector<int64_t> shape = {2, 6, 5};
  int64_t differ = 0;
  std::set<std::pair<int64_t, int64_t>> offsets;
  int64_t flips = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const auto c0 = crop_choice(shape, augmenting(0), i), c1 = crop_choice(shape, augmenting(1), i);
    differ += (c0.row != c1.row || c0.col != c1.col || c0.flip != c1.flip);
    offsets.insert({c0.row, c0.col});
    flips += c0.flip;
    EXPECT_GE(c0.row, -2);
    EXPECT_LE(c0.row, 6 + 2 - 4);  // the last window touches the bottom padding
    EXPECT_GE(c0.col, -2);
    EXPECT_LE(c0.col, 5 + 2 - 4);
  }
  EXPECT_GT(differ, 48);
  EXPECT_GT(offsets.size(), 15u);  // of 7 x 6 possible offsets
  EXPECT_GT(flips, 16);
  EXPECT_LT(flips, 48);
}

TEST(Augment, CropCopiesTheChosenWindowMirroredWhenFlippedAndPadsWithZero) {
  const auto data = images(16);
  const auto t = augmenting(5);
  const auto batch = load_batch(data, torch::arange(16, torch::kLong), t);
  const auto src = data.inputs.to(torch::kFloat) / 255.0;
  for (int64_t i = 0; i < 16; ++i) {
    const auto c = crop_choice({2, 6, 5}, t, i);
    for (int64_t ch = 0; ch < 2; ++ch)
      for (int64_t y = 0; y < 4; ++y)
        for (int64_t x = 0; x < 4; ++x) {
          const int64_t sy = y + c.row, sx = c.flip ? c.col + 3 - x : c.col + x;
          const float want = (sy < 0 || sy >= 6 || sx < 0 || sx >= 5) ? 0.0f
                                                                        : src[i][ch][sy][sx].item<float>();
          ASSERT_FLOAT_EQ(batch.inputs[i][ch][y][x].item<float>(), want)
              << "sample " << i << " channel " << ch << " at " << y << "," << x;
        }
  }
}

TEST(Augment, EvaluationTakesTheCentreCropAndNeverFlips) {
  const auto data = images(4);
  SampleTransform eval = augmenting(0);
  eval.train = false;
  eval.augment.crop(4).padding(0);
  const auto batch = load_batch(data, torch::arange(4, torch::kLong), eval);
  const auto src = data.inputs.to(torch::kFloat) / 255.0;
  // rows (6-4)/2 = 1.., cols floor((5-4)/2) = 0..
  EXPECT_TRUE(torch::allclose(batch.inputs, src.slice(2, 1, 5).slice(3, 0, 4)));
}

TEST(Augment, RejectsCropsLargerThanThePaddedImage) {
  frugal_test::expect_error([] { AugmentOptions().crop(11).padding(2).validate({2, 6, 5}); },
                            "crop 11 is larger than the padded image (10x9)");
  frugal_test::expect_error([] { AugmentOptions().padding(2).validate({2, 6, 5}); }, "needs a crop");
  frugal_test::expect_error([] { AugmentOptions().flip(true).validate({10}); }, "image samples");
}

std::vector<IndexedBatch> all_batches(const TensorDataset& data, const torch::Tensor& order,
                                      int64_t workers) {
  BatchLoader loader(data, order, 7, augmenting(2), LoaderOptions().workers(workers).prefetch(1));
  std::vector<IndexedBatch> out;
  for (int64_t b = 0; b < loader.batches(); ++b) out.push_back(loader.next());
  return out;
}

TEST(BatchLoader, OneAndFourWorkersGiveIdenticalBatchesInOrder) {
  const auto data = images(50);
  const auto order = torch::randperm(50, torch::kLong);
  const auto inline_batches = all_batches(data, order, 0);
  const auto one = all_batches(data, order, 1);
  const auto four = all_batches(data, order, 4);
  ASSERT_EQ(inline_batches.size(), 8u);  // ceil(50 / 7)
  ASSERT_EQ(one.size(), 8u);
  ASSERT_EQ(four.size(), 8u);
  for (size_t b = 0; b < 8; ++b) {
    EXPECT_TRUE(torch::equal(one[b].indices, order.slice(0, b * 7, std::min<int64_t>(50, b * 7 + 7))));
    for (const auto* other : {&inline_batches[b], &four[b]}) {
      EXPECT_TRUE(torch::equal(one[b].indices, other->indices)) << "batch " << b;
      EXPECT_TRUE(torch::equal(one[b].inputs, other->inputs)) << "batch " << b;
      EXPECT_TRUE(torch::equal(one[b].targets, other->targets)) << "batch " << b;
    }
  }
  EXPECT_EQ(four.back().inputs.size(0), 1);
}

TEST(BatchLoader, AWorkersErrorReachesTheTrainingThread) {
  const auto data = images(10);
  // Sample 12 does not exist: the batch holding it fails in its worker.
  BatchLoader loader(data, torch::tensor({0, 1, 12, 3}, torch::kLong), 2, SampleTransform{},
                     LoaderOptions().workers(2));
  EXPECT_EQ(loader.next().indices.size(0), 2);
  frugal_test::expect_error([&] { loader.next(); }, "sample 12 is outside [0, 10)");
}

}  // namespace
