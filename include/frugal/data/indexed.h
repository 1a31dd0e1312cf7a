#pragma once
/// Examples that carry their sample index, so that a hand-written loop over
/// torch::data can write per-sample losses back to the right samples
/// (InfoBatch scores). Use:
///
///   auto plan = std::make_shared<data::InfoBatchSampler>(n, data::InfoBatchOptions(epochs));
///   auto loader = torch::data::make_data_loader(
///       data::WithIndex<MyDataset>(MyDataset(...)).map(data::StackIndexed()),
///       data::TorchSampler(plan), torch::data::DataLoaderOptions(batch_size));
///   for (int64_t epoch = 0; epoch < epochs; ++epoch)
///     for (auto& batch : *loader) {
///       auto losses = cross_entropy(model(batch.data), batch.target, reduction none);
///       auto loss = plan->update(batch.index, losses);   // records scores, weights the mean
///       ...backward, step...
///     }

#include <torch/data/datasets/base.h>
#include <torch/data/example.h>
#include <torch/data/transforms/collate.h>
#include <torch/types.h>

#include <c10/util/Exception.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace frugal::data {

/// One example and its position in the data set; batched (StackIndexed):
/// data [B, ...], target [B, ...], index [B] (int64).
struct IndexedExample {
  torch::Tensor data;
  torch::Tensor target;
  /// int64: a 0-D tensor for one example, [B] for a batch.
  torch::Tensor index;
};

/// Wraps any torch::data dataset whose examples have tensor `data` and
/// `target` (torch::data::Example<>) so that each example also yields its
/// index.
template <typename Source>
class WithIndex : public torch::data::datasets::Dataset<WithIndex<Source>, IndexedExample> {
 public:
  explicit WithIndex(Source source) : source_(std::move(source)) {}

  IndexedExample get(size_t index) override {
    auto example = source_.get(index);
    return {std::move(example.data), std::move(example.target),
            torch::tensor(static_cast<int64_t>(index), torch::kLong)};
  }
  torch::optional<size_t> size() const override { return source_.size(); }

  Source& source() { return source_; }

 private:
  Source source_;
};

/// Stacks IndexedExamples into one batch (torch::data::transforms::Stack<>
/// for IndexedExample): `.map(data::StackIndexed())`.
struct StackIndexed : torch::data::transforms::Collation<IndexedExample> {
  IndexedExample apply_batch(std::vector<IndexedExample> examples) override {
    TORCH_CHECK(!examples.empty(), "StackIndexed: empty batch");
    std::vector<torch::Tensor> data, targets, indices;
    data.reserve(examples.size());
    targets.reserve(examples.size());
    indices.reserve(examples.size());
    for (auto& e : examples) {
      data.push_back(std::move(e.data));
      targets.push_back(std::move(e.target));
      indices.push_back(std::move(e.index));
    }
    return {torch::stack(data), torch::stack(targets), torch::stack(indices)};
  }
};

/// Rows of two tensors as a torch::data dataset: example i is
/// {inputs[i], targets[i]}. For a loop over one's own tensors.
class TensorPairs : public torch::data::datasets::Dataset<TensorPairs> {
 public:
  TensorPairs(torch::Tensor inputs, torch::Tensor targets)
      : inputs_(std::move(inputs)), targets_(std::move(targets)) {
    TORCH_CHECK(inputs_.dim() >= 1 && targets_.dim() >= 1 && inputs_.size(0) == targets_.size(0),
                "TensorPairs: inputs and targets need the same number of rows, got ",
                inputs_.sizes(), " and ", targets_.sizes());
  }
  torch::data::Example<> get(size_t index) override {
    const auto i = static_cast<int64_t>(index);
    return {inputs_[i], targets_[i]};
  }
  torch::optional<size_t> size() const override { return static_cast<size_t>(inputs_.size(0)); }

 private:
  torch::Tensor inputs_;
  torch::Tensor targets_;
};

}  // namespace frugal::data
