#pragma once
/// Turns a recipe into a run: data, model, optimizer, sampler, hooks, trainer.

#include "frugal/data/dataset.h"
#include "frugal/data/source.h"
#include "frugal/recipe/recipe.h"
#include "frugal/train/models.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace frugal::dist {
class DataParallel;
}

namespace frugal::app {

/// Opens, filters and limits the data the recipe names, with its normalization.
data::Source load_data(const recipe::DataSection& section);

/// The same data in memory as float tensors, normalized and centre-cropped
/// as evaluation sees them (export and inference).
data::Splits load_data_in_memory(const recipe::DataSection& section, const data::AugmentOptions& augment);

/// Builds the recipe's model for inputs shaped like `sample_shape` with
/// `num_classes` outputs, seeded with the run seed, and loads [model] init.
std::shared_ptr<train::Classifier> build_model(const recipe::Recipe& recipe,
                                               const std::vector<int64_t>& sample_shape,
                                               int64_t num_classes);

/// Loads the "model" entry of a run's model.pt or checkpoint.pt into `model`;
/// with `skip_prefix`, parameters under that prefix are left as they are.
void load_model_weights(torch::nn::Module& model, const std::string& path,
                        const std::string& skip_prefix = "");

/// out_dir/name.
std::string run_directory(const recipe::Recipe& recipe);

struct RunOptions {
  /// Continue the run in run_directory(recipe) from its checkpoint.pt.
  bool resume = false;
  /// Train as one rank of several processes (null: alone). Every rank reads
  /// the same recipe and run directory; only rank 0 writes it.
  std::shared_ptr<dist::DataParallel> data_parallel;
};

/// Trains what the recipe describes, writes the run directory (config.toml,
/// metrics.jsonl, checkpoint.pt, model.pt, summary.json) and returns the summary.
nlohmann::json run_recipe(const recipe::Recipe& recipe, const RunOptions& options = {});

}  // namespace frugal::app
