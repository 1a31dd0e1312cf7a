#pragma once
/// Optimizers and learning-rate schedules.
///
/// Schedules are pure functions of the share of training done (StepInfo.progress),
/// not of a step count fixed in advance: InfoBatch changes the number of
/// batches every epoch, and a schedule keyed to `progress` stays right anyway.

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

namespace frugal::train {

struct OptimizerSpec {
  /// "sgd" or "adamw". Default "sgd".
  std::string name = "sgd";
  /// Base learning rate. Default 0.05.
  double lr = 0.05;
  /// SGD momentum. Default 0.9.
  double momentum = 0.9;
  /// SGD Nesterov momentum. Default false.
  bool nesterov = false;
  /// Decoupled (AdamW) or L2 (SGD) weight decay. Default 5e-4.
  double weight_decay = 5e-4;
  /// AdamW betas and epsilon. Defaults 0.9, 0.999, 1e-8.
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;

  void validate() const;
};

/// Builds the optimizer over `groups`; a group whose options are unset gets
/// `spec`'s options, one with options keeps its own learning rate and the
/// spec's other settings.
std::unique_ptr<torch::optim::Optimizer> build_optimizer(
    const OptimizerSpec& spec, std::vector<torch::optim::OptimizerParamGroup> groups);

/// The options of `spec` as the optimizer's option type, with learning rate `lr`.
std::unique_ptr<torch::optim::OptimizerOptions> optimizer_options(const OptimizerSpec& spec,
                                                                  double lr);

struct ScheduleSpec {
  /// "constant", "cosine", "step" or "onecycle". Default "cosine".
  std::string name = "cosine";
  /// Linear warm-up over this share of training (0 = none), before the
  /// schedule proper. Default 0. Not used by onecycle, which has its own.
  double warmup = 0.0;
  /// cosine: final factor. Default 0.
  double min_factor = 0.0;
  /// step: epochs at which the rate is multiplied by `gamma`. Default {}.
  std::vector<double> milestones;
  /// step: decay factor. Default 0.1.
  double gamma = 0.1;
  /// onecycle: share of training spent rising from 1/div to 1. Default 0.3.
  double pct_start = 0.3;
  /// onecycle: the starting rate is lr / div, the final lr / (div * final_div).
  /// Defaults 25 and 1e4 (PyTorch's OneCycleLR).
  double div = 25.0, final_div = 1e4;

  void validate() const;
};

/// Factor on the base learning rate at `progress` in [0, 1] of `epochs` epochs.
double lr_factor(const ScheduleSpec& spec, double progress, int64_t epochs);

/// Sets every group's learning rate to base_lrs[g] * factor.
void set_learning_rates(torch::optim::Optimizer& optimizer, const std::vector<double>& base_lrs,
                        double factor);

}  // namespace frugal::train
