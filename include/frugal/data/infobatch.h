#pragma once
/// InfoBatch: unbiased dynamic data pruning.
/// Qin et al., "InfoBatch: Lossless Training Speed Up by Unbiased Dynamic
/// Data Pruning", ICLR 2024, arXiv:2303.04947.
///
/// Each epoch, samples whose score (last loss) is below the mean are pruned
/// with probability r; the kept ones get loss weight 1/(1-r) so the epoch's
/// expected gradient equals the full-data one. The last (1-delta) share of the
/// epochs trains on everything with weight 1 (annealing).

#include "frugal/data/epoch_sampler.h"

#include <torch/arg.h>

namespace frugal::data {

struct InfoBatchOptions {
  /// `epochs` is required: InfoBatchOptions(epochs).prune_ratio(0.3)...
  explicit InfoBatchOptions(int64_t epochs) : epochs_(epochs) {}

  /// Number of training epochs C, >= 1; annealing starts at epoch
  /// floor(delta * C). The Trainer checks it equals TrainerOptions::epochs.
  TORCH_ARG(int64_t, epochs);
  /// Prune ratio r: share of below-mean samples skipped. Default 0.5; must lie
  /// in [0, 0.9] (the reference clamps the keep ratio to at least 0.1).
  TORCH_ARG(double, prune_ratio) = 0.5;
  /// Share of the epochs that prune. Default 0.875; must lie in [0, 1].
  TORCH_ARG(double, delta) = 0.875;
  /// Epochs at the start that train on everything. Default 0.
  TORCH_ARG(int64_t, warmup_epochs) = 0;
  /// Score update: score = m * loss + (1 - m) * old. Default 1 (raw last
  /// loss); m in (0, 1) gives an exponential moving average.
  TORCH_ARG(double, score_momentum) = 1.0;
  /// Seed of InfoBatch's own random stream (mixed with the epoch). Default 0.
  TORCH_ARG(uint64_t, seed) = 0;

 public:  // TORCH_ARG leaves the section private
  /// Throws c10::Error naming the first out-of-range option.
  void validate() const;
  /// First epoch that trains on all data with weight 1: floor(delta * epochs),
  /// computed without the float equality the reference code relies on.
  int64_t stop_epoch() const;
};

/// Per-sample state: 4-byte score + 4-byte weight per sample, plus this
/// epoch's 4-byte index list: 12 bytes per sample at most (with W processes
/// also this rank's shard of it, 4/W more). save() writes the whole epoch's
/// list, so every rank resumes its own shard of it from one file.
class InfoBatchSampler : public EpochSampler {
 public:
  InfoBatchSampler(int64_t num_samples, InfoBatchOptions options, Shard shard = {});

  void begin_epoch(int64_t epoch) override;
  const std::vector<int32_t>& order() const override { return order_; }
  int64_t kept() const override { return kept_; }
  int64_t size() const override { return scores_.size(0); }
  torch::Tensor weights_of(const torch::Tensor& indices) const override;
  void update_scores(const torch::Tensor& indices, const torch::Tensor& losses) override;
  /// options().epochs().
  c10::optional<int64_t> epochs() const override { return options_.epochs(); }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  /// Whether epoch `epoch` prunes (after warm-up, before annealing).
  bool prunes(int64_t epoch) const;
  const torch::Tensor& scores() const { return scores_; }
  const torch::Tensor& weights() const { return weights_; }
  const InfoBatchOptions& options() const { return options_; }
  /// Samples below the mean at the last begin_epoch().
  int64_t below_mean() const { return below_mean_; }

 private:
  InfoBatchOptions options_;
  Shard shard_;
  torch::Tensor scores_;   // float32 [N]
  torch::Tensor weights_;  // float32 [N]
  std::vector<int32_t> order_;
  std::vector<int32_t> plan_;  // every rank's samples of the epoch (only with several ranks)
  int64_t epoch_ = -1;
  int64_t kept_ = 0;
  int64_t below_mean_ = 0;
};

}  // namespace frugal::data
