#include "frugal/data/transform.h"

#include "frugal/core/seed.h"
#include "frugal/data/epoch_sampler.h"

#include <torch/types.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

namespace frugal::data {

namespace {

bool is_image(const std::vector<int64_t>& shape) { return shape.size() == 3; }

/// Keeps one stored sample as float, whatever its storage type.
void to_float(const void* raw, torch::ScalarType type, int64_t n, float* out) {
  if (type == torch::kByte) {
    const auto* b = static_cast<const uint8_t*>(raw);
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(b[i]) * (1.0f / 255.0f);
  } else {
    std::memcpy(out, raw, static_cast<size_t>(n) * sizeof(float));
  }
}

int64_t element_size(torch::ScalarType type) { return type == torch::kByte ? 1 : 4; }

}  // namespace

void AugmentOptions::validate_values() const {
  TORCH_CHECK(crop_ >= 0, "augment: crop must be >= 0 (0: no crop), got ", crop_);
  TORCH_CHECK(padding_ >= 0, "augment: padding must be >= 0, got ", padding_);
  TORCH_CHECK(crop_ > 0 || padding_ == 0, "augment: padding ", padding_, " needs a crop (set crop)");
}

void AugmentOptions::validate(const std::vector<int64_t>& sample_shape) const {
  validate_values();
  if (!enabled()) return;
  TORCH_CHECK(is_image(sample_shape), "augment: crop and flip need image samples [channels, rows, "
              "cols], got ", c10::IntArrayRef(sample_shape));
  TORCH_CHECK(crop_ == 0 || (crop_ <= sample_shape[1] + 2 * padding_ &&
                             crop_ <= sample_shape[2] + 2 * padding_),
              "augment: crop ", crop_, " is larger than the padded image (",
              sample_shape[1] + 2 * padding_, "x", sample_shape[2] + 2 * padding_, ")");
}

ChannelMoments::ChannelMoments(int64_t channels, int64_t per_channel)
    : per_channel_(per_channel), sum_(channels, 0.0), sum_sq_(channels, 0.0) {}

void ChannelMoments::add(const float* sample) {
  for (size_t c = 0; c < sum_.size(); ++c) {
    double s = 0.0, q = 0.0;
    const float* v = sample + c * per_channel_;
    for (int64_t k = 0; k < per_channel_; ++k) {
      s += v[k];
      q += static_cast<double>(v[k]) * v[k];
    }
    sum_[c] += s;
    sum_sq_[c] += q;
  }
  ++samples_;
}

Normalization ChannelMoments::finish() const {
  TORCH_CHECK(samples_ > 0, "normalization: no samples to take statistics of");
  Normalization out;
  const double count = static_cast<double>(samples_) * static_cast<double>(per_channel_);
  for (size_t c = 0; c < sum_.size(); ++c) {
    const double mean = sum_[c] / count;
    const double std = std::sqrt(std::max(0.0, sum_sq_[c] / count - mean * mean));
    out.mean.push_back(mean);
    out.std.push_back(std > 1e-6 ? std : 1.0);
  }
  return out;
}

Normalization channel_statistics(const IndexedDataset& data) {
  const auto shape = data.sample_shape();
  TORCH_CHECK(!shape.empty() && data.size() > 0, "normalization: the training set is empty");
  const int64_t numel = data.sample_numel();
  ChannelMoments moments(shape[0], numel / shape[0]);
  std::vector<uint8_t> raw(static_cast<size_t>(numel * element_size(data.sample_type())));
  std::vector<float> values(static_cast<size_t>(numel));
  for (int64_t i = 0; i < data.size(); ++i) {
    data.read(i, raw.data());
    to_float(raw.data(), data.sample_type(), numel, values.data());
    moments.add(values.data());
  }
  return moments.finish();
}

std::vector<int64_t> transformed_shape(const std::vector<int64_t>& sample_shape,
                                       const AugmentOptions& augment) {
  if (augment.crop() == 0) return sample_shape;
  return {sample_shape[0], augment.crop(), augment.crop()};
}

CropChoice crop_choice(const std::vector<int64_t>& shape, const SampleTransform& t,
                       int64_t index) {
  CropChoice choice;
  const auto& a = t.augment;
  if (!a.enabled()) return choice;
  const int64_t rows = shape[1], cols = shape[2];
  const int64_t crop_rows = a.crop() > 0 ? a.crop() : rows, crop_cols = a.crop() > 0 ? a.crop() : cols;
  if (!t.train) {
    // The centre crop, floor-rounded, as torchvision's CenterCrop.
    choice.row = static_cast<int64_t>(std::floor((rows - crop_rows) / 2.0));
    choice.col = static_cast<int64_t>(std::floor((cols - crop_cols) / 2.0));
    return choice;
  }
  const uint64_t r = core::mix_seed(core::mix_seed(t.seed, static_cast<uint64_t>(t.epoch), 2),
                              static_cast<uint64_t>(index));
  const uint64_t row_span = static_cast<uint64_t>(rows + 2 * a.padding() - crop_rows + 1);
  const uint64_t col_span = static_cast<uint64_t>(cols + 2 * a.padding() - crop_cols + 1);
  choice.row = static_cast<int64_t>((r & 0xFFFFFFu) % row_span) - a.padding();
  choice.col = static_cast<int64_t>(((r >> 24) & 0xFFFFFFu) % col_span) - a.padding();
  choice.flip = a.flip() && ((r >> 63) != 0);
  return choice;
}

void transform_sample(const void* raw, torch::ScalarType type,
                      const std::vector<int64_t>& shape, int64_t index,
                      const SampleTransform& t, float* out) {
  const auto& norm = t.normalization;
  const int64_t channels = shape.empty() ? 1 : shape[0];
  TORCH_CHECK(norm.empty() || static_cast<int64_t>(norm.mean.size()) == channels,
              "normalization: ", norm.mean.size(), " channel statistics for samples with ",
              channels, " channels");
  const bool byte = type == torch::kByte;
  const auto value = [&](int64_t k) -> float {
    return byte ? static_cast<float>(static_cast<const uint8_t*>(raw)[k]) * (1.0f / 255.0f)
                : static_cast<const float*>(raw)[k];
  };
  const auto scale = [&](int64_t c, float& shift, float& factor) {
    shift = norm.empty() ? 0.0f : static_cast<float>(norm.mean[c]);
    factor = norm.empty() ? 1.0f : static_cast<float>(1.0 / norm.std[c]);
  };
  if (!t.augment.enabled()) {
    const int64_t numel = std::accumulate(shape.begin(), shape.end(), int64_t{1},
                                          std::multiplies<int64_t>());
    const int64_t per_channel = numel / channels;
    for (int64_t c = 0; c < channels; ++c) {
      float shift, factor;
      scale(c, shift, factor);
      for (int64_t k = c * per_channel; k < (c + 1) * per_channel; ++k)
        out[k] = (value(k) - shift) * factor;
    }
    return;
  }
  const int64_t rows = shape[1], cols = shape[2];
  const auto out_shape = transformed_shape(shape, t.augment);
  const int64_t out_rows = out_shape[1], out_cols = out_shape[2];
  const CropChoice choice = crop_choice(shape, t, index);
  for (int64_t c = 0; c < channels; ++c) {
    float shift, factor;
    scale(c, shift, factor);
    const float padded = (0.0f - shift) * factor;  // padding is a zero pixel before normalization
    for (int64_t y = 0; y < out_rows; ++y) {
      float* row_out = out + (c * out_rows + y) * out_cols;
      const int64_t sy = y + choice.row;
      if (sy < 0 || sy >= rows) {
        std::fill(row_out, row_out + out_cols, padded);
        continue;
      }
      const int64_t base = (c * rows + sy) * cols;
      for (int64_t x = 0; x < out_cols; ++x) {
        const int64_t sx = choice.flip ? choice.col + out_cols - 1 - x : choice.col + x;
        row_out[x] = sx < 0 || sx >= cols ? padded : (value(base + sx) - shift) * factor;
      }
    }
  }
}

IndexedBatch load_batch(const IndexedDataset& data, const torch::Tensor& indices,
                        const SampleTransform& transform) {
  const auto shape = data.sample_shape();
  const auto out_shape = transformed_shape(shape, transform.augment);
  const int64_t n = indices.size(0);
  const int64_t in_numel = data.sample_numel();
  const int64_t out_numel = std::accumulate(out_shape.begin(), out_shape.end(), int64_t{1},
                                            std::multiplies<int64_t>());
  std::vector<int64_t> batch_shape = {n};
  batch_shape.insert(batch_shape.end(), out_shape.begin(), out_shape.end());
  IndexedBatch batch;
  batch.indices = indices.to(torch::kLong).contiguous();
  batch.inputs = torch::empty(batch_shape, torch::kFloat);
  batch.targets = torch::empty({n}, torch::kLong);
  const int64_t* idx = batch.indices.data_ptr<int64_t>();
  float* out = batch.inputs.data_ptr<float>();
  int64_t* targets = batch.targets.data_ptr<int64_t>();
  std::vector<uint8_t> raw(static_cast<size_t>(in_numel * element_size(data.sample_type())));
  for (int64_t i = 0; i < n; ++i) {
    targets[i] = data.read(idx[i], raw.data());
    transform_sample(raw.data(), data.sample_type(), shape, idx[i], transform, out + i * out_numel);
  }
  return batch;
}

TensorDataset materialize(const IndexedDataset& data, const SampleTransform& transform) {
  SampleTransform eval = transform;
  eval.train = false;
  auto batch = load_batch(data, torch::arange(data.size(), torch::kLong), eval);
  return TensorDataset(batch.inputs, batch.targets, data.class_count());
}

}  // namespace frugal::data
