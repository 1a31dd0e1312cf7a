#include <frugal/kernels/relu_max_pool2d.h>

#include "csr_kernels.h"
#include "simd.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstring>
#include <ostream>

namespace frugal::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// The winner byte of a window whose output is <= 0: no gradient.
constexpr uint8_t kNoWinner = 255;

/// Plane geometry: input [h, w], output [h / 2, w / 2].
struct Planes {
  int64_t count, h, w, ho, wo;
};

// One window (r0[0], r0[1], r1[0], r1[1]) by LibTorch's rule: a candidate
// wins if it is larger than the best so far or NaN.
void pool_one(const float* r0, const float* r1, float* out, uint8_t* win) {
  const float c[4] = {r0[0], r0[1], r1[0], r1[1]};
  float m = c[0];
  uint8_t w = 0;
  for (uint8_t k = 1; k < 4; ++k)
    if (c[k] > m || std::isnan(c[k])) m = c[k], w = k;
  const bool passes = !(m <= 0.f);  // relu's backward rule; NaN passes
  *out = passes ? m : 0.f;
  *win = passes ? w : kNoWinner;
}

void unpool_one(float g, uint8_t win, float* r0, float* r1) {
  r0[0] = win == 0 ? g : 0.f;
  r0[1] = win == 1 ? g : 0.f;
  r1[0] = win == 2 ? g : 0.f;
  r1[1] = win == 3 ? g : 0.f;
}

void pool_rows_portable(const float* r0, const float* r1, const float*, float* out, uint8_t* win, int64_t wo) {
  for (int64_t j = 0; j < wo; ++j) pool_one(r0 + 2 * j, r1 + 2 * j, out + j, win + j);
}

void unpool_rows_portable(const float* g, const float*, const uint8_t* win, float* r0, float* r1, int64_t wo) {
  for (int64_t j = 0; j < wo; ++j) unpool_one(g[j], win[j], r0 + 2 * j, r1 + 2 * j);
}

#if FRUGAL_HAVE_X86
/// The 64-bit pairs of v reordered from [0 1 2 3] to [0 2 1 3].
FRUGAL_AVX2 __m256 swap_middle_pairs(__m256 v) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), _MM_SHUFFLE(3, 1, 2, 0)));
}

/// The first n lanes of v to dst (none for n <= 0). Not a masked store: on
/// AMD Zen 1 (this project's machine) vmaskmovps stores are microcoded and
/// took most of the kernel's time.
FRUGAL_AVX2 void store_first(float* dst, int64_t n, __m256 v) {
  if (n >= 8) return _mm256_storeu_ps(dst, v);
  if (n <= 0) return;
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  std::memcpy(dst, lanes, sizeof(float) * static_cast<size_t>(n));
}

/// 8 floats from p, of which the first n matter; nothing at or past `end`
/// is read. A full load reads into the next row where that is still inside
/// the tensor (the extra lanes are never stored); masked loads, too, are
/// microcoded on Zen 1.
FRUGAL_AVX2 __m256 load_first(const float* p, int64_t n, const float* end) {
  if (p + 8 <= end) return _mm256_loadu_ps(p);
  alignas(32) float lanes[8] = {};
  if (n > 0) std::memcpy(lanes, p, sizeof(float) * static_cast<size_t>(std::min<int64_t>(n, 8)));
  return _mm256_load_ps(lanes);
}

/// Even and odd columns of 2n <= 16 floats at p, each in output order.
FRUGAL_AVX2 void split_columns(const float* p, int64_t n, const float* end, __m256& even, __m256& odd) {
  const __m256 a = load_first(p, 2 * n, end), b = load_first(p + 8, 2 * n - 8, end);
  // Within 128-bit lanes: [a0 a2 b0 b2 | a4 a6 b4 b6], then reordered to
  // [a0 a2 a4 a6 b0 b2 b4 b6].
  even = swap_middle_pairs(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  odd = swap_middle_pairs(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

/// Up to 8 windows at a time (n of them), the same rule as pool_one.
FRUGAL_AVX2 void pool_rows_avx2(const float* r0, const float* r1, const float* end, float* out, uint8_t* win,
                                int64_t wo) {
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t j = 0; j < wo; j += 8) {
    const int64_t n = std::min<int64_t>(8, wo - j);
    __m256 c[4];
    split_columns(r0 + 2 * j, n, end, c[0], c[1]);
    split_columns(r1 + 2 * j, n, end, c[2], c[3]);
    __m256 m = c[0], w = zero;
    for (int k = 1; k < 4; ++k) {
      const __m256 takes = _mm256_or_ps(_mm256_cmp_ps(c[k], m, _CMP_GT_OQ), _mm256_cmp_ps(c[k], c[k], _CMP_UNORD_Q));
      m = _mm256_blendv_ps(m, c[k], takes);
      w = _mm256_blendv_ps(w, _mm256_set1_ps(static_cast<float>(k)), takes);
    }
    const __m256 passes = _mm256_cmp_ps(m, zero, _CMP_NLE_UQ);
    store_first(out + j, n, _mm256_and_ps(m, passes));
    const __m256i wins = _mm256_cvttps_epi32(_mm256_blendv_ps(_mm256_set1_ps(kNoWinner), w, passes));
    const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(wins), _mm256_extracti128_si256(wins, 1));
    alignas(16) uint8_t bytes[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(bytes), _mm_packus_epi16(words, words));
    std::memcpy(win + j, bytes, static_cast<size_t>(n));
  }
}

FRUGAL_AVX2 void unpool_rows_avx2(const float* g, const float* end, const uint8_t* win, float* r0, float* r1,
                                  int64_t wo) {
  for (int64_t j = 0; j < wo; j += 8) {
    const int64_t n = std::min<int64_t>(8, wo - j);
    const __m256 grad = load_first(g + j, n, end);
    uint64_t packed = ~uint64_t{0};  // kNoWinner in the lanes past n
    std::memcpy(&packed, win + j, static_cast<size_t>(n));
    const __m256i wins = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<int64_t>(packed)));
    __m256 v[4];
    for (int k = 0; k < 4; ++k)
      v[k] = _mm256_and_ps(grad, _mm256_castsi256_ps(_mm256_cmpeq_epi32(wins, _mm256_set1_epi32(k))));
    float* rows[2] = {r0 + 2 * j, r1 + 2 * j};
    for (int r = 0; r < 2; ++r) {
      // Interleave the even (v[2r]) and odd (v[2r + 1]) columns back.
      const __m256 a = _mm256_unpacklo_ps(v[2 * r], v[2 * r + 1]), b = _mm256_unpackhi_ps(v[2 * r], v[2 * r + 1]);
      store_first(rows[r], 2 * n, _mm256_permute2f128_ps(a, b, 0x20));
      store_first(rows[r] + 8, 2 * n - 8, _mm256_permute2f128_ps(a, b, 0x31));
    }
  }
}
#endif

void pool_planes(const Planes& p, const float* in, float* out, uint8_t* win) {
#if FRUGAL_HAVE_X86
  const auto rows = detail::avx2_active() ? pool_rows_avx2 : pool_rows_portable;
#else
  const auto rows = pool_rows_portable;
#endif
  const float* end = in + p.count * p.h * p.w;
  at::parallel_for(0, p.count, detail::grain(p.count, p.count * p.h * p.w), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t i = 0; i < p.ho; ++i) {
        const float* r0 = in + (q * p.h + 2 * i) * p.w;
        const int64_t o = (q * p.ho + i) * p.wo;
        rows(r0, r0 + p.w, end, out + o, win + o, p.wo);
      }
  });
}

void unpool_planes(const Planes& p, const float* grad_out, const uint8_t* win, float* grad_in) {
#if FRUGAL_HAVE_X86
  const auto rows = detail::avx2_active() ? unpool_rows_avx2 : unpool_rows_portable;
#else
  const auto rows = unpool_rows_portable;
#endif
  const float* end = grad_out + p.count * p.ho * p.wo;
  at::parallel_for(0, p.count, detail::grain(p.count, p.count * p.h * p.w), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      float* plane = grad_in + q * p.h * p.w;
      for (int64_t i = 0; i < p.ho; ++i) {
        float* r0 = plane + 2 * i * p.w;
        const int64_t o = (q * p.ho + i) * p.wo;
        rows(grad_out + o, end, win + o, r0, r0 + p.w, p.wo);
        if (p.w % 2) r0[p.w - 1] = r0[2 * p.w - 1] = 0.f;  // the column floor mode drops
      }
      if (p.h % 2) std::fill(plane + (p.h - 1) * p.w, plane + p.h * p.w, 0.f);  // the dropped row
    }
  });
}

Planes planes_of(const torch::Tensor& input) {
  const int64_t h = input.size(-2), w = input.size(-1);
  return {input.numel() / (h * w), h, w, h / 2, w / 2};
}

std::vector<int64_t> pooled_sizes(const torch::Tensor& input) {
  auto sizes = input.sizes().vec();
  sizes.end()[-2] /= 2;
  sizes.end()[-1] /= 2;
  return sizes;
}

struct ReluMaxPool2dFunction : torch::autograd::Function<ReluMaxPool2dFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input) {
    const auto in = input.contiguous();
    const Planes p = planes_of(in);
    auto out = at::empty(pooled_sizes(in), in.options());
    auto win = at::empty(pooled_sizes(in), in.options().dtype(at::kByte));
    pool_planes(p, in.data_ptr<float>(), out.data_ptr<float>(), win.data_ptr<uint8_t>());
    ctx->saved_data["win"] = win;
    ctx->saved_data["sizes"] = in.sizes().vec();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto sizes = ctx->saved_data["sizes"].toIntVector();
    const auto win = ctx->saved_data["win"].toTensor();
    const auto grad_out = grad_outputs[0].contiguous();
    auto grad_in = at::empty(sizes, grad_out.options());
    unpool_planes(planes_of(grad_in), grad_out.data_ptr<float>(), win.data_ptr<uint8_t>(), grad_in.data_ptr<float>());
    return {grad_in};
  }
};

}  // namespace

torch::Tensor relu_max_pool2d(const torch::Tensor& input) {
  const bool fused = input.scalar_type() == at::kFloat && input.device().is_cpu() &&
                     (input.dim() == 3 || input.dim() == 4) && input.size(-2) >= 2 && input.size(-1) >= 2;
  if (!fused) return at::max_pool2d(at::relu(input), {2, 2});
  return ReluMaxPool2dFunction::apply(input);
}

void ReluMaxPool2dImpl::pretty_print(std::ostream& stream) const {
  stream << "frugal::kernels::ReluMaxPool2d(kernel_size=2, stride=2)";
}

}  // namespace frugal::kernels
