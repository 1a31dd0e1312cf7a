#pragma once
/// `frugal export`: turns a finished run into an ordinary model. Masks are
/// baked into the weights (scores dropped), the masked weights are also
/// written in CSR form, and the remaining weights are counted per layer.
/// It also writes the inference model whose pruned Linear layers run sparse
/// (sparse_model.h), which `frugal infer` and `frugal bench-infer` run.

#include "frugal/kernels/dispatch.h"
#include "frugal/prune/pruner.h"

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::app {

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
  /// The inference model with sparse layers (save_sparse_model format).
  std::string sparse_model_path;
  /// Per Linear layer: shape, density and whether it runs sparse (Markdown).
  std::string layer_table;
  /// Largest |difference| between the sparse model's and the baked model's
  /// outputs on the same inputs (float rounding only).
  double max_sparse_difference = 0.0;
};

struct ExportOptions {
  /// Output directory. Default empty: run_dir/export.
  std::string out_dir;
  /// Which masked Linear layers become sparse in sparse_model.pt: kAuto =
  /// those below the crossover density for `batch`, kSparse = all masked
  /// ones, kDense = none. Default kAuto.
  kernels::KernelChoice kernel = kernels::KernelChoice::kAuto;
  /// The batch size kAuto decides for. Default 32.
  int64_t batch = 32;
};

/// Exports the run in `run_dir` (its config.toml and model.pt): model.pt
/// (baked), weights.csr and sparse_model.pt. Throws when the run is not
/// finished or used no masks.
ExportResult export_run(const std::string& run_dir, const ExportOptions& options = {});

struct InferResult {
  int64_t samples = 0;
  /// Test accuracy of the sparse model and of the baked dense model.
  double sparse_accuracy = 0.0;
  double dense_accuracy = 0.0;
  /// Share of test samples on which both predict the same class.
  double agreement = 0.0;
  /// Largest |difference| between their outputs.
  double max_output_difference = 0.0;
  /// The sparse model's layers (SparseInferenceImpl::layer_table()).
  std::string layer_table;
};

/// Runs the exported sparse model (run_dir/export/sparse_model.pt) and the
/// baked model (run_dir/export/model.pt) on the run's test split in batches of
/// `batch`. Throws when the export or the test split is missing, or when the
/// two models' outputs differ by more than float rounding
/// (1e-4 * max(1, largest |output|)).
InferResult infer_run(const std::string& run_dir, int64_t batch = 256);

/// One row of bench_infer_run().
struct BenchInferRow {
  int64_t batch = 0;
  int64_t threads = 0;
  /// Best of `repeats` wall times of a forward pass over the test inputs.
  double dense_ms = 0.0;
  double sparse_ms = 0.0;
};

struct BenchInferOptions {
  /// Batch sizes to time. Default {1, 32, 256}.
  std::vector<int64_t> batches = {1, 32, 256};
  /// Intra-op threads (kernels::set_num_threads); 0 = leave as is. Default 1.
  int64_t threads = 1;
  /// Test samples per pass; 0 = the whole test split. Default 0.
  int64_t samples = 0;
  /// Timed passes per model and batch size; the fastest counts. Default 3.
  int64_t repeats = 3;
};

/// Times the baked dense model against the exported sparse model, forward
/// only, on the run's test inputs, alternating between the two in the same
/// process. Throws as infer_run() does for a missing export or test split.
std::vector<BenchInferRow> bench_infer_run(const std::string& run_dir, const BenchInferOptions& options = {});

/// The rows as a Markdown table (batch, threads, dense ms, sparse ms, speed-up).
std::string bench_infer_table(const std::vector<BenchInferRow>& rows);

}  // namespace frugal::app
