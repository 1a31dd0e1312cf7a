#pragma once
/// Recipes: TOML files that describe a whole run, turned into typed options.
/// Every key has a default; an unknown section or key, a value of the wrong
/// type or out of range is an error naming it. `to_toml()` gives the resolved
/// recipe with every default filled in (printed at start, saved in the run
/// directory).

#include "frugal/data/infobatch.h"
#include "frugal/data/loader.h"
#include "frugal/data/source.h"
#include "frugal/data/transform.h"
#include "frugal/prune/distill.h"
#include "frugal/prune/pruner.h"
#include "frugal/sparse/dynamic_sparsity.h"
#include "frugal/train/optim.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace frugal::recipe {

struct RunSection {
  /// Run name; the run directory is out_dir/name. Default "run".
  std::string name = "run";
  /// Parent directory of run directories. Default "runs".
  std::string out_dir = "runs";
  /// Seed of model initialization, data order and every random choice. Default 0.
  uint64_t seed = 0;
  /// Threads to compute with; 0 = the cores other processes leave idle. Default 0.
  int64_t threads = 0;
  /// Progress bar / per-epoch log lines on stderr. Default true.
  bool progress = true;
  /// With several processes (--nproc, --rank): seconds a collective waits
  /// for the other ranks before the run stops naming the rank lost. Default 300.
  double dist_timeout_s = 300.0;
};

/// The [data] section is the data area's own option struct (data/source.h).
using DataSection = data::SourceOptions;

struct ModelSection {
  /// "mlp", "cnn", "resnet20" or "resnet18". Default "mlp".
  std::string name = "mlp";
  /// MLP hidden widths. Default [300, 100] (LeNet-300-100).
  std::vector<int64_t> hidden = {300, 100};
  /// Start from this model file (a run's model.pt or checkpoint.pt). Default none.
  std::string init;
  /// With `init`: keep a freshly initialized output head instead of the saved
  /// one (transfer to a new task). Default false.
  bool new_head = false;
  /// With `init`: the number of classes the saved model was trained on, when
  /// the head is new (0: the data's class count). Default 0.
  int64_t init_classes = 0;
};

struct TrainSection {
  /// Training epochs. Default 15.
  int64_t epochs = 15;
  /// Samples per batch. Default 128.
  int64_t batch_size = 128;
  /// Samples per evaluation batch. Default 1000.
  int64_t eval_batch_size = 1000;
  /// Save checkpoint.pt (checksummed, atomic) during training. Default true.
  bool checkpoint = true;
  /// Epochs between checkpoints (the last epoch always). Default 1.
  int64_t checkpoint_every = 1;
  /// Epochs between test evaluations (the last epoch always). Default 1.
  int64_t eval_every = 1;
};

struct InfoBatchSection {
  /// Prune data with InfoBatch. Default false (full data).
  bool enabled = false;
  /// Share of below-mean samples skipped, in [0, 0.9]. Default 0.5.
  double prune_ratio = 0.5;
  /// Share of epochs that prune, in [0, 1]. Default 0.875.
  double delta = 0.875;
  /// Epochs without pruning at the start. Default 0.
  int64_t warmup_epochs = 0;
  /// Score = m * loss + (1 - m) * old, m in (0, 1]. Default 1 (last loss).
  double score_momentum = 1.0;
};

struct SparseSection {
  /// Dynamic sparse training of the model's Linear and Conv weights. Default false.
  bool enabled = false;
  /// Share of masked weights that are active, in (0, 1]. Default 0.1 (90% sparse).
  double density = 0.1;
  /// "uniform", "er" or "erk". Default "erk".
  std::string distribution = "erk";
  /// "static", "random" (set), "gradient" (rigl), "momentum" (snfs) or
  /// "random_unfired" (ITOP). Default "gradient".
  std::string method = "gradient";
  /// alpha: share of active weights dropped at the first update, in [0, 1]. Default 0.3.
  double drop_fraction = 0.3;
  /// Decay of the drop fraction: "cosine", "linear" or "constant". Default "cosine".
  std::string schedule = "cosine";
  /// ΔT: optimizer steps between mask updates, >= 1. Default 100.
  int64_t update_interval = 100;
  /// T_end: share of training after which masks stay fixed, in (0, 1]. Default 0.75.
  double t_end = 0.75;
  /// SNFS momentum of the dense gradient, in [0, 1). Default 0.9.
  double momentum = 0.9;
  /// Regular expressions of layers kept dense (e.g. ["body.0", "head"]). Default none.
  std::vector<std::string> dense_layers;
  /// Regular expressions of the weights to mask. Default: every Linear and Conv weight.
  std::vector<std::string> include;
  /// Whether the masked Linear layers multiply with the CSR kernels: "auto"
  /// (where measured faster than dense for the batch and threads), "sparse"
  /// (always) or "dense" (never). Default "auto".
  std::string kernel = "auto";
};

struct PruneSection {
  /// Score-based pruning while training (fine-tuning). Default false.
  bool enabled = false;
  /// "magnitude", "movement", "soft_movement" or "l0". Default "movement".
  std::string method = "movement";
  /// "local" (per tensor) or "global" (one threshold). Default "local".
  std::string selection = "local";
  /// Remaining share at the start and at the end of the cubic schedule, in (0, 1].
  /// Defaults 1.0 and 0.1.
  double initial_remaining = 1.0;
  double final_remaining = 0.1;
  /// Warm-up and cool-down as shares of training. Defaults 0.1 and 0.2.
  double warmup = 0.1;
  double cooldown = 0.2;
  /// Magnitude only: prune to final_remaining at the first step. Default false.
  bool one_shot = false;
  /// Learning rate of the scores (their own optimizer group). Default 0.01.
  double score_lr = 1e-2;
  /// Initial score (default: 0, or 2.197 for L0).
  std::optional<double> score_init;
  /// Soft movement threshold tau at the start and end of the schedule. Defaults 0 and 0.1.
  double initial_threshold = 0.0;
  double final_threshold = 0.1;
  /// Final regularization weight (default: 400 soft movement, 125 L0).
  std::optional<double> lambda;
  /// "per_tensor" (the reference) or "per_weight". Default "per_tensor".
  std::string regularizer_norm = "per_tensor";
  /// Regular expressions of the weights to prune. Default: every Linear and Conv weight.
  std::vector<std::string> include;
  /// Regular expressions of layers kept dense. Default none.
  std::vector<std::string> dense;
  /// Keep the output head dense (prune::PruneOptions::keep_head_dense). Default false.
  bool keep_head_dense = false;
};

struct DistillSection {
  /// Distill from the unpruned starting model ([model] init). Default false.
  bool enabled = false;
  /// Weights of cross-entropy and distillation terms, and the temperature.
  /// Defaults 0.5, 0.5, 2.
  double alpha_ce = 0.5;
  double alpha_kd = 0.5;
  double temperature = 2.0;
};

struct Recipe {
  RunSection run;
  DataSection data;
  /// [data] workers: the threads that assemble batches ahead of training.
  data::LoaderOptions loader;
  /// [augment]: random crop, padding and flip of training samples.
  data::AugmentOptions augment;
  ModelSection model;
  TrainSection train;
  train::OptimizerSpec optimizer;
  train::ScheduleSpec schedule;
  InfoBatchSection infobatch;
  SparseSection sparse;
  PruneSection prune;
  DistillSection distill;

  /// The resolved recipe as TOML, every default filled in.
  std::string to_toml() const;
  /// Range checks across sections; throws naming the first bad value.
  void validate() const;
  /// The [infobatch] section as sampler options (epochs and seed from [train], [run]).
  data::InfoBatchOptions infobatch_options() const;
  /// The [sparse] section as DynamicSparsity options (seed from [run]).
  sparse::DynamicSparsityOptions sparse_options() const;
  /// The [prune] section as Pruner options.
  prune::PruneOptions prune_options() const;
  /// The [distill] section as distillation options.
  prune::DistillOptions distill_options() const;

  std::string resolved_;
};

/// Parses recipe text. `source` names it in errors. `overrides` are
/// "section.key=value" strings (the value in TOML syntax; a bare word is a
/// string), applied on top of the text.
Recipe parse_recipe(const std::string& text, const std::string& source,
                    const std::vector<std::string>& overrides = {});

/// Reads and parses a recipe file.
Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace frugal::recipe
