#include "frugal/prune/top_v.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

namespace frugal::prune {

int64_t kept_count(double v, int64_t n) {
  TORCH_CHECK(v >= 0.0 && v <= 1.0, "remaining share must be in [0, 1], got ", v);
  TORCH_CHECK(n >= 0, "weight count must be >= 0, got ", n);
  return std::llround(v * static_cast<double>(n));
}

namespace {

/// Top-`keep` of a CPU float or double vector. The mask is recomputed every
/// step, and ATen's kthvalue plus separate compare and count passes took a
/// third of a small MLP's step, so this selects in two passes over the data
/// (Floyd & Rivest, "Algorithm 489: SELECT", CACM 1975): a strided sample
/// brackets the threshold, one pass counts the scores below the bracket and
/// copies those inside it, std::nth_element finds the threshold within the
/// bracket, and a last pass writes the mask, keeping the lowest-indexed ties.
/// The result is exact whatever the sample; a bad bracket only costs a full
/// selection.
template <typename T>
void top_keep(const T* s, int64_t n, int64_t keep, bool* mask) {
  const int64_t rank = n - keep;  // 0-based rank of the threshold from the smallest
  T kth;
  int64_t above = 0;  // scores > kth
  auto full_select = [&] {
    std::vector<T> copy(s, s + n);
    std::nth_element(copy.begin(), copy.begin() + rank, copy.end());
    kth = copy[rank];
    above = 0;
    for (int64_t i = 0; i < n; ++i) above += s[i] > kth;
  };
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) nan |= std::isnan(s[i]);
  TORCH_CHECK(!nan, "scores contain NaN");
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
  for (int64_t i = 0; i < n; ++i) mask[i] = s[i] > kth;
  for (int64_t i = 0, ties = keep - above; ties > 0; ++i) {
    if (s[i] == kth) {
      mask[i] = true;
      --ties;
    }
  }
}

}  // namespace

torch::Tensor top_v_mask(const torch::Tensor& scores, int64_t keep) {
  torch::NoGradGuard no_grad;
  const int64_t n = scores.numel();
  TORCH_CHECK(keep >= 0 && keep <= n, "cannot keep ", keep, " of ", n, " weights");
  auto flat = scores.detach().reshape({-1});
  auto bool_options = scores.options().dtype(torch::kBool);
  if (keep == n || keep == 0) {
    TORCH_CHECK(!flat.isnan().any().item<bool>(), "scores contain NaN");
    return keep == n ? torch::ones(scores.sizes(), bool_options)
                     : torch::zeros(scores.sizes(), bool_options);
  }
  if (flat.device().is_cpu() &&
      (flat.scalar_type() == torch::kFloat || flat.scalar_type() == torch::kDouble)) {
    auto values = flat.contiguous();
    auto mask = torch::empty({n}, bool_options);
    if (values.scalar_type() == torch::kFloat)
      top_keep(values.data_ptr<float>(), n, keep, mask.data_ptr<bool>());
    else
      top_keep(values.data_ptr<double>(), n, keep, mask.data_ptr<bool>());
    return mask.view(scores.sizes());
  }
  // Other dtypes and devices: the same rule with ATen operations.
  TORCH_CHECK(!flat.isnan().any().item<bool>(), "scores contain NaN");
  auto kth = std::get<0>(flat.kthvalue(n - keep + 1));
  auto mask = flat.gt(kth);
  const int64_t missing = keep - mask.sum().item<int64_t>();
  if (missing > 0) {
    // Equal scores at the threshold: the lowest flat indices win, so the
    // count is exact and the choice does not depend on the selection algorithm.
    auto ties = flat.eq(kth).nonzero().reshape({-1}).slice(0, 0, missing);
    mask.index_fill_(0, ties, true);
  }
  return mask.view(scores.sizes());
}

std::vector<torch::Tensor> top_v_masks(const std::vector<torch::Tensor>& scores, double v,
                                       PruneSelection selection) {
  std::vector<torch::Tensor> masks;
  masks.reserve(scores.size());
  if (selection == PruneSelection::local) {
    for (const auto& s : scores) masks.push_back(top_v_mask(s, kept_count(v, s.numel())));
    return masks;
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flat;
  flat.reserve(scores.size());
  for (const auto& s : scores) flat.push_back(s.detach().reshape({-1}));
  auto all = torch::cat(flat);
  auto mask = top_v_mask(all, kept_count(v, all.numel()));
  int64_t offset = 0;
  for (const auto& s : scores) {
    masks.push_back(mask.slice(0, offset, offset + s.numel()).view(s.sizes()));
    offset += s.numel();
  }
  return masks;
}

}  // namespace frugal::prune
