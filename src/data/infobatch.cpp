#include "frugal/data/infobatch.h"

#include "frugal/core/seed.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace frugal::data {

void InfoBatchOptions::validate() const {
  TORCH_CHECK(epochs() >= 1, "infobatch: epochs must be >= 1, got ", epochs());
  TORCH_CHECK(prune_ratio() >= 0.0 && prune_ratio() <= 0.9,
              "infobatch: prune_ratio must lie in [0, 0.9], got ", prune_ratio());
  TORCH_CHECK(delta() >= 0.0 && delta() <= 1.0, "infobatch: delta must lie in [0, 1], got ",
              delta());
  TORCH_CHECK(warmup_epochs() >= 0, "infobatch: warmup_epochs must be >= 0, got ",
              warmup_epochs());
  TORCH_CHECK(score_momentum() > 0.0 && score_momentum() <= 1.0,
              "infobatch: score_momentum must lie in (0, 1], got ", score_momentum());
}

int64_t InfoBatchOptions::stop_epoch() const {
  // delta * epochs in exact decimal terms: 0.29 * 100 is 28.999... in binary,
  // but the user meant 29. A tolerance far below one epoch settles it.
  return static_cast<int64_t>(std::floor(delta() * static_cast<double>(epochs()) + 1e-9));
}

InfoBatchSampler::InfoBatchSampler(int64_t num_samples, InfoBatchOptions options, Shard shard)
    : options_(options), shard_(shard) {
  options_.validate();
  TORCH_CHECK(num_samples > 0 && num_samples <= std::numeric_limits<int32_t>::max(),
              "infobatch: number of samples must lie in [1, 2^31), got ", num_samples);
  // Equal scores: nothing is strictly below the mean, so epoch 0 keeps everything.
  scores_ = torch::ones({num_samples}, torch::kFloat);
  weights_ = torch::ones({num_samples}, torch::kFloat);
}

bool InfoBatchSampler::prunes(int64_t epoch) const {
  return options_.prune_ratio() > 0.0 && epoch >= options_.warmup_epochs() &&
         epoch < options_.stop_epoch();
}

void InfoBatchSampler::begin_epoch(int64_t epoch) {
  const int64_t n = size();
  const float* score = scores_.data_ptr<float>();
  float* weight = weights_.data_ptr<float>();
  // Weights are rebuilt every epoch, so up-weighting never leaks into the
  // annealing phase (the reference's float == comparison can miss the reset).
  std::fill(weight, weight + n, 1.0f);

  std::mt19937_64 rng(core::mix_seed(options_.seed(), static_cast<uint64_t>(epoch)));
  std::vector<int32_t> kept;
  kept.reserve(n);
  below_mean_ = 0;
  if (prunes(epoch)) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += score[i];
    const double mean = sum / static_cast<double>(n);
    std::vector<int32_t> below;
    for (int64_t i = 0; i < n; ++i) {
      if (score[i] < mean)
        below.push_back(static_cast<int32_t>(i));
      else
        kept.push_back(static_cast<int32_t>(i));
    }
    below_mean_ = static_cast<int64_t>(below.size());
    const double keep_ratio = 1.0 - options_.prune_ratio();
    const auto keep_below =
        static_cast<int64_t>(std::floor(keep_ratio * static_cast<double>(below_mean_) + 1e-9));
    // Partial Fisher-Yates: a uniform subset of exactly keep_below, without replacement.
    for (int64_t i = 0; i < keep_below; ++i) {
      std::uniform_int_distribution<int64_t> pick(i, below_mean_ - 1);
      std::swap(below[i], below[pick(rng)]);
      kept.push_back(below[i]);
      weight[below[i]] = static_cast<float>(1.0 / keep_ratio);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) kept.push_back(static_cast<int32_t>(i));
  }
  std::shuffle(kept.begin(), kept.end(), rng);
  kept_ = static_cast<int64_t>(kept.size());
  order_ = take_shard(kept, shard_);
  // Kept for save(): a checkpoint within the epoch must give every rank its shard.
  plan_ = shard_.world_size > 1 ? std::move(kept) : std::vector<int32_t>();
  epoch_ = epoch;
}

torch::Tensor InfoBatchSampler::weights_of(const torch::Tensor& indices) const {
  return weights_.index_select(0, indices.to(torch::kCPU, torch::kLong));
}

void InfoBatchSampler::update_scores(const torch::Tensor& indices, const torch::Tensor& losses) {
  TORCH_CHECK(indices.numel() == losses.numel(), "infobatch: ", indices.numel(),
              " indices but ", losses.numel(), " losses");
  auto idx = indices.to(torch::kCPU, torch::kLong).contiguous();
  auto loss = losses.detach().to(torch::kCPU, torch::kFloat).contiguous();
  TORCH_CHECK(torch::isfinite(loss).all().item<bool>(),
              "infobatch: a per-sample loss is not finite (NaN or inf)");
  const int64_t* i = idx.data_ptr<int64_t>();
  const float* l = loss.data_ptr<float>();
  float* s = scores_.data_ptr<float>();
  const int64_t n = size();
  const auto m = static_cast<float>(options_.score_momentum());
  for (int64_t k = 0; k < idx.numel(); ++k) {
    TORCH_CHECK(i[k] >= 0 && i[k] < n, "infobatch: sample index ", i[k], " is outside [0, ", n,
                ")");
    s[i[k]] = m == 1.0f ? l[k] : m * l[k] + (1.0f - m) * s[i[k]];
  }
}

void InfoBatchSampler::save(torch::serialize::OutputArchive& archive) const {
  archive.write("infobatch.scores", scores_);
  archive.write("infobatch.weights", weights_);
  archive.write("infobatch.order", torch::tensor(shard_.world_size > 1 ? plan_ : order_, torch::kInt));
  archive.write("infobatch.meta", torch::tensor({epoch_, kept_, below_mean_,
                                                 static_cast<int64_t>(options_.seed())}));
}

void InfoBatchSampler::load(torch::serialize::InputArchive& archive) {
  torch::Tensor scores, weights, order, meta;
  archive.read("infobatch.scores", scores);
  archive.read("infobatch.weights", weights);
  archive.read("infobatch.order", order);
  archive.read("infobatch.meta", meta);
  TORCH_CHECK(scores.sizes() == scores_.sizes() && weights.sizes() == weights_.sizes(),
              "infobatch: saved state has ", scores.numel(), " samples, the data set has ",
              scores_.numel());
  scores_.copy_(scores);
  weights_.copy_(weights);
  order = order.to(torch::kInt).contiguous();
  std::vector<int32_t> plan(order.data_ptr<int32_t>(), order.data_ptr<int32_t>() + order.numel());
  order_ = take_shard(plan, shard_);
  plan_ = shard_.world_size > 1 ? std::move(plan) : std::vector<int32_t>();
  auto m = meta.accessor<int64_t, 1>();
  epoch_ = m[0];
  kept_ = m[1];
  below_mean_ = m[2];
  options_.seed(static_cast<uint64_t>(m[3]));
}

}  // namespace frugal::data
