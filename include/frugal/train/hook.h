#pragma once
/// The extension point of the training loop. Weight pruning, sparse training
/// and anything else that must act at fixed points of a step implement
/// TrainHook; the Trainer calls every hook in the order they were added:
///
///   on_epoch_begin(epoch)
///   for each batch:
///     before_forward(true)      (e.g. put masked or sampled weights in place)
///     loss = mean(w_i * loss_i) + sum of regularizer(step)
///     backward
///     before_step(step)         (mask gradients, accumulate scores)
///     [all-reduce gradients]
///     optimizer.step()
///     after_step(step)          (re-apply masks; drop / grow)
///   before_forward(false); evaluate
///   on_epoch_end(epoch, record)  (add fields to the epoch's metrics line)

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace frugal::train {

/// Where training stands; schedules are pure functions of these.
struct StepInfo {
  /// Optimizer steps taken before this one (0-based global step).
  int64_t step = 0;
  /// Current epoch (0-based).
  int64_t epoch = 0;
  /// Share of training done, in [0, 1]: (epoch + batch / batches_this_epoch) / epochs.
  /// Unlike `step`, it is exact when InfoBatch changes the number of batches.
  double progress = 0.0;
  /// Steps a full-data run of the same length takes (epochs * ceil(N / batch)).
  int64_t planned_steps = 1;
};

/// What a hook may use during training. Valid from on_train_begin to on_train_end.
struct TrainContext {
  torch::nn::Module* model = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
  int64_t epochs = 0;
  int64_t planned_steps = 1;
  uint64_t seed = 0;
  /// Writes one JSON object as a line of metrics.jsonl (e.g. {"event": "mask_update", ...}).
  std::function<void(const nlohmann::json&)> log_event;
};

class TrainHook {
 public:
  virtual ~TrainHook() = default;
  /// Short name used in logs and as the hook's key in checkpoints.
  virtual std::string name() const = 0;

  virtual void on_train_begin(TrainContext& context) {}
  virtual void on_epoch_begin(int64_t epoch) {}
  /// Called before every forward pass; `training` is false for evaluation.
  virtual void before_forward(bool training, const StepInfo& info) {}
  /// A scalar added to the training loss, or an undefined tensor for none.
  virtual torch::Tensor regularizer(const StepInfo& info) { return {}; }
  virtual void before_step(const StepInfo& info) {}
  virtual void after_step(const StepInfo& info) {}
  /// Adds the hook's fields to the epoch's metrics record.
  virtual void on_epoch_end(int64_t epoch, nlohmann::json& record) {}
  /// Adds the hook's fields to summary.json.
  virtual void on_train_end(nlohmann::json& summary) {}

  /// Checkpoint state; a run resumed from it must continue exactly.
  virtual void save(torch::serialize::OutputArchive& archive) const {}
  virtual void load(torch::serialize::InputArchive& archive) {}
};

}  // namespace frugal::train
