#pragma once
/// Data-parallel training over a Communicator: what a training loop calls so
/// that W processes, each on its own shard with batch B/W, train the same
/// model as one process with batch B.
///
///   start:        broadcast_from_root(parameters and buffers), then
///                 attach(the model's parameters, fixed?)
///   every step:   before_forward(); forward; backward(loss, step) instead of
///                 loss.backward()
///                 average_gradients(parameters)  (between the hooks'
///                 before_step and optimizer.step; with the hooks' own
///                 statistics, e.g. RigL's dense gradients, added by add_statistics)
///                 gather_scores(indices, losses) -> every rank's pairs, for
///                 the sampler's update_scores on every rank
///   epoch end:    sum(...) of metrics, check_identical(parameters)
///
/// Two ways of averaging the gradients, both in buckets of about bucket_mb:
///  - overlapped with backward (c10d's Reducer, what PyTorch's DDP runs),
///    for the parameters given to attach(..., fixed_parameters = true): their
///    gradients come out of backward() averaged already. Measured 4% faster
///    on the CNN than the other way (docs/RESULTS.md, "c10d Reducer vs
///    bucketed allreduce"). The Reducer fixes the parameter list and shapes at
///    attach and needs a gradient for every one of them in every backward.
///  - after backward (average_gradients: flattened, all-reduced, divided by
///    the world size, copied back), for everything else: the parameters when
///    they are not fixed for the run (the sparse hook's compact layers, whose
///    values change at mask updates), tensors outside the model (pruning
///    scores) and the statistics.
/// With world_size 1 every call is a no-op (gather returns its input;
/// backward is loss.backward()). No dependency on the trainer: any loop can
/// use it.

#include "frugal/data/epoch_sampler.h"
#include "frugal/dist/communicator.h"

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

namespace frugal::dist {

class OverlappedReducer;  // src/dist/reducer.h: c10d's Reducer, kept out of public headers

struct DataParallelOptions {
  /// Bytes per gradient bucket, in MB. Default 25; must be > 0.
  double bucket_mb = 25.0;
};

class DataParallel {
 public:
  explicit DataParallel(std::shared_ptr<Communicator> communicator,
                        DataParallelOptions options = {});
  ~DataParallel();

  int64_t rank() const { return communicator_->rank(); }
  int64_t world_size() const { return communicator_->world_size(); }
  /// Rank 0: the one process that writes logs, metrics, checkpoints and models.
  bool is_writer() const { return rank() == 0; }
  data::Shard shard() const { return {rank(), world_size()}; }
  Communicator& communicator() { return *communicator_; }

  /// Every rank gets rank 0's values of `tensors` (in place).
  void broadcast_from_root(const std::vector<torch::Tensor>& tensors, const std::string& what);

  /// Averages the gradients of `parameters` (those with requires_grad) during
  /// backward() from now on when `fixed_parameters` (the list, the shapes and
  /// which of them get a gradient stay the same for the run), else keeps
  /// averaging them in average_gradients. Call on every rank, after
  /// broadcast_from_root, with the same values (checked); again to replace.
  void attach(const std::vector<torch::Tensor>& parameters, bool fixed_parameters);
  /// Whether attach put the gradients on the Reducer (never at world size 1).
  bool overlapped() const { return reducer_ != nullptr; }
  /// Backward passes whose gradients the Reducer averaged.
  int64_t overlapped_steps() const { return overlapped_steps_; }

  /// Before each training forward (the Reducer's per-step bookkeeping).
  void before_forward();
  /// loss.backward(), averaging the attached parameters' gradients while it
  /// runs; a failed allreduce throws the Communicator's one-line error.
  void backward(const torch::Tensor& loss, int64_t step);

  /// Tensors averaged together with the gradients at every step (e.g. the
  /// sparse hook's statistics_to_average()); `provider` is asked each step.
  void add_statistics(std::function<std::vector<torch::Tensor>()> provider);

  /// Averages the defined gradients of `parameters` (deduplicated; those
  /// attached to the Reducer are skipped: backward averaged them) and the
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
  std::unique_ptr<OverlappedReducer> reducer_;  // null: no overlap
  std::unordered_set<const void*> reduced_;     // TensorImpls the Reducer averages
  int64_t overlapped_steps_ = 0;
};

/// Parameters, then buffers, of every module, and every tensor of the
/// optimizer's groups, each TensorImpl once: what broadcast_from_root and
/// average_gradients take.
std::vector<torch::Tensor> unique_tensors(const std::vector<std::vector<torch::Tensor>>& lists);

}  // namespace frugal::dist
