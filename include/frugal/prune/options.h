#pragma once
/// The options of score-based pruning (prune::Pruner): the method, the
/// selection, the schedule's shares and the regularizer, with their names.

#include <torch/arg.h>

#include <c10/util/Optional.h>

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::prune {

/// How the mask is computed.
enum class PruneMethod {
  /// S = |W|, M = TopV(S): zeroth order (Zhu & Gupta's AGP/GMP when gradual).
  kMagnitude,
  /// S is learned, M = TopV(S), straight-through gradient dL/dS = dL/dW' * W.
  kMovement,
  /// S is learned, M = (sigmoid(S) > tau) plus lambda * mean(sigmoid(S));
  /// at least 0.5% of each tensor is kept.
  kSoftMovement,
  /// Hard-concrete gates with an expected-L0 penalty (Louizos et al. 2018).
  kL0,
};

/// Where the top-v threshold is taken (magnitude and movement only; soft
/// movement and L0 compare every score against one threshold anyway).
enum class PruneSelection {
  /// Each tensor keeps round(v * numel) of its own weights.
  kLocal,
  /// One threshold across all pruned tensors: round(v * total) weights are
  /// kept in all, distributed by score.
  kGlobal,
};

/// How the soft movement and L0 regularizers average over the pruned tensors.
enum class RegularizerNorm {
  /// Mean over tensors of each tensor's mean, as the reference does: each
  /// weight of a small tensor is penalized more than one of a large tensor,
  /// so small layers end up sparser.
  kPerTensor,
  /// One mean over all pruned weights: every weight penalized alike.
  kPerWeight,
};

/// Parses "magnitude", "movement", "soft_movement" or "l0"; throws otherwise.
PruneMethod parse_prune_method(const std::string& name);
/// Parses "local" or "global"; throws otherwise.
PruneSelection parse_prune_selection(const std::string& name);
/// Parses "per_tensor" or "per_weight"; throws otherwise.
RegularizerNorm parse_regularizer_norm(const std::string& name);
std::string to_string(PruneMethod method);
std::string to_string(PruneSelection selection);
std::string to_string(RegularizerNorm norm);

/// Hard-concrete constants (Louizos et al. 2018), as SPEC §3 fixes them:
/// the stretch interval (l, r) and the temperature beta.
struct HardConcrete {
  static constexpr double l = -0.1;
  static constexpr double r = 1.1;
  static constexpr double beta = 2.0 / 3.0;
};

struct PruneOptions {
  explicit PruneOptions(PruneMethod method = PruneMethod::kMovement) : method_(method) {}

  /// The pruning method. Default movement.
  TORCH_ARG(PruneMethod, method);
  /// Local (per tensor) or global top-v selection (magnitude and movement).
  /// Default local.
  TORCH_ARG(PruneSelection, selection) = PruneSelection::kLocal;
  /// Share of weights remaining before and during warm-up, v_i, in (0, 1].
  /// Default 1.0 (dense at the start). Magnitude and movement only.
  TORCH_ARG(double, initial_remaining) = 1.0;
  /// Share of weights remaining after the cool-down, v_f, in (0, 1], at most
  /// v_i. Default 0.1. Magnitude and movement only; soft movement and L0
  /// reach their sparsity through the threshold and lambda.
  TORCH_ARG(double, final_remaining) = 0.1;
  /// Warm-up w_i as a share of the total steps, in [0, 1). Default 0.1.
  /// Shares rather than step counts, so a recipe stays right when the number
  /// of epochs, the batch size or the data set change. Converted to steps as
  /// round(share * T).
  TORCH_ARG(double, warmup) = 0.1;
  /// Cool-down w_f (held at the final value) as a share of the total steps,
  /// in [0, 1), warmup + cooldown < 1. Default 0.2 (the reference: warm-up
  /// 1 x, cool-down 2 x its warm-up unit).
  TORCH_ARG(double, cooldown) = 0.2;
  /// Total steps T of the schedule, and what counts as the step. 0 (default):
  /// T = StepInfo::planned_steps and the step is round(progress * T), which
  /// stays exact when InfoBatch runs fewer batches than planned. > 0: T is
  /// this and the step is StepInfo::step.
  TORCH_ARG(int64_t, total_steps) = 0;
  /// Magnitude only: prune to v_f once, at the first training step, and keep
  /// that mask; false (default) prunes gradually under the cubic schedule.
  TORCH_ARG(bool, one_shot) = false;
  /// Learning rate of the scores (movement, soft movement, L0), in their own
  /// optimizer parameter group without weight decay. Default 1e-2 (the
  /// reference uses 1e-1 for L0).
  TORCH_ARG(double, score_lr) = 1e-2;
  /// Initial value of every score. Default: 0 for movement and soft movement
  /// (sigmoid(0) = 0.5 keeps everything while tau < 0.5), 2.197 for L0
  /// (sigmoid(2.197) = 0.9: gates start almost open).
  TORCH_ARG(c10::optional<double>, score_init) = c10::nullopt;
  /// Soft movement: threshold tau before and during warm-up, in [0, 1).
  /// Default 0.
  TORCH_ARG(double, initial_threshold) = 0.0;
  /// Soft movement: threshold tau after the cool-down, in (0, 1). Default 0.1.
  /// It follows the cubic schedule from initial_threshold.
  TORCH_ARG(double, final_threshold) = 0.1;
  /// Final regularization weight lambda (>= 0). Default 400 for soft
  /// movement (ramping with tau), 125 for L0 (constant), unused otherwise.
  TORCH_ARG(c10::optional<double>, lambda) = c10::nullopt;
  /// How the regularizer averages over tensors. Default per_tensor (the
  /// reference's normalization, for which its lambdas were tuned).
  TORCH_ARG(RegularizerNorm, regularizer_norm) = RegularizerNorm::kPerTensor;
  /// Regular expressions over parameter or module names (as
  /// sparse::MaskSelection::include); a Linear or Conv weight is pruned when
  /// one matches. Default empty: every Linear and Conv weight. A pattern that
  /// matches no layer is an error.
  TORCH_ARG(std::vector<std::string>, include) = {};
  /// Regular expressions of layers kept dense even if included. Default
  /// empty. A pattern that matches no layer is an error.
  TORCH_ARG(std::vector<std::string>, dense) = {};
  /// Keep the output head dense: the last Linear module in registration
  /// order (named_modules()). Default false, as in sparse::
  /// DynamicSparsityOptions: both hooks mask every selected Linear and Conv
  /// weight unless told otherwise, so final_remaining is the share of all of
  /// them. Set it when fine-tuning with a freshly initialized small head:
  /// pruned to 1%, such a head leaves some classes without any weight (SPEC
  /// §3; recipes/fmnist-finetune-movement.toml sets it). Then final_remaining
  /// applies to the other layers, and the reports list the head under
  /// "kept_dense" and give the share over all layers as "overall_share".
  /// A model whose only Linear is the head cannot be pruned with it set.
  TORCH_ARG(bool, keep_head_dense) = false;

 public:
  /// Throws a clear error for a value out of range.
  void validate() const;
  /// score_init, or the method's default.
  double resolved_score_init() const;
  /// lambda, or the method's default (0 for methods without a regularizer).
  double resolved_lambda() const;
  /// Whether the method learns scores (movement, soft movement, L0).
  bool learns_scores() const;
};

}  // namespace frugal::prune
