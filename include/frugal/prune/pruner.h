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

#include "frugal/prune/masked_weight.h"
#include "frugal/prune/options.h"
#include "frugal/prune/report.h"
#include "frugal/prune/schedule.h"
#include "frugal/prune/top_v.h"
#include "frugal/sparse/mask.h"
#include "frugal/core/hook.h"

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace frugal::prune {

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
