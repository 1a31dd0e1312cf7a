#pragma once
/// What happens to a stored sample on its way into a batch: conversion to
/// float32 (a stored byte b becomes b / 255), random crop with zero padding
/// and horizontal flip (training only), and per-channel normalization with
/// the training set's statistics. The random choices of a sample are a pure
/// function of (seed, epoch, sample index): a resumed run sees the same
/// crops as an uninterrupted one, and no two threads or ranks share a stream.

#include "frugal/data/dataset.h"

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace frugal::data {

/// The recipe's [augment] section.
struct AugmentOptions {
  /// Side of the square crop: random in training, centred in evaluation.
  /// Default 0: no crop (the sample keeps its size). Images only.
  TORCH_ARG(int64_t, crop) = 0;
  /// Zero padding on each side before the random crop, >= 0. Default 0.
  TORCH_ARG(int64_t, padding) = 0;
  /// Horizontal flip of half the training samples. Default false. Images only.
  TORCH_ARG(bool, flip) = false;

 public:
  bool enabled() const { return crop_ > 0 || flip_; }
  /// Checks the ranges (crop, padding >= 0; padding only with a crop).
  void validate_values() const;
  /// Checks the options against a sample shape ([channels, rows, cols] for
  /// images); throws naming the bad value.
  void validate(const std::vector<int64_t>& sample_shape) const;
};

/// Per-channel mean and standard deviation (channel = the first dimension of
/// a sample: an image's colour channel, a flat sample's feature). Empty:
/// no normalization.
struct Normalization {
  std::vector<double> mean;
  std::vector<double> std;
  bool empty() const { return mean.empty(); }
};

/// Per-channel sums over float samples, added one sample at a time (the
/// training statistics without holding the data set).
class ChannelMoments {
 public:
  ChannelMoments(int64_t channels, int64_t per_channel);
  /// Adds one sample of channels * per_channel values, channel-major.
  void add(const float* sample);
  /// Mean and population std per channel; a channel with std <= 1e-6 gets std 1.
  Normalization finish() const;

 private:
  int64_t per_channel_;
  int64_t samples_ = 0;
  std::vector<double> sum_, sum_sq_;
};

/// The training set's per-channel mean and (population) standard deviation
/// over all its samples, read once, streaming. A channel constant in training
/// has no scale to divide by; a tiny floor would multiply any test deviation
/// by a million, so its std is 1 (it is only centred).
Normalization channel_statistics(const IndexedDataset& data);

/// How the samples of one batch are transformed.
struct SampleTransform {
  AugmentOptions augment;
  Normalization normalization;
  /// Random crop and flip (training) or centre crop, no flip (evaluation).
  bool train = false;
  uint64_t seed = 0;
  int64_t epoch = 0;
};

/// Shape of a transformed sample: the crop changes an image's rows and columns.
std::vector<int64_t> transformed_shape(const std::vector<int64_t>& sample_shape,
                                       const AugmentOptions& augment);

/// Where a training sample's crop starts (row, column; negative inside the
/// padding) and whether it is flipped: a pure function of (seed, epoch, index).
struct CropChoice {
  int64_t row = 0;
  int64_t col = 0;
  bool flip = false;
};
CropChoice crop_choice(const std::vector<int64_t>& sample_shape, const SampleTransform& transform,
                       int64_t index);

/// Writes sample `index`, stored at `raw` (sample_shape elements of `type`),
/// as float32 under `transform` to `out` (transformed_shape elements).
void transform_sample(const void* raw, torch::ScalarType type,
                      const std::vector<int64_t>& sample_shape, int64_t index,
                      const SampleTransform& transform, float* out);

/// The samples at `indices` (int64 [B]) as one batch: inputs float32
/// [B, transformed shape...], targets and indices int64 [B]; weights undefined.
IndexedBatch load_batch(const IndexedDataset& data, const torch::Tensor& indices,
                        const SampleTransform& transform);

/// The whole data set as float32 tensors under `transform` (evaluation: no
/// random choice), for code that wants plain tensors (export, inference).
TensorDataset materialize(const IndexedDataset& data, const SampleTransform& transform);

}  // namespace frugal::data
