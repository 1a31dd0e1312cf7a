#pragma once
/// What the CSR and the convolution kernels share (private to src/kernels):
/// the AVX2 + FMA target switch, the rule for when a call is too small to
/// wake the thread pool, and the horizontal sum of a vector of 8 floats.

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FRUGAL_HAVE_X86 1
#define FRUGAL_AVX2 __attribute__((target("avx2,fma")))
#else
#define FRUGAL_HAVE_X86 0
#endif

namespace frugal::kernels::detail {

/// Multiply-adds below which a call stays on the calling thread: waking the
/// pool costs a few microseconds, more than a tiny layer's whole product.
constexpr int64_t kSerialWork = int64_t{1} << 15;

/// at::parallel_for grain: everything in one chunk when the call is small.
inline int64_t grain(int64_t items, int64_t work) { return work < kSerialWork ? std::max<int64_t>(items, 1) : 1; }

#if FRUGAL_HAVE_X86
/// The sum of the 8 lanes of `v`.
FRUGAL_AVX2 inline float hsum(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

/// All bits set in the first `lanes` of 8 int32 lanes (for masked loads and
/// stores of a partial last vector).
FRUGAL_AVX2 inline __m256i lane_mask(int64_t lanes) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

}  // namespace frugal::kernels::detail
