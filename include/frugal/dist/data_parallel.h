#pragma once
/// Data-parallel training over a Communicator: what a training loop calls so
/// that W processes, each on its own shard with batch B/W, train the same
/// model as one process with batch B.
///
///   start:        broadcast_from_root(parameters and buffers)
///   every step:   average_gradients(parameters)  (between the hooks'
///                 before_step and optimizer.step; with the hooks' own
///                 statistics, e.g. RigL's dense gradients, added by add_statistics)
///                 gather_scores(indices, losses) -> every rank's pairs, for
///                 the sampler's update_scores on every rank
///   epoch end:    sum(...) of metrics, check_identical(parameters)
///
/// Gradients travel in buckets of about bucket_mb: flattened, all-reduced,
/// divided by the world size, copied back. With world_size 1 every call is a
/// no-op (gather returns its input). No dependency on the trainer: any loop
/// can use it.

#include "frugal/data/epoch_sampler.h"
#include "frugal/dist/communicator.h"

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace frugal::dist {

struct DataParallelOptions {
  /// Bytes per gradient bucket, in MB. Default 25; must be > 0.
  double bucket_mb = 25.0;
};

class DataParallel {
 public:
  explicit DataParallel(std::shared_ptr<Communicator> communicator,
                        DataParallelOptions options = {});

  int64_t rank() const { return communicator_->rank(); }
  int64_t world_size() const { return communicator_->world_size(); }
  /// Rank 0: the one process that writes logs, metrics, checkpoints and models.
  bool is_writer() const { return rank() == 0; }
  data::Shard shard() const { return {rank(), world_size()}; }
  Communicator& communicator() { return *communicator_; }

  /// Every rank gets rank 0's values of `tensors` (in place).
  void broadcast_from_root(const std::vector<torch::Tensor>& tensors, const std::string& what);

  /// Tensors averaged together with the gradients at every step (e.g. the
  /// sparse hook's statistics_to_average()); `provider` is asked each step.
  void add_statistics(std::function<std::vector<torch::Tensor>()> provider);

  /// Averages the defined gradients of `parameters` (deduplicated) and the
  /// statistics across ranks, in place. Every rank must pass the same list
  /// with the same gradients defined (checked whenever the layout changes).
  void average_gradients(const std::vector<torch::Tensor>& parameters, int64_t step);

  /// Every rank's (index, loss) pairs, rank-major, indices as int64 (exact
  /// for any data set size). Each rank passes the same number of pairs.
  std::pair<torch::Tensor, torch::Tensor> gather_scores(const torch::Tensor& indices,
                                                        const torch::Tensor& losses, int64_t step);

  /// Sums over ranks (float64).
  std::vector<double> sum(const std::vector<double>& values, const std::string& what);

  /// Throws naming the first rank whose `tensors` differ from rank 0's
  /// (compared by an exact float64 fingerprint).
  void check_identical(const std::vector<torch::Tensor>& tensors, const std::string& what);

  /// Seconds inside collectives so far.
  double comm_s() const { return communicator_->comm_s(); }

 private:
  /// Buckets of same-dtype tensors of at most bucket_mb (a larger tensor alone).
  std::vector<std::vector<torch::Tensor>> buckets(const std::vector<torch::Tensor>& tensors) const;

  std::shared_ptr<Communicator> communicator_;
  DataParallelOptions options_;
  std::vector<std::function<std::vector<torch::Tensor>()>> statistics_;
  int64_t layout_ = -1;  // fingerprint of the last gradient layout checked
};

/// Parameters, then buffers, of every module, and every tensor of the
/// optimizer's groups, each TensorImpl once: what broadcast_from_root and
/// average_gradients take.
std::vector<torch::Tensor> unique_tensors(const std::vector<std::vector<torch::Tensor>>& lists);

}  // namespace frugal::dist
