#include "frugal/recipe/keys.h"

#include "binder.h"
#include "frugal/recipe/recipe.h"


namespace frugal::recipe {

namespace {

using namespace binder;

bool is_csv(const Recipe& r) { return r.data.name == "csv"; }
std::string not_csv(const Recipe& r) { return "data set '" + r.data.name + "' is not a csv file"; }

bool reads_in_place(const Recipe& r) {
  return r.data.name == "idx" || r.data.name == "fashion-mnist" || r.data.name == "cifar10" || r.data.name == "cifar100";
}
std::string not_in_place(const Recipe& r) { return "data set '" + r.data.name + "' cannot be read in place"; }

bool takes_hidden(const Recipe& r) { return train::model_entry(r.model.spec.name).uses_hidden; }
std::string no_hidden(const Recipe& r) { return "model '" + r.model.spec.name + "' has no hidden widths"; }

/// Every key once, against the library's field where one exists. Adding a
/// key is one line here and one row in docs/recipes.md (the test checks both agree).
std::vector<RecipeKey> declare_keys() {
  return {
      field_key("run", "name", FRUGAL_FIELD(run.name)),
      field_key("run", "out_dir", FRUGAL_FIELD(run.out_dir)),
      field_key("run", "seed", FRUGAL_FIELD(train.seed)),
      field_key("run", "threads", FRUGAL_FIELD(train.threads), at_least(0)),
      field_key("run", "progress", FRUGAL_FIELD(train.progress)),
      device_key("run", "device", FRUGAL_FIELD(train.device)),
      field_key("run", "dist_timeout_s", FRUGAL_FIELD(run.dist_timeout_s), above(0)),

      enum_key("dist", "backend", FRUGAL_FIELD(dist.backend), dist::parse_backend, {"auto", "gloo", "nccl"}),

      name_key("data", "name", FRUGAL_FIELD(data.name), data::source_names()),
      field_key("data", "path", FRUGAL_FIELD(data.path)),
      only_if(field_key("data", "test_path", FRUGAL_FIELD(data.test_path)), is_csv, not_csv),
      only_if(field_key("data", "label_column", FRUGAL_FIELD(data.label_column)), is_csv, not_csv),
      only_if(field_key("data", "label_index", FRUGAL_FIELD(data.label_index)), is_csv, not_csv),
      field_key("data", "classes", FRUGAL_FIELD(data.classes)),
      field_key("data", "relabel", FRUGAL_FIELD(data.relabel)),
      field_key("data", "standardize", FRUGAL_FIELD(data.standardize)),
      field_key("data", "limit", FRUGAL_FIELD(data.limit), at_least(0)),
      field_key("data", "test_limit", FRUGAL_FIELD(data.test_limit), at_least(0)),
      only_if(field_key("data", "in_place", FRUGAL_FIELD(data.in_place)), reads_in_place, not_in_place),
      field_key("data", "workers", FRUGAL_FIELD(train.loader.workers()), at_least(-1)),

      field_key("augment", "crop", FRUGAL_FIELD(train.augment.crop()), at_least(0)),
      field_key("augment", "padding", FRUGAL_FIELD(train.augment.padding()), at_least(0)),
      field_key("augment", "flip", FRUGAL_FIELD(train.augment.flip())),

      name_key("model", "name", FRUGAL_FIELD(model.spec.name), train::model_names()),
      only_if(field_key("model", "hidden", FRUGAL_FIELD(model.spec.hidden)), takes_hidden, no_hidden),
      field_key("model", "init", FRUGAL_FIELD(model.init)),
      field_key("model", "new_head", FRUGAL_FIELD(model.new_head)),
      field_key("model", "init_classes", FRUGAL_FIELD(model.init_classes), at_least(0)),

      field_key("train", "epochs", FRUGAL_FIELD(train.epochs), at_least(1)),
      field_key("train", "batch_size", FRUGAL_FIELD(train.batch_size), at_least(1)),
      field_key("train", "eval_batch_size", FRUGAL_FIELD(train.eval_batch_size), at_least(1)),
      field_key("train", "checkpoint", FRUGAL_FIELD(train.checkpoint)),
      field_key("train", "checkpoint_every", FRUGAL_FIELD(train.checkpoint_every), at_least(1)),
      field_key("train", "checkpoint_every_steps", FRUGAL_FIELD(train.checkpoint_every_steps), at_least(0)),
      field_key("train", "eval_every", FRUGAL_FIELD(train.eval_every), at_least(1)),

      name_key("optimizer", "name", FRUGAL_FIELD(optimizer.name), {"sgd", "adamw"}),
      field_key("optimizer", "lr", FRUGAL_FIELD(optimizer.lr), above(0)),
      field_key("optimizer", "momentum", FRUGAL_FIELD(optimizer.momentum), closed_open(0, 1)),
      field_key("optimizer", "nesterov", FRUGAL_FIELD(optimizer.nesterov)),
      field_key("optimizer", "weight_decay", FRUGAL_FIELD(optimizer.weight_decay), at_least(0)),
      field_key("optimizer", "beta1", FRUGAL_FIELD(optimizer.beta1), closed_open(0, 1)),
      field_key("optimizer", "beta2", FRUGAL_FIELD(optimizer.beta2), closed_open(0, 1)),
      field_key("optimizer", "eps", FRUGAL_FIELD(optimizer.eps), above(0)),

      name_key("schedule", "name", FRUGAL_FIELD(train.schedule.name), {"constant", "cosine", "step", "onecycle"}),
      field_key("schedule", "warmup", FRUGAL_FIELD(train.schedule.warmup), closed_open(0, 1)),
      field_key("schedule", "min_factor", FRUGAL_FIELD(train.schedule.min_factor), closed(0, 1)),
      field_key("schedule", "milestones", FRUGAL_FIELD(train.schedule.milestones)),
      field_key("schedule", "gamma", FRUGAL_FIELD(train.schedule.gamma), above(0)),
      field_key("schedule", "pct_start", FRUGAL_FIELD(train.schedule.pct_start), {0.0, 1.0, true, true}),
      field_key("schedule", "div", FRUGAL_FIELD(train.schedule.div), at_least(1)),
      field_key("schedule", "final_div", FRUGAL_FIELD(train.schedule.final_div), at_least(1)),

      field_key("infobatch", "enabled", FRUGAL_FIELD(infobatch.enabled)),
      field_key("infobatch", "prune_ratio", FRUGAL_FIELD(infobatch.options.prune_ratio()), closed(0, 0.9)),
      field_key("infobatch", "delta", FRUGAL_FIELD(infobatch.options.delta()), closed(0, 1)),
      field_key("infobatch", "warmup_epochs", FRUGAL_FIELD(infobatch.options.warmup_epochs()), at_least(0)),
      field_key("infobatch", "score_momentum", FRUGAL_FIELD(infobatch.options.score_momentum()), open_closed(0, 1)),

      field_key("sparse", "enabled", FRUGAL_FIELD(sparse.enabled)),
      field_key("sparse", "density", FRUGAL_FIELD(sparse.options.density()), open_closed(0, 1)),
      enum_key("sparse", "distribution", FRUGAL_FIELD(sparse.options.distribution()), sparse::parse_distribution,
               {"uniform", "er", "erk"}),
      enum_key("sparse", "method", FRUGAL_FIELD(sparse.options.method()), sparse::parse_sparse_method,
               {"static", "random", "gradient", "momentum", "random_unfired"}),
      field_key("sparse", "drop_fraction", FRUGAL_FIELD(sparse.options.drop_fraction()), closed(0, 1)),
      enum_key("sparse", "schedule", FRUGAL_FIELD(sparse.options.schedule()), sparse::parse_drop_schedule,
               {"cosine", "linear", "constant"}),
      field_key("sparse", "update_interval", FRUGAL_FIELD(sparse.options.update_interval()), at_least(1)),
      field_key("sparse", "t_end", FRUGAL_FIELD(sparse.options.t_end()), open_closed(0, 1)),
      field_key("sparse", "momentum", FRUGAL_FIELD(sparse.options.momentum()), closed_open(0, 1)),
      field_key("sparse", "dense_layers", FRUGAL_FIELD(sparse.options.dense_layers())),
      field_key("sparse", "include", FRUGAL_FIELD(sparse.options.include())),
      enum_key("sparse", "kernel", FRUGAL_FIELD(sparse.options.kernel()), kernels::parse_kernel_choice,
               {"auto", "sparse", "dense"}),

      field_key("prune", "enabled", FRUGAL_FIELD(prune.enabled)),
      enum_key("prune", "method", FRUGAL_FIELD(prune.options.method()), prune::parse_prune_method,
               {"magnitude", "movement", "soft_movement", "l0"}),
      enum_key("prune", "selection", FRUGAL_FIELD(prune.options.selection()), prune::parse_prune_selection,
               {"local", "global"}),
      field_key("prune", "initial_remaining", FRUGAL_FIELD(prune.options.initial_remaining()), open_closed(0, 1)),
      field_key("prune", "final_remaining", FRUGAL_FIELD(prune.options.final_remaining()), open_closed(0, 1)),
      field_key("prune", "warmup", FRUGAL_FIELD(prune.options.warmup()), closed_open(0, 1)),
      field_key("prune", "cooldown", FRUGAL_FIELD(prune.options.cooldown()), closed_open(0, 1)),
      field_key("prune", "one_shot", FRUGAL_FIELD(prune.options.one_shot())),
      field_key("prune", "score_lr", FRUGAL_FIELD(prune.options.score_lr()), above(0)),
      field_key("prune", "score_init", FRUGAL_FIELD(prune.options.score_init())),
      field_key("prune", "initial_threshold", FRUGAL_FIELD(prune.options.initial_threshold()), closed_open(0, 1)),
      field_key("prune", "final_threshold", FRUGAL_FIELD(prune.options.final_threshold()), {0.0, 1.0, true, true}),
      field_key("prune", "lambda", FRUGAL_FIELD(prune.options.lambda()), at_least(0)),
      enum_key("prune", "regularizer_norm", FRUGAL_FIELD(prune.options.regularizer_norm()),
               prune::parse_regularizer_norm, {"per_tensor", "per_weight"}),
      field_key("prune", "include", FRUGAL_FIELD(prune.options.include())),
      field_key("prune", "dense", FRUGAL_FIELD(prune.options.dense())),
      field_key("prune", "keep_head_dense", FRUGAL_FIELD(prune.options.keep_head_dense())),

      field_key("distill", "enabled", FRUGAL_FIELD(distill.enabled)),
      field_key("distill", "alpha_ce", FRUGAL_FIELD(distill.options.alpha_ce()), at_least(0)),
      field_key("distill", "alpha_kd", FRUGAL_FIELD(distill.options.alpha_kd()), at_least(0)),
      field_key("distill", "temperature", FRUGAL_FIELD(distill.options.temperature()), above(0)),
  };
}

}  // namespace

const std::vector<RecipeKey>& recipe_keys() {
  static const std::vector<RecipeKey> keys = declare_keys();
  return keys;
}

std::vector<std::string> recipe_sections() {
  std::vector<std::string> sections;
  for (const auto& key : recipe_keys())
    if (sections.empty() || sections.back() != key.section) sections.push_back(key.section);
  return sections;
}

std::string default_text(const RecipeKey& key) {
  toml::table out;
  Recipe defaults;  // as parse_recipe() starts
  key.write(defaults, out);
  const toml::node* value = out.get(key.key);
  return value ? display(*value) : "none";
}

}  // namespace frugal::recipe
