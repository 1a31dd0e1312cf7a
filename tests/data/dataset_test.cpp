#include "support/expect_error.h"
#include "frugal/data/dataset.h"
#include "frugal/data/source.h"
#include "frugal/data/transform.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

using frugal::data::channel_statistics;
using frugal::data::filter_classes;
using frugal::data::first_samples;
using frugal::data::IndexedDataset;
using frugal::data::materialize;
using frugal::data::SampleTransform;
using frugal::data::TensorDataset;

namespace {

/// Six samples whose single feature equals their index, labels 0 1 2 0 1 2.
std::shared_ptr<const IndexedDataset> six_samples() {
  return std::make_shared<TensorDataset>(torch::arange(6, torch::kFloat).view({6, 1}),
                                         torch::tensor({0, 1, 2, 0, 1, 2}, torch::kLong), 3);
}

TensorDataset plain(const IndexedDataset& d) { return materialize(d, SampleTransform{}); }

using frugal_test::error_of;

TEST(FilterClasses, RelabelNumbersKeptClassesInTheGivenOrder) {
  auto out = filter_classes(six_samples(), {2, 0}, /*relabel=*/true);
  // Samples keep their data-set order; class 2 becomes 0 and class 0 becomes 1.
  const auto d = plain(*out);
  EXPECT_TRUE(torch::equal(d.inputs.flatten(), torch::tensor({0.f, 2.f, 3.f, 5.f})));
  EXPECT_TRUE(torch::equal(d.targets, torch::tensor({1, 0, 1, 0}, torch::kLong)));
  EXPECT_TRUE(torch::equal(out->labels(), d.targets));
  EXPECT_EQ(out->class_count(), 2);
}

TEST(FilterClasses, WithoutRelabelKeepsOriginalLabelsAndClassCount) {
  auto out = filter_classes(six_samples(), {1}, /*relabel=*/false);
  const auto d = plain(*out);
  EXPECT_TRUE(torch::equal(d.inputs.flatten(), torch::tensor({1.f, 4.f})));
  EXPECT_TRUE(torch::equal(d.targets, torch::tensor({1, 1}, torch::kLong)));
  EXPECT_EQ(out->class_count(), 3);
}

TEST(FilterClasses, RejectsBadClassListsWithTheOffendingValue) {
  const auto d = six_samples();
  EXPECT_NE(error_of([&] { filter_classes(d, {}, true); }).find("empty"), std::string::npos);
  EXPECT_NE(error_of([&] { filter_classes(d, {3}, true); }).find("class 3 is outside [0, 3)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { filter_classes(d, {-1}, true); }).find("class -1"), std::string::npos);
  EXPECT_NE(error_of([&] { filter_classes(d, {1, 1}, true); }).find("class 1 is listed twice"),
            std::string::npos);
  auto only_zero = filter_classes(d, {0}, false);
  EXPECT_NE(error_of([&] { filter_classes(only_zero, {2}, false); }).find("no sample"),
            std::string::npos);
}

TEST(FirstSamples, KeepsThePrefixAndTheWholeSetForZero) {
  const auto d = six_samples();
  EXPECT_TRUE(torch::equal(plain(*first_samples(d, 2)).inputs.flatten(), torch::tensor({0.f, 1.f})));
  EXPECT_EQ(first_samples(d, 0)->size(), 6);
  EXPECT_EQ(first_samples(d, 9)->size(), 6);
}

TEST(ChannelStatistics, ImagesUseTrainStatisticsPerChannel) {
  // Channel 0 has values {0, 2} (mean 1, std 1), channel 1 {10, 30} (mean
  // 20, std 10); each sample is a 1x1 image.
  TensorDataset train(torch::tensor({0.f, 10.f, 2.f, 30.f}).view({2, 2, 1, 1}),
                      torch::zeros({2}, torch::kLong), 2);
  TensorDataset test(torch::tensor({4.f, 20.f}).view({1, 2, 1, 1}), torch::zeros({1}, torch::kLong), 2);
  SampleTransform t;
  t.normalization = channel_statistics(train);
  EXPECT_TRUE(torch::allclose(materialize(train, t).inputs.flatten(), torch::tensor({-1.f, -1.f, 1.f, 1.f})));
  EXPECT_TRUE(torch::allclose(materialize(test, t).inputs.flatten(), torch::tensor({3.f, 0.f})));
}

TEST(ChannelStatistics, FlatSamplesUsePerFeatureStatistics) {
  TensorDataset train(torch::tensor({1.f, 100.f, 3.f, 300.f, 5.f, 200.f}).view({3, 2}),
                      torch::zeros({3}, torch::kLong), 2);
  SampleTransform t;
  t.normalization = channel_statistics(train);
  const auto x = materialize(train, t).inputs;
  EXPECT_TRUE(torch::allclose(x.mean(0), torch::zeros({2}), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(x.std(0, /*unbiased=*/false), torch::ones({2}), 1e-5, 1e-5));
}

TEST(ChannelStatistics, BytesAreScaledToTheUnitRangeFirst) {
  TensorDataset bytes(torch::tensor({0, 255}).to(torch::kUInt8).view({2, 1}),
                      torch::zeros({2}, torch::kLong), 2);
  const auto stats = channel_statistics(bytes);
  EXPECT_NEAR(stats.mean[0], 0.5, 1e-9);
  EXPECT_NEAR(stats.std[0], 0.5, 1e-9);
  EXPECT_TRUE(torch::equal(plain(bytes).inputs.flatten(), torch::tensor({0.f, 1.f})));
}

TEST(ChannelStatistics, ConstantTrainFeatureIsCentredNotBlownUp) {
  TensorDataset train(torch::tensor({7.f, 1.f, 7.f, 3.f}).view({2, 2}), torch::zeros({2}, torch::kLong), 2);
  TensorDataset test(torch::tensor({7.5f, 2.f}).view({1, 2}), torch::zeros({1}, torch::kLong), 2);
  SampleTransform t;
  t.normalization = channel_statistics(train);
  EXPECT_TRUE(torch::allclose(materialize(train, t).inputs.select(1, 0), torch::zeros({2})));
  // A feature that never varied in training carries no scale; a test value
  // half a unit off must stay half a unit off, not become 500000.
  const auto x = materialize(test, t).inputs;
  EXPECT_FLOAT_EQ(x[0][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(x[0][1].item<float>(), 0.f);
}

}  // namespace
