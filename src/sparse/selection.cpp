#include "selection.h"

#include "frugal/core/top_k.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

namespace frugal::sparse {

torch::Tensor flat(const torch::Tensor& t) {
  TORCH_CHECK(t.is_contiguous(), "masked weights and masks must be contiguous");
  return t.view(-1);
}

// One counting pass and one filling pass: about twice as fast as nonzero().
// The selections here walk host memory; a mask on another device (CUDA) is
// read through a CPU copy and the positions go back to its device.
torch::Tensor positions_where(const torch::Tensor& mask, bool want) {
  if (!mask.device().is_cpu()) return positions_where(mask.cpu(), want).to(mask.device());
  const bool* m = mask.data_ptr<bool>();
  const int64_t n = mask.numel();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += m[i] == want;
  auto out = torch::empty({count}, torch::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    if (m[i] == want) *o++ = i;
  return out;
}

namespace {

template <typename T>
torch::Tensor select_impl(const T* score, const bool* mask, int64_t n, bool want, int64_t k,
                          bool largest) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += mask[i] == want;
  TORCH_CHECK(k >= 0 && k <= count, "cannot select ", k, " of ", count, " positions");
  // The allowed positions in ascending order, each keyed so that the wanted
  // ones are the largest keys; NaN ranks last either way. core::top_k_flags
  // then breaks ties by the lower key index, which is the lower position.
  const T inf = std::numeric_limits<T>::infinity();
  std::vector<T> keys;
  std::vector<int64_t> positions;
  keys.reserve(static_cast<size_t>(count));
  positions.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < n; ++i)
    if (mask[i] == want) {
      const T v = std::abs(score[i]);
      keys.push_back(largest ? (std::isnan(v) ? -inf : v) : -(std::isnan(v) ? inf : v));
      positions.push_back(i);
    }
  std::unique_ptr<bool[]> chosen(new bool[static_cast<size_t>(count)]);
  core::top_k_flags(keys.data(), count, k, chosen.get());
  auto out = torch::empty({k}, torch::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t j = 0; j < count; ++j)
    if (chosen[j]) *o++ = positions[static_cast<size_t>(j)];
  return out;
}

}  // namespace

torch::Tensor select_by_magnitude(const torch::Tensor& score, const torch::Tensor& mask, bool want,
                                  int64_t k, bool largest) {
  TORCH_CHECK(score.numel() == mask.numel() && mask.is_contiguous(),
              "score and mask must match: ", score.sizes(), " vs ", mask.sizes());
  if (!score.device().is_cpu() || !mask.device().is_cpu())
    return select_by_magnitude(score.cpu(), mask.cpu(), want, k, largest).to(mask.device());
  if (score.scalar_type() == torch::kDouble) {
    auto s = score.contiguous();
    return select_impl<double>(s.data_ptr<double>(), mask.data_ptr<bool>(), s.numel(), want, k,
                               largest);
  }
  auto s = score.to(torch::kFloat).contiguous();
  return select_impl<float>(s.data_ptr<float>(), mask.data_ptr<bool>(), s.numel(), want, k,
                            largest);
}

}  // namespace frugal::sparse
