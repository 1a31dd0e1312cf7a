#pragma once
/// Knowledge distillation from the unpruned starting model while pruning.
///
/// Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network",
/// 2015; used with pruning as in Sanh, Wolf & Rush, "Movement Pruning",
/// NeurIPS 2020 (reference: masked_run_glue.py, `--teacher_name_or_path`).

#include <torch/arg.h>
#include <torch/types.h>

namespace frugal::prune {

struct DistillOptions {
  /// Weight of the cross-entropy with the labels (>= 0). Default 0.5.
  TORCH_ARG(double, alpha_ce) = 0.5;
  /// Weight of the distillation term (>= 0). Default 0.5.
  TORCH_ARG(double, alpha_kd) = 0.5;
  /// Softmax temperature T (> 0). Default 2. The KL term is multiplied by
  /// T^2 so its gradient keeps the scale of the cross-entropy's as T varies.
  TORCH_ARG(double, temperature) = 2.0;

 public:
  /// Throws a clear error for a value out of range.
  void validate() const;
};

/// Per-sample losses [B]:
///   alpha_ce * CE(student, targets) + alpha_kd * T^2 *
///   KL(softmax(teacher / T) || softmax(student / T)),
/// the KL summed over classes. Their plain mean equals the reference's loss
/// (KL with reduction "batchmean"); the trainer may weight the samples first.
/// `teacher_logits` get no gradient. Logits [B, C], targets int64 [B].
torch::Tensor distillation_losses(const torch::Tensor& student_logits,
                                  const torch::Tensor& teacher_logits,
                                  const torch::Tensor& targets, const DistillOptions& options);

}  // namespace frugal::prune
