// Register-blocked SpMM (AVX2): one output row x a strip of kStripLanes batch
// lanes keeps its accumulators in ymm registers over the row's whole CSR run,
// so that accumulators are loaded and stored once per row and strip instead
// of once per row and column panel as in spmm_panels. Tiles of 2 to 6 rows in
// lock step (8 to 12 accumulators, 16 or 24 lanes) measured slower than this
// one-row form; see docs/RESULTS.md, section 2.
#include "csr_kernels.h"
#include "simd.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>

namespace frugal::kernels::detail {
namespace {

/// Batch lanes per strip: 4 accumulators. A strip's slice of x^T (cols x 128
/// bytes) stays in L2 while a thread runs all its rows.
constexpr int64_t kStripLanes = 32;
/// Rows per work unit, and of the scratch block transposed into y.
constexpr int64_t kUnitRows = 64;

#if FRUGAL_HAVE_X86

/// Rows [r0, r1) over the first 8 (NV - 1) + `lanes` (M) or 8 NV lanes of the
/// strip at xt (offset to the strip's first lane): out[(r - r0) * ldo + lane]
/// = bias[r] + sum_k values[k] * xt[col_k * ld + lane]. With M the last
/// vector is loaded and stored under a mask, so nothing past the batch is
/// read or written.
template <int NV, bool M>
FRUGAL_AVX2 void strip_rows(const CsrView& a, const float* __restrict values, const float* __restrict xt,
                            int64_t ld, const float* bias, int64_t r0, int64_t r1, float* __restrict out,
                            int64_t ldo, int64_t lanes) {
  const __m256i mask = lane_mask(lanes - 8 * (NV - 1));
  const int32_t* ci = a.col_idx;
  for (int64_t r = r0; r < r1; ++r) {
    __m256 acc[NV];
    const __m256 b = _mm256_set1_ps(bias ? bias[r] : 0.f);
    for (int u = 0; u < NV; ++u) acc[u] = b;
    for (int64_t k = a.row_ptr[r]; k < a.row_ptr[r + 1]; ++k) {
      const __m256 w = _mm256_broadcast_ss(values + k);
      const float* x = xt + int64_t{ci[k]} * ld;
      for (int u = 0; u < NV; ++u) {
        const __m256 xv = (M && u == NV - 1) ? _mm256_maskload_ps(x + 8 * u, mask) : _mm256_loadu_ps(x + 8 * u);
        acc[u] = _mm256_fmadd_ps(w, xv, acc[u]);
      }
    }
    float* o = out + (r - r0) * ldo;
    for (int u = 0; u < NV; ++u) {
      if (M && u == NV - 1)
        _mm256_maskstore_ps(o + 8 * u, mask, acc[u]);
      else
        _mm256_storeu_ps(o + 8 * u, acc[u]);
    }
  }
}

using StripFn = void (*)(const CsrView&, const float*, const float*, int64_t, const float*, int64_t, int64_t,
                         float*, int64_t, int64_t);

/// The instantiation for a strip `lanes` wide (1 <= lanes <= kStripLanes).
StripFn strip_fn(int64_t lanes) {
  static_assert(kStripLanes == 32, "strip_fn covers 1 to 4 vectors");
  const bool masked = lanes % 8 != 0;
  switch ((lanes + 7) / 8) {
    case 1: return masked ? &strip_rows<1, true> : &strip_rows<1, false>;
    case 2: return masked ? &strip_rows<2, true> : &strip_rows<2, false>;
    case 3: return masked ? &strip_rows<3, true> : &strip_rows<3, false>;
    default: return masked ? &strip_rows<4, true> : &strip_rows<4, false>;
  }
}

#endif  // FRUGAL_HAVE_X86

}  // namespace

bool tiles_preferred(const CsrView& a) {
  // Fitted to the four batch-256 cases of bench/spmm_designs.cpp: the tiles
  // win while a strip of x^T fits in half of L2 (cols <= 2048; 512 KiB per
  // core here) or a row has few entries per column panel; spmm_panels wins on
  // 4096 x 4096 at 10% (26 entries per row and panel).
  const int64_t nnz = a.row_ptr[a.rows];
  const bool strip_in_l2 = a.cols * kStripLanes * int64_t{sizeof(float)} <= 256 * 1024;
  const bool sparse_rows = nnz < 16 * a.rows * panel_count(a.cols, a.panel_width);
  return avx2_active() && (strip_in_l2 || sparse_rows);
}

void spmm_tiles(const CsrView& a, const float* values, const float* xt, int64_t ldx, int64_t batch,
                const float* bias, float* out, int64_t ldo, bool out_transposed) {
  TORCH_CHECK(avx2_active(), "spmm_tiles: needs AVX2 + FMA (use spmm, which falls back to the portable kernel)");
#if FRUGAL_HAVE_X86
  if (a.rows == 0 || batch == 0) return;
  const int64_t n_strips = (batch + kStripLanes - 1) / kStripLanes, n_units = (a.rows + kUnitRows - 1) / kUnitRows;
  const int64_t work = a.row_ptr[a.rows] * batch;
  at::parallel_for(0, n_strips * n_units, grain(n_strips * n_units, work), [&](int64_t u0, int64_t u1) {
    alignas(64) float scratch[kUnitRows * kStripLanes];
    for (int64_t u = u0; u < u1; ++u) {
      // Consecutive units share a strip, whose slice of x^T then stays in L2.
      const int64_t b0 = (u / n_units) * kStripLanes, r0 = (u % n_units) * kUnitRows;
      const int64_t r1 = std::min(a.rows, r0 + kUnitRows), lanes = std::min(kStripLanes, batch - b0);
      const StripFn fn = strip_fn(lanes);
      if (out_transposed) {
        fn(a, values, xt + b0, ldx, bias, r0, r1, out + r0 * ldo + b0, ldo, lanes);
      } else {
        fn(a, values, xt + b0, ldx, bias, r0, r1, scratch, kStripLanes, lanes);
        transpose_block(scratch, kStripLanes, r1 - r0, lanes, out + b0 * ldo + r0, ldo, true);
      }
    }
  });
#endif
}

}  // namespace frugal::kernels::detail
