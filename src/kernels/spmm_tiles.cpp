// Register-blocked SpMM (AVX2): one output row x a strip of up to
// kStripLanes batch lanes keeps its accumulators in ymm registers over the
// row's whole CSR run, so that accumulators are loaded and stored once per row
// and strip instead of once per row and column panel as in spmm_panels, and
// each entry's weight and column index are loaded once for 16 vectors. Tiles
// of 2 to 6 rows in lock step (8 to 12 accumulators, 16 or 24 lanes) measured
// slower than this one-row form; see docs/RESULTS.md, section 2.
#include "csr_kernels.h"
#include "simd.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>

namespace frugal::kernels::detail {
namespace {

/// Batch lanes per strip: 16 accumulators (with the broadcast weight one more
/// register than AVX2 has, so the compiler keeps two accumulators on the
/// stack; measured faster all the same). 128 lanes measured 1.4 to 1.9x
/// faster than 32 at batch 256 (docs/RESULTS.md, section 2): an entry's index
/// and weight serve 16 FMAs instead of 4, and 16 independent chains hide the
/// FMA latency that 4 exposed.
constexpr int64_t kStripLanes = 128;
/// Entries ahead whose row of x^T is prefetched: the strip's slice of x^T
/// (cols x 512 bytes) sits in L2 or, for wide layers, L3, and an entry's
/// lines arrive while the 8 entries before it compute.
constexpr int64_t kPrefetchAhead = 8;
/// Vectors (of 32 bytes) between prefetches: one prefetch per 128 bytes, i.e.
/// every second line of the entry's lanes. Measured 9 to 15% faster per FMA
/// than one per line in a microbenchmark of this loop, on both layers at 2
/// and 10%, and faster in bench/spmm_designs.cpp in 7 of 8 paired runs
/// (docs/RESULTS.md, section 2): the line after each prefetched one arrives
/// all the same (presumably the core's adjacent-line prefetch), and the
/// prefetches dropped were taking load slots from the FMAs' operands.
constexpr int kPrefetchVectors = 4;
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
  // Prefetches stop kPrefetchAhead entries before the pattern's end, so they
  // only touch rows of x^T the pattern names.
  const int64_t prefetch_end = a.row_ptr[a.rows] - kPrefetchAhead;
  for (int64_t r = r0; r < r1; ++r) {
    __m256 acc[NV];
    const __m256 b = _mm256_set1_ps(bias ? bias[r] : 0.f);
    for (int u = 0; u < NV; ++u) acc[u] = b;
    for (int64_t k = a.row_ptr[r]; k < a.row_ptr[r + 1]; ++k) {
      if (k < prefetch_end) {
        const char* ahead = reinterpret_cast<const char*>(xt + int64_t{ci[k + kPrefetchAhead]} * ld);
        for (int u = 0; u < NV; u += kPrefetchVectors) _mm_prefetch(ahead + 32 * u, _MM_HINT_T0);
      }
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

template <int NV>
StripFn strip_fn_of(bool masked) {
  return masked ? &strip_rows<NV, true> : &strip_rows<NV, false>;
}

/// The instantiation for a strip `lanes` wide (1 <= lanes <= kStripLanes).
StripFn strip_fn(int64_t lanes) {
  static_assert(kStripLanes == 128, "strip_fn covers 1 to 16 vectors");
  static constexpr StripFn (*kByVectors[16])(bool) = {
      strip_fn_of<1>,  strip_fn_of<2>,  strip_fn_of<3>,  strip_fn_of<4>,  strip_fn_of<5>,  strip_fn_of<6>,
      strip_fn_of<7>,  strip_fn_of<8>,  strip_fn_of<9>,  strip_fn_of<10>, strip_fn_of<11>, strip_fn_of<12>,
      strip_fn_of<13>, strip_fn_of<14>, strip_fn_of<15>, strip_fn_of<16>};
  return kByVectors[(lanes + 7) / 8 - 1](lanes % 8 != 0);
}

#endif  // FRUGAL_HAVE_X86

}  // namespace

bool tiles_preferred(const CsrView& a, int64_t batch) {
  // Fitted to bench/spmm_designs.cpp (784x300 and 4096x4096, densities 2 to
  // 50%, batches 4 to 256; docs/RESULTS.md, section 2). From batch 32 on (4
  // or more vectors per strip) the tiles won every case. Below that
  // spmm_panels won on the narrow layer's fuller rows (784x300 at 50%,
  // batches 8 and 16), where one or two accumulator chains per row leave the
  // FMA latency exposed, and lost on the wide layer and on short rows. The
  // threshold of 100 entries keeps the tiles on 784x300 at 10% and batch 8,
  // where they measured 15% slower (47 against 41 us).
  const int64_t nnz = a.row_ptr[a.rows];
  const bool short_rows = nnz < 100 * std::max<int64_t>(a.rows, 1);
  return avx2_active() && (batch >= 32 || a.cols > 2048 || short_rows);
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
