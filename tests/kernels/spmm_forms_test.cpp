// Both forms of the CSR product (spmm_tiles and spmm_panels, private to
// src/kernels) against a dense product, on the shapes each form's blocking
// makes hard: rows without entries, one row, batches that are not a multiple
// of a strip or tile, and the transposed output.
#include <frugal/kernels/csr.h>

#include "../../src/kernels/csr_kernels.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <sstream>
#include <vector>

namespace fk = frugal::kernels;
namespace fd = frugal::kernels::detail;

namespace {

struct Operands {
  fk::CsrPattern pattern;
  torch::Tensor weight, values, bias, x, xt;  // xt: [in, ld]
  int64_t ld = 0;
  fd::CsrView view() const {
    const auto& panels = pattern.panel_offsets();
    return {pattern.rows(),
            pattern.cols(),
            pattern.row_ptr().data_ptr<int64_t>(),
            pattern.col_idx().data_ptr<int32_t>(),
            panels.data_ptr<int32_t>(),
            panels.size(1) - 1};
  }
  torch::Tensor reference() const { return torch::linear(x, weight, bias); }
};

/// A random pattern whose rows in `empty_rows` have no entries.
Operands make(int64_t out, int64_t in, int64_t batch, double density, std::vector<int64_t> empty_rows, int seed) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(seed);
  auto mask = torch::rand({out, in}, gen).lt(density);
  for (const int64_t r : empty_rows) mask[r].fill_(false);
  Operands o{fk::CsrPattern::from_mask(mask)};
  o.weight = torch::randn({out, in}, gen) * mask;
  o.values = fk::csr_values(o.weight, o.pattern).contiguous();
  o.bias = torch::randn({out}, gen);
  o.x = torch::randn({batch, in}, gen);
  o.ld = fd::padded_ld(batch);
  // NaN in the padding: a kernel reading past the batch shows in the result.
  o.xt = torch::full({in, o.ld}, std::numeric_limits<float>::quiet_NaN());
  o.xt.slice(1, 0, batch).copy_(o.x.t());
  return o;
}

std::string describe(int64_t out, int64_t in, int64_t batch) {
  std::ostringstream s;
  s << "out=" << out << " in=" << in << " batch=" << batch;
  return s.str();
}

struct Shape {
  int64_t out, in, batch;
  double density;
};

/// Batches 1, 7, 31 to 33, 65, 129 and 256 cut strips (128 lanes) and tiles
/// (64) into ragged pieces (TilesMatchDenseAtEveryStripWidth covers every
/// width); one row; wider than a column panel; rows 0 and the last without
/// entries.
std::vector<Shape> shapes() {
  return {{1, 9, 5, 0.5},      {1, 300, 33, 0.2},  {5, 17, 1, 0.6},     {13, 40, 7, 0.3},
          {70, 300, 31, 0.05}, {66, 520, 32, 0.1}, {130, 64, 65, 0.25}, {9, 2100, 256, 0.02},
          {40, 90, 129, 0.3}};
}

TEST(SpmmForms, TilesMatchDenseWithEmptyRowsAndRaggedStrips) {
  if (!fd::avx2_active()) GTEST_SKIP() << "spmm_tiles needs AVX2 + FMA";
  int seed = 1;
  for (const auto& s : shapes()) {
    SCOPED_TRACE(describe(s.out, s.in, s.batch));
    const auto o = make(s.out, s.in, s.batch, s.density, {0, s.out - 1}, seed++);
    auto y = torch::full({s.batch, s.out}, -7.f);
    fd::spmm_tiles(o.view(), o.values.data_ptr<float>(), o.xt.data_ptr<float>(), o.ld, s.batch,
                   o.bias.data_ptr<float>(), y.data_ptr<float>(), s.out, false);
    EXPECT_TRUE(torch::allclose(y, o.reference(), 1e-4, 1e-4)) << (y - o.reference()).abs().max().item<float>();
    // An empty row is its bias.
    EXPECT_TRUE(torch::allclose(y.select(1, 0), o.bias[0].expand({s.batch})));
  }
}

// Each strip width (1 to 16 vectors, with and without a masked last vector)
// is its own instantiation; batches 1 to 136 reach them all, and 129 to 136
// a full strip followed by a ragged one. Both layouts: the transposed one
// writes straight into y^T, where a missing mask shows in the padding.
TEST(SpmmForms, TilesMatchDenseAtEveryStripWidth) {
  if (!fd::avx2_active()) GTEST_SKIP() << "spmm_tiles needs AVX2 + FMA";
  for (int64_t batch = 1; batch <= 136; ++batch) {
    SCOPED_TRACE(describe(6, 23, batch));
    const auto o = make(6, 23, batch, 0.4, {}, static_cast<int>(100 + batch));
    auto y = torch::full({batch, 6}, -7.f);
    fd::spmm_tiles(o.view(), o.values.data_ptr<float>(), o.xt.data_ptr<float>(), o.ld, batch,
                   o.bias.data_ptr<float>(), y.data_ptr<float>(), 6, false);
    ASSERT_TRUE(torch::allclose(y, o.reference(), 1e-4, 1e-4)) << (y - o.reference()).abs().max().item<float>();
    const int64_t ldo = o.ld + 3;
    auto yt = torch::full({6, ldo}, -7.f);
    fd::spmm_tiles(o.view(), o.values.data_ptr<float>(), o.xt.data_ptr<float>(), o.ld, batch,
                   o.bias.data_ptr<float>(), yt.data_ptr<float>(), ldo, true);
    ASSERT_TRUE(torch::allclose(yt.slice(1, 0, batch), o.reference().t(), 1e-4, 1e-4));
    ASSERT_TRUE(yt.slice(1, batch).eq(-7.f).all().item<bool>()) << "a store went past the batch";
  }
}

TEST(SpmmForms, TilesWriteTheTransposedLayoutAndLeaveItsPaddingAlone) {
  if (!fd::avx2_active()) GTEST_SKIP() << "spmm_tiles needs AVX2 + FMA";
  int seed = 20;
  for (const auto& s : shapes()) {
    SCOPED_TRACE(describe(s.out, s.in, s.batch));
    const auto o = make(s.out, s.in, s.batch, s.density, {0}, seed++);
    const int64_t ldo = fd::padded_ld(s.batch) + 3;
    auto yt = torch::full({s.out, ldo}, -7.f);
    fd::spmm_tiles(o.view(), o.values.data_ptr<float>(), o.xt.data_ptr<float>(), o.ld, s.batch, nullptr,
                   yt.data_ptr<float>(), ldo, true);
    const auto ref = torch::linear(o.x, o.weight).t();
    EXPECT_TRUE(torch::allclose(yt.slice(1, 0, s.batch), ref, 1e-4, 1e-4));
    EXPECT_TRUE(yt.slice(1, s.batch).eq(-7.f).all().item<bool>());
  }
}

TEST(SpmmForms, PanelsMatchDenseWithEmptyRowsAndRaggedTiles) {
  int seed = 40;
  for (const bool portable : {false, true}) {
    fd::force_portable(portable);
    for (const auto& s : shapes()) {
      SCOPED_TRACE(describe(s.out, s.in, s.batch) + (portable ? " portable" : ""));
      const auto o = make(s.out, s.in, s.batch, s.density, {0, s.out - 1}, seed++);
      auto y = torch::full({s.batch, s.out}, -7.f);
      fd::spmm_panels(o.view(), o.values.data_ptr<float>(), o.xt.data_ptr<float>(), o.ld, s.batch,
                      o.bias.data_ptr<float>(), y.data_ptr<float>(), s.out);
      EXPECT_TRUE(torch::allclose(y, o.reference(), 1e-4, 1e-4));
    }
  }
  fd::force_portable(false);
}

TEST(SpmmForms, SpmmPicksTilesFromBatch32AndPanelsForFullNarrowRowsBelow) {
  if (!fd::avx2_active()) GTEST_SKIP() << "the choice is between AVX2 forms";
  // 784 columns at 50%: about 390 entries per row.
  const auto full = make(30, 784, 1, 0.5, {}, 60);
  EXPECT_TRUE(fd::tiles_preferred(full.view(), 32));
  EXPECT_TRUE(fd::tiles_preferred(full.view(), 256));
  EXPECT_FALSE(fd::tiles_preferred(full.view(), 8));
  // Short rows (784 columns at 2%, about 16 entries) and wide layers take the
  // tiles at any batch.
  EXPECT_TRUE(fd::tiles_preferred(make(30, 784, 1, 0.02, {}, 61).view(), 8));
  EXPECT_TRUE(fd::tiles_preferred(make(16, 4096, 1, 0.1, {}, 62).view(), 8));
  fd::force_portable(true);
  EXPECT_FALSE(fd::tiles_preferred(full.view(), 256));
  fd::force_portable(false);
}

}  // namespace
