#include "csr_kernels.h"
#include "simd.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace frugal::kernels::detail {
namespace {

/// Batch columns per tile: 8 AVX registers of accumulators.
constexpr int64_t kTile = 64;
/// Upper bound of rows per block: each row of x^T brought into cache serves
/// about kMaxRowBlock * density entries; the block's accumulators
/// (kMaxRowBlock x kTile floats = 32 KiB) stay in L1 / L2.
constexpr int64_t kMaxRowBlock = 128;

std::atomic<bool> g_force_portable{false};

bool cpu_has_avx2() {
#if FRUGAL_HAVE_X86
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

/// Rows per block: small enough that every thread gets several blocks.
int64_t row_block(int64_t rows) {
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  int64_t r = (rows + 4 * threads - 1) / (4 * threads);
  r = (r + 7) / 8 * 8;
  return std::clamp<int64_t>(r, 8, kMaxRowBlock);
}

struct Range {
  int64_t r0, r1, b0, w;
};

// ---------------------------------------------------------------- portable

void transpose_block_portable(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                              int64_t ldd) {
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r) dst[c * ldd + r] = src[r * lds + c];
}

void spmm_block_portable(const CsrView& a, const float* values, const float* xt, int64_t ld,
                         const float* bias, float* y, int64_t ldy, const Range& g, float* scratch) {
  const int64_t np = a.n_panels;
  for (int64_t r = g.r0; r < g.r1; ++r) std::fill_n(scratch + (r - g.r0) * kTile, g.w, bias ? bias[r] : 0.f);
  for (int64_t p = 0; p < np; ++p) {
    for (int64_t r = g.r0; r < g.r1; ++r) {
      const int32_t* off = a.panel_off + r * (np + 1);
      const int64_t k1 = a.row_ptr[r] + off[p + 1];
      float* s = scratch + (r - g.r0) * kTile;
      for (int64_t k = a.row_ptr[r] + off[p]; k < k1; ++k) {
        const float v = values[k];
        const float* x = xt + int64_t{a.col_idx[k]} * ld + g.b0;
        for (int64_t i = 0; i < g.w; ++i) s[i] += v * x[i];
      }
    }
  }
  transpose_block_portable(scratch, kTile, g.r1 - g.r0, g.w, y + g.b0 * ldy + g.r0, ldy);
}

void sddmm_block_portable(const CsrView& a, const float* gt, int64_t ldg, const float* xt, int64_t ld,
                          float* out, const Range& g, bool first) {
  const int64_t np = a.n_panels;
  for (int64_t p = 0; p < np; ++p) {
    for (int64_t r = g.r0; r < g.r1; ++r) {
      const int32_t* off = a.panel_off + r * (np + 1);
      const int64_t k1 = a.row_ptr[r] + off[p + 1];
      const float* gr = gt + r * ldg + g.b0;
      for (int64_t k = a.row_ptr[r] + off[p]; k < k1; ++k) {
        const float* x = xt + int64_t{a.col_idx[k]} * ld + g.b0;
        float s = 0.f;
        for (int64_t i = 0; i < g.w; ++i) s += gr[i] * x[i];
        out[k] = first ? s : out[k] + s;
      }
    }
  }
}

void spmv_rows_portable(const CsrView& a, const float* values, const float* x, const float* bias, float* y,
                        int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    // Four partial sums hide the add latency of one serial chain.
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    int64_t k = a.row_ptr[r];
    const int64_t e = a.row_ptr[r + 1];
    for (; k + 4 <= e; k += 4) {
      s0 += values[k] * x[a.col_idx[k]];
      s1 += values[k + 1] * x[a.col_idx[k + 1]];
      s2 += values[k + 2] * x[a.col_idx[k + 2]];
      s3 += values[k + 3] * x[a.col_idx[k + 3]];
    }
    for (; k < e; ++k) s0 += values[k] * x[a.col_idx[k]];
    y[r] = (bias ? bias[r] : 0.f) + ((s0 + s1) + (s2 + s3));
  }
}

// ---------------------------------------------------------------- AVX2 + FMA

#if FRUGAL_HAVE_X86

/// Transposes an 8 x 8 block.
FRUGAL_AVX2 inline void transpose8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8], s[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {
    const __m256 a0 = t[4 * h], a1 = t[4 * h + 1], b0 = t[4 * h + 2], b1 = t[4 * h + 3];
    s[4 * h + 0] = _mm256_shuffle_ps(a0, b0, _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 1] = _mm256_shuffle_ps(a0, b0, _MM_SHUFFLE(3, 2, 3, 2));
    s[4 * h + 2] = _mm256_shuffle_ps(a1, b1, _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 3] = _mm256_shuffle_ps(a1, b1, _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(s[i], s[4 + i], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(s[i], s[4 + i], 0x31));
  }
}

FRUGAL_AVX2 void transpose_block_avx2(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                                      int64_t ldd) {
  const int64_t rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
  for (int64_t r = 0; r < rows8; r += 8)
    for (int64_t c = 0; c < cols8; c += 8) transpose8(src + r * lds + c, lds, dst + c * ldd + r, ldd);
  for (int64_t r = 0; r < rows8; ++r)
    for (int64_t c = cols8; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = rows8; r < rows; ++r) dst[c * ldd + r] = src[r * lds + c];
}

/// s[0 : 8 NV] += sum_k v[k] * x^T[ci[k], 0 : 8 NV]; with M the last vector is
/// loaded under `mask` so that no read passes the batch's end.
/// Requests the 8 NV floats at x (one line per 16 floats).
template <int NV>
FRUGAL_AVX2 inline void prefetch_row(const float* x) {
  for (int u = 0; u < NV; u += 2) _mm_prefetch(reinterpret_cast<const char*>(x + 8 * u), _MM_HINT_T0);
}

template <int NV, bool M>
FRUGAL_AVX2 inline void axpy_row(const float* __restrict v, const int32_t* __restrict ci, int64_t n,
                                 const float* __restrict xt, int64_t ld, float* __restrict s, __m256i mask) {
  // Independent accumulator chains so that >= 8 FMAs are in flight even for
  // narrow tiles (FMA latency 4 to 5 cycles, two FMA ports).
  constexpr int C = NV <= 2 ? 4 : (NV <= 4 ? 2 : 1);
  __m256 acc[C][NV];
  for (int u = 0; u < NV; ++u) {
    acc[0][u] = _mm256_loadu_ps(s + 8 * u);
    for (int c = 1; c < C; ++c) acc[c][u] = _mm256_setzero_ps();
  }
  int64_t k = 0;
  for (; k + C <= n; k += C) {
    for (int c = 0; c < C; ++c) {
      const __m256 w = _mm256_broadcast_ss(v + k + c);
      const float* x = xt + int64_t{ci[k + c]} * ld;
      for (int u = 0; u < NV; ++u) {
        const __m256 xv = (M && u == NV - 1) ? _mm256_maskload_ps(x + 8 * u, mask) : _mm256_loadu_ps(x + 8 * u);
        acc[c][u] = _mm256_fmadd_ps(w, xv, acc[c][u]);
      }
    }
  }
  for (; k < n; ++k) {
    const __m256 w = _mm256_broadcast_ss(v + k);
    const float* x = xt + int64_t{ci[k]} * ld;
    for (int u = 0; u < NV; ++u) {
      const __m256 xv = (M && u == NV - 1) ? _mm256_maskload_ps(x + 8 * u, mask) : _mm256_loadu_ps(x + 8 * u);
      acc[0][u] = _mm256_fmadd_ps(w, xv, acc[0][u]);
    }
  }
  for (int u = 0; u < NV; ++u) {
    for (int c = 1; c < C; ++c) acc[0][u] = _mm256_add_ps(acc[0][u], acc[c][u]);
    _mm256_storeu_ps(s + 8 * u, acc[0][u]);
  }
}

template <int NV, bool M>
FRUGAL_AVX2 void spmm_block_avx2(const CsrView& a, const float* values, const float* xt, int64_t ld,
                                 const float* bias, float* y, int64_t ldy, const Range& g, float* scratch) {
  const __m256i mask = lane_mask(g.w - 8 * (NV - 1));
  const int64_t np = a.n_panels;
  for (int64_t r = g.r0; r < g.r1; ++r) {
    const __m256 b = _mm256_set1_ps(bias ? bias[r] : 0.f);
    for (int u = 0; u < NV; ++u) _mm256_storeu_ps(scratch + (r - g.r0) * kTile + 8 * u, b);
  }
  const float* xb = xt + g.b0;
  const int64_t rows = g.r1 - g.r0;
  for (int64_t p = 0; p < np; ++p) {
    // While panel p runs, the next panel's rows of x^T and the rows'
    // next segments of the index are requested, a few per row, so that they
    // arrive from L2 / L3 in time instead of one miss at a time.
    int64_t next = (p + 1) * a.panel_width;
    const int64_t next_end = std::min(next + a.panel_width, a.cols);
    const int64_t per_row = next < next_end ? (next_end - next + rows - 1) / rows : 0;
    for (int64_t r = g.r0; r < g.r1; ++r) {
      const int32_t* off = a.panel_off + r * (np + 1);
      if (p + 1 < np) {
        for (int64_t q = 0; q < per_row && next < next_end; ++q, ++next) prefetch_row<NV>(xb + next * ld);
        const int64_t kn = a.row_ptr[r] + off[p + 1];
        _mm_prefetch(reinterpret_cast<const char*>(values + kn), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(a.col_idx + kn), _MM_HINT_T0);
      }
      const int64_t n = off[p + 1] - off[p];
      if (n == 0) continue;
      const int64_t k0 = a.row_ptr[r] + off[p];
      axpy_row<NV, M>(values + k0, a.col_idx + k0, n, xb, ld, scratch + (r - g.r0) * kTile, mask);
    }
  }
  transpose_block_avx2(scratch, kTile, g.r1 - g.r0, g.w, y + g.b0 * ldy + g.r0, ldy);
}

/// Sums of the 8 lanes of each of four vectors, as one 4-lane vector.
FRUGAL_AVX2 inline __m128 hsum4(__m256 e0, __m256 e1, __m256 e2, __m256 e3) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(e0, e1), _mm256_hadd_ps(e2, e3));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/// dot(g, x^T[ci, 0 : 8 NV]) split over two accumulators (even and odd vectors)
/// so the FMA chain is half as long.
template <int NV, bool M>
FRUGAL_AVX2 inline __m256 dot_row(const __m256 (&g)[NV], const float* x, __m256i mask) {
  __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
  for (int u = 0; u < NV; ++u) {
    const __m256 xv = (M && u == NV - 1) ? _mm256_maskload_ps(x + 8 * u, mask) : _mm256_loadu_ps(x + 8 * u);
    if (u % 2 == 0)
      d0 = _mm256_fmadd_ps(g[u], xv, d0);
    else
      d1 = _mm256_fmadd_ps(g[u], xv, d1);
  }
  return _mm256_add_ps(d0, d1);
}

template <int NV, bool M>
FRUGAL_AVX2 void sddmm_block_avx2(const CsrView& a, const float* gt, int64_t ldg, const float* xt, int64_t ld,
                                  float* out, const Range& g, bool first) {
  const __m256i mask = lane_mask(g.w - 8 * (NV - 1));
  const int64_t np = a.n_panels;
  const float* xb = xt + g.b0;
  for (int64_t p = 0; p < np; ++p) {
    for (int64_t r = g.r0; r < g.r1; ++r) {
      const int32_t* off = a.panel_off + r * (np + 1);
      int64_t k = a.row_ptr[r] + off[p];
      const int64_t k1 = a.row_ptr[r] + off[p + 1];
      if (k == k1) continue;
      __m256 gr[NV];
      const float* gp = gt + r * ldg + g.b0;
      for (int u = 0; u < NV; ++u)
        gr[u] = (M && u == NV - 1) ? _mm256_maskload_ps(gp + 8 * u, mask) : _mm256_loadu_ps(gp + 8 * u);
      const int32_t* ci = a.col_idx;
      for (; k + 4 <= k1; k += 4) {
        const __m256 e0 = dot_row<NV, M>(gr, xb + int64_t{ci[k]} * ld, mask);
        const __m256 e1 = dot_row<NV, M>(gr, xb + int64_t{ci[k + 1]} * ld, mask);
        const __m256 e2 = dot_row<NV, M>(gr, xb + int64_t{ci[k + 2]} * ld, mask);
        const __m256 e3 = dot_row<NV, M>(gr, xb + int64_t{ci[k + 3]} * ld, mask);
        __m128 d = hsum4(e0, e1, e2, e3);
        if (!first) d = _mm_add_ps(d, _mm_loadu_ps(out + k));
        _mm_storeu_ps(out + k, d);
      }
      for (; k < k1; ++k) {
        const float d = hsum(dot_row<NV, M>(gr, xb + int64_t{ci[k]} * ld, mask));
        out[k] = first ? d : out[k] + d;
      }
    }
  }
}

FRUGAL_AVX2 void spmv_rows_avx2(const CsrView& a, const float* values, const float* x, const float* bias,
                                float* y, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    int64_t k = a.row_ptr[r];
    const int64_t e = a.row_ptr[r + 1];
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (; k + 16 <= e; k += 16) {
      const __m256i i0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.col_idx + k));
      const __m256i i1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.col_idx + k + 8));
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(values + k), _mm256_i32gather_ps(x, i0, 4), s0);
      s1 = _mm256_fmadd_ps(_mm256_loadu_ps(values + k + 8), _mm256_i32gather_ps(x, i1, 4), s1);
    }
    if (k + 8 <= e) {
      const __m256i i0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.col_idx + k));
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(values + k), _mm256_i32gather_ps(x, i0, 4), s0);
      k += 8;
    }
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; k < e; ++k) s += values[k] * x[a.col_idx[k]];
    y[r] = (bias ? bias[r] : 0.f) + s;
  }
}

using SpmmBlock = void (*)(const CsrView&, const float*, const float*, int64_t, const float*, float*, int64_t,
                           const Range&, float*);
using SddmmBlock = void (*)(const CsrView&, const float*, int64_t, const float*, int64_t, float*, const Range&,
                            bool);

template <int NV>
constexpr SpmmBlock spmm_fn(bool masked) {
  return masked ? &spmm_block_avx2<NV, true> : &spmm_block_avx2<NV, false>;
}
template <int NV>
constexpr SddmmBlock sddmm_fn(bool masked) {
  return masked ? &sddmm_block_avx2<NV, true> : &sddmm_block_avx2<NV, false>;
}

/// The instantiation for a tile `w` columns wide (1 <= w <= kTile).
template <class Fn, template <int> class Pick>
Fn pick_block(int64_t w) {
  const bool masked = w % 8 != 0;
  switch ((w + 7) / 8) {
    case 1: return Pick<1>::get(masked);
    case 2: return Pick<2>::get(masked);
    case 3: return Pick<3>::get(masked);
    case 4: return Pick<4>::get(masked);
    case 5: return Pick<5>::get(masked);
    case 6: return Pick<6>::get(masked);
    case 7: return Pick<7>::get(masked);
    default: return Pick<8>::get(masked);
  }
}
template <int NV>
struct PickSpmm {
  static SpmmBlock get(bool masked) { return spmm_fn<NV>(masked); }
};
template <int NV>
struct PickSddmm {
  static SddmmBlock get(bool masked) { return sddmm_fn<NV>(masked); }
};

#endif  // FRUGAL_HAVE_X86

bool use_avx2() { return cpu_has_avx2() && !g_force_portable.load(std::memory_order_relaxed); }

}  // namespace

void transpose_block(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd,
                     bool avx2) {
#if FRUGAL_HAVE_X86
  if (avx2) return transpose_block_avx2(src, lds, rows, cols, dst, ldd);
#endif
  transpose_block_portable(src, lds, rows, cols, dst, ldd);
}

bool avx2_active() { return use_avx2(); }
void force_portable(bool portable) { g_force_portable.store(portable); }

int64_t padded_ld(int64_t batch) {
  // A row stride of 8k lines leaves rows starting in at most 8 of the 64 sets;
  // one extra line makes the stride odd and the rows cycle through all sets.
  return batch % 128 == 0 ? batch + 16 : batch;
}

void build_panels(int64_t rows, int64_t cols, const int64_t* row_ptr, const int32_t* col_idx,
                  int32_t* panel_off, int64_t width) {
  const int64_t np = panel_count(cols, width);
  at::parallel_for(0, rows, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t* c = col_idx + row_ptr[r];
      const int64_t n = row_ptr[r + 1] - row_ptr[r];
      int32_t* off = panel_off + r * (np + 1);
      int64_t k = 0;
      for (int64_t p = 0; p < np; ++p) {
        off[p] = static_cast<int32_t>(k);
        const int64_t end = (p + 1) * width;
        while (k < n && c[k] < end) ++k;
      }
      off[np] = static_cast<int32_t>(n);
    }
  });
}

void spmm(const CsrView& a, const float* values, const float* xt, int64_t ldx, int64_t batch,
          const float* bias, float* y, int64_t ldy) {
  if (tiles_preferred(a, batch)) return spmm_tiles(a, values, xt, ldx, batch, bias, y, ldy, false);
  spmm_panels(a, values, xt, ldx, batch, bias, y, ldy);
}

void spmm_panels(const CsrView& a, const float* values, const float* xt, int64_t ldx, int64_t batch,
                 const float* bias, float* y, int64_t ldy) {
  if (a.rows == 0 || batch == 0) return;
  const bool avx2 = use_avx2();
  const int64_t rb = row_block(a.rows);
  const int64_t n_rb = (a.rows + rb - 1) / rb, n_bt = (batch + kTile - 1) / kTile;
  const int64_t nnz = a.row_ptr[a.rows];
  at::parallel_for(0, n_rb * n_bt, grain(n_rb * n_bt, nnz * batch), [&](int64_t u0, int64_t u1) {
    alignas(64) float scratch[kMaxRowBlock * kTile];
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t r0 = (u / n_bt) * rb, b0 = (u % n_bt) * kTile;
      const Range g{r0, std::min(r0 + rb, a.rows), b0, std::min(kTile, batch - b0)};
#if FRUGAL_HAVE_X86
      if (avx2) {
        pick_block<SpmmBlock, PickSpmm>(g.w)(a, values, xt, ldx, bias, y, ldy, g, scratch);
        continue;
      }
#endif
      spmm_block_portable(a, values, xt, ldx, bias, y, ldy, g, scratch);
    }
  });
}

void spmv(const CsrView& a, const float* values, const float* x, const float* bias, float* y) {
  if (a.rows == 0) return;
  const bool avx2 = use_avx2();
  const int64_t nnz = a.row_ptr[a.rows];
  const int64_t chunk = 64;
  const int64_t n = (a.rows + chunk - 1) / chunk;
  at::parallel_for(0, n, grain(n, nnz), [&](int64_t c0, int64_t c1) {
    const int64_t r0 = c0 * chunk, r1 = std::min(a.rows, c1 * chunk);
#if FRUGAL_HAVE_X86
    if (avx2) return spmv_rows_avx2(a, values, x, bias, y, r0, r1);
#endif
    spmv_rows_portable(a, values, x, bias, y, r0, r1);
  });
}

void sddmm(const CsrView& a, const float* gt, int64_t ldg, const float* xt, int64_t ldx, int64_t batch,
           float* out) {
  const int64_t nnz = a.row_ptr[a.rows];
  if (nnz == 0) return;
  if (batch == 0) {
    std::fill_n(out, nnz, 0.f);
    return;
  }
  const bool avx2 = use_avx2();
  const int64_t rb = row_block(a.rows);
  const int64_t n_rb = (a.rows + rb - 1) / rb, n_bt = (batch + kTile - 1) / kTile;
  // Parallel over row blocks only: every batch tile adds into the same out[k].
  at::parallel_for(0, n_rb, grain(n_rb, nnz * batch), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      for (int64_t t = 0; t < n_bt; ++t) {
        const int64_t r0 = q * rb, b0 = t * kTile;
        const Range g{r0, std::min(r0 + rb, a.rows), b0, std::min(kTile, batch - b0)};
#if FRUGAL_HAVE_X86
        if (avx2) {
          pick_block<SddmmBlock, PickSddmm>(g.w)(a, gt, ldg, xt, ldx, out, g, t == 0);
          continue;
        }
#endif
        sddmm_block_portable(a, gt, ldg, xt, ldx, out, g, t == 0);
      }
    }
  });
}

void transpose(const float* src, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  if (rows == 0 || cols == 0) return;
  const bool avx2 = use_avx2();
  constexpr int64_t kBlock = 64;
  const int64_t n_r = (rows + kBlock - 1) / kBlock, n_c = (cols + kBlock - 1) / kBlock;
  at::parallel_for(0, n_r * n_c, grain(n_r * n_c, rows * cols / 4), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t r0 = (u / n_c) * kBlock, c0 = (u % n_c) * kBlock;
      transpose_block(src + r0 * cols + c0, cols, std::min(kBlock, rows - r0), std::min(kBlock, cols - c0),
                      dst + c0 * ldd + r0, ldd, avx2);
    }
  });
}

}  // namespace frugal::kernels::detail
