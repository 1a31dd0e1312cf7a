#include "frugal/core/top_k.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

namespace frugal::core {

template <typename T>
void top_k_flags(const T* s, int64_t n, int64_t k, bool* keep) {
  TORCH_CHECK(n >= 0 && k >= 0 && k <= n, "top-k: cannot keep ", k, " of ", n, " values");
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) nan |= std::isnan(s[i]);
  TORCH_CHECK(!nan, "scores contain NaN");
  if (k == 0 || k == n) {
    std::fill(keep, keep + n, k == n);
    return;
  }
  const int64_t rank = n - k;  // 0-based rank of the threshold from the smallest
  T kth;
  int64_t above = 0;  // values > kth
  auto full_select = [&] {
    std::vector<T> copy(s, s + n);
    std::nth_element(copy.begin(), copy.begin() + rank, copy.end());
    kth = copy[rank];
    above = 0;
    for (int64_t i = 0; i < n; ++i) above += s[i] > kth;
  };
  constexpr int64_t sample_size = 2048;
  if (n <= 4 * sample_size) {
    full_select();
  } else {
    std::vector<T> sample(sample_size);
    for (int64_t j = 0; j < sample_size; ++j) sample[j] = s[j * n / sample_size];
    std::sort(sample.begin(), sample.end());
    const int64_t at = rank * sample_size / n, margin = 128;
    const T lo = sample[std::max<int64_t>(0, at - margin)];
    const T hi = sample[std::min<int64_t>(sample_size - 1, at + margin)];
    // Branch-free: the comparisons are unpredictable, and mispredicted
    // branches made this pass slower than the selection it saves.
    std::unique_ptr<T[]> band(new T[n]);
    int64_t below = 0, in_band = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T x = s[i];
      band[in_band] = x;
      in_band += static_cast<int64_t>(x >= lo) & static_cast<int64_t>(x <= hi);
      below += x < lo;
    }
    if (rank >= below && rank < below + in_band) {
      std::nth_element(band.get(), band.get() + (rank - below), band.get() + in_band);
      kth = band[rank - below];
      above = n - below - in_band;
      for (int64_t j = 0; j < in_band; ++j) above += band[j] > kth;
    } else {
      full_select();
    }
  }
  for (int64_t i = 0; i < n; ++i) keep[i] = s[i] > kth;
  for (int64_t i = 0, ties = k - above; ties > 0; ++i) {
    if (s[i] == kth) {
      keep[i] = true;
      --ties;
    }
  }
}

template void top_k_flags<float>(const float*, int64_t, int64_t, bool*);
template void top_k_flags<double>(const double*, int64_t, int64_t, bool*);

}  // namespace frugal::core
