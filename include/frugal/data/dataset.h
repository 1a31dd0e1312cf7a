#pragma once
/// In-memory labelled data sets and the batches the trainer consumes.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::data {

/// A labelled data set held as two tensors: inputs [N, ...] (float32) and
/// targets [N] (int64 class indices in [0, num_classes)).
struct TensorDataset {
  torch::Tensor inputs;
  torch::Tensor targets;
  int64_t num_classes = 0;

  int64_t size() const { return targets.defined() ? targets.size(0) : 0; }
  /// The samples at `indices` (int64 tensor), in that order.
  TensorDataset select(const torch::Tensor& indices) const;
};

/// One training batch. `indices` are the samples' positions in the data set,
/// so per-sample losses can be written back to the right samples; `weights`
/// are the per-sample loss weights (InfoBatch up-weighting, 1 otherwise).
struct IndexedBatch {
  torch::Tensor inputs;
  torch::Tensor targets;
  torch::Tensor indices;
  torch::Tensor weights;
};

/// Keeps only the samples whose class is in `classes`. With `relabel`, the
/// kept classes are renumbered 0..k-1 in the order given (a new task head).
/// Throws when a class is out of range or nothing remains.
TensorDataset filter_classes(const TensorDataset& data, const std::vector<int64_t>& classes,
                             bool relabel);

/// Train and test splits of one data set.
struct Splits {
  TensorDataset train;
  TensorDataset test;
};

/// Standardizes both splits with the per-channel mean and std of the train
/// inputs (channel = dim 1 for 4-D inputs, feature for 2-D inputs). A channel
/// that is constant in training is only centred, never divided by ~0. The
/// test inputs, when present, must have the train inputs' rank and channels.
void standardize(Splits& splits);

}  // namespace frugal::data
