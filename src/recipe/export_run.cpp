#include "frugal/recipe/export_run.h"

#include "frugal/prune/export.h"
#include "frugal/recipe/recipe.h"
#include "frugal/recipe/run.h"
#include "frugal/sparse/mask.h"
#include "frugal/train/trainer.h"

#include <torch/torch.h>

#include <filesystem>

namespace frugal::recipe {

namespace fs = std::filesystem;

ExportResult export_run(const std::string& run_dir, std::string out_dir) {
  const auto config = fs::path(run_dir) / "config.toml";
  const auto model_file = fs::path(run_dir) / "model.pt";
  TORCH_CHECK(fs::exists(config), "export: ", run_dir, " has no config.toml (not a run directory)");
  TORCH_CHECK(fs::exists(model_file), "export: ", run_dir,
              " has no model.pt (the run did not finish; resume it first)");
  Recipe recipe = load_recipe(config.string());
  TORCH_CHECK(recipe.prune.enabled || recipe.sparse.enabled, "export: run ", run_dir,
              " used neither [prune] nor [sparse]: there are no masks to bake");
  if (out_dir.empty()) out_dir = (fs::path(run_dir) / "export").string();
  fs::create_directories(out_dir);

  // The architecture needs only the input shape and class count, kept in the run's model.
  DataSection data = recipe.data;
  data.limit = 256;
  data.test_limit = 1;
  data::Splits splits = load_data(data);
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
    prune::Pruner pruner(*model, recipe.prune_options());
    torch::serialize::InputArchive archive, state;
    archive.load_from(model_file.string());
    TORCH_CHECK(archive.try_read("hook.prune", state), "export: ", model_file.string(),
                " has no pruning state");
    pruner.load(state);
    train::StepInfo end;
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
    sparse::MaskSelection selection{recipe.sparse.include, recipe.sparse.dense_layers};
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
  train::write_atomically(result.model_path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive, weights;
    model->save(weights);
    archive.write("model", weights);
    archive.save_to(tmp);
  });
  result.csr_path = (fs::path(out_dir) / "weights.csr").string();
  const auto matrices = prune::to_csr(*model, names);
  train::write_atomically(result.csr_path,
                          [&](const std::string& tmp) { prune::write_csr(tmp, matrices); });
  return result;
}

}  // namespace frugal::recipe
