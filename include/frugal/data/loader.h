#pragma once
/// Batches assembled ahead of the training step that needs them: worker
/// threads read, transform and stack the next batches while the model
/// trains. Batch b always holds the samples order[b*B, (b+1)*B) transformed
/// the same way, so order and content do not depend on the worker count.

#include "frugal/data/transform.h"

#include <torch/arg.h>
#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace frugal::data {

struct LoaderOptions {
  /// Threads that assemble batches ahead of training; 0: the training
  /// thread assembles each batch when it needs it; -1: default_workers().
  /// Default -1.
  TORCH_ARG(int64_t, workers) = -1;
  /// Batches each worker may have ready ahead of the one being trained on, >= 1. Default 2.
  TORCH_ARG(int64_t, prefetch) = 2;

 public:
  void validate() const;
  /// The worker count to use: `workers`, or default_workers() for -1.
  int64_t resolved_workers() const;
};

/// A quarter of the machine's cores, at least 1 and at most 4: enough to keep
/// the compute threads fed (a batch costs far less to assemble than to train).
int64_t default_workers();

class BatchLoader {
 public:
  /// Batches of `order` (int64 sample indices) in consecutive slices of
  /// `batch_size` (the last may be shorter), each transformed by `transform`.
  /// `data` must outlive the loader.
  BatchLoader(const IndexedDataset& data, torch::Tensor order, int64_t batch_size,
              SampleTransform transform, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t batches() const { return batches_; }
  /// The next batch, in order (weights undefined). Rethrows what a worker
  /// threw while assembling it.
  IndexedBatch next();

 private:
  IndexedBatch assemble(int64_t b) const;
  void work();

  const IndexedDataset& data_;
  torch::Tensor order_;
  int64_t batch_size_;
  SampleTransform transform_;
  int64_t batches_ = 0;
  int64_t window_ = 0;

  std::mutex mutex_;
  std::condition_variable ready_;  // a batch is done (or failed)
  std::condition_variable space_;  // the consumer took one: more may start
  std::map<int64_t, IndexedBatch> done_;
  std::map<int64_t, std::exception_ptr> failed_;
  int64_t next_claim_ = 0;
  int64_t next_out_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace frugal::data
