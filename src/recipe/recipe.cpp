#include "frugal/recipe/recipe.h"

#include "binder.h"
#include "frugal/recipe/keys.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace frugal::recipe {

namespace {

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

std::vector<std::string> keys_of(const std::string& section) {
  std::vector<std::string> keys;
  for (const auto& k : recipe_keys())
    if (k.section == section) keys.push_back(k.key);
  return keys;
}

/// Throws for a section or key the recipe has that no RecipeKey declares.
void check_known(const toml::table& table, const std::string& source) {
  const auto sections = recipe_sections();
  for (const auto& [name, node] : table) {
    const std::string section(name.str());
    TORCH_CHECK(std::find(sections.begin(), sections.end(), section) != sections.end(), "recipe ", source,
                ": unknown section [", section, "] (valid sections: ", binder::join(sections), ")");
    TORCH_CHECK(node.is_table(), "recipe ", source, ": '", section, "' must be a section");
    const auto keys = keys_of(section);
    for (const auto& [key, value] : *node.as_table()) {
      const std::string k(key.str());
      TORCH_CHECK(std::find(keys.begin(), keys.end(), k) != keys.end(), "recipe: [", section, "] has no key '", k,
                  "' (valid keys: ", binder::join(keys), ")");
    }
  }
}

const toml::node* lookup(const toml::table& table, const RecipeKey& key) {
  const auto* section = table.get_as<toml::table>(key.section);
  return section ? section->get(key.key) : nullptr;
}

}  // namespace

Recipe parse_recipe(const std::string& text, const std::string& source,
                    const std::vector<std::string>& overrides) {
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    TORCH_CHECK(false, "recipe ", source, ": ", e.description(), " at ", format_source(e.source()));
  }
  for (const auto& assignment : overrides) apply_override(table, assignment);
  check_known(table, source);

  Recipe recipe;
  for (const auto& key : recipe_keys())
    if (const auto* value = lookup(table, key)) key.read(recipe, *value);
  // Only now is it known which data set and model the recipe chose.
  for (const auto& key : recipe_keys()) {
    if (!key.ignored_because || !lookup(table, key)) continue;
    const std::string why = key.ignored_because(recipe);
    TORCH_CHECK(why.empty(), binder::where(key.section, key.key), " is ignored: ", why, "; remove it");
  }
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

std::string Recipe::to_toml() const {
  toml::table resolved;
  for (const auto& key : recipe_keys()) {
    if (key.ignored_because && !key.ignored_because(*this).empty()) continue;
    if (!resolved.contains(key.section)) resolved.insert(key.section, toml::table{});
    key.write(*this, *resolved.get_as<toml::table>(key.section));
  }
  std::ostringstream out;
  out << resolved;
  return out.str();
}

std::string Recipe::value_text(const std::string& section, const std::string& key) const {
  for (const auto& k : recipe_keys()) {
    if (k.section != section || k.key != key) continue;
    toml::table out;
    k.write(*this, out);
    const auto* value = out.get(key);
    TORCH_CHECK(value, binder::where(section, key), " is unset");
    return binder::display(*value, false);
  }
  TORCH_CHECK(false, "recipe: no key [", section, "] ", key);
}

sparse::DynamicSparsityOptions Recipe::sparse_options() const {
  auto options = sparse.options;
  options.seed(train.seed);
  return options;
}

data::InfoBatchOptions Recipe::infobatch_options() const {
  auto options = infobatch.options;
  options.epochs(train.epochs).seed(train.seed);
  return options;
}

void Recipe::validate() const {
  TORCH_CHECK(!run.name.empty() && run.name.find('/') == std::string::npos,
              "recipe: [run] name must be a non-empty file name, got '", run.name, "'");
  TORCH_CHECK(data.name == "fashion-mnist" || !data.path.empty(), "recipe: [data] path is needed for '",
              data.name, "'");
  TORCH_CHECK(!model.new_head || !model.init.empty(), "recipe: [model] new_head needs init");
  TORCH_CHECK(!(sparse.enabled && prune.enabled),
              "recipe: [sparse] and [prune] cannot both be enabled (both mask the same weights)");
  TORCH_CHECK(!distill.enabled || !model.init.empty(), "recipe: [distill] needs a teacher: set [model] init");
  // What the keys' ranges cannot see: relations between keys.
  try {
    optimizer.validate();
    train.validate();
    data.validate();
    train.augment.validate_values();
    infobatch_options().validate();
    sparse_options().validate();
    prune.options.validate();
    distill.options.validate();
    dist::check_backend_built(dist.backend);  // before any process is started
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "recipe: ", e.what_without_backtrace());
  }
}

}  // namespace frugal::recipe
