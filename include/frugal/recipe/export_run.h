#pragma once
/// `frugal export`: turns a finished run into an ordinary model. Masks are
/// baked into the weights (scores dropped), the masked weights are also
/// written in CSR form, and the remaining weights are counted per layer.

#include "frugal/prune/pruner.h"

#include <string>

namespace frugal::recipe {

struct ExportResult {
  /// The baked model: a model.pt whose "model" entry loads into the plain architecture.
  std::string model_path;
  /// The masked layers' weights in CSR form (prune/export.h format).
  std::string csr_path;
  /// Remaining weights per masked layer and in total.
  prune::RemainingReport remaining;
  /// Largest |difference| between the masked model's and the baked model's
  /// outputs on a batch of training inputs (must be ~0).
  double max_output_difference = 0.0;
};

/// Exports the run in `run_dir` (its config.toml and model.pt) into `out_dir`
/// (default: run_dir/export). Throws when the run is not finished or used no masks.
ExportResult export_run(const std::string& run_dir, std::string out_dir = "");

}  // namespace frugal::recipe
