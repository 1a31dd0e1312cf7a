#include "frugal/data/dataset.h"

#include <torch/torch.h>

#include <unordered_map>

namespace frugal::data {

TensorDataset TensorDataset::select(const torch::Tensor& indices) const {
  return {inputs.index_select(0, indices), targets.index_select(0, indices), num_classes};
}

TensorDataset filter_classes(const TensorDataset& data, const std::vector<int64_t>& classes,
                             bool relabel) {
  TORCH_CHECK(!classes.empty(), "class filter: the list of classes is empty");
  std::unordered_map<int64_t, int64_t> new_label;
  for (size_t i = 0; i < classes.size(); ++i) {
    TORCH_CHECK(classes[i] >= 0 && classes[i] < data.num_classes, "class filter: class ",
                classes[i], " is outside [0, ", data.num_classes, ")");
    TORCH_CHECK(new_label.emplace(classes[i], static_cast<int64_t>(i)).second,
                "class filter: class ", classes[i], " is listed twice");
  }
  auto targets = data.targets.contiguous();
  const int64_t* t = targets.data_ptr<int64_t>();
  std::vector<int64_t> keep;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < targets.size(0); ++i) {
    auto it = new_label.find(t[i]);
    if (it == new_label.end()) continue;
    keep.push_back(i);
    labels.push_back(relabel ? it->second : t[i]);
  }
  TORCH_CHECK(!keep.empty(), "class filter: no sample has any of the chosen classes");
  auto idx = torch::tensor(keep, torch::kLong);
  TensorDataset out = data.select(idx);
  out.targets = torch::tensor(labels, torch::kLong);
  if (relabel) out.num_classes = static_cast<int64_t>(classes.size());
  return out;
}

void standardize(Splits& splits) {
  auto& x = splits.train.inputs;
  TORCH_CHECK(x.defined(), "standardize: the train inputs are empty");
  TORCH_CHECK(x.dim() == 2 || x.dim() == 4, "standardize: inputs must be 2-D or 4-D, got ",
              x.sizes());
  const auto& test = splits.test.inputs;
  TORCH_CHECK(!test.defined() || (test.dim() == x.dim() && test.size(1) == x.size(1)),
              "standardize: test inputs ", test.defined() ? test.sizes() : x.sizes(),
              " do not match the train inputs' layout ", x.sizes());
  std::vector<int64_t> reduce = x.dim() == 4 ? std::vector<int64_t>{0, 2, 3}
                                             : std::vector<int64_t>{0};
  auto mean = x.mean(reduce, /*keepdim=*/true);
  auto std = x.std(reduce, /*unbiased=*/false, /*keepdim=*/true);
  // A channel constant in training has no scale to divide by; a tiny floor
  // would multiply any test deviation by a million, so it is only centred.
  std = torch::where(std > 1e-6, std, torch::ones_like(std));
  splits.train.inputs = (x - mean) / std;
  if (test.defined()) splits.test.inputs = (test - mean) / std;
}

}  // namespace frugal::data
