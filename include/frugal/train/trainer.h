#pragma once
/// The training loop: one data flow, each step owned by one component
/// (see DESIGN.md): sampler plan -> batch -> per-sample losses -> weighted
/// loss + regularizers -> backward -> hooks -> optimizer -> hooks -> scores.

#include "frugal/data/dataset.h"
#include "frugal/data/loader.h"
#include "frugal/data/transform.h"
#include "frugal/data/epoch_sampler.h"
#include "frugal/core/hook.h"
#include "frugal/train/optim.h"

#include <torch/nn/modules/container/any.h>
#include <torch/optim/optimizer.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace frugal::dist {
class DataParallel;
}

namespace frugal::train {

/// The hook interface the trainer calls (defined in core, which every area may use).
using core::StepInfo;
using core::TrainContext;
using core::TrainHook;

struct TrainerOptions {
  /// Training epochs. Default 15; must be >= 1.
  int64_t epochs = 15;
  /// Samples per training batch, over all processes (each of W processes
  /// takes batch_size / W). Default 128; must be >= 1 and divisible by W.
  int64_t batch_size = 128;
  /// Samples per evaluation batch. Default 1000.
  int64_t eval_batch_size = 1000;
  /// Threads to train with; 0: the cores other processes leave idle
  /// (core::set_threads says how they are split between LibTorch and OpenBLAS).
  int64_t threads = 0;
  /// Seed of every random choice the loop makes (global torch RNG per epoch). Default 0.
  uint64_t seed = 0;
  /// Run directory for metrics.jsonl, checkpoint.pt, model.pt and
  /// summary.json; empty writes nothing.
  std::string run_dir;
  /// Progress bar when stderr is a terminal, a log line per epoch otherwise. Default true.
  bool progress = true;
  /// Save checkpoint.pt (checksummed, atomically) during training. Default true.
  bool checkpoint = true;
  /// Epochs between checkpoints; the last epoch is always checkpointed. Default 1; >= 1.
  int64_t checkpoint_every = 1;
  /// Optimizer steps between checkpoints, counted over the whole run, also
  /// within epochs; one that falls on an epoch's last step is written at the
  /// epoch's end. A run resumed from a checkpoint within an epoch continues
  /// it exactly. Default 0 (off); >= 0.
  int64_t checkpoint_every_steps = 0;
  /// Epochs between test evaluations; the last epoch is always evaluated. Default 1; >= 1.
  int64_t eval_every = 1;
  /// Learning-rate schedule over the run.
  ScheduleSpec schedule;
  /// Random crop and flip of training samples, seeded per (seed, epoch,
  /// sample); evaluation takes the centre crop. Default: none.
  data::AugmentOptions augment;
  /// Per-channel normalization of training and evaluation batches, usually
  /// data::channel_statistics(train) (or a packed file's stored statistics).
  /// Default: none.
  data::Normalization normalization;
  /// Worker threads that assemble the next batches while the model trains.
  data::LoaderOptions loader;
  /// Where the model, the batches and so the hooks' state (created like the
  /// parameters) live. Default none: resolve_device() picks cuda when
  /// LibTorch has it, else cpu.
  c10::optional<torch::Device> device;

  void validate() const;
};

/// `device`, or when none is given cuda if torch::cuda::is_available() and
/// cpu otherwise. Throws when a CUDA device is asked for that LibTorch lacks.
torch::Device resolve_device(const c10::optional<torch::Device>& device);

/// Per-sample loss: logits [B, C] and the batch -> losses [B] (unweighted).
/// Default: cross-entropy with reduction none.
using SampleLoss = std::function<torch::Tensor(const torch::Tensor& logits,
                                               const data::IndexedBatch& batch)>;

struct EvalResult {
  double loss = 0.0;
  double accuracy = 0.0;  // in [0, 1]
};

class Trainer {
 public:
  Trainer(torch::nn::AnyModule model, std::shared_ptr<torch::optim::Optimizer> optimizer,
          TrainerOptions options);

  /// Hooks run in the order added.
  void add_hook(std::shared_ptr<TrainHook> hook);
  void set_sample_loss(SampleLoss loss) { sample_loss_ = std::move(loss); }
  /// Trains as one of several processes (dist/data_parallel.h): parameters
  /// come from rank 0 at the start, gradients are averaged after the hooks'
  /// before_step, (index, loss) pairs of all ranks update the sampler's
  /// scores, evaluation is sharded and reduced, and only rank 0 writes the
  /// run directory and the progress. The sampler must be built with the
  /// data-parallel shard. Null (the default): a single process.
  void set_data_parallel(std::shared_ptr<dist::DataParallel> data_parallel);

  /// Continues from `checkpoint` (written by an earlier fit with the same
  /// model, optimizer, sampler and hooks) at the epoch after the one it
  /// saved, or, for a checkpoint within an epoch, at the step after it (with
  /// the same number of processes).
  void resume_from(const std::string& checkpoint);

  /// Trains on `train` in the order `sampler` plans, evaluating on `test`
  /// (skipped when empty) after every epoch. Any data set works (in memory,
  /// packed on disk, read in place). Returns the summary (also
  /// written to summary.json).
  nlohmann::json fit(const data::IndexedDataset& train, const data::IndexedDataset& test,
                     data::EpochSampler& sampler);

  EvalResult evaluate(const data::IndexedDataset& data, const StepInfo& info);

  torch::nn::Module& module() { return *model_.ptr(); }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }

 private:
  struct Run;
  /// fit() in its three parts: checks and set-up (hooks, resume, metrics
  /// file), one epoch (its steps, evaluation, metrics line, checkpoint), and
  /// the run's outputs (summary, model.pt).
  void begin_run(Run& run, const data::IndexedDataset& train, const data::IndexedDataset& test,
                 data::EpochSampler& sampler);
  void train_epoch(Run& run, int64_t epoch, const data::IndexedDataset& train,
                   const data::IndexedDataset& test, data::EpochSampler& sampler);
  nlohmann::json finish_run(Run& run, const data::IndexedDataset& train);
  /// One optimizer step on `batch`; returns its loss (bookkeeping time added to `bookkeeping_s`).
  double train_step(const data::IndexedBatch& batch, const StepInfo& info,
                    data::EpochSampler& sampler, double& bookkeeping_s);

  /// Where an unfinished epoch stands, for a checkpoint within it: this
  /// process's share of the running metrics, so that the epoch's logged loss
  /// is the uninterrupted run's, and the global generators' states.
  struct EpochPosition {
    int64_t batches_done = 0;  // 0: at the epoch's start (no position)
    int64_t samples = 0;
    double loss_sum = 0.0;
    double elapsed_s = 0.0;
    double bookkeeping_s = 0.0;
    torch::Tensor cpu_rng, device_rng;  // device_rng: only on a CUDA device
  };

  /// The model's weights and every hook's state (model.pt and checkpoints share it).
  void write_model(torch::serialize::OutputArchive& archive) const;
  void save_model() const;
  /// Every process calls it at the same points (a checkpoint within an epoch
  /// gathers the running metrics of all ranks); the file is written when
  /// `write` (rank 0 with a run directory). `within` null: at an epoch's end.
  /// `metrics_lines`: lines of metrics.jsonl so far, kept on resume.
  void save_checkpoint(data::EpochSampler& sampler, const EpochPosition* within,
                       int64_t metrics_lines, bool write);
  /// Reads resume_path_ (format 1: epoch checkpoints before steps existed; 2).
  void load_checkpoint(data::EpochSampler& sampler, int64_t world, int64_t rank);

  torch::nn::AnyModule model_;
  std::shared_ptr<torch::optim::Optimizer> optimizer_;
  TrainerOptions options_;
  torch::Device device_;
  std::vector<std::shared_ptr<TrainHook>> hooks_;
  SampleLoss sample_loss_;
  std::string resume_path_;
  std::shared_ptr<dist::DataParallel> dp_;

  // Progress that a checkpoint carries.
  int64_t next_epoch_ = 0;
  int64_t step_ = 0;
  int64_t samples_forwarded_ = 0;
  double wall_s_ = 0.0;
  EvalResult last_eval_;
  double best_accuracy_ = 0.0;
  bool evaluated_ = false;
  double max_load_ = 0.0;  // not checkpointed: a resumed run reports its own stretch
  // From a checkpoint within an epoch: where epoch next_epoch_ resumes.
  EpochPosition resume_position_;
  // Lines of metrics.jsonl a resumed run keeps; -1: those of epochs before next_epoch_.
  int64_t resume_metrics_lines_ = -1;
};

}  // namespace frugal::train
