#include "frugal/core/top_k.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace {

using frugal::core::top_k_flags;
using frugal_test::expect_error;

/// The rule written out the slow way: sort indices by value descending,
/// lower index first among equals, keep the first k.
template <typename T>
std::vector<bool> by_sorting(const std::vector<T>& v, int64_t k) {
  std::vector<int64_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return v[a] > v[b]; });
  std::vector<bool> keep(v.size(), false);
  for (int64_t i = 0; i < k; ++i) keep[order[i]] = true;
  return keep;
}

template <typename T>
std::vector<bool> flags(const std::vector<T>& v, int64_t k) {
  std::unique_ptr<bool[]> out(new bool[v.size()]);
  top_k_flags(v.data(), static_cast<int64_t>(v.size()), k, out.get());
  return std::vector<bool>(out.get(), out.get() + v.size());
}

TEST(TopK, EqualValuesGoToTheLowerIndex) {
  const std::vector<float> v = {1, 3, 2, 3, 3, 0, 3};
  EXPECT_EQ(flags(v, 2), (std::vector<bool>{false, true, false, true, false, false, false}));
  EXPECT_EQ(flags(v, 5), (std::vector<bool>{false, true, true, true, true, false, true}));
}

TEST(TopK, MatchesSortingOnSmallAndSampledSizesWithManyTies) {
  std::mt19937 rng(3);
  // 1000 takes the full selection, 50000 the sampled bracket.
  for (int64_t n : {1000, 50000}) {
    std::vector<double> v(static_cast<size_t>(n));
    for (auto& x : v) x = static_cast<double>(rng() % 97);  // many equal values
    for (int64_t k : {int64_t{1}, n / 10, n / 2, n - 1}) EXPECT_EQ(flags(v, k), by_sorting(v, k)) << n << " " << k;
  }
}

TEST(TopK, InfinitiesRankAtTheEnds) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> v = {-inf, 0, inf, -inf, inf};
  EXPECT_EQ(flags(v, 2), (std::vector<bool>{false, false, true, false, true}));
  EXPECT_EQ(flags(v, 4), (std::vector<bool>{true, true, true, false, true}));
}

TEST(TopK, KeepsNoneOrAllAndRejectsNanAndBadCounts) {
  const std::vector<float> v = {2, 1};
  EXPECT_EQ(flags(v, 0), (std::vector<bool>{false, false}));
  EXPECT_EQ(flags(v, 2), (std::vector<bool>{true, true}));
  expect_error([&] { flags(v, 3); }, "cannot keep 3 of 2");
  expect_error([] { flags(std::vector<float>{1, std::nanf("")}, 2); }, "scores contain NaN");
}

}  // namespace
