#pragma once
/// What the masked layers that can run on the CSR kernels have in common
/// (kernels::MaskedLinear, kernels::MaskedConv2d): a pattern taken from the
/// mask of their `weight` [out, ...], viewed as [out, prod(...)] in CSR, and
/// the compact form in which the optimizer trains the active weights only.
/// A sparse trainer hook (sparse/dynamic_sparsity.h) drives any of them
/// through this one interface.
///
/// Two ways to hold the weights under a pattern:
/// - set_pattern(): the dense `weight` stays the parameter that is trained;
///   forward gathers its active entries, and its gradient is a dense tensor,
///   zero off the pattern. Every step still touches all entries (the
///   gradient, the optimizer's update, the masking).
/// - set_compact_pattern(): the active weights live in values() [nnz], a
///   tensor of its own with its own gradient, which the optimizer steps
///   instead of `weight` (whose gradient stays undefined, so optimizers skip
///   it). A step then costs O(nnz) everywhere. `weight` is stale until
///   write_back().
///
/// RigL's growth step needs the dense gradient; set_dense_gradient(true) runs
/// the next forwards dense for that (Evci et al., "Rigging the Lottery",
/// ICML 2020: the dense gradient only every ΔT steps).

#include <frugal/kernels/csr.h>
#include <frugal/kernels/dispatch.h>

#include <torch/types.h>

namespace frugal::kernels {

class MaskedLayer {
 public:
  virtual ~MaskedLayer() = default;

  /// The layer's `weight` parameter [out, ...].
  virtual const torch::Tensor& masked_weight() const = 0;

  /// Multiplies on the non-zeros of `mask` (the weight's shape) from now on,
  /// with the kernel `kernel` picks (kAuto: sparse where measured or
  /// tabulated faster for each call's shape, batch and thread count).
  /// Entries of the weight outside the mask are ignored by the sparse
  /// products (keep them zero, as a mask hook does, so that both paths
  /// agree). Builds the index once per call.
  void set_pattern(const torch::Tensor& mask, KernelChoice kernel = KernelChoice::kAuto);
  /// Compact form: sets the pattern as set_pattern() does, then values() =
  /// the weight's entries on it (so call write_back() first when values() is
  /// newer than `weight`). values() is created on the first call and keeps
  /// its TensorImpl while the number of entries stays the same (drop and
  /// grow), so an optimizer holding it stays valid; otherwise it is resized in
  /// place. Returns, per new entry, the index of the same position under the
  /// previous compact pattern or -1 (kernels::pattern_source), to remap
  /// per-entry optimizer state. Needs a float32 CPU weight.
  torch::Tensor set_compact_pattern(const torch::Tensor& mask, KernelChoice kernel = KernelChoice::kAuto);
  /// Whether the weights live in values().
  bool compact() const { return values_.defined(); }
  /// The active weights [nnz] in the pattern's order (compact form only).
  const torch::Tensor& values() const { return values_; }
  /// weight <- values() on the pattern and 0 elsewhere (compact form only).
  void write_back();
  /// Compact form: the full gradient of the weight (its shape) from the last
  /// forward that ran under set_dense_gradient(true); undefined otherwise.
  torch::Tensor dense_weight_grad() const;
  /// Back to the layer's plain dense forward (writing values() back into
  /// `weight` first in the compact form).
  void clear_pattern();
  bool has_pattern() const { return has_pattern_; }
  /// The pattern set last, over [out, prod(weight.sizes()[1:])] (empty when none).
  const CsrPattern& pattern() const { return pattern_; }

  /// While true, forward runs dense even with a pattern, so the weight's
  /// gradient is dense (RigL's growth criterion). Default false.
  void set_dense_gradient(bool dense) { dense_gradient_ = dense; }
  bool dense_gradient() const { return dense_gradient_; }

 protected:
  /// The layer's name for error messages, e.g. "MaskedLinear".
  virtual const char* layer_name() const = 0;
  /// Called whenever the pattern changes or is cleared: forget cached
  /// kernel decisions.
  virtual void pattern_changed() = 0;
  /// Compact form's dense path: values() scattered into the weight's shape,
  /// differentiable with respect to values(); under set_dense_gradient(true)
  /// it is kept for dense_weight_grad().
  torch::Tensor compact_dense_weight();

  CsrPattern pattern_;
  /// The compact form's weights (a leaf tensor, not a registered parameter:
  /// the module's parameters and saved state stay those of the torch layer).
  torch::Tensor values_;
  /// The densified weight of the last dense-gradient forward (compact form).
  torch::Tensor dense_weight_;
  KernelChoice kernel_ = KernelChoice::kAuto;
  bool has_pattern_ = false;
  bool dense_gradient_ = false;
};

}  // namespace frugal::kernels
