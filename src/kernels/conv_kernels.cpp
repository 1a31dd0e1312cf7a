#include "conv_kernels.h"

#include "csr_kernels.h"
#include "simd.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace frugal::kernels::detail {
namespace {

/// Most vectors of 8 floats one tile keeps in registers.
constexpr int kMaxVectors = 8;

// ------------------------------------------------------------ micro-kernels
//
// gather_tile: dst[t] = init + sum_e val[e] * base[off[e] + t] for t < 8 * NV.
// dot: sum_t a[t] * b[t] over len (a multiple of 8) floats.

template <int NV>
void gather_tile_portable(const float* base, const int64_t* off, const float* val, int64_t n, float init,
                          float* dst) {
  float acc[8 * NV];
  for (int t = 0; t < 8 * NV; ++t) acc[t] = init;
  for (int64_t e = 0; e < n; ++e) {
    const float v = val[e];
    const float* p = base + off[e];
    for (int t = 0; t < 8 * NV; ++t) acc[t] += v * p[t];
  }
  std::memcpy(dst, acc, sizeof(acc));
}

float dot_portable(const float* a, const float* b, int64_t len) {
  float acc[8] = {};
  for (int64_t t = 0; t < len; t += 8)
    for (int u = 0; u < 8; ++u) acc[u] += a[t + u] * b[t + u];
  float s = 0.f;
  for (float x : acc) s += x;
  return s;
}

#if FRUGAL_HAVE_X86
template <int NV>
FRUGAL_AVX2 void gather_tile_avx2(const float* base, const int64_t* off, const float* val, int64_t n, float init,
                                  float* dst) {
  __m256 acc[NV];
  for (int u = 0; u < NV; ++u) acc[u] = _mm256_set1_ps(init);
  for (int64_t e = 0; e < n; ++e) {
    const __m256 v = _mm256_set1_ps(val[e]);
    const float* p = base + off[e];
    for (int u = 0; u < NV; ++u) acc[u] = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 8 * u), acc[u]);
  }
  for (int u = 0; u < NV; ++u) _mm256_storeu_ps(dst + 8 * u, acc[u]);
}

FRUGAL_AVX2 float dot_avx2(const float* a, const float* b, int64_t len) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t t = 0;
  for (; t + 32 <= len; t += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + t + 8), _mm256_loadu_ps(b + t + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + t + 16), _mm256_loadu_ps(b + t + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + t + 24), _mm256_loadu_ps(b + t + 24), s3);
  }
  for (; t < len; t += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t), s0);
  return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/// out[e] += sum_t a[t] * b[e][t] for e < 4: four dot products sharing the
/// loads of `a` (the weight gradient is bound by loads otherwise).
FRUGAL_AVX2 void dot4_avx2(const float* a, const float* const* b, int64_t len, float* out) {
  __m256 s[8];
  for (auto& v : s) v = _mm256_setzero_ps();
  int64_t t = 0;
  for (; t + 16 <= len; t += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + t), a1 = _mm256_loadu_ps(a + t + 8);
    for (int e = 0; e < 4; ++e) {
      s[e] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b[e] + t), s[e]);
      s[4 + e] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b[e] + t + 8), s[4 + e]);
    }
  }
  for (; t < len; t += 8) {
    const __m256 a0 = _mm256_loadu_ps(a + t);
    for (int e = 0; e < 4; ++e) s[e] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b[e] + t), s[e]);
  }
  for (int e = 0; e < 4; ++e) out[e] += hsum(_mm256_add_ps(s[e], s[4 + e]));
}
#endif

using GatherTile = void (*)(const float*, const int64_t*, const float*, int64_t, float, float*);

template <template <int> class Pick>
GatherTile pick(int nv) {
  switch (nv) {
    case 1: return Pick<1>::fn;
    case 2: return Pick<2>::fn;
    case 3: return Pick<3>::fn;
    case 4: return Pick<4>::fn;
    case 5: return Pick<5>::fn;
    case 6: return Pick<6>::fn;
    case 7: return Pick<7>::fn;
    default: return Pick<8>::fn;
  }
}
template <int NV>
struct PickPortable {
  static constexpr GatherTile fn = &gather_tile_portable<NV>;
};
#if FRUGAL_HAVE_X86
template <int NV>
struct PickAvx2 {
  static constexpr GatherTile fn = &gather_tile_avx2<NV>;
};
#endif

/// dst[t] = init + sum_e val[e] * base[off[e] + t] for t < len (a multiple of
/// 8), in tiles of at most kMaxVectors vectors of nearly equal length (so that
/// no tile is left with too few independent accumulators).
void gather(const float* base, const int64_t* off, const float* val, int64_t n, float init, float* dst, int64_t len,
            bool avx2) {
  const int64_t vectors = len / 8;
  const int64_t tiles = (vectors + kMaxVectors - 1) / kMaxVectors;
  int64_t t = 0;
  for (int64_t i = 0; i < tiles; ++i) {
    const int nv = static_cast<int>(vectors / tiles + (i < vectors % tiles ? 1 : 0));
#if FRUGAL_HAVE_X86
    const GatherTile fn = avx2 ? pick<PickAvx2>(nv) : pick<PickPortable>(nv);
#else
    const GatherTile fn = pick<PickPortable>(nv);
#endif
    fn(base + t, off, val, n, init, dst + t);
    t += 8 * nv;
  }
}

float dot(const float* a, const float* b, int64_t len, bool avx2) {
#if FRUGAL_HAVE_X86
  if (avx2) return dot_avx2(a, b, len);
#endif
  return dot_portable(a, b, len);
}

/// The first phase column X of phase b that holds an image pixel (not
/// padding): the least X with X * sw + b >= pw.
int64_t first_column(const ConvGeometry& g, int64_t b) { return g.pw > b ? (g.pw - b + g.sw - 1) / g.sw : 0; }

}  // namespace

ConvGeometry make_conv_geometry(int64_t batch, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t kh,
                                int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
  ConvGeometry g;
  g.batch = batch, g.cin = cin, g.cout = cout, g.h = h, g.w = w, g.kh = kh, g.kw = kw;
  g.sh = sh, g.sw = sw, g.ph = ph, g.pw = pw, g.dh = dh, g.dw = dw;
  const int64_t hp = h + 2 * ph, wp = w + 2 * pw;
  g.hout = (hp - dh * (kh - 1) - 1) / sh + 1;
  g.wout = (wp - dw * (kw - 1) - 1) / sw + 1;
  g.hq = (hp + sh - 1) / sh;
  g.wq = (wp + sw - 1) / sw;
  g.plane = g.hq * g.wq;
  g.phases = sh * sw;
  g.max_shift = ((kh - 1) * dh / sh) * g.wq + (kw - 1) * dw / sw;
  g.out_len = round_up(g.hout * g.wq, kConvVector);
  g.plane_len = round_up(g.plane, kConvVector);
  // Reads reach off + out_len - 1 <= cin * phases * plane + max_shift + 6.
  g.x_stride = round_up(cin * g.phases * g.plane + g.max_shift + kConvVector, 16);
  g.g_front = round_up(g.max_shift, kConvVector);
  g.g_row = g.g_front + g.plane_len;
  return g;
}

void conv_split_input(const ConvGeometry& g, const float* input, float* x) {
  const int64_t items = g.batch * g.cin;
  at::parallel_for(0, items, grain(items, items * g.plane), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = u / g.cin, c = u % g.cin;
      float* xs = x + n * g.x_stride;
      float* dst = xs + c * g.phases * g.plane;
      std::fill(dst, dst + g.phases * g.plane, 0.f);
      if (c == g.cin - 1) std::fill(dst + g.phases * g.plane, xs + g.x_stride, 0.f);
      const float* src = input + u * g.h * g.w;
      for (int64_t y = 0; y < g.h; ++y) {
        const int64_t yp = y + g.ph;
        float* row = dst + (yp % g.sh) * g.sw * g.plane + (yp / g.sh) * g.wq;
        if (g.sw == 1) {
          std::memcpy(row + g.pw, src + y * g.w, sizeof(float) * g.w);
          continue;
        }
        for (int64_t b = 0; b < g.sw; ++b)
          for (int64_t X = first_column(g, b), xx = X * g.sw + b - g.pw; X < g.wq && xx < g.w; ++X, xx += g.sw)
            row[b * g.plane + X] = src[y * g.w + xx];
      }
    }
  });
}

void conv_forward_offsets(const ConvGeometry& g, int64_t nnz, const int32_t* col_idx, int64_t* off) {
  const int64_t taps = g.kh * g.kw;
  for (int64_t k = 0; k < nnz; ++k) {
    const int64_t col = col_idx[k], c = col / taps, i = (col % taps) / g.kw, j = col % g.kw;
    const int64_t ti = i * g.dh, tj = j * g.dw;
    off[k] = (c * g.phases + (ti % g.sh) * g.sw + tj % g.sw) * g.plane + (ti / g.sh) * g.wq + tj / g.sw;
  }
}

void conv_forward(const ConvGeometry& g, const float* x, const int64_t* row_ptr, const int64_t* off,
                  const float* values, const float* bias, float* out) {
  const int64_t items = g.batch * g.cout;
  if (items == 0) return;
  const bool avx2 = avx2_active();
  const int64_t work = g.batch * row_ptr[g.cout] * g.out_len;
  at::parallel_for(0, items, grain(items, work), [&](int64_t u0, int64_t u1) {
    std::vector<float> tile(g.out_len);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = u / g.cout, o = u % g.cout;
      const int64_t k0 = row_ptr[o], k1 = row_ptr[o + 1];
      gather(x + n * g.x_stride, off + k0, values + k0, k1 - k0, bias ? bias[o] : 0.f, tile.data(), g.out_len, avx2);
      float* dst = out + u * g.hout * g.wout;
      for (int64_t y = 0; y < g.hout; ++y) std::memcpy(dst + y * g.wout, tile.data() + y * g.wq, sizeof(float) * g.wout);
    }
  });
}

void conv_split_grad(const ConvGeometry& g, const float* grad_out, float* gz) {
  const int64_t items = g.batch * g.cout;
  at::parallel_for(0, items, grain(items, items * g.g_row), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      float* row = gz + u * g.g_row;
      std::fill(row, row + g.g_row, 0.f);
      const float* src = grad_out + u * g.hout * g.wout;
      for (int64_t y = 0; y < g.hout; ++y)
        std::memcpy(row + g.g_front + y * g.wq, src + y * g.wout, sizeof(float) * g.wout);
    }
  });
}

void conv_grad_lists(const ConvGeometry& g, const int64_t* t_row_ptr, const int32_t* t_col_idx,
                     const float* t_values, int64_t* ptr, int64_t* off, float* val) {
  int64_t e = 0;
  for (int64_t c = 0; c < g.cin; ++c)
    for (int64_t a = 0; a < g.sh; ++a)
      for (int64_t b = 0; b < g.sw; ++b) {
        ptr[c * g.phases + a * g.sw + b] = e;
        for (int64_t i = 0; i < g.kh; ++i) {
          if ((i * g.dh) % g.sh != a) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            if ((j * g.dw) % g.sw != b) continue;
            const int64_t r = (c * g.kh + i) * g.kw + j;
            const int64_t shift = (i * g.dh / g.sh) * g.wq + j * g.dw / g.sw;
            for (int64_t t = t_row_ptr[r]; t < t_row_ptr[r + 1]; ++t, ++e) {
              off[e] = t_col_idx[t] * g.g_row + g.g_front - shift;
              val[e] = t_values[t];
            }
          }
        }
      }
  ptr[g.cin * g.phases] = e;
}

void conv_input_grad(const ConvGeometry& g, const float* gz, const int64_t* ptr, const int64_t* off,
                     const float* val, float* grad_in) {
  const int64_t items = g.batch * g.cin;
  if (items == 0) return;
  const bool avx2 = avx2_active();
  const int64_t work = g.batch * ptr[g.cin * g.phases] * g.plane_len;
  at::parallel_for(0, items, grain(items, work), [&](int64_t u0, int64_t u1) {
    std::vector<float> tiles(g.phases * g.plane_len);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = u / g.cin, c = u % g.cin;
      const float* base = gz + n * g.cout * g.g_row;
      for (int64_t ab = 0; ab < g.phases; ++ab) {
        const int64_t p = c * g.phases + ab;
        gather(base, off + ptr[p], val + ptr[p], ptr[p + 1] - ptr[p], 0.f, tiles.data() + ab * g.plane_len,
               g.plane_len, avx2);
      }
      float* dst = grad_in + u * g.h * g.w;
      for (int64_t y = 0; y < g.h; ++y) {
        const int64_t yp = y + g.ph;
        const float* row = tiles.data() + (yp % g.sh) * g.sw * g.plane_len + (yp / g.sh) * g.wq;
        if (g.sw == 1) {
          std::memcpy(dst + y * g.w, row + g.pw, sizeof(float) * g.w);
          continue;
        }
        for (int64_t b = 0; b < g.sw; ++b)
          for (int64_t X = first_column(g, b), xx = X * g.sw + b - g.pw; X < g.wq && xx < g.w; ++X, xx += g.sw)
            dst[y * g.w + xx] = row[b * g.plane_len + X];
      }
    }
  });
}

void conv_values_grad(const ConvGeometry& g, const float* gz, const float* x, const int64_t* row_ptr,
                      const int64_t* off, float* grad_values) {
  const int64_t nnz = row_ptr[g.cout];
  std::fill(grad_values, grad_values + nnz, 0.f);
  if (nnz == 0 || g.batch == 0) return;
  const bool avx2 = avx2_active();
  // Samples split into one chunk per thread, each summing into its own
  // partial gradient; the partials are added in chunk order.
  const int64_t work = g.batch * nnz * g.out_len;
  const int64_t chunks = work < kSerialWork ? 1 : std::min<int64_t>(g.batch, at::get_num_threads());
  std::vector<float> partial(chunks > 1 ? chunks * nnz : 0);
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      float* acc = chunks > 1 ? partial.data() + ch * nnz : grad_values;
      const int64_t n0 = g.batch * ch / chunks, n1 = g.batch * (ch + 1) / chunks;
      for (int64_t n = n0; n < n1; ++n) {
        const float* xs = x + n * g.x_stride;
        for (int64_t o = 0; o < g.cout; ++o) {
          const float* grow = gz + (n * g.cout + o) * g.g_row + g.g_front;
          int64_t k = row_ptr[o];
#if FRUGAL_HAVE_X86
          if (avx2)
            for (; k + 4 <= row_ptr[o + 1]; k += 4) {
              const float* b[4] = {xs + off[k], xs + off[k + 1], xs + off[k + 2], xs + off[k + 3]};
              dot4_avx2(grow, b, g.out_len, acc + k);
            }
#endif
          for (; k < row_ptr[o + 1]; ++k) acc[k] += dot(grow, xs + off[k], g.out_len, avx2);
        }
      }
    }
  });
  for (int64_t ch = 0; ch < (chunks > 1 ? chunks : 0); ++ch)
    for (int64_t k = 0; k < nnz; ++k) grad_values[k] += partial[ch * nnz + k];
}

}  // namespace frugal::kernels::detail
