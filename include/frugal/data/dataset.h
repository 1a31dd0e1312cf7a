#pragma once
/// In-memory labelled data sets and the batches the trainer consumes.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::data {

/// A labelled data set read by sample index: what the trainer, evaluation and
/// the loader consume. Samples are stored as uint8 or float32 (an
/// ImageNet-sized set stays uint8 on disk and becomes float only per batch);
/// `read` must be safe to call from several threads at once, because loader
/// workers call it concurrently. Implementations: TensorDataset (in memory),
/// PackedDataset and the in-place IDX / CIFAR readers (on disk),
/// SubsetDataset (a view).
class IndexedDataset {
 public:
  virtual ~IndexedDataset() = default;
  /// Number of samples.
  virtual int64_t size() const = 0;
  /// Labels lie in [0, class_count()).
  virtual int64_t class_count() const = 0;
  /// Shape of one sample, e.g. {3, 32, 32} or {features}.
  virtual std::vector<int64_t> sample_shape() const = 0;
  /// torch::kByte (a stored byte b means b / 255) or torch::kFloat.
  virtual torch::ScalarType sample_type() const = 0;
  /// All labels, int64 [size()].
  virtual torch::Tensor labels() const = 0;
  /// Copies sample `index` (its sample_shape() elements of sample_type())
  /// to `out` and returns its label.
  virtual int64_t read(int64_t index, void* out) const = 0;

  /// Elements of one sample (the product of sample_shape()).
  int64_t sample_numel() const;
};

/// A labelled data set held as two tensors: inputs [N, ...] (float32, or
/// uint8 where a byte b means b / 255; contiguous, on the CPU) and targets
/// [N] (int64 class indices in [0, num_classes)).
struct TensorDataset : IndexedDataset {
  torch::Tensor inputs;
  torch::Tensor targets;
  int64_t num_classes = 0;

  TensorDataset() = default;
  TensorDataset(torch::Tensor inputs, torch::Tensor targets, int64_t num_classes);

  int64_t size() const override { return targets.defined() ? targets.size(0) : 0; }
  int64_t class_count() const override { return num_classes; }
  std::vector<int64_t> sample_shape() const override;
  torch::ScalarType sample_type() const override { return inputs.scalar_type(); }
  torch::Tensor labels() const override { return targets; }
  int64_t read(int64_t index, void* out) const override;
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

/// Train and test splits of one data set.
struct Splits {
  TensorDataset train;
  TensorDataset test;
};

}  // namespace frugal::data
