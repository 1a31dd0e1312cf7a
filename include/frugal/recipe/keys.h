#pragma once
/// The recipe's keys: each declared once (src/recipe/keys.cpp), bound to the
/// field of the library's option struct that it sets. The same declaration
/// reads a recipe, writes the resolved config.toml and gives the key's
/// default and range, which tests/recipe/recipe_docs_test.cpp checks against
/// docs/recipes.md key by key.

#include <toml++/toml.h>

#include <functional>
#include <string>
#include <vector>

namespace frugal::recipe {

struct Recipe;

struct RecipeKey {
  std::string section;
  std::string key;
  /// The allowed values as docs/recipes.md writes them: "[0, 0.9]", ">= 1",
  /// "sgd, adamw"; empty when any value of the type is allowed.
  std::string range;
  /// For a key that takes names: values it reads and writes back as they are
  /// (the reference's names, checked by the docs test).
  std::vector<std::string> names;
  /// Reads `value` into the recipe; throws naming [section] key when its type
  /// or range is wrong.
  std::function<void(Recipe&, const toml::node& value)> read;
  /// Writes the recipe's value as `key` into `out` (nothing for an unset optional).
  std::function<void(const Recipe&, toml::table& out)> write;
  /// Empty when the key applies to the recipe; otherwise why it does not
  /// (the chosen data set or model ignores it). Setting such a key is an
  /// error, and the resolved recipe leaves it out.
  std::function<std::string(const Recipe&)> ignored_because;
};

/// Every key, grouped by section, in the order the resolved recipe lists them.
const std::vector<RecipeKey>& recipe_keys();

/// The section names in order.
std::vector<std::string> recipe_sections();

/// The key's default (its value in a default Recipe) as TOML writes it
/// ("run", 128, [300, 100]); "none" for an optional that is unset by default.
std::string default_text(const RecipeKey& key);

}  // namespace frugal::recipe
