#include "frugal/app/export_run.h"

#include "frugal/core/blas_prime.h"
#include "frugal/core/checked_file.h"
#include "frugal/prune/export.h"
#include "frugal/recipe/recipe.h"
#include "frugal/app/run.h"
#include "frugal/app/sparse_model.h"
#include "frugal/sparse/mask.h"
#include "frugal/train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <sstream>

namespace frugal::app {

namespace fs = std::filesystem;

ExportResult export_run(const std::string& run_dir, const ExportOptions& options) {
  std::string out_dir = options.out_dir;
  const auto config = fs::path(run_dir) / "config.toml";
  const auto model_file = fs::path(run_dir) / "model.pt";
  TORCH_CHECK(fs::exists(config), "export: ", run_dir, " has no config.toml (not a run directory)");
  TORCH_CHECK(fs::exists(model_file), "export: ", run_dir,
              " has no model.pt (the run did not finish; resume it first)");
  auto recipe = frugal::recipe::load_recipe(config.string());
  TORCH_CHECK(recipe.prune.enabled || recipe.sparse.enabled, "export: run ", run_dir,
              " used neither [prune] nor [sparse]: there are no masks to bake");
  if (out_dir.empty()) out_dir = (fs::path(run_dir) / "export").string();
  fs::create_directories(out_dir);

  // The architecture needs only the input shape and class count, kept in the run's model.
  recipe::DataSection data = recipe.data;
  data.limit = 256;
  data.test_limit = 1;
  data::Splits splits = load_data_in_memory(data, recipe.train.augment);
  recipe.model.init.clear();
  recipe.model.new_head = false;
  auto model =
      build_model(recipe, splits.train.inputs.sizes().slice(1).vec(), splits.train.num_classes);
  load_model_weights(*model, model_file.string());
  model->eval();
  const auto probe = splits.train.inputs;

  ExportResult result;
  std::vector<std::string> names;
  torch::Tensor masked_output;
  if (recipe.prune.enabled) {
    prune::Pruner pruner(*model, recipe.prune.options);
    torch::serialize::InputArchive archive, state;
    core::load_checked(archive, model_file.string(), "export");
    TORCH_CHECK(archive.try_read("hook.prune", state), "export: ", model_file.string(),
                " has no pruning state");
    pruner.load(state);
    core::StepInfo end;
    end.progress = 1.0;
    end.step = end.planned_steps = std::max<int64_t>(1, pruner.options().total_steps());
    {
      torch::NoGradGuard no_grad;
      pruner.before_forward(false, end);
      masked_output = model->forward(probe);
    }
    result.remaining = pruner.bake();
    names = pruner.pruned_names();
  } else {
    // Sparse training keeps masked weights at exactly zero: the weights are the baked model.
    sparse::MaskSelection selection{recipe.sparse.options.include(), recipe.sparse.options.dense_layers()};
    sparse::MaskSet masks(*model, selection);
    for (const auto& p : masks.params()) names.push_back(p.name);
    torch::NoGradGuard no_grad;
    masked_output = model->forward(probe);
    result.remaining = prune::count_nonzero(*model, names);
  }
  {
    torch::NoGradGuard no_grad;
    result.max_output_difference =
        (model->forward(probe) - masked_output).abs().max().item<double>();
  }
  result.model_path = (fs::path(out_dir) / "model.pt").string();
  {
    torch::serialize::OutputArchive archive, weights;
    model->save(weights);
    archive.write("model", weights);
    core::save_checked(archive, result.model_path);
  }
  result.csr_path = (fs::path(out_dir) / "weights.csr").string();
  const auto matrices = prune::to_csr(*model, names);
  prune::write_csr(result.csr_path, matrices);

  SparseInference sparse(model, SparseInferenceOptions().kernel(options.kernel).batch(options.batch).layers(names));
  {
    torch::NoGradGuard no_grad;
    result.max_sparse_difference = (sparse->forward(probe) - model->forward(probe)).abs().max().item<double>();
  }
  result.layer_table = sparse->layer_table();
  result.sparse_model_path = (fs::path(out_dir) / "sparse_model.pt").string();
  save_sparse_model(*sparse, result.sparse_model_path);
  return result;
}

namespace {

/// What `frugal infer` and `frugal bench-infer` run: the run's test split,
/// the baked model and the sparse model, both from run_dir/export.
struct Exported {
  data::TensorDataset test;
  std::shared_ptr<train::Classifier> dense;
  SparseInference sparse{nullptr};
};

Exported load_exported(const std::string& run_dir) {
  const auto config = fs::path(run_dir) / "config.toml";
  const auto dense_file = fs::path(run_dir) / "export" / "model.pt";
  const auto sparse_file = fs::path(run_dir) / "export" / "sparse_model.pt";
  TORCH_CHECK(fs::exists(config), "infer: ", run_dir, " has no config.toml (not a run directory)");
  for (const auto& f : {dense_file, sparse_file})
    TORCH_CHECK(fs::exists(f), "infer: ", f.string(), " does not exist (run `frugal export ", run_dir, "` first)");
  auto recipe = frugal::recipe::load_recipe(config.string());
  // The full data as the run loaded it: standardization uses the train split's statistics.
  data::Splits splits = load_data_in_memory(recipe.data, recipe.train.augment);
  TORCH_CHECK(splits.test.size() > 0, "infer: the data of run ", run_dir, " has no test split");
  recipe.model.init.clear();
  recipe.model.new_head = false;
  const auto shape = splits.train.inputs.sizes().slice(1).vec();
  Exported e;
  e.test = splits.test;
  e.dense = build_model(recipe, shape, splits.train.num_classes);
  load_model_weights(*e.dense, dense_file.string());
  e.dense->eval();
  e.sparse = load_sparse_model(sparse_file.string(), build_model(recipe, shape, splits.train.num_classes));
  return e;
}

}  // namespace

InferResult infer_run(const std::string& run_dir, int64_t batch) {
  TORCH_CHECK(batch >= 1, "infer: batch must be >= 1, got ", batch);
  Exported e = load_exported(run_dir);
  core::prime_blas();  // forward-only: nothing else would (core/blas_prime.h)
  torch::NoGradGuard no_grad;
  InferResult r;
  r.samples = e.test.size();
  int64_t sparse_correct = 0, dense_correct = 0, agree = 0;
  double largest = 0.0;
  for (int64_t start = 0; start < r.samples; start += batch) {
    const int64_t end = std::min(r.samples, start + batch);
    const auto x = e.test.inputs.slice(0, start, end);
    const auto y = e.test.targets.slice(0, start, end);
    const auto ys = e.sparse->forward(x);
    const auto yd = e.dense->forward(x);
    const auto ps = ys.argmax(1), pd = yd.argmax(1);
    sparse_correct += ps.eq(y).sum().item<int64_t>();
    dense_correct += pd.eq(y).sum().item<int64_t>();
    agree += ps.eq(pd).sum().item<int64_t>();
    r.max_output_difference = std::max(r.max_output_difference, (ys - yd).abs().max().item<double>());
    largest = std::max(largest, yd.abs().max().item<double>());
  }
  r.sparse_accuracy = static_cast<double>(sparse_correct) / static_cast<double>(r.samples);
  r.dense_accuracy = static_cast<double>(dense_correct) / static_cast<double>(r.samples);
  r.agreement = static_cast<double>(agree) / static_cast<double>(r.samples);
  r.layer_table = e.sparse->layer_table();
  TORCH_CHECK(r.max_output_difference <= 1e-4 * std::max(1.0, largest), "infer: the sparse model's outputs differ from the baked model's by ",
              r.max_output_difference, " (largest output ", largest, "): ", run_dir, "/export is inconsistent");
  return r;
}

std::vector<BenchInferRow> bench_infer_run(const std::string& run_dir, const BenchInferOptions& options) {
  TORCH_CHECK(options.threads >= 0, "bench-infer: threads must be >= 0, got ", options.threads);
  TORCH_CHECK(options.samples >= 0, "bench-infer: samples must be >= 0, got ", options.samples);
  TORCH_CHECK(options.repeats >= 1, "bench-infer: repeats must be >= 1, got ", options.repeats);
  TORCH_CHECK(!options.batches.empty(), "bench-infer: no batch sizes given");
  for (int64_t b : options.batches) TORCH_CHECK(b >= 1, "bench-infer: batch sizes must be >= 1, got ", b);
  Exported e = load_exported(run_dir);
  if (options.threads > 0) kernels::set_num_threads(options.threads);
  core::prime_blas();  // the dense side is forward-only (core/blas_prime.h)
  const int64_t threads = at::get_num_threads();
  const int64_t n = options.samples > 0 ? std::min(options.samples, e.test.size()) : e.test.size();
  const auto inputs = e.test.inputs.slice(0, 0, n).contiguous();
  torch::NoGradGuard no_grad;

  using Clock = std::chrono::steady_clock;
  auto pass = [&](auto&& forward, int64_t batch) {
    const auto t0 = Clock::now();
    for (int64_t start = 0; start < n; start += batch) forward(inputs.slice(0, start, std::min(n, start + batch)));
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  std::vector<BenchInferRow> rows;
  for (int64_t batch : options.batches) {
    BenchInferRow row;
    row.batch = batch;
    row.threads = threads;
    row.dense_ms = row.sparse_ms = std::numeric_limits<double>::infinity();
    auto dense = [&](const torch::Tensor& x) { return e.dense->forward(x); };
    auto sparse = [&](const torch::Tensor& x) { return e.sparse->forward(x); };
    // Warm-up (allocator, kAuto decisions), then alternate so that load on
    // the machine hits both alike.
    dense(inputs.slice(0, 0, std::min(n, batch)));
    sparse(inputs.slice(0, 0, std::min(n, batch)));
    for (int64_t r = 0; r < options.repeats; ++r) {
      row.dense_ms = std::min(row.dense_ms, pass(dense, batch));
      row.sparse_ms = std::min(row.sparse_ms, pass(sparse, batch));
    }
    rows.push_back(row);
  }
  return rows;
}

std::string bench_infer_table(const std::vector<BenchInferRow>& rows) {
  std::ostringstream out;
  out << "| batch | threads | dense ms | sparse ms | speed-up |\n|---|---|---|---|---|\n" << std::fixed;
  for (const auto& r : rows)
    out << "| " << r.batch << " | " << r.threads << " | " << std::setprecision(2) << r.dense_ms << " | "
        << r.sparse_ms << " | " << r.dense_ms / r.sparse_ms << "x |\n";
  return out.str();
}

}  // namespace frugal::app
