#include "reducer.h"

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
// Needs src/dist/shim on the include path (frugal_dist's private directory).
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <algorithm>

namespace frugal::dist {

namespace {

/// DDP's first bucket: small, so the last layers' allreduce starts early and
/// overlaps the backward of the layers before them.
constexpr int64_t kFirstBucketBytes = 1024 * 1024;

}  // namespace

OverlappedReducer::OverlappedReducer(const Communicator& communicator,
                                     const std::vector<torch::Tensor>& parameters,
                                     int64_t bucket_bytes) {
  // The Communicator's own group: the Reducer's collectives share its order.
  const auto group = communicator.process_group();
  TORCH_CHECK(group, "dist: the Reducer needs a process group");
  TORCH_CHECK(!parameters.empty(), "dist: the Reducer needs at least one parameter");
  const int64_t first_bytes = std::min(bucket_bytes, kFirstBucketBytes);
  const std::vector<bool> sparse(parameters.size(), false);
  // Throws naming the parameter whose shape differs between ranks.
  c10d::verify_params_across_processes(group, parameters, c10::nullopt);
  // As torch/nn/parallel/distributed.py (1.13): buckets over the parameters
  // in reverse, since backward produces the last layers' gradients first.
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
      parameters, {static_cast<size_t>(first_bytes), static_cast<size_t>(bucket_bytes)}, sparse);
  std::reverse(buckets.begin(), buckets.end());
  std::reverse(limits.begin(), limits.end());
  reducer_ = std::make_unique<c10d::Reducer>(parameters, buckets, limits, group, sparse, bucket_bytes,
                                             /*find_unused_parameters=*/false,
                                             /*gradient_as_bucket_view=*/false,
                                             std::unordered_map<size_t, std::string>{}, first_bytes);
}

OverlappedReducer::~OverlappedReducer() = default;

void OverlappedReducer::before_forward() {
  // After the first backward, once: regroups the buckets by the order in
  // which the gradients became ready (a broadcast from rank 0 keeps the
  // ranks' buckets alike).
  reducer_->rebuild_buckets();
  reducer_->prepare_for_forward();
}

void OverlappedReducer::after_forward() { reducer_->prepare_for_backward({}); }

int64_t OverlappedReducer::buckets() const {
  return static_cast<int64_t>(reducer_->get_grad_buckets().size());
}

}  // namespace frugal::dist
