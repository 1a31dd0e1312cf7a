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
#include "frugal/dist/communicator.h"
#include "frugal/prune/distill.h"
#include "frugal/prune/pruner.h"
#include "frugal/sparse/dynamic_sparsity.h"
#include "frugal/train/models.h"
#include "frugal/train/optim.h"
#include "frugal/train/trainer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::recipe {

/// A section that a recipe switches on (`enabled`), with the library's
/// options of what it switches on.
template <typename Options>
struct Switched {
  bool enabled = false;
  Options options;
};

/// [run] keys that belong to the program rather than to a library struct
/// (seed, threads, progress and device are TrainerOptions fields).
struct RunSection {
  /// Run name; the run directory is out_dir/name.
  std::string name = "run";
  /// Parent directory of run directories.
  std::string out_dir = "runs";
  /// With several processes: dist::DistOptions::timeout_s.
  double dist_timeout_s = dist::DistOptions().timeout_s;
};

/// [dist]: the choices of a run with several processes that the recipe
/// makes (rank, world size and master come from the command line).
struct DistSection {
  /// dist::DistOptions::backend.
  dist::Backend backend = dist::DistOptions().backend;
};

/// The [data] section is the data area's own option struct (data/source.h).
using DataSection = data::SourceOptions;


struct ModelSection {
  /// The built-in model (name, hidden widths); input shape and classes come from the data.
  train::ModelSpec spec;
  /// Start from this model file (a run's model.pt or checkpoint.pt). Default none.
  std::string init;
  /// With `init`: keep a freshly initialized output head instead of the saved
  /// one (transfer to a new task). Default false.
  bool new_head = false;
  /// With `init`: the number of classes the saved model was trained on, when
  /// the head is new (0: the data's class count). Default 0.
  int64_t init_classes = 0;
};

/// A whole run. Each section holds the library's option struct wherever one
/// exists; the keys that set them are declared once in src/recipe/keys.cpp.
struct Recipe {
  RunSection run;
  DistSection dist;
  DataSection data;
  ModelSection model;
  /// [train], [run] seed / threads / progress / device, [schedule] (train.schedule),
  /// [augment] (train.augment) and [data] workers (train.loader).
  train::TrainerOptions train;
  train::OptimizerSpec optimizer;
  /// Epochs and seed come from [train] and [run] (infobatch_options()).
  Switched<data::InfoBatchOptions> infobatch{false, data::InfoBatchOptions(train.epochs)};
  Switched<sparse::DynamicSparsityOptions> sparse;
  Switched<prune::PruneOptions> prune;
  Switched<prune::DistillOptions> distill;

  /// The resolved recipe as TOML, every default filled in.
  std::string to_toml() const;
  /// Range checks across sections; throws naming the first bad value.
  void validate() const;
  /// The [infobatch] options with epochs and seed from [train] and [run].
  data::InfoBatchOptions infobatch_options() const;
  /// The [sparse] options with the seed from [run].
  sparse::DynamicSparsityOptions sparse_options() const;
  /// The resolved value of [section] key as plain text (a string without
  /// quotes), e.g. value_text("sparse", "method") == "gradient".
  std::string value_text(const std::string& section, const std::string& key) const;
};

/// Parses recipe text. `source` names it in errors. `overrides` are
/// "section.key=value" strings (the value in TOML syntax; a bare word is a
/// string), applied on top of the text.
Recipe parse_recipe(const std::string& text, const std::string& source,
                    const std::vector<std::string>& overrides = {});

/// Reads and parses a recipe file.
Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace frugal::recipe
