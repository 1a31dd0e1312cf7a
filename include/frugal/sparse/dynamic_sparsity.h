#pragma once
/// Dynamic sparse training: the network is sparse from the first step to the
/// last, at an exact density, and every ΔT steps each masked layer drops its
/// smallest-magnitude active weights and grows as many inactive ones.
///
/// Papers:
/// - Mocanu et al., "Scalable training of artificial neural networks with
///   adaptive sparse connectivity inspired by network science", Nature
///   Communications 2018 (SET: random growth).
/// - Dettmers & Zettlemoyer, "Sparse Networks from Scratch: Faster Training
///   without Losing Performance", 2019 (SNFS: momentum growth, redistributed
///   across layers).
/// - Evci et al., "Rigging the Lottery: Making All Tickets Winners", ICML 2020
///   (RigL: gradient growth, cosine drop schedule, ERK).
/// - Liu et al., "Do We Actually Need Dense Over-Parameterization? In-Time
///   Over-Parameterization in Sparse Training", ICML 2021 (ITOP: the rate R_s
///   and random growth among never-active weights).
///
/// What differs from the reference code, on purpose (SPEC.md §2, "Defects"):
/// every count is exact, so the density never drifts; growth picks exactly k
/// positions among the inactive ones only; all random draws come from one
/// seeded generator that is checkpointed and is the same on every process.
///
/// Decisions the papers leave open:
/// - A weight dropped in an update may be grown again in the same update, as in
///   the RigL, SNFS and ITOP code (they grow among the zeros of the mask after
///   the drop). It then restarts at 0 with fresh optimizer state. Excluding it
///   would make exact growth impossible at densities above 1/(1 + f).
/// - Layers the distribution makes dense are never updated (dropping and
///   regrowing would only zero some of their weights).
/// - The number dropped per layer is round(f_t * active), half away from zero.
///   Ties in |W| (drop) or in |score| (growth) go to the lower flat position,
///   so decisions do not depend on a sort implementation.
/// - SNFS: the optimizer's momentum cannot be used, since gradients of inactive
///   weights are zeroed before the step; this class keeps its own exponential
///   average of the dense gradient (4 bytes per masked weight, SNFS only). Each
///   layer's growth budget is the total dropped times its share of mean
///   |momentum| over its active weights (as in SNFS), water-filled under each
///   layer's free capacity, then rounded by largest remainder: the total is
///   exact, per-layer densities move.
/// - Layers kept dense (DynamicSparsityOptions::dense_layers) are not masked
///   at all; the target density applies to the masked layers only.

#include "frugal/kernels/dispatch.h"
#include "frugal/kernels/masked_layer.h"
#include "frugal/kernels/masked_linear.h"
#include "frugal/sparse/distribution.h"
#include "frugal/sparse/drop_schedule.h"
#include "frugal/sparse/optimizer_state.h"
#include "frugal/sparse/redistribute.h"
#include "frugal/sparse/mask.h"
#include "frugal/sparse/random.h"
#include "frugal/core/hook.h"

#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace frugal::sparse {

/// How the masks change during training.
enum class SparseMethod {
  /// "static": the initial random mask is kept all along (the baseline).
  kStatic,
  /// "random" (alias "set"): grow uniformly at random among inactive weights (SET).
  kRandom,
  /// "gradient" (alias "rigl"): grow the inactive weights with the largest
  /// |dense gradient| of the update step (RigL).
  kGradient,
  /// "momentum" (alias "snfs"): grow the inactive weights with the largest
  /// |momentum of the dense gradient|, with the growth budget redistributed
  /// across layers by mean momentum (SNFS).
  kMomentum,
  /// "random_unfired": grow at random among weights never active so far; when
  /// fewer remain than must grow, all of them and the rest at random among the
  /// other inactive weights (ITOP's exploration boost).
  kRandomUnfired,
};

/// Accepts the names and aliases above (lower case). Throws on any other.
SparseMethod parse_sparse_method(const std::string& name);
/// The canonical name ("static", "random", "gradient", "momentum", "random_unfired").
std::string to_string(SparseMethod method);

struct DynamicSparsityOptions {
  /* implicit */ DynamicSparsityOptions(double density = 0.1) : density_(density) {}

  /// Share of the masked layers' weights that are active, in (0, 1]; the
  /// active count is exactly round(density * total) all run long. Default 0.1.
  TORCH_ARG(double, density) = 0.1;
  /// How the density is spread over layers. Default ERK.
  TORCH_ARG(Distribution, distribution) = Distribution::kERK;
  /// How masks change. Default gradient (RigL).
  TORCH_ARG(SparseMethod, method) = SparseMethod::kGradient;
  /// alpha: share of a layer's active weights dropped at the first update, in
  /// [0, 1]. Default 0.3 (RigL; ITOP uses 0.5).
  TORCH_ARG(double, drop_fraction) = 0.3;
  /// Decay of the drop fraction over training. Default cosine.
  TORCH_ARG(DropSchedule, schedule) = DropSchedule::kCosine;
  /// ΔT: optimizer steps between mask updates (>= 1); an update follows
  /// steps ΔT, 2ΔT, ... Default 100.
  TORCH_ARG(int64_t, update_interval) = 100;
  /// T_end: share of training (StepInfo::progress) after which masks stay
  /// fixed, in (0, 1]. Default 0.75.
  TORCH_ARG(double, t_end) = 0.75;
  /// SNFS only: smoothing factor beta of the dense-gradient momentum
  /// m <- beta m + (1 - beta) g, in [0, 1). Default 0.9.
  TORCH_ARG(double, momentum) = 0.9;
  /// Seed of the mask generator. Default: the run's seed (TrainContext::seed).
  /// Must be the same on every process of a distributed run.
  TORCH_ARG(c10::optional<uint64_t>, seed) = c10::nullopt;
  /// Regular expressions of layers kept dense and unmasked (matched against the
  /// parameter and the module name, see MaskSelection). Default none.
  TORCH_ARG(std::vector<std::string>, dense_layers);
  /// Regular expressions of the weights to mask. Default: every Linear and
  /// Conv weight.
  TORCH_ARG(std::vector<std::string>, include);
  /// Keep the output head (the last Linear module) dense and unmasked.
  /// Default false, as in prune::PruneOptions: both hooks mask every selected
  /// weight unless told otherwise, and the density applies to all of them.
  TORCH_ARG(bool, keep_head_dense) = false;
  /// Whether masked kernels::MaskedLinear and kernels::MaskedConv2d layers
  /// (the built-in models' Linear and Conv layers) run on the sparse kernels:
  /// kAuto where the measured crossover density says it is faster for the
  /// call's shape, batch and threads, kSparse always, kDense never. Plain
  /// torch::nn::Linear / Conv2d layers stay masked dense (kSparse rejects
  /// them). Such layers train in the compact form (kernels::MaskedLayer::
  /// set_compact_pattern: the optimizer steps their active weights only, in
  /// a param group this hook adds) on float32 CPU weights, except under SNFS,
  /// which needs the dense gradient every step until T_end and keeps the
  /// dense weight. The forwards of RigL's update steps, and SNFS's until
  /// T_end, run dense. Default kAuto.
  TORCH_ARG(kernels::KernelChoice, kernel) = kernels::KernelChoice::kAuto;

 public:
  /// Throws a clear error for any value out of range.
  void validate() const;
};

/// What one mask update did, per layer in masks().params() order.
struct MaskUpdateRecord {
  /// StepInfo::step of the update; -1 before the first one.
  int64_t step = -1;
  double drop_fraction = 0.0;
  /// Flat positions dropped and grown in each layer (int64; empty when the
  /// layer was left alone).
  std::vector<torch::Tensor> dropped, grown;
  double update_ms = 0.0;
};

/// The trainer hook for dynamic (and static) sparse training.
///
/// Outside the Trainer: attach(model, optimizer, total_steps), then per step
/// the calls core/hook.h shows with StepInfo::at(step, total_steps). Any
/// torch::nn::Module works, held in a shared_ptr or not. Every hook call
/// checks its StepInfo (StepInfo::validate): progress drives the drop
/// schedule and T_end, so a progress left at 0 is an error, not a run that
/// updates at the full drop fraction forever.
///
/// on_train_begin chooses the masks; the first before_forward, before_step or
/// after_step zeroes the inactive weights (later, so that a checkpoint loaded
/// after on_train_begin gets its weights back unharmed). before_step zeroes
/// the gradients of inactive weights (after keeping the dense gradient when the method needs
/// it); after_step zeroes inactive weights again and, every ΔT steps while
/// progress < T_end, drops and grows. Each update is logged as
/// {"event": "mask_update", "step", "epoch", "drop_fraction", "itop_rate",
///  "itop_rate_per_layer": {name: rate}, "density", "update_ms"}.
///
/// Sparse kernels: with options().kernel() other than kDense, each masked
/// kernels::MaskedLayer (MaskedLinear, MaskedConv2d) gets its mask as CSR pattern when the masks are
/// applied and after each update, and loses it at on_train_end; the masks
/// stay the truth (weights outside them are zero either way). In the compact
/// form the layers' `weight` tensors are brought up to date at every mask
/// update, at on_epoch_end and before_checkpoint (before the trainer's
/// checkpoints) and at on_train_end; write_back_weights() does it on demand.
///
/// Distributed runs: give every process the same seed, and average the
/// tensors of statistics_to_average() across processes after before_step,
/// together with the gradients; then all processes take the same decisions.
class DynamicSparsity : public core::TrainHook {
 public:
  explicit DynamicSparsity(DynamicSparsityOptions options);

  /// "sparse".
  std::string name() const override;
  void on_train_begin(core::TrainContext& context) override;
  void before_forward(bool training, const core::StepInfo& info) override;
  void before_step(const core::StepInfo& info) override;
  void after_step(const core::StepInfo& info) override;
  /// Adds "density" and "itop_rate".
  void on_epoch_end(int64_t epoch, nlohmann::json& record) override;
  /// write_back_weights(): a checkpoint within an epoch saves current weights.
  void before_checkpoint() override { write_back_weights(); }
  /// Adds "density", "itop_rate", "itop_rate_per_layer", "mask_updates",
  /// "active_weights", "masked_weights" and "kernel_layers" (the layers that
  /// had a CSR pattern, whose products ran sparse where the kernel choice said so).
  void on_train_end(nlohmann::json& summary) override;
  /// Masks, union masks, the generator state, the update count and (SNFS) the
  /// momentum; the schedule itself is a function of StepInfo.
  void save(torch::serialize::OutputArchive& archive) const override;
  /// Restores what save() wrote. May come before or after on_train_begin.
  void load(torch::serialize::InputArchive& archive) override;
  /// False when a layer trains in the compact form: its values (a tensor
  /// outside the model's parameters) change size at every mask update, and
  /// its weight gets no gradient. Then data-parallel gradients are averaged
  /// after backward, not overlapped with it.
  bool fixed_parameters() const override;

  /// Brings the `weight` of compact kernel layers up to date (see above).
  void write_back_weights();
  /// Marks masked layer `index` (masks().params() order; from on_train_begin
  /// on) as held outside this hook, structurally sparse, the way compact
  /// layers are held inside it: its `weight` is a stand-in, not masked at
  /// each step. The caller brings the stand-in up to date before the
  /// after_step of each update step (drop reads |W|) and takes the new mask
  /// and weights from it after. The Python package's frugal.SparseLinear
  /// layers train so, with no per-step work on a dense tensor here.
  void set_external(size_t index);
  /// Whether masked layer `index` trains in the compact form.
  bool is_compact(size_t index) const;

  /// Whether after_step(info) updates the masks.
  bool is_update_step(const core::StepInfo& info) const;
  /// f_t at `info` (0 for the static method or from T_end on).
  double drop_fraction(const core::StepInfo& info) const;
  /// Tensors a distributed run must average in place across processes between
  /// before_step and after_step, like gradients: the dense gradients kept for
  /// this step's update (gradient growth) or the momentum (momentum growth).
  /// Empty when there is nothing to average at this step.
  std::vector<torch::Tensor> statistics_to_average() const;

  const DynamicSparsityOptions& options() const { return options_; }
  /// The masks (valid from on_train_begin on). Masks changed by hand join the
  /// union at the next update.
  MaskSet& masks() { return masks_; }
  const MaskSet& masks() const { return masks_; }
  /// Per layer, every position active at some point so far (bool).
  const std::vector<torch::Tensor>& union_masks() const { return union_; }
  /// R_s: weights ever active / weights in the masked layers.
  double itop_rate() const;
  /// R_s of each layer, in masks().params() order.
  std::vector<double> itop_rate_per_layer() const;
  /// Mask updates done so far.
  int64_t updates() const { return updates_; }
  const MaskUpdateRecord& last_update() const { return last_update_; }

 private:
  void mask_weights_if_pending();
  void update_masks(const core::StepInfo& info);
  torch::Tensor grow(size_t layer, int64_t count);
  void apply_loaded();
  /// Puts the kernel layers that can into the compact form and gives the
  /// optimizer their values.
  void start_compact_layers();
  /// Gives each kernel layer its current mask as pattern; with
  /// `remap_state`, moves compact layers' optimizer state along.
  void set_kernel_patterns(bool remap_state);

  DynamicSparsityOptions options_;
  core::TrainContext context_;
  bool started_ = false;
  MaskSet masks_;
  std::vector<torch::Tensor> union_;
  /// Layers the distribution made dense; never updated.
  std::vector<bool> frozen_;
  /// Layers held outside (set_external); not masked at each step.
  std::vector<bool> external_;
  /// Dense gradients of the current update step (gradient growth).
  std::vector<torch::Tensor> dense_grad_;
  /// Exponential average of dense gradients (momentum growth).
  std::vector<torch::Tensor> momentum_;
  bool momentum_pending_ = false;
  /// Masks chosen or loaded but not yet applied to the weights.
  bool weights_pending_ = false;
  Rng rng_;
  int64_t updates_ = 0;
  MaskUpdateRecord last_update_;
  /// Per masked layer, its kernels::MaskedLayer when it runs the sparse
  /// kernels (null for plain Linear / Conv2d, layers kept dense, and under kDense).
  std::vector<std::shared_ptr<kernels::MaskedLayer>> kernel_layers_;
  /// Tensors read by load() before on_train_begin built the masks.
  std::map<std::string, torch::Tensor> loaded_;
};

}  // namespace frugal::sparse
