#include "support/expect_error.h"
#include "frugal/data/dataset.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

using frugal::data::filter_classes;
using frugal::data::Splits;
using frugal::data::standardize;
using frugal::data::TensorDataset;

namespace {

/// Six samples whose single feature equals their index, labels 0 1 2 0 1 2.
TensorDataset six_samples() {
  TensorDataset d;
  d.inputs = torch::arange(6, torch::kFloat).view({6, 1});
  d.targets = torch::tensor({0, 1, 2, 0, 1, 2}, torch::kLong);
  d.num_classes = 3;
  return d;
}

using frugal_test::error_of;

TEST(FilterClasses, RelabelNumbersKeptClassesInTheGivenOrder) {
  TensorDataset out = filter_classes(six_samples(), {2, 0}, /*relabel=*/true);
  // Samples keep their data-set order; class 2 becomes 0 and class 0 becomes 1.
  EXPECT_TRUE(torch::equal(out.inputs.flatten(), torch::tensor({0.f, 2.f, 3.f, 5.f})));
  EXPECT_TRUE(torch::equal(out.targets, torch::tensor({1, 0, 1, 0}, torch::kLong)));
  EXPECT_EQ(out.num_classes, 2);
}

TEST(FilterClasses, WithoutRelabelKeepsOriginalLabelsAndClassCount) {
  TensorDataset out = filter_classes(six_samples(), {1}, /*relabel=*/false);
  EXPECT_TRUE(torch::equal(out.inputs.flatten(), torch::tensor({1.f, 4.f})));
  EXPECT_TRUE(torch::equal(out.targets, torch::tensor({1, 1}, torch::kLong)));
  EXPECT_EQ(out.num_classes, 3);
}

TEST(FilterClasses, RejectsBadClassListsWithTheOffendingValue) {
  const TensorDataset d = six_samples();
  EXPECT_NE(error_of([&] { filter_classes(d, {}, true); }).find("empty"), std::string::npos);
  EXPECT_NE(error_of([&] { filter_classes(d, {3}, true); }).find("class 3 is outside [0, 3)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { filter_classes(d, {-1}, true); }).find("class -1"), std::string::npos);
  EXPECT_NE(error_of([&] { filter_classes(d, {1, 1}, true); }).find("class 1 is listed twice"),
            std::string::npos);
  TensorDataset only_zero = filter_classes(d, {0}, false);
  EXPECT_NE(error_of([&] { filter_classes(only_zero, {2}, false); }).find("no sample"),
            std::string::npos);
}

TEST(Standardize, FourDimensionalInputsUseTrainStatisticsPerChannel) {
  Splits s;
  // Channel 0 has train values {0, 2} (mean 1, std 1), channel 1 {10, 30}
  // (mean 20, std 10); each sample is a 1x1 image.
  s.train.inputs = torch::tensor({0.f, 10.f, 2.f, 30.f}).view({2, 2, 1, 1});
  s.test.inputs = torch::tensor({4.f, 20.f}).view({1, 2, 1, 1});
  standardize(s);
  EXPECT_TRUE(torch::allclose(s.train.inputs.flatten(), torch::tensor({-1.f, -1.f, 1.f, 1.f})));
  EXPECT_TRUE(torch::allclose(s.test.inputs.flatten(), torch::tensor({3.f, 0.f})));
}

TEST(Standardize, TwoDimensionalInputsUsePerFeatureStatistics) {
  Splits s;
  s.train.inputs = torch::tensor({1.f, 100.f, 3.f, 300.f, 5.f, 200.f}).view({3, 2});
  standardize(s);
  auto mean = s.train.inputs.mean(0);
  auto std = s.train.inputs.std(0, /*unbiased=*/false);
  EXPECT_TRUE(torch::allclose(mean, torch::zeros({2}), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(std, torch::ones({2}), 1e-5, 1e-6));
}

TEST(Standardize, ConstantTrainFeatureIsCentredNotBlownUp) {
  Splits s;
  s.train.inputs = torch::tensor({7.f, 1.f, 7.f, 3.f}).view({2, 2});
  s.test.inputs = torch::tensor({7.5f, 2.f}).view({1, 2});
  standardize(s);
  EXPECT_TRUE(torch::allclose(s.train.inputs.select(1, 0), torch::zeros({2})));
  // A feature that never varied in training carries no scale; a test value
  // half a unit off must stay half a unit off, not become 500000.
  EXPECT_FLOAT_EQ(s.test.inputs[0][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(s.test.inputs[0][1].item<float>(), 0.f);
}

TEST(Standardize, RejectsMissingOrMismatchedInputs) {
  Splits s;
  EXPECT_NE(error_of([&] { standardize(s); }).find("train inputs"), std::string::npos);
  s.train.inputs = torch::zeros({2, 3, 4});
  EXPECT_NE(error_of([&] { standardize(s); }).find("2-D or 4-D"), std::string::npos);
  s.train.inputs = torch::rand({4, 3});
  s.test.inputs = torch::rand({4, 5});
  EXPECT_NE(error_of([&] { standardize(s); }).find("test inputs"), std::string::npos);
}

}  // namespace
