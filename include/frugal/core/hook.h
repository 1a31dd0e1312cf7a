#pragma once
/// The extension point of the training loop. Weight pruning, sparse training
/// and anything else that must act at fixed points of a step implement
/// TrainHook. It lives in core so that the areas implementing it (sparse/,
/// prune/) and the one calling it (train/) all depend downwards. The Trainer
/// calls every hook in the order they were added:
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
///
/// A hand-written loop drives a hook the same way, without a Trainer:
///
///   hook.attach(model, optimizer, total_steps);        // once
///   for (int64_t step = 0; step < total_steps; ++step) {
///     const auto info = core::StepInfo::at(step, total_steps);
///     hook.before_forward(true, info);
///     optimizer.zero_grad();
///     auto loss = criterion(model.forward(x), y);       // + hook.regularizer(info)
///     loss.backward();
///     hook.before_step(info);
///     optimizer.step();
///     hook.after_step(info);
///   }

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace frugal::core {

/// Where training stands; schedules are pure functions of these.
struct StepInfo {
  /// Step `step` (0-based) of a loop of `total_steps` steps over one pass of
  /// fixed length: progress = step / total_steps, planned_steps = total_steps.
  /// `step` may equal `total_steps` (the state after the last step, e.g. for
  /// a final evaluation). Throws when total_steps < 1 or step is outside
  /// [0, total_steps].
  static StepInfo at(int64_t step, int64_t total_steps, int64_t epoch = 0);

  /// Throws a c10::Error naming the field when this cannot describe a run:
  /// step < 0, epoch < 0, planned_steps < 1, progress outside [0, 1] or not
  /// finite, or progress behind the step (step > progress * planned_steps,
  /// rounded): a progress left at 0 after step 0 is the usual cause. `who`
  /// starts the message. Every frugal hook checks the StepInfo it is given.
  /// (Progress ahead of the step is fine: InfoBatch runs fewer batches than
  /// planned.)
  void validate(const char* who) const;

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

/// What a hook may use during training. It is passed to on_train_begin only:
/// a hook that needs it later keeps a copy (TrainHook::attach passes a
/// temporary); the model and optimizer it points to must outlive the hook's use.
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

  /// For a hand-written loop: on_train_begin with a context for `model` and
  /// `optimizer` over `total_steps` steps (one epoch, seed `seed`, no event
  /// log unless `log_event` is given). Then pass StepInfo::at(step,
  /// total_steps) to the per-step calls, as the loop above shows.
  void attach(torch::nn::Module& model, torch::optim::Optimizer& optimizer, int64_t total_steps,
              uint64_t seed = 0, std::function<void(const nlohmann::json&)> log_event = {});
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

  /// Called on every process just before a checkpoint (at an epoch's end or
  /// within an epoch): bring state kept elsewhere (e.g. compact kernel
  /// values) into the model's weights and what save() writes. Must not change
  /// the training that follows.
  virtual void before_checkpoint() {}

  /// Whether, after on_train_begin, the model's parameters (list, shapes,
  /// and that each gets a gradient in every backward) stay as they are for
  /// the run. Data-parallel training averages gradients during backward
  /// (c10d's Reducer, which fixes all that at set-up) only when every hook
  /// says so. Default true.
  virtual bool fixed_parameters() const { return true; }

  /// Checkpoint state; a run resumed from it must continue exactly, also from
  /// a checkpoint within an epoch (then on_epoch_begin is not called again
  /// for that epoch: the state saved is from after it).
  virtual void save(torch::serialize::OutputArchive& archive) const {}
  virtual void load(torch::serialize::InputArchive& archive) {}
};

}  // namespace frugal::core
