#include "frugal/recipe/recipe.h"

#include "frugal/recipe/binder.h"

#include "frugal/data/infobatch.h"
#include "frugal/train/models.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace frugal::recipe {

namespace {

using Binding = std::function<void(Recipe&, SectionBinder&)>;

/// Every section and its keys, in the order the resolved recipe lists them.
const std::vector<std::pair<std::string, Binding>>& sections() {
  static const std::vector<std::pair<std::string, Binding>> all = {
      {"run",
       [](Recipe& r, SectionBinder& b) {
         b.bind("name", r.run.name);
         b.bind("out_dir", r.run.out_dir);
         b.bind("seed", r.run.seed);
         b.bind("threads", r.run.threads);
         b.bind("progress", r.run.progress);
         b.bind("dist_timeout_s", r.run.dist_timeout_s);
       }},
      {"data",
       [](Recipe& r, SectionBinder& b) {
         b.bind("name", r.data.name);
         b.bind("path", r.data.path);
         b.bind("test_path", r.data.test_path);
         b.bind("label_column", r.data.label_column);
         b.bind("label_index", r.data.label_index);
         b.bind("classes", r.data.classes);
         b.bind("relabel", r.data.relabel);
         b.bind("standardize", r.data.standardize);
         b.bind("limit", r.data.limit);
         b.bind("test_limit", r.data.test_limit);
         b.bind("in_place", r.data.in_place);
         b.bind("workers", r.loader.workers());
       }},
      {"augment",
       [](Recipe& r, SectionBinder& b) {
         b.bind("crop", r.augment.crop());
         b.bind("padding", r.augment.padding());
         b.bind("flip", r.augment.flip());
       }},
      {"model",
       [](Recipe& r, SectionBinder& b) {
         b.bind("name", r.model.name);
         b.bind("hidden", r.model.hidden);
         b.bind("init", r.model.init);
         b.bind("new_head", r.model.new_head);
         b.bind("init_classes", r.model.init_classes);
       }},
      {"train",
       [](Recipe& r, SectionBinder& b) {
         b.bind("epochs", r.train.epochs);
         b.bind("batch_size", r.train.batch_size);
         b.bind("eval_batch_size", r.train.eval_batch_size);
         b.bind("checkpoint", r.train.checkpoint);
         b.bind("checkpoint_every", r.train.checkpoint_every);
         b.bind("eval_every", r.train.eval_every);
       }},
      {"optimizer",
       [](Recipe& r, SectionBinder& b) {
         b.bind("name", r.optimizer.name);
         b.bind("lr", r.optimizer.lr);
         b.bind("momentum", r.optimizer.momentum);
         b.bind("nesterov", r.optimizer.nesterov);
         b.bind("weight_decay", r.optimizer.weight_decay);
         b.bind("beta1", r.optimizer.beta1);
         b.bind("beta2", r.optimizer.beta2);
         b.bind("eps", r.optimizer.eps);
       }},
      {"schedule",
       [](Recipe& r, SectionBinder& b) {
         b.bind("name", r.schedule.name);
         b.bind("warmup", r.schedule.warmup);
         b.bind("min_factor", r.schedule.min_factor);
         b.bind("milestones", r.schedule.milestones);
         b.bind("gamma", r.schedule.gamma);
         b.bind("pct_start", r.schedule.pct_start);
         b.bind("div", r.schedule.div);
         b.bind("final_div", r.schedule.final_div);
       }},
      {"infobatch",
       [](Recipe& r, SectionBinder& b) {
         b.bind("enabled", r.infobatch.enabled);
         b.bind("prune_ratio", r.infobatch.prune_ratio);
         b.bind("delta", r.infobatch.delta);
         b.bind("warmup_epochs", r.infobatch.warmup_epochs);
         b.bind("score_momentum", r.infobatch.score_momentum);
       }},
      {"sparse",
       [](Recipe& r, SectionBinder& b) {
         b.bind("enabled", r.sparse.enabled);
         b.bind("density", r.sparse.density);
         b.bind("distribution", r.sparse.distribution);
         b.bind("method", r.sparse.method);
         b.bind("drop_fraction", r.sparse.drop_fraction);
         b.bind("schedule", r.sparse.schedule);
         b.bind("update_interval", r.sparse.update_interval);
         b.bind("t_end", r.sparse.t_end);
         b.bind("momentum", r.sparse.momentum);
         b.bind("dense_layers", r.sparse.dense_layers);
         b.bind("include", r.sparse.include);
         b.bind("kernel", r.sparse.kernel);
       }},
      {"prune",
       [](Recipe& r, SectionBinder& b) {
         b.bind("enabled", r.prune.enabled);
         b.bind("method", r.prune.method);
         b.bind("selection", r.prune.selection);
         b.bind("initial_remaining", r.prune.initial_remaining);
         b.bind("final_remaining", r.prune.final_remaining);
         b.bind("warmup", r.prune.warmup);
         b.bind("cooldown", r.prune.cooldown);
         b.bind("one_shot", r.prune.one_shot);
         b.bind("score_lr", r.prune.score_lr);
         b.bind("score_init", r.prune.score_init);
         b.bind("initial_threshold", r.prune.initial_threshold);
         b.bind("final_threshold", r.prune.final_threshold);
         b.bind("lambda", r.prune.lambda);
         b.bind("regularizer_norm", r.prune.regularizer_norm);
         b.bind("include", r.prune.include);
         b.bind("dense", r.prune.dense);
         b.bind("keep_head_dense", r.prune.keep_head_dense);
       }},
      {"distill",
       [](Recipe& r, SectionBinder& b) {
         b.bind("enabled", r.distill.enabled);
         b.bind("alpha_ce", r.distill.alpha_ce);
         b.bind("alpha_kd", r.distill.alpha_kd);
         b.bind("temperature", r.distill.temperature);
       }},
  };
  return all;
}

std::string section_names() {
  std::string out;
  for (const auto& [name, bind] : sections()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

/// "section.key=value" applied onto `table`.
void apply_override(toml::table& table, const std::string& assignment) {
  const auto eq = assignment.find('=');
  const auto dot = assignment.find('.');
  TORCH_CHECK(eq != std::string::npos && dot != std::string::npos && dot < eq,
              "--set expects section.key=value, got '", assignment, "'");
  const std::string section = assignment.substr(0, dot);
  const std::string key = assignment.substr(dot + 1, eq - dot - 1);
  const std::string value = assignment.substr(eq + 1);
  TORCH_CHECK(!key.empty(), "--set expects section.key=value, got '", assignment, "'");
  toml::node_view<toml::node> existing = table[section];
  TORCH_CHECK(!existing || existing.is_table(), "recipe: '", section, "' is not a section");
  if (!existing) table.insert(section, toml::table{});
  auto* target = table[section].as_table();
  try {
    toml::table parsed = toml::parse("v = " + value);
    target->insert_or_assign(key, *parsed.get("v"));
  } catch (const toml::parse_error&) {
    target->insert_or_assign(key, value);  // a bare word: a string
  }
}

std::string format_source(const toml::source_region& where) {
  std::ostringstream out;
  out << "line " << where.begin.line << ", column " << where.begin.column;
  return out.str();
}

}  // namespace

Recipe parse_recipe(const std::string& text, const std::string& source,
                    const std::vector<std::string>& overrides) {
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    TORCH_CHECK(false, "recipe ", source, ": ", e.description(), " at ",
                format_source(e.source()));
  }
  for (const auto& assignment : overrides) apply_override(table, assignment);

  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    bool known = false;
    for (const auto& [section, bind] : sections()) known = known || section == name;
    TORCH_CHECK(known, "recipe ", source, ": unknown section [", name,
                "] (valid sections: ", section_names(), ")");
    TORCH_CHECK(node.is_table(), "recipe ", source, ": '", name, "' must be a section");
  }

  Recipe recipe;
  toml::table resolved;
  for (const auto& [name, bind] : sections()) {
    toml::table out;
    SectionBinder binder(name, table[name].as_table(), out);
    bind(recipe, binder);
    binder.finish();
    resolved.insert(name, std::move(out));
  }
  std::ostringstream text_out;
  text_out << resolved;
  recipe.resolved_ = text_out.str();
  recipe.validate();
  return recipe;
}

Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  TORCH_CHECK(in, "recipe: cannot read ", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_recipe(buffer.str(), path, overrides);
}

std::string Recipe::to_toml() const { return resolved_; }

sparse::DynamicSparsityOptions Recipe::sparse_options() const {
  return sparse::DynamicSparsityOptions(sparse.density)
      .distribution(sparse::parse_distribution(sparse.distribution))
      .method(sparse::parse_sparse_method(sparse.method))
      .drop_fraction(sparse.drop_fraction)
      .schedule(sparse::parse_drop_schedule(sparse.schedule))
      .update_interval(sparse.update_interval)
      .t_end(sparse.t_end)
      .momentum(sparse.momentum)
      .seed(run.seed)
      .dense_layers(sparse.dense_layers)
      .include(sparse.include)
      .kernel(kernels::parse_kernel_choice(sparse.kernel));
}

prune::PruneOptions Recipe::prune_options() const {
  prune::PruneOptions options(prune::parse_prune_method(prune.method));
  options.selection(prune::parse_prune_selection(prune.selection))
      .initial_remaining(prune.initial_remaining)
      .final_remaining(prune.final_remaining)
      .warmup(prune.warmup)
      .cooldown(prune.cooldown)
      .one_shot(prune.one_shot)
      .score_lr(prune.score_lr)
      .initial_threshold(prune.initial_threshold)
      .final_threshold(prune.final_threshold)
      .regularizer_norm(prune::parse_regularizer_norm(prune.regularizer_norm))
      .include(prune.include)
      .dense(prune.dense)
      .keep_head_dense(prune.keep_head_dense);
  if (prune.score_init) options.score_init(*prune.score_init);
  if (prune.lambda) options.lambda(*prune.lambda);
  return options;
}

prune::DistillOptions Recipe::distill_options() const {
  return prune::DistillOptions()
      .alpha_ce(distill.alpha_ce)
      .alpha_kd(distill.alpha_kd)
      .temperature(distill.temperature);
}

data::InfoBatchOptions Recipe::infobatch_options() const {
  return data::InfoBatchOptions(train.epochs)
      .prune_ratio(infobatch.prune_ratio)
      .delta(infobatch.delta)
      .warmup_epochs(infobatch.warmup_epochs)
      .score_momentum(infobatch.score_momentum)
      .seed(run.seed);
}

void Recipe::validate() const {
  TORCH_CHECK(!run.name.empty() && run.name.find('/') == std::string::npos,
              "recipe: [run] name must be a non-empty file name, got '", run.name, "'");
  TORCH_CHECK(run.dist_timeout_s > 0, "recipe: [run] dist_timeout_s must be > 0, got ",
              run.dist_timeout_s);
  TORCH_CHECK(run.threads >= 0, "recipe: [run] threads must be >= 0 (0 = all cores), got ",
              run.threads);
  const auto& models = train::model_names();
  TORCH_CHECK(std::find(models.begin(), models.end(), model.name) != models.end(),
              "recipe: [model] name '", model.name, "' is unknown (known: ", train::model_list(), ")");
  TORCH_CHECK(!model.new_head || !model.init.empty(), "recipe: [model] new_head needs init");
  TORCH_CHECK(model.init_classes >= 0, "recipe: [model] init_classes must be >= 0");
  TORCH_CHECK(train.epochs >= 1, "recipe: [train] epochs must be >= 1, got ", train.epochs);
  TORCH_CHECK(train.batch_size >= 1, "recipe: [train] batch_size must be >= 1, got ",
              train.batch_size);
  TORCH_CHECK(train.eval_batch_size >= 1, "recipe: [train] eval_batch_size must be >= 1, got ",
              train.eval_batch_size);
  TORCH_CHECK(train.checkpoint_every >= 1, "recipe: [train] checkpoint_every must be >= 1, got ",
              train.checkpoint_every);
  TORCH_CHECK(train.eval_every >= 1, "recipe: [train] eval_every must be >= 1, got ",
              train.eval_every);
  optimizer.validate();
  schedule.validate();
  TORCH_CHECK(!(sparse.enabled && prune.enabled),
              "recipe: [sparse] and [prune] cannot both be enabled (both mask the same weights)");
  TORCH_CHECK(!distill.enabled || !model.init.empty(),
              "recipe: [distill] needs a teacher: set [model] init");
  try {
    data.validate();
    loader.validate();
    augment.validate_values();
    infobatch_options().validate();
    sparse_options().validate();
    prune_options().validate();
    distill_options().validate();
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "recipe: ", e.what_without_backtrace());
  }
}

}  // namespace frugal::recipe
