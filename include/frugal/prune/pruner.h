#pragma once
/// Score-based pruning while fine-tuning: magnitude (one-shot and gradual),
/// movement, soft movement and L0, as a TrainHook.
///
/// Sanh, Wolf & Rush, "Movement Pruning: Adaptive Sparsity by Fine-Tuning",
/// NeurIPS 2020 (movement, soft movement; reference code: transformers
/// examples/research_projects/movement-pruning, package `emmental`).
/// Zhu & Gupta, "To prune, or not to prune", 2017 (gradual magnitude, AGP/GMP).
/// Louizos, Welling & Kingma, "Learning Sparse Neural Networks through L0
/// Regularization", ICLR 2018 (hard-concrete gates).
///
/// How the model is masked without changing its code: LibTorch modules have
/// no forward hooks, but LinearImpl and ConvNdImpl compute their output from
/// their public `weight` member, which is a second handle to the registered
/// parameter. Before every forward pass the pruner points that member at the
/// masked tensor W' = f(W, S), computed through autograd from the parameter
/// W and the scores S. The registered parameter (named_parameters()) stays
/// the original leaf tensor, so the optimizer keeps updating W, receives
/// dL/dW through W', and its state (keyed by TensorImpl) stays valid. The
/// model's forward signature and its saved parameters are unchanged: a saved
/// model holds the unmasked W, the masks live in the pruner's own state, and
/// bake() folds them in for export.

#include "frugal/prune/schedule.h"
#include "frugal/sparse/mask.h"
#include "frugal/core/hook.h"

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <c10/util/Optional.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace frugal::prune {

/// How the mask is computed.
enum class PruneMethod {
  /// S = |W|, M = TopV(S): zeroth order (Zhu & Gupta's AGP/GMP when gradual).
  magnitude,
  /// S is learned, M = TopV(S), straight-through gradient dL/dS = dL/dW' * W.
  movement,
  /// S is learned, M = (sigmoid(S) > tau) plus lambda * mean(sigmoid(S));
  /// at least 0.5% of each tensor is kept.
  soft_movement,
  /// Hard-concrete gates with an expected-L0 penalty (Louizos et al. 2018).
  l0,
};

/// Where the top-v threshold is taken (magnitude and movement only; soft
/// movement and L0 compare every score against one threshold anyway).
enum class PruneSelection {
  /// Each tensor keeps round(v * numel) of its own weights.
  local,
  /// One threshold across all pruned tensors: round(v * total) weights are
  /// kept in all, distributed by score.
  global,
};

/// How the soft movement and L0 regularizers average over the pruned tensors.
enum class RegularizerNorm {
  /// Mean over tensors of each tensor's mean, as the reference does: each
  /// weight of a small tensor is penalized more than one of a large tensor,
  /// so small layers end up sparser.
  per_tensor,
  /// One mean over all pruned weights: every weight penalized alike.
  per_weight,
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
  explicit PruneOptions(PruneMethod method = PruneMethod::movement) : method_(method) {}

  /// The pruning method. Default movement.
  TORCH_ARG(PruneMethod, method);
  /// Local (per tensor) or global top-v selection (magnitude and movement).
  /// Default local.
  TORCH_ARG(PruneSelection, selection) = PruneSelection::local;
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
  TORCH_ARG(RegularizerNorm, regularizer_norm) = RegularizerNorm::per_tensor;
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

/// round(v * n): how many weights top-v keeps out of n.
int64_t kept_count(double v, int64_t n);

/// Boolean mask keeping exactly `keep` entries of `scores` (any shape): those
/// with the largest scores; among equal scores the lower flat index wins.
torch::Tensor top_v_mask(const torch::Tensor& scores, int64_t keep);

/// Top-v masks for several score tensors: local keeps round(v * numel) of each,
/// global keeps round(v * total) across all of them (ties broken by tensor
/// order, then flat index). Boolean masks shaped like the scores.
std::vector<torch::Tensor> top_v_masks(const std::vector<torch::Tensor>& scores, double v,
                                       PruneSelection selection);

/// The straight-through masked weight of movement pruning, as a
/// torch::autograd::Function: forward W' = W * M; backward
/// dL/dW = dL/dW' * M and dL/dS = dL/dW' * W. So masked weights get no
/// gradient but their scores do, and a weight can come back. `mask` is a
/// constant of W's dtype (no gradient).
torch::Tensor masked_weight(const torch::Tensor& weight, const torch::Tensor& scores,
                            const torch::Tensor& mask);

/// Remaining weights of one pruned layer.
struct LayerRemaining {
  std::string name;
  int64_t kept = 0;
  int64_t total = 0;
  double share() const { return total > 0 ? static_cast<double>(kept) / total : 0.0; }
};

/// Remaining weights per pruned layer and in total (pruned layers only),
/// and the Linear and Conv weights the selection kept dense.
struct RemainingReport {
  std::vector<LayerRemaining> layers;
  int64_t kept = 0;
  int64_t total = 0;
  /// Weights kept dense (PruneOptions::dense, keep_head_dense), not in kept / total.
  std::vector<LayerRemaining> dense;
  double share() const { return total > 0 ? static_cast<double>(kept) / total : 0.0; }
  /// Remaining share over the pruned and the dense layers together.
  double overall_share() const;
  /// {"layers": {name: {"kept", "total", "share"}}, "kept", "total", "share"},
  /// plus "kept_dense": [names] and "overall_share" when layers were kept dense.
  nlohmann::json to_json() const;
  /// A Markdown table, one row per layer and a total row; dense layers and an
  /// overall row follow when there are any.
  std::string table() const;
};

/// Counts the non-zeros of the weights named `names` (full parameter names),
/// and of `dense` as the layers kept dense.
RemainingReport count_nonzero(torch::nn::Module& model, const std::vector<std::string>& names,
                              const std::vector<std::string>& dense = {});

/// Prunes the Linear and Conv weights of a model while it trains.
///
/// Use: construct it on the model before the optimizer is used, add it to
/// the trainer's hooks; or, in a hand-written loop, attach(model, optimizer,
/// total_steps) and call the hooks with StepInfo::at(step, total_steps) as
/// core/hook.h shows. Any torch::nn::Module works, held in a shared_ptr or not. The scores are parameters of the pruner, not of the
/// model; on_train_begin() adds them to the trainer's optimizer as their own
/// parameter group (learning rate score_lr, no weight decay) unless they are
/// already in it. Each before_forward() installs the masked weights and they
/// stay installed (after training: the last evaluation's) until the next
/// call; call restore() to put the plain parameters back, bake() to fold the
/// masks in.
///
/// What the trainer must do besides calling the hooks: a learning-rate
/// schedule must scale each group from its own base rate, read after
/// on_train_begin() (or call add_score_group() before reading them); with
/// several processes, the scores' gradients must be all-reduced like the
/// model's, or the ranks' masks drift apart.
///
/// Export (`frugal export`): build the same model and a Pruner with the same
/// options, load the checkpoint's model and this hook's state, bake(), save
/// the model, write_csr(path, to_csr(model, pruned_names())) (export.h).
///
/// The mask used for evaluation (before_forward(false)), for reporting and
/// for baking is deterministic: for L0 it is the gate
/// clamp(sigmoid(S) * (r - l) + l, 0, 1), as the reference evaluates and
/// bakes it. It is not binarized, so gates strictly between 0 and 1 scale
/// their weight; "remaining" counts gates > 0.
class Pruner : public core::TrainHook {
 public:
  /// Selects the weights and creates the scores. Throws for invalid options
  /// or patterns that match no layer. `model` must outlive the pruner.
  Pruner(torch::nn::Module& model, PruneOptions options);

  std::string name() const override { return "prune"; }

  /// Remembers the seed (for the L0 noise) and adds the score group to the
  /// optimizer if it is missing. Throws if the context's model is another one.
  void on_train_begin(core::TrainContext& context) override;
  /// Installs W' = W * M in every pruned module: with autograd when
  /// `training`, detached (and with the deterministic L0 gate) otherwise.
  void before_forward(bool training, const core::StepInfo& info) override;
  /// lambda_t * R(S) for soft movement and L0; undefined for the others.
  torch::Tensor regularizer(const core::StepInfo& info) override;
  /// Clears the scores' gradients, so they never accumulate across steps even
  /// if the trainer zeroes only the model's gradients.
  void after_step(const core::StepInfo& info) override;
  /// Adds record["prune"]: remaining share per layer and in total, and the
  /// current v_t / tau_t / lambda_t.
  void on_epoch_end(int64_t epoch, nlohmann::json& record) override;
  /// Adds summary["prune"] like on_epoch_end.
  void on_train_end(nlohmann::json& summary) override;
  /// Scores, masks and the schedule position.
  void save(torch::serialize::OutputArchive& archive) const override;
  /// Loads what save() wrote into the existing score tensors (their identity,
  /// and so the optimizer's state, is kept).
  void load(torch::serialize::InputArchive& archive) override;

  /// The learned scores, one per pruned weight (empty for magnitude).
  std::vector<torch::Tensor> score_parameters() const;
  /// Adds the scores to `optimizer` as a new group: a copy of the first
  /// group's options with lr = score_lr and weight_decay = 0 (Adam, AdamW,
  /// SGD, RMSprop, Adagrad). No-op for magnitude.
  void add_score_group(torch::optim::Optimizer& optimizer) const;

  /// The schedule position: (step, T) as options().total_steps() defines.
  std::pair<int64_t, int64_t> position(const core::StepInfo& info) const;
  /// v_t: remaining share the top-v methods aim at (1 for the others).
  double target_remaining(const core::StepInfo& info) const;
  /// tau_t of soft movement (0 for the others).
  double threshold(const core::StepInfo& info) const;
  /// lambda_t (0 for methods without a regularizer).
  double lambda(const core::StepInfo& info) const;

  /// Remaining weights under the deterministic mask at the last position a
  /// hook call saw.
  RemainingReport remaining();
  /// The pruned weights (names, parameters) and their current deterministic
  /// masks (the shared mask layer).
  const sparse::MaskSet& masks();

  /// Full parameter names of the pruned weights, in model order.
  std::vector<std::string> pruned_names() const;

  /// Points every pruned module's `weight` back at its parameter.
  void restore();
  /// W <- W * M in place (M the deterministic mask at the last position),
  /// drops the scores and restores the modules: the model is then an
  /// ordinary model whose outputs equal the masked model's. Returns the
  /// non-zeros per layer. The pruner is spent afterwards. Throws before any
  /// hook call has given a position (nothing would be pruned, or by untrained
  /// scores), except for one-shot magnitude pruning, which prunes to
  /// final_remaining by |W| at once.
  RemainingReport bake();
  bool baked() const { return baked_; }

  const PruneOptions& options() const { return options_; }

 private:
  struct Layer {
    /// The module's `weight` member that forward reads.
    torch::Tensor* slot = nullptr;
    /// The registered parameter.
    torch::Tensor param;
    /// Learned scores (undefined for magnitude).
    torch::Tensor scores;
  };

  /// Deterministic masks (float, W's dtype) at schedule position `pos` of `total`.
  std::vector<torch::Tensor> eval_masks(int64_t pos, int64_t total) const;
  /// Masks for training step `step`: the deterministic ones, or sampled L0
  /// gates (with autograd through the scores).
  std::vector<torch::Tensor> train_masks(int64_t step, int64_t pos, int64_t total);
  /// Fixes the one-shot magnitude mask at v_f from the current weights.
  void take_one_shot();
  /// The top-v share, threshold and lambda at a position.
  double v_at(int64_t pos, int64_t total) const;
  double tau_at(int64_t pos, int64_t total) const;
  double lambda_at(int64_t pos, int64_t total) const;
  CubicSchedule schedule(double initial, double final, int64_t total) const;
  void store_masks(const std::vector<torch::Tensor>& masks);
  nlohmann::json status();
  void check_not_baked(const char* what) const;

  torch::nn::Module& model_;
  PruneOptions options_;
  sparse::MaskSet masks_;
  std::vector<Layer> layers_;
  /// Last schedule position (step, T) a hook call saw; -1 before any.
  int64_t last_pos_ = -1;
  int64_t last_total_ = 1;
  /// One-shot magnitude: the mask is fixed once taken.
  bool one_shot_taken_ = false;
  uint64_t seed_ = 0;
  bool baked_ = false;
};

}  // namespace frugal::prune
