#pragma once
// Private to frugal_dist (not under include/): the one place that names
// c10d's Reducer, so that no public header includes reducer.hpp (which needs
// the shim in src/dist/shim).

#include "frugal/dist/communicator.h"

#include <torch/types.h>

#include <memory>
#include <vector>

namespace c10d {
class Reducer;
}  // namespace c10d

namespace frugal::dist {

/// Gradient averaging overlapped with backward: c10d's C++ Reducer (what
/// DistributedDataParallel runs), set up as DDP sets it up. Its autograd
/// hooks copy each parameter's gradient, scaled by 1/world size, into its
/// bucket and start the bucket's allreduce as soon as the bucket is full,
/// while backward goes on; backward returns with the averaged gradients.
///
/// The parameter list, their shapes, and the fact that every one of them gets
/// a gradient in every backward are fixed at construction (no unused
/// parameters are searched for).
class OverlappedReducer {
 public:
  /// `parameters`: those with requires_grad, the same on every rank (checked
  /// collectively). Buckets of at most bucket_bytes, the first (the last
  /// layers', whose gradients come first) of at most 1 MB.
  OverlappedReducer(const Communicator& communicator, const std::vector<torch::Tensor>& parameters,
                    int64_t bucket_bytes);
  ~OverlappedReducer();

  /// Before the forward whose backward is to be averaged.
  void before_forward();
  /// Between that forward and its backward.
  void after_forward();
  /// Buckets in use (after the rebuild at the second step, by gradient order).
  int64_t buckets() const;

 private:
  std::unique_ptr<c10d::Reducer> reducer_;
};

}  // namespace frugal::dist
