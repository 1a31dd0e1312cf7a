#include "frugal/data/dataset.h"

#include <torch/types.h>

#include <cstring>
#include <functional>
#include <numeric>
#include <unordered_map>

namespace frugal::data {

int64_t IndexedDataset::sample_numel() const {
  const auto shape = sample_shape();
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
}

TensorDataset::TensorDataset(torch::Tensor inputs_, torch::Tensor targets_, int64_t num_classes_)
    : inputs(std::move(inputs_)), targets(std::move(targets_)), num_classes(num_classes_) {}

std::vector<int64_t> TensorDataset::sample_shape() const {
  return inputs.defined() ? inputs.sizes().slice(1).vec() : std::vector<int64_t>{};
}

int64_t TensorDataset::read(int64_t index, void* out) const {
  TORCH_CHECK(index >= 0 && index < size(), "data: sample ", index, " is outside [0, ", size(), ")");
  const bool byte = inputs.scalar_type() == torch::kByte;
  TORCH_CHECK((byte || inputs.scalar_type() == torch::kFloat) && inputs.is_contiguous() &&
                  inputs.is_cpu() && targets.is_contiguous() && targets.scalar_type() == torch::kLong,
              "data: a TensorDataset needs contiguous float32 or uint8 inputs and int64 targets on "
              "the CPU, got ", inputs.scalar_type(), " and ", targets.scalar_type());
  const int64_t bytes = inputs.numel() / inputs.size(0) * (byte ? 1 : 4);
  std::memcpy(out, static_cast<const uint8_t*>(inputs.data_ptr()) + index * bytes, bytes);
  return targets.data_ptr<int64_t>()[index];
}

}  // namespace frugal::data
