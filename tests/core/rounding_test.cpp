#include "frugal/core/rounding.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <vector>

namespace {

using frugal::core::largest_remainder;
using frugal_test::expect_error;

TEST(LargestRemainder, GivesTheMissingCountsToTheLargestFractionsFirst) {
  // Floors 1 + 2 + 0 = 3; two missing go to .8 and then .7.
  EXPECT_EQ(largest_remainder({1.5, 2.7, 0.8}, {10, 10, 10}, 5), (std::vector<int64_t>{1, 3, 1}));
  // Equal fractions: the earlier index first.
  EXPECT_EQ(largest_remainder({0.5, 0.5, 0.5}, {1, 1, 1}, 1), (std::vector<int64_t>{1, 0, 0}));
}

TEST(LargestRemainder, NeverExceedsACapacityAndKeepsTheTotalExact) {
  // The largest fraction's count is full, so the next ones take the missing counts,
  // in a second round when the first does not place them all.
  EXPECT_EQ(largest_remainder({2.9, 1.2, 0.1}, {2, 5, 5}, 6), (std::vector<int64_t>{2, 3, 1}));
}

TEST(LargestRemainder, RejectsATotalTheCapacitiesCannotHoldOrTheFloorsOvershoot) {
  expect_error([] { largest_remainder({1.0, 1.0}, {1, 1}, 3); }, "no room left for 1 of 3");
  expect_error([] { largest_remainder({2.0, 2.0}, {5, 5}, 3); }, "overshoot the total 3 by 1");
  expect_error([] { largest_remainder({1.0}, {1, 1}, 1); }, "1 amounts but 2 capacities");
}

}  // namespace
