#include "frugal/prune/distill.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace frugal::prune {

void DistillOptions::validate() const {
  TORCH_CHECK(alpha_ce_ >= 0.0 && std::isfinite(alpha_ce_),
              "distillation alpha_ce must be >= 0, got ", alpha_ce_);
  TORCH_CHECK(alpha_kd_ >= 0.0 && std::isfinite(alpha_kd_),
              "distillation alpha_kd must be >= 0, got ", alpha_kd_);
  TORCH_CHECK(alpha_ce_ + alpha_kd_ > 0.0,
              "distillation alpha_ce and alpha_kd are both 0: the loss would be 0");
  TORCH_CHECK(temperature_ > 0.0 && std::isfinite(temperature_),
              "distillation temperature must be > 0, got ", temperature_);
}

torch::Tensor distillation_losses(const torch::Tensor& student_logits,
                                  const torch::Tensor& teacher_logits,
                                  const torch::Tensor& targets, const DistillOptions& options) {
  options.validate();
  TORCH_CHECK(student_logits.dim() == 2, "student logits must be [batch, classes], got shape ",
              student_logits.sizes());
  TORCH_CHECK(teacher_logits.sizes() == student_logits.sizes(), "teacher logits have shape ",
              teacher_logits.sizes(), ", the student's have ", student_logits.sizes());
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == student_logits.size(0),
              "targets must be [batch] = [", student_logits.size(0), "], got shape ",
              targets.sizes());
  const double t = options.temperature();
  auto ce = -at::log_softmax(student_logits, 1).gather(1, targets.unsqueeze(1)).squeeze(1);
  auto teacher = teacher_logits.detach() / t;
  auto log_p_teacher = at::log_softmax(teacher, 1);
  // KL(p_teacher || p_student), as the reference's kl_div(log p_student, p_teacher).
  auto kl = (log_p_teacher.exp() * (log_p_teacher - at::log_softmax(student_logits / t, 1))).sum(1);
  return options.alpha_ce() * ce + options.alpha_kd() * t * t * kl;
}

}  // namespace frugal::prune
