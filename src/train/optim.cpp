#include "frugal/train/optim.h"

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <cmath>

namespace frugal::train {

void OptimizerSpec::validate() const {
  TORCH_CHECK(name == "sgd" || name == "adamw", "optimizer: unknown name '", name,
              "' (known: sgd, adamw)");
  TORCH_CHECK(lr > 0 && std::isfinite(lr), "optimizer: lr must be > 0, got ", lr);
  TORCH_CHECK(momentum >= 0 && momentum < 1, "optimizer: momentum must lie in [0, 1), got ",
              momentum);
  TORCH_CHECK(!nesterov || momentum > 0, "optimizer: nesterov needs momentum > 0");
  TORCH_CHECK(weight_decay >= 0, "optimizer: weight_decay must be >= 0, got ", weight_decay);
  TORCH_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
              "optimizer: betas must lie in [0, 1), got ", beta1, ", ", beta2);
  TORCH_CHECK(eps > 0, "optimizer: eps must be > 0, got ", eps);
}

std::unique_ptr<torch::optim::OptimizerOptions> optimizer_options(const OptimizerSpec& spec,
                                                                  double lr) {
  if (spec.name == "sgd")
    return std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(lr)
                                                          .momentum(spec.momentum)
                                                          .nesterov(spec.nesterov)
                                                          .weight_decay(spec.weight_decay));
  return std::make_unique<torch::optim::AdamWOptions>(
      torch::optim::AdamWOptions(lr)
          .betas(std::make_tuple(spec.beta1, spec.beta2))
          .eps(spec.eps)
          .weight_decay(spec.weight_decay));
}

std::unique_ptr<torch::optim::Optimizer> build_optimizer(
    const OptimizerSpec& spec, std::vector<torch::optim::OptimizerParamGroup> groups) {
  spec.validate();
  std::vector<torch::optim::OptimizerParamGroup> resolved;
  for (auto& g : groups) {
    const double lr = g.has_options() ? g.options().get_lr() : spec.lr;
    resolved.emplace_back(g.params(), optimizer_options(spec, lr));
  }
  if (spec.name == "sgd")
    return std::make_unique<torch::optim::SGD>(
        resolved, static_cast<torch::optim::SGDOptions&>(*optimizer_options(spec, spec.lr)));
  return std::make_unique<torch::optim::AdamW>(
      resolved, static_cast<torch::optim::AdamWOptions&>(*optimizer_options(spec, spec.lr)));
}

void ScheduleSpec::validate() const {
  TORCH_CHECK(name == "constant" || name == "cosine" || name == "step" || name == "onecycle",
              "schedule: unknown name '", name, "' (known: constant, cosine, step, onecycle)");
  TORCH_CHECK(warmup >= 0 && warmup < 1, "schedule: warmup must lie in [0, 1), got ", warmup);
  TORCH_CHECK(min_factor >= 0 && min_factor <= 1, "schedule: min_factor must lie in [0, 1], got ",
              min_factor);
  TORCH_CHECK(gamma > 0, "schedule: gamma must be > 0, got ", gamma);
  TORCH_CHECK(pct_start > 0 && pct_start < 1, "schedule: pct_start must lie in (0, 1), got ",
              pct_start);
  TORCH_CHECK(div >= 1 && final_div >= 1, "schedule: div and final_div must be >= 1");
  for (double m : milestones) TORCH_CHECK(m >= 0, "schedule: milestones must be >= 0, got ", m);
}

double lr_factor(const ScheduleSpec& spec, double progress, int64_t epochs) {
  const double p = std::clamp(progress, 0.0, 1.0);
  if (spec.name == "onecycle") {
    const double start = 1.0 / spec.div, end = start / spec.final_div;
    auto cosine = [](double from, double to, double t) {
      return to + (from - to) * 0.5 * (1 + std::cos(M_PI * t));
    };
    if (p < spec.pct_start) return cosine(start, 1.0, p / spec.pct_start);
    return cosine(1.0, end, (p - spec.pct_start) / (1.0 - spec.pct_start));
  }
  if (p < spec.warmup) return p / spec.warmup;
  const double q = spec.warmup > 0 ? (p - spec.warmup) / (1.0 - spec.warmup) : p;
  if (spec.name == "cosine")
    return spec.min_factor + (1.0 - spec.min_factor) * 0.5 * (1 + std::cos(M_PI * q));
  if (spec.name == "step") {
    const double epoch = p * static_cast<double>(epochs);
    double factor = 1.0;
    for (double m : spec.milestones)
      if (epoch >= m) factor *= spec.gamma;
    return factor;
  }
  return 1.0;
}

void set_learning_rates(torch::optim::Optimizer& optimizer, const std::vector<double>& base_lrs,
                        double factor) {
  auto& groups = optimizer.param_groups();
  TORCH_CHECK(groups.size() == base_lrs.size(), "optimizer has ", groups.size(),
              " parameter groups but ", base_lrs.size(), " base rates were given");
  for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(base_lrs[g] * factor);
}

}  // namespace frugal::train
