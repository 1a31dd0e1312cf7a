#pragma once
/// Per-epoch sample plans: which samples an epoch trains on, in which order,
/// with which loss weights. The plan lives in one shared state object held by
/// both the training loop and the torch::data sampler adapter, because
/// torch::data::DataLoader copies its sampler (pytorch issue 73141).

#include <torch/data/samplers/base.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <c10/util/Optional.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace frugal::data {

/// Where one process stands among `world_size` processes that share the data.
struct Shard {
  int64_t rank = 0;
  int64_t world_size = 1;
};

class EpochSampler {
 public:
  virtual ~EpochSampler() = default;
  /// Plans epoch `epoch` (0-based). Plans depend only on (seed, epoch, scores),
  /// never on global RNG state, so every rank plans identically.
  virtual void begin_epoch(int64_t epoch) = 0;
  /// This process's sample indices for the planned epoch, in training order.
  /// Ranks get disjoint strided shards of equal length.
  virtual const std::vector<int32_t>& order() const = 0;
  /// Samples the whole epoch trains on, over all ranks.
  virtual int64_t kept() const = 0;
  /// Number of samples in the data set.
  virtual int64_t size() const = 0;
  /// Loss weights of `indices` (float32, same device as the result is used
  /// on: the caller moves it). All ones for a full-data plan.
  virtual torch::Tensor weights_of(const torch::Tensor& indices) const = 0;
  /// Records the unweighted, detached per-sample losses of trained samples.
  /// With several processes, pass the (index, loss) pairs of all ranks.
  virtual void update_scores(const torch::Tensor& indices, const torch::Tensor& losses) {}
  /// The number of epochs the plan was made for, when the plan depends on
  /// it (InfoBatch anneals in its last epochs); none for a plan that does not
  /// (ShuffleSampler). The Trainer refuses a run of another length.
  virtual c10::optional<int64_t> epochs() const { return c10::nullopt; }

  /// A hand-written loop's one call per batch (the twin of the InfoBatch
  /// Python package's `loss = dataset.update(loss)`): records the batch's
  /// per-sample `losses` [B] (reduction none; detached here) as the scores of
  /// the samples `indices` [B] (integer), and returns the loss to
  /// backpropagate, mean(w_i * loss_i) with the plan's weights, with autograd
  /// through `losses`. Throws for a reduced (0-D) loss or mismatched sizes.
  /// With several processes, use weights_of() and update_scores() with the
  /// gathered pairs instead.
  torch::Tensor update(const torch::Tensor& indices, const torch::Tensor& losses);

  /// The state, the planned epoch included (its order, weights and the
  /// scores recorded so far): the Trainer's checkpoint within an epoch
  /// resumes it without begin_epoch(). Every rank loads what rank 0 saved,
  /// so the saved plan must give each rank its own shard back.
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;

  /// Batches of `batch_size` in the planned epoch on this process.
  int64_t batches(int64_t batch_size) const {
    return (static_cast<int64_t>(order().size()) + batch_size - 1) / batch_size;
  }
};

/// Full data: every sample once per epoch, reshuffled each epoch from (seed, epoch).
class ShuffleSampler : public EpochSampler {
 public:
  ShuffleSampler(int64_t num_samples, uint64_t seed, Shard shard = {});
  void begin_epoch(int64_t epoch) override;
  const std::vector<int32_t>& order() const override { return order_; }
  int64_t kept() const override { return num_samples_; }
  int64_t size() const override { return num_samples_; }
  torch::Tensor weights_of(const torch::Tensor& indices) const override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  int64_t num_samples_;
  uint64_t seed_;
  Shard shard_;
  int64_t epoch_ = -1;
  std::vector<int32_t> order_;
};

/// Adapts an EpochSampler to torch::data::samplers::Sampler<>, for use with
/// torch::data::make_data_loader. reset() plans the next epoch (the first
/// reset plans epoch 0); the DataLoader resets it each time an epoch's
/// iteration begins (`for (auto& batch : *loader)`). Copies share the plan,
/// so the loop keeps the shared_ptr and calls plan->update(...) per batch.
class TorchSampler : public torch::data::samplers::Sampler<> {
 public:
  explicit TorchSampler(std::shared_ptr<EpochSampler> plan);
  /// Plans the next epoch. `new_size`, when given, must be the plan's size;
  /// the stateless DataLoader passes none.
  void reset(torch::optional<size_t> new_size = torch::nullopt) override;
  torch::optional<std::vector<size_t>> next(size_t batch_size) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  int64_t epoch() const { return epoch_; }

 private:
  std::shared_ptr<EpochSampler> plan_;
  int64_t epoch_ = -1;
  size_t cursor_ = 0;
};

/// Strided shard of `order` for `shard`, padded by wrapping around so every
/// rank gets ceil(n / world_size) entries.
std::vector<int32_t> take_shard(const std::vector<int32_t>& order, const Shard& shard);

}  // namespace frugal::data
