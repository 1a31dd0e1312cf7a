#include "frugal/prune/top_v.h"

#include "frugal/core/top_k.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace frugal::prune {

int64_t kept_count(double v, int64_t n) {
  TORCH_CHECK(v >= 0.0 && v <= 1.0, "remaining share must be in [0, 1], got ", v);
  TORCH_CHECK(n >= 0, "weight count must be >= 0, got ", n);
  return std::llround(v * static_cast<double>(n));
}

torch::Tensor top_v_mask(const torch::Tensor& scores, int64_t keep) {
  torch::NoGradGuard no_grad;
  const int64_t n = scores.numel();
  TORCH_CHECK(keep >= 0 && keep <= n, "cannot keep ", keep, " of ", n, " weights");
  // The mask is recomputed every step, and ATen's kthvalue plus separate
  // compare and count passes took a third of a small MLP's step: the core
  // selection runs on the CPU values (other dtypes compared as double).
  auto values = scores.detach().reshape({-1});
  if (!(values.device().is_cpu() && (values.scalar_type() == torch::kFloat || values.scalar_type() == torch::kDouble)))
    values = values.to(torch::kCPU, torch::kDouble);
  values = values.contiguous();
  auto mask = torch::empty({n}, torch::TensorOptions(torch::kBool));
  if (values.scalar_type() == torch::kFloat)
    core::top_k_flags(values.data_ptr<float>(), n, keep, mask.data_ptr<bool>());
  else
    core::top_k_flags(values.data_ptr<double>(), n, keep, mask.data_ptr<bool>());
  return mask.view(scores.sizes()).to(scores.device());
}

std::vector<torch::Tensor> top_v_masks(const std::vector<torch::Tensor>& scores, double v,
                                       PruneSelection selection) {
  std::vector<torch::Tensor> masks;
  masks.reserve(scores.size());
  if (selection == PruneSelection::kLocal) {
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
