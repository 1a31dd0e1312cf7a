#include "frugal/dist/data_parallel.h"

#include "reducer.h"

#include <torch/torch.h>

#include <unordered_set>

namespace frugal::dist {

namespace {

/// A flat copy of `bucket`, ready for one collective.
torch::Tensor flatten(const std::vector<torch::Tensor>& bucket) {
  std::vector<torch::Tensor> flat;
  flat.reserve(bucket.size());
  for (const auto& t : bucket) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void unflatten(const torch::Tensor& flat, const std::vector<torch::Tensor>& bucket) {
  int64_t offset = 0;
  for (auto t : bucket) {
    const int64_t n = t.numel();
    t.copy_(flat.slice(0, offset, offset + n).view(t.sizes()));
    offset += n;
  }
}

}  // namespace

std::vector<torch::Tensor> unique_tensors(const std::vector<std::vector<torch::Tensor>>& lists) {
  std::unordered_set<const void*> seen;
  std::vector<torch::Tensor> out;
  for (const auto& list : lists)
    for (const auto& t : list)
      if (t.defined() && seen.insert(t.unsafeGetTensorImpl()).second) out.push_back(t);
  return out;
}

DataParallel::DataParallel(std::shared_ptr<Communicator> communicator, DataParallelOptions options)
    : communicator_(std::move(communicator)), options_(options) {
  TORCH_CHECK(communicator_, "dist: no communicator");
  TORCH_CHECK(options_.bucket_mb > 0, "dist: bucket_mb must be > 0, got ", options_.bucket_mb);
}

DataParallel::~DataParallel() = default;

void DataParallel::attach(const std::vector<torch::Tensor>& parameters, bool fixed_parameters) {
  if (world_size() == 1) return;
  // Removes the old Reducer's autograd hooks before a new one adds its own.
  reducer_.reset();
  reduced_.clear();
  // Every rank must take the same path, or their collectives would not pair up.
  auto all = communicator_->allgather(torch::tensor({fixed_parameters ? 1L : 0L}),
                                      "gradient averaging set-up");
  TORCH_CHECK(all.min().item<int64_t>() == all.max().item<int64_t>(), "dist: rank ", rank(),
              " and another rank disagree on whether the parameters are fixed for the run");
  if (!fixed_parameters) return;
  std::vector<torch::Tensor> trained;
  for (const auto& p : unique_tensors({parameters}))
    if (p.requires_grad()) trained.push_back(p);
  if (trained.empty()) return;
  const auto bucket_bytes = static_cast<int64_t>(options_.bucket_mb * 1024 * 1024);
  reducer_ = std::make_unique<OverlappedReducer>(*communicator_, trained, bucket_bytes);
  for (const auto& p : trained) reduced_.insert(p.unsafeGetTensorImpl());
}

void DataParallel::before_forward() {
  if (!reducer_) return;
  // At the second step the Reducer broadcasts its new buckets: a lost rank shows here.
  try {
    reducer_->before_forward();
  } catch (const std::exception& e) {
    communicator_->fail_during("the gradient buckets' rebuild after step " +
                                   std::to_string(overlapped_steps_ - 1), e);
  }
}

void DataParallel::backward(const torch::Tensor& loss, int64_t step) {
  if (!reducer_) {
    loss.backward();
    return;
  }
  reducer_->after_forward();
  // The Reducer waits for its allreduces at the end of backward: a rank that
  // stopped, or a cut link, surfaces here.
  try {
    loss.backward();
  } catch (const std::exception& e) {
    communicator_->fail_during("gradient allreduce at step " + std::to_string(step), e);
  }
  ++overlapped_steps_;
}

std::vector<std::vector<torch::Tensor>> DataParallel::buckets(
    const std::vector<torch::Tensor>& tensors) const {
  const int64_t limit = static_cast<int64_t>(options_.bucket_mb * 1024 * 1024);
  std::vector<std::vector<torch::Tensor>> out;
  int64_t bytes = 0;
  for (const auto& t : tensors) {
    TORCH_CHECK(t.device().is_cpu() && t.layout() == torch::kStrided,
                "dist: only dense CPU tensors can be averaged, got ", t.toString());
    const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    if (out.empty() || bytes + size > limit || out.back().front().scalar_type() != t.scalar_type()) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += size;
  }
  return out;
}

void DataParallel::broadcast_from_root(const std::vector<torch::Tensor>& tensors,
                                       const std::string& what) {
  if (world_size() == 1) return;
  torch::NoGradGuard no_grad;
  for (const auto& bucket : buckets(tensors)) {
    std::vector<torch::Tensor> flat = {flatten(bucket)};
    communicator_->broadcast(flat, 0, what);
    unflatten(flat[0], bucket);
  }
}

void DataParallel::add_statistics(std::function<std::vector<torch::Tensor>()> provider) {
  TORCH_CHECK(provider, "dist: null statistics provider");
  statistics_.push_back(std::move(provider));
}

void DataParallel::average_gradients(const std::vector<torch::Tensor>& parameters, int64_t step) {
  if (world_size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& p : unique_tensors({parameters}))
    if (p.grad().defined() && !reduced_.count(p.unsafeGetTensorImpl())) tensors.push_back(p.grad());
  for (const auto& provider : statistics_)
    for (const auto& t : provider()) tensors.push_back(t);

  // The layout (sizes of what is averaged) must agree across ranks, or the
  // buckets would not line up: compare it whenever it changes here.
  int64_t layout = static_cast<int64_t>(tensors.size());
  for (const auto& t : tensors)
    layout = layout * 1000003 + t.numel() * 31 + static_cast<int64_t>(t.scalar_type());
  if (layout != layout_) {
    auto all = communicator_->allgather(torch::tensor({layout}, torch::kLong),
                                        "gradient layout check at step " + std::to_string(step));
    for (int64_t r = 0; r < world_size(); ++r)
      TORCH_CHECK(all[r].item<int64_t>() == layout, "dist: rank ", r,
                  " averages other gradients than rank ", rank(), " at step ", step,
                  " (a parameter without gradient on some ranks only?)");
    layout_ = layout;
  }
  const std::string what = "gradient allreduce at step " + std::to_string(step);
  const double scale = 1.0 / static_cast<double>(world_size());
  for (const auto& bucket : buckets(tensors)) {
    std::vector<torch::Tensor> flat = {flatten(bucket)};
    communicator_->allreduce_sum(flat, what);
    flat[0].mul_(scale);
    unflatten(flat[0], bucket);
  }
}

std::pair<torch::Tensor, torch::Tensor> DataParallel::gather_scores(const torch::Tensor& indices,
                                                                    const torch::Tensor& losses,
                                                                    int64_t step) {
  if (world_size() == 1) return {indices, losses};
  TORCH_CHECK(indices.numel() == losses.numel(), "dist: ", indices.numel(), " indices but ",
              losses.numel(), " losses");
  // One int64 collective: the indices, then the losses' float32 bits.
  const int64_t n = indices.numel();
  auto bits = losses.detach().to(torch::kFloat).contiguous().view(torch::kInt).to(torch::kLong);
  auto packed = torch::cat({indices.to(torch::kLong).reshape({-1}), bits.reshape({-1})});
  auto all = communicator_->allgather(packed, "score gather at step " + std::to_string(step))
                 .view({world_size(), 2, n});
  auto all_indices = all.select(1, 0).reshape({-1}).contiguous();
  auto all_losses = all.select(1, 1).reshape({-1}).to(torch::kInt).contiguous().view(torch::kFloat);
  return {all_indices, all_losses};
}

std::vector<double> DataParallel::sum(const std::vector<double>& values, const std::string& what) {
  if (world_size() == 1 || values.empty()) return values;
  std::vector<torch::Tensor> t = {torch::tensor(values, torch::kDouble)};
  communicator_->allreduce_sum(t, what);
  return std::vector<double>(t[0].data_ptr<double>(), t[0].data_ptr<double>() + values.size());
}

void DataParallel::check_identical(const std::vector<torch::Tensor>& tensors,
                                   const std::string& what) {
  if (world_size() == 1) return;
  torch::NoGradGuard no_grad;
  // Position-weighted sums: a change anywhere (or a swap) changes them.
  double plain = 0.0, weighted = 0.0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto t = tensors[i].detach().to(torch::kDouble).reshape({-1});
    auto ramp = torch::arange(1, t.numel() + 1, torch::kDouble).mul_(1e-3 * (i + 1));
    plain += t.sum().item<double>();
    weighted += (t * ramp.sin_()).sum().item<double>();
  }
  auto all = communicator_->allgather(torch::tensor({plain, weighted}, torch::kDouble), what);
  auto a = all.view({world_size(), 2});
  for (int64_t r = 1; r < world_size(); ++r)
    TORCH_CHECK(a[r].equal(a[0]), "dist: rank ", r, "'s ", what, " differ from rank 0's (the ranks "
                "diverged: fingerprints ", a[r][0].item<double>(), " vs ", a[0][0].item<double>(), ")");
}

}  // namespace frugal::dist
