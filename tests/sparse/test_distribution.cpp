// Pure functions of sparse training: density distributions, the seeded
// sampler, the drop schedule and SNFS growth redistribution.
#include "support/expect_error.h"
#include "frugal/sparse/distribution.h"
#include "frugal/sparse/dynamic_sparsity.h"
#include "frugal/sparse/random.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <numeric>
#include <random>
#include <set>

using namespace frugal::sparse;

namespace {

using Shapes = std::vector<std::vector<int64_t>>;

int64_t numel_of(const std::vector<int64_t>& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

int64_t total_of(const Shapes& shapes) {
  int64_t t = 0;
  for (const auto& s : shapes) t += numel_of(s);
  return t;
}

int64_t sum(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

using frugal_test::expect_error;

}  // namespace

TEST(Distribution, UniformGivesEveryLayerTheTargetShareAndTheExactTotal) {
  const Shapes shapes = {{30, 17}, {7, 30}, {8, 3, 3, 3}, {5, 8, 3, 3}};
  const int64_t total = total_of(shapes);
  for (double d : {0.013, 0.1, 0.37, 0.5, 0.9, 0.999}) {
    const auto counts = layer_active_counts(shapes, d, Distribution::kUniform);
    EXPECT_EQ(sum(counts), std::llround(d * total)) << "density " << d;
    for (size_t i = 0; i < shapes.size(); ++i)
      EXPECT_LE(std::abs(static_cast<double>(counts[i]) - d * numel_of(shapes[i])), 1.0);
  }
}

TEST(Distribution, ErkMakesATinyLayerDenseAndStillHitsTheTotal) {
  // raw ERK density: big layer 200/10000 = 0.02, tiny layer 102/200 = 0.51.
  // Unconstrained epsilon = 1020 / (200 + 102) would put the tiny layer at 1.72.
  const Shapes shapes = {{100, 100}, {2, 100}};
  const auto counts = layer_active_counts(shapes, 0.1, Distribution::kERK);
  EXPECT_EQ(counts[1], 200);             // dense
  EXPECT_EQ(counts[0], 1020 - 200);      // the rest of round(0.1 * 10200)
  EXPECT_EQ(sum(counts), 1020);
}

TEST(Distribution, ErkOnConvUsesKernelAndErIgnoresIt) {
  const std::vector<int64_t> conv = {16, 8, 3, 3};
  EXPECT_DOUBLE_EQ(raw_density(conv, Distribution::kERK), (16.0 + 8 + 3 + 3) / (16.0 * 8 * 9));
  EXPECT_DOUBLE_EQ(raw_density(conv, Distribution::kER), (16.0 + 8) / (16.0 * 8));
  EXPECT_DOUBLE_EQ(raw_density(conv, Distribution::kUniform), 1.0);
}

TEST(Distribution, RandomShapesKeepTheTotalExactAndDenseLayersAreTheDensestByRank) {
  std::mt19937_64 gen(7);
  std::uniform_int_distribution<int64_t> dim(1, 40), kernel(1, 5), layers(1, 6);
  std::uniform_real_distribution<double> density(0.02, 1.0);
  for (int trial = 0; trial < 300; ++trial) {
    Shapes shapes;
    const int64_t n = layers(gen);
    for (int64_t i = 0; i < n; ++i) {
      if (gen() % 2)
        shapes.push_back({dim(gen), dim(gen)});
      else
        shapes.push_back({dim(gen), dim(gen), kernel(gen), kernel(gen)});
    }
    const double d = density(gen);
    for (auto dist : {Distribution::kUniform, Distribution::kER, Distribution::kERK}) {
      std::vector<int64_t> counts;
      try {
        counts = layer_active_counts(shapes, d, dist);
      } catch (const c10::Error& e) {
        // Only an empty layer is a legitimate refusal.
        EXPECT_NE(std::string(e.what()).find("without any active weight"), std::string::npos);
        continue;
      }
      ASSERT_EQ(sum(counts), std::llround(d * total_of(shapes)));
      // Non-dense layers share one epsilon: count ~ eps * raw * n within one
      // weight. A full layer either was made dense (its raw density is at
      // least every sparse layer's) or was only rounded up to full.
      double eps_low = 0, eps_high = INFINITY, max_sparse_raw = 0;
      for (size_t i = 0; i < shapes.size(); ++i) {
        const double size = static_cast<double>(numel_of(shapes[i]));
        const double raw = raw_density(shapes[i], dist);
        ASSERT_GE(counts[i], 1);
        ASSERT_LE(counts[i], numel_of(shapes[i]));
        if (counts[i] == numel_of(shapes[i])) continue;
        max_sparse_raw = std::max(max_sparse_raw, raw);
        eps_low = std::max(eps_low, (counts[i] - 1.0) / (raw * size));
        eps_high = std::min(eps_high, (counts[i] + 1.0) / (raw * size));
      }
      EXPECT_LE(eps_low, eps_high * (1 + 1e-12)) << "layers do not share one epsilon";
      for (size_t i = 0; i < shapes.size(); ++i) {
        const double size = static_cast<double>(numel_of(shapes[i]));
        const double raw = raw_density(shapes[i], dist);
        if (counts[i] != numel_of(shapes[i])) continue;
        EXPECT_TRUE(raw >= max_sparse_raw * (1 - 1e-9) || counts[i] - 1.0 <= eps_high * raw * size)
            << "layer " << i << " is dense but sparser layers by rank are not";
      }
    }
  }
}

TEST(Distribution, DensityOneKeepsEverythingActive) {
  const Shapes shapes = {{3, 4}, {5, 3}};
  for (auto dist : {Distribution::kUniform, Distribution::kER, Distribution::kERK}) {
    const auto counts = layer_active_counts(shapes, 1.0, dist);
    EXPECT_EQ(counts, (std::vector<int64_t>{12, 15}));
  }
}

TEST(Distribution, BadDensityAndNamesAreClearErrors) {
  const Shapes shapes = {{3, 4}};
  expect_error([&] { layer_active_counts(shapes, 0.0, Distribution::kERK); }, "density must be in (0, 1]");
  expect_error([&] { layer_active_counts(shapes, 1.5, Distribution::kERK); }, "1.5");
  expect_error([&] { parse_distribution("erdos"); }, "unknown density distribution 'erdos'");
  EXPECT_EQ(parse_distribution("erk"), Distribution::kERK);
  EXPECT_EQ(to_string(parse_distribution("er")), "er");
}

TEST(Distribution, ALayerLeftWithoutWeightsIsAnError) {
  const Shapes shapes = {{1000, 1000}, {1, 2}};
  expect_error([&] { layer_active_counts(shapes, 0.0001, Distribution::kUniform); },
               "without any active weight");
}

TEST(Rng, SameSeedSameStreamAndStateRoundTrips) {
  Rng a(42), b(42), c(43);
  std::vector<uint64_t> xa, xb, xc;
  for (int i = 0; i < 10; ++i) {
    xa.push_back(a.next());
    xb.push_back(b.next());
    xc.push_back(c.next());
  }
  EXPECT_EQ(xa, xb);
  EXPECT_NE(xa, xc);
  const auto state = a.state();
  const uint64_t next = a.next();
  Rng d(0);
  d.set_state(state);
  EXPECT_EQ(d.next(), next);
  expect_error([&] { d.set_state(torch::zeros({3}, torch::kFloat)); }, "uint8");
}

TEST(Rng, BelowIsUniformWithinTolerance) {
  Rng rng(1);
  std::vector<int> hist(7, 0);
  const int draws = 70000;
  for (int i = 0; i < draws; ++i) ++hist[rng.below(7)];
  for (int h : hist) EXPECT_NEAR(h, draws / 7.0, 5 * std::sqrt(draws / 7.0));
}

TEST(Rng, ChooseReturnsDistinctCandidatesUniformly) {
  Rng rng(3);
  std::vector<int> hits(10, 0);
  for (int rep = 0; rep < 4000; ++rep) {
    auto candidates = torch::arange(100, 110, torch::kLong);
    auto picked = choose(candidates, 3, rng);
    std::set<int64_t> seen;
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t v = picked[i].item<int64_t>();
      ASSERT_GE(v, 100);
      ASSERT_LT(v, 110);
      seen.insert(v);
      ++hits[v - 100];
    }
    ASSERT_EQ(seen.size(), 3u);
  }
  for (int h : hits) EXPECT_NEAR(h, 1200, 5 * std::sqrt(1200.0));
  auto few = torch::arange(2, torch::kLong);
  expect_error([&] { choose(few, 3, rng); }, "cannot choose 3 of 2");
}

TEST(Rng, RandomMaskHasExactlyKActiveOnBothSidesOfHalf) {
  Rng rng(5);
  for (int64_t k : {0, 1, 17, 50, 51, 99, 100}) {
    auto mask = random_mask({10, 10}, k, rng);
    EXPECT_EQ(mask.scalar_type(), torch::kBool);
    EXPECT_EQ(mask.sum().item<int64_t>(), k);
  }
  Rng r1(9), r2(9);
  EXPECT_TRUE(torch::equal(random_mask({20, 30}, 77, r1), random_mask({20, 30}, 77, r2)));
}

TEST(DropSchedule, CosineLinearConstantAndZeroFromTEnd) {
  EXPECT_DOUBLE_EQ(drop_fraction_at(0.3, DropSchedule::kCosine, 0.0, 0.75), 0.3);
  EXPECT_NEAR(drop_fraction_at(0.3, DropSchedule::kCosine, 0.375, 0.75), 0.15, 1e-12);
  EXPECT_NEAR(drop_fraction_at(0.3, DropSchedule::kCosine, 0.7499999, 0.75), 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(drop_fraction_at(0.3, DropSchedule::kCosine, 0.75, 0.75), 0.0);
  EXPECT_NEAR(drop_fraction_at(0.5, DropSchedule::kLinear, 0.25, 0.5), 0.25, 1e-12);
  EXPECT_DOUBLE_EQ(drop_fraction_at(0.5, DropSchedule::kConstant, 0.4, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(drop_fraction_at(0.5, DropSchedule::kConstant, 0.6, 0.5), 0.0);
  expect_error([] { parse_drop_schedule("step"); }, "unknown drop fraction schedule 'step'");
}

TEST(RedistributeGrowth, SplitsByShareExactlyAndFillsCappedLayersFirst) {
  // Shares 1:3 of 100 -> 25 / 75.
  EXPECT_EQ(redistribute_growth(100, {1.0, 3.0}, {1000, 1000}), (std::vector<int64_t>{25, 75}));
  // The second layer can hold only 10: the rest goes to the others by share.
  EXPECT_EQ(redistribute_growth(100, {1.0, 30.0, 1.0}, {1000, 10, 1000}),
            (std::vector<int64_t>{45, 10, 45}));
  // Zero shares: split by free capacity.
  EXPECT_EQ(redistribute_growth(30, {0.0, 0.0}, {10, 20}), (std::vector<int64_t>{10, 20}));
  // Rounding: the total is exact.
  const auto counts = redistribute_growth(10, {1.0, 1.0, 1.0}, {100, 100, 100});
  EXPECT_EQ(sum(counts), 10);
  for (int64_t c : counts) EXPECT_TRUE(c == 3 || c == 4);
  expect_error([] { redistribute_growth(31, {1.0, 1.0}, {10, 20}); }, "cannot grow 31");
}

TEST(RedistributeGrowth, RandomCasesAreExactAndWithinCapacity) {
  std::mt19937_64 gen(11);
  for (int trial = 0; trial < 500; ++trial) {
    const size_t n = 1 + gen() % 6;
    std::vector<double> shares(n);
    std::vector<int64_t> capacity(n);
    int64_t room = 0;
    for (size_t i = 0; i < n; ++i) {
      shares[i] = (gen() % 4 == 0) ? 0.0 : static_cast<double>(gen() % 1000) / 100.0;
      capacity[i] = static_cast<int64_t>(gen() % 50);
      room += capacity[i];
    }
    const int64_t budget = room == 0 ? 0 : static_cast<int64_t>(gen() % (room + 1));
    const auto counts = redistribute_growth(budget, shares, capacity);
    ASSERT_EQ(sum(counts), budget);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_GE(counts[i], 0);
      ASSERT_LE(counts[i], capacity[i]);
    }
  }
}
