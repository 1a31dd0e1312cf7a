#include "frugal/data/epoch_sampler.h"

#include "frugal/core/seed.h"

#include <torch/serialize/archive.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace frugal::data {

std::vector<int32_t> take_shard(const std::vector<int32_t>& order, const Shard& shard) {
  TORCH_CHECK(shard.world_size >= 1 && shard.rank >= 0 && shard.rank < shard.world_size,
              "shard: rank ", shard.rank, " is outside [0, ", shard.world_size, ")");
  if (shard.world_size == 1) return order;
  const int64_t n = static_cast<int64_t>(order.size());
  const int64_t per_rank = (n + shard.world_size - 1) / shard.world_size;
  std::vector<int32_t> out;
  out.reserve(per_rank);
  for (int64_t i = 0; i < per_rank; ++i)
    out.push_back(order[(shard.rank + i * shard.world_size) % std::max<int64_t>(n, 1)]);
  return out;
}

ShuffleSampler::ShuffleSampler(int64_t num_samples, uint64_t seed, Shard shard)
    : num_samples_(num_samples), seed_(seed), shard_(shard) {
  TORCH_CHECK(num_samples > 0 && num_samples <= std::numeric_limits<int32_t>::max(),
              "sampler: number of samples must lie in [1, 2^31), got ", num_samples);
}

void ShuffleSampler::begin_epoch(int64_t epoch) {
  std::vector<int32_t> all(num_samples_);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937_64 rng(core::mix_seed(seed_, epoch));
  std::shuffle(all.begin(), all.end(), rng);
  order_ = take_shard(all, shard_);
  epoch_ = epoch;
}

torch::Tensor ShuffleSampler::weights_of(const torch::Tensor& indices) const {
  return torch::ones({indices.size(0)}, torch::kFloat);
}

void ShuffleSampler::save(torch::serialize::OutputArchive& archive) const {
  archive.write("shuffle.epoch", torch::tensor(epoch_));
  archive.write("shuffle.seed", torch::tensor(static_cast<int64_t>(seed_)));
}

void ShuffleSampler::load(torch::serialize::InputArchive& archive) {
  torch::Tensor epoch, seed;
  archive.read("shuffle.epoch", epoch);
  archive.read("shuffle.seed", seed);
  seed_ = static_cast<uint64_t>(seed.item<int64_t>());
  epoch_ = epoch.item<int64_t>();
  if (epoch_ >= 0) begin_epoch(epoch_);  // the order is a pure function of (seed, epoch)
}

torch::Tensor EpochSampler::update(const torch::Tensor& indices, const torch::Tensor& losses) {
  TORCH_CHECK(losses.defined() && losses.dim() == 1,
              "update: needs the per-sample losses [batch] (a loss with reduction none), got "
              "shape ",
              losses.defined() ? losses.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(indices.defined() && indices.dim() == 1 && !indices.is_floating_point(),
              "update: needs the batch's sample indices as a 1-D integer tensor");
  TORCH_CHECK(indices.size(0) == losses.size(0), "update: ", indices.size(0), " indices for ",
              losses.size(0), " losses");
  auto weights = weights_of(indices).to(losses.device(), losses.scalar_type());
  update_scores(indices, losses.detach());
  return (weights * losses).mean();
}

TorchSampler::TorchSampler(std::shared_ptr<EpochSampler> plan) : plan_(std::move(plan)) {
  TORCH_CHECK(plan_, "TorchSampler needs a sample plan");
}

void TorchSampler::reset(torch::optional<size_t> new_size) {
  TORCH_CHECK(!new_size || static_cast<int64_t>(*new_size) == plan_->size(),
              "TorchSampler: data set size changed from ", plan_->size(), " to ", *new_size);
  plan_->begin_epoch(++epoch_);
  cursor_ = 0;
}

torch::optional<std::vector<size_t>> TorchSampler::next(size_t batch_size) {
  const auto& order = plan_->order();
  if (cursor_ >= order.size()) return torch::nullopt;
  const size_t end = std::min(order.size(), cursor_ + batch_size);
  std::vector<size_t> batch(order.begin() + cursor_, order.begin() + end);
  cursor_ = end;
  return batch;
}

void TorchSampler::save(torch::serialize::OutputArchive& archive) const {
  plan_->save(archive);
  archive.write("torch_sampler.epoch", torch::tensor(epoch_));
  archive.write("torch_sampler.cursor", torch::tensor(static_cast<int64_t>(cursor_)));
}

void TorchSampler::load(torch::serialize::InputArchive& archive) {
  plan_->load(archive);
  torch::Tensor epoch, cursor;
  archive.read("torch_sampler.epoch", epoch);
  archive.read("torch_sampler.cursor", cursor);
  epoch_ = epoch.item<int64_t>();
  cursor_ = static_cast<size_t>(cursor.item<int64_t>());
}

}  // namespace frugal::data
