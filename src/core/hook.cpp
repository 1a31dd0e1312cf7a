#include "frugal/core/hook.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace frugal::core {

StepInfo StepInfo::at(int64_t step, int64_t total_steps, int64_t epoch) {
  TORCH_CHECK(total_steps >= 1, "StepInfo::at: total_steps must be >= 1, got ", total_steps);
  TORCH_CHECK(step >= 0 && step <= total_steps, "StepInfo::at: step ", step,
              " is outside [0, total_steps = ", total_steps, "]");
  StepInfo info;
  info.step = step;
  info.epoch = epoch;
  info.progress = static_cast<double>(step) / static_cast<double>(total_steps);
  info.planned_steps = total_steps;
  info.validate("StepInfo::at");
  return info;
}

void StepInfo::validate(const char* who) const {
  TORCH_CHECK(step >= 0, who, ": StepInfo.step must be >= 0, got ", step);
  TORCH_CHECK(epoch >= 0, who, ": StepInfo.epoch must be >= 0, got ", epoch);
  TORCH_CHECK(planned_steps >= 1, who, ": StepInfo.planned_steps must be >= 1, got ",
              planned_steps);
  TORCH_CHECK(std::isfinite(progress) && progress >= 0.0 && progress <= 1.0, who,
              ": StepInfo.progress must lie in [0, 1], got ", progress);
  // The trainer's step never runs ahead of progress * planned_steps (InfoBatch
  // only removes batches); half a step of slack absorbs the rounding.
  TORCH_CHECK(static_cast<double>(step) <= progress * static_cast<double>(planned_steps) + 0.5,
              who, ": StepInfo.progress ", progress, " is behind step ", step, " of ",
              planned_steps, " planned steps (progress must be at least step / planned_steps; "
              "use StepInfo::at(step, total_steps) in a hand-written loop)");
}

void TrainHook::attach(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                       int64_t total_steps, uint64_t seed,
                       std::function<void(const nlohmann::json&)> log_event) {
  TORCH_CHECK(total_steps >= 1, name(), ".attach: total_steps must be >= 1, got ", total_steps);
  TrainContext context;
  context.model = &model;
  context.optimizer = &optimizer;
  context.epochs = 1;
  context.planned_steps = total_steps;
  context.seed = seed;
  context.log_event = std::move(log_event);
  on_train_begin(context);
}

}  // namespace frugal::core
