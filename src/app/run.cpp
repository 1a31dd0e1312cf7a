#include "frugal/app/run.h"

#include "frugal/core/checked_file.h"
#include "frugal/data/infobatch.h"
#include "frugal/data/source.h"
#include "frugal/dist/data_parallel.h"
#include "frugal/prune/distill.h"
#include "frugal/prune/pruner.h"
#include "frugal/sparse/dynamic_sparsity.h"
#include "frugal/train/trainer.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace frugal::app {

namespace fs = std::filesystem;

data::Source load_data(const recipe::DataSection& section) { return data::open_source(section); }

data::Splits load_data_in_memory(const recipe::DataSection& section, const data::AugmentOptions& augment) {
  const data::Source source = data::open_source(section);
  data::SampleTransform transform;  // evaluation: the centre crop, no flip
  transform.augment = augment;
  transform.normalization = source.normalization;
  data::Splits splits;
  splits.train = data::materialize(*source.train, transform);
  if (source.test->size() > 0) splits.test = data::materialize(*source.test, transform);
  return splits;
}

void load_model_weights(torch::nn::Module& model, const std::string& path,
                        const std::string& skip_prefix) {
  torch::serialize::InputArchive archive, weights;
  core::load_checked(archive, path, "model init");
  TORCH_CHECK(archive.try_read("model", weights), "model init: ", path,
              " has no model (expected a run's model.pt or checkpoint.pt)");
  torch::NoGradGuard no_grad;
  // Module::save nests one archive per submodule: "body.0.weight" is body/0/weight.
  auto load_into = [&](const std::string& name, torch::Tensor& tensor, bool is_buffer) {
    if (!skip_prefix.empty() && name.rfind(skip_prefix, 0) == 0) return;
    torch::serialize::InputArchive* level = &weights;
    std::vector<torch::serialize::InputArchive> chain;
    chain.reserve(16);
    std::string rest = name;
    for (auto dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
      chain.emplace_back();
      TORCH_CHECK(level->try_read(rest.substr(0, dot), chain.back()), "model init: ", path,
                  " has no '", name, "' (a different model?)");
      level = &chain.back();
      rest = rest.substr(dot + 1);
    }
    torch::Tensor saved;
    TORCH_CHECK(level->try_read(rest, saved, is_buffer), "model init: ", path, " has no '",
                name, "' (a different model?)");
    TORCH_CHECK(saved.sizes() == tensor.sizes(), "model init: '", name, "' in ", path,
                " has shape ", saved.sizes(), ", the model has ", tensor.sizes());
    tensor.copy_(saved);
  };
  for (auto& p : model.named_parameters()) load_into(p.key(), p.value(), false);
  for (auto& b : model.named_buffers()) load_into(b.key(), b.value(), true);
}

std::shared_ptr<train::Classifier> build_model(const recipe::Recipe& recipe,
                                               const std::vector<int64_t>& sample_shape,
                                               int64_t num_classes) {
  torch::manual_seed(recipe.train.seed);
  train::ModelSpec spec = recipe.model.spec;
  spec.input_shape = sample_shape;
  spec.num_classes = num_classes;
  if (recipe.model.new_head && recipe.model.init_classes > 0)
    spec.num_classes = recipe.model.init_classes;
  auto model = train::build_model(spec);
  if (!recipe.model.init.empty()) {
    load_model_weights(*model, recipe.model.init,
                       recipe.model.new_head ? model->head_name() + "." : "");
    if (recipe.model.new_head) model->replace_head(num_classes);
  }
  return model;
}

std::string run_directory(const recipe::Recipe& recipe) {
  return (fs::path(recipe.run.out_dir) / recipe.run.name).string();
}

nlohmann::json run_recipe(const recipe::Recipe& recipe, const RunOptions& options) {
  // Checked before anything is written.
  const torch::Device device = train::resolve_device(recipe.train.device);
  auto sparse_options = recipe.sparse_options();
  if (recipe.sparse.enabled && !device.is_cpu()) {
    TORCH_CHECK(sparse_options.kernel() != kernels::KernelChoice::kSparse, "recipe: [sparse] kernel = \"sparse\" needs ",
                "[run] device = \"cpu\" (the CSR kernels are CPU-only), the device is ", device.str());
    sparse_options.kernel(kernels::KernelChoice::kDense);
  }
  const std::string dir = run_directory(recipe);
  const std::string checkpoint = (fs::path(dir) / "checkpoint.pt").string();
  if (options.resume) {
    TORCH_CHECK(fs::exists(checkpoint), "resume: ", dir, " has no checkpoint.pt");
    // Verified before anything in the run directory is rewritten.
    torch::serialize::InputArchive verified;
    core::load_checked(verified, checkpoint, "resume");
  }
  const auto& dp = options.data_parallel;
  const bool writer = !dp || dp->is_writer();
  fs::create_directories(dir);
  if (writer)
    core::write_file_atomically((fs::path(dir) / "config.toml").string(), recipe.to_toml() + "\n");

  const data::Source source = load_data(recipe.data);
  const auto sample_shape = data::transformed_shape(source.train->sample_shape(), recipe.train.augment);
  const int64_t num_classes = source.train->class_count();
  auto model = build_model(recipe, sample_shape, num_classes);
  model->to(device);  // before the optimizer and the hooks see the parameters

  std::vector<torch::optim::OptimizerParamGroup> groups = {
      torch::optim::OptimizerParamGroup(model->parameters())};
  std::shared_ptr<torch::optim::Optimizer> optimizer =
      train::build_optimizer(recipe.optimizer, std::move(groups));

  train::TrainerOptions trainer_options = recipe.train;
  trainer_options.run_dir = dir;
  trainer_options.normalization = source.normalization;
  trainer_options.device = device;
  train::Trainer trainer(torch::nn::AnyModule(model), optimizer, trainer_options);
  if (options.resume) trainer.resume_from(checkpoint);
  if (dp) trainer.set_data_parallel(dp);

  std::shared_ptr<sparse::DynamicSparsity> sparsity;
  if (recipe.sparse.enabled) {
    sparsity = std::make_shared<sparse::DynamicSparsity>(sparse_options);
    trainer.add_hook(sparsity);
    // RigL's dense gradients and SNFS's momentum are averaged like gradients.
    if (dp) dp->add_statistics([sparsity] { return sparsity->statistics_to_average(); });
  }
  std::shared_ptr<prune::Pruner> pruner;
  if (recipe.prune.enabled) {
    pruner = std::make_shared<prune::Pruner>(*model, recipe.prune.options);
    trainer.add_hook(pruner);
  }
  if (recipe.distill.enabled) {
    // The teacher is the unpruned starting model, frozen.
    auto teacher = build_model(recipe, sample_shape, num_classes);
    TORCH_CHECK(!recipe.model.new_head,
                "recipe: [distill] needs the starting model's head (new_head = false)");
    teacher->to(device);
    teacher->eval();
    for (auto& p : teacher->parameters()) p.set_requires_grad(false);
    const auto distill = recipe.distill.options;
    trainer.set_sample_loss([teacher, distill](const torch::Tensor& logits,
                                               const data::IndexedBatch& batch) {
      torch::Tensor teacher_logits;
      {
        torch::NoGradGuard no_grad;
        teacher_logits = teacher->forward(batch.inputs);
      }
      return prune::distillation_losses(logits, teacher_logits, batch.targets, distill);
    });
  }

  const data::Shard shard = dp ? dp->shard() : data::Shard{};
  std::unique_ptr<data::EpochSampler> sampler;
  if (recipe.infobatch.enabled)
    sampler = std::make_unique<data::InfoBatchSampler>(source.train->size(),
                                                       recipe.infobatch_options(), shard);
  else
    sampler = std::make_unique<data::ShuffleSampler>(source.train->size(), recipe.train.seed, shard);

  auto summary = trainer.fit(*source.train, *source.test, *sampler);
  summary["run"] = recipe.run.name;
  summary["model"] = recipe.model.spec.name;
  summary["infobatch"] = recipe.infobatch.enabled;
  summary["sparse"] = recipe.sparse.enabled ? recipe.value_text("sparse", "method") : "dense";
  summary["prune_method"] = recipe.prune.enabled ? recipe.value_text("prune", "method") : "none";
  // Count what an exported model keeps (model.pt holds the raw weights and masks).
  if (pruner) pruner->bake();
  summary["seed"] = recipe.train.seed;
  summary["device"] = device.str();
  int64_t parameters = 0, nonzero = 0;
  for (const auto& p : model->parameters()) {
    parameters += p.numel();
    nonzero += p.count_nonzero().item<int64_t>();
  }
  summary["parameters"] = parameters;
  summary["nonzero_parameters"] = nonzero;
  if (writer)
    core::write_file_atomically((fs::path(dir) / "summary.json").string(), summary.dump(2) + "\n");
  return summary;
}

}  // namespace frugal::app
