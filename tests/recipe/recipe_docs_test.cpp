// docs/recipes.md against the recipe's key declarations: every key, its
// default and its range, both ways.

#include "frugal/recipe/keys.h"
#include "frugal/recipe/recipe.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using frugal::recipe::default_text;
using frugal::recipe::recipe_keys;

struct DocRow {
  std::string default_value;
  std::string range;
};

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(' ');
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(' ') - begin + 1);
}

/// (section, key) -> row, from every "| key | default | range | meaning |"
/// table under a "## [section]" heading.
std::map<std::pair<std::string, std::string>, DocRow> documented_keys() {
  std::ifstream in(std::string(FRUGAL_SOURCE_DIR) + "/docs/recipes.md");
  EXPECT_TRUE(in) << "cannot read docs/recipes.md";
  std::map<std::pair<std::string, std::string>, DocRow> rows;
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.rfind("## [", 0) == 0) {
      section = line.substr(4, line.find(']') - 4);
      continue;
    }
    if (section.empty() || line.rfind("| ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream cut(line.substr(1));
    for (std::string cell; std::getline(cut, cell, '|');) cells.push_back(trim(cell));
    if (cells.size() < 4 || cells[0] == "key") continue;
    EXPECT_FALSE(rows.count({section, cells[0]})) << "[" << section << "] " << cells[0] << " is listed twice";
    rows[{section, cells[0]}] = {cells[1], cells[2]};
  }
  return rows;
}

TEST(RecipeDocs, EveryKeyIsDocumentedWithItsDefaultAndRange) {
  const auto rows = documented_keys();
  for (const auto& key : recipe_keys()) {
    const auto it = rows.find({key.section, key.key});
    if (it == rows.end()) {
      ADD_FAILURE() << "docs/recipes.md lacks [" << key.section << "] " << key.key;
      continue;
    }
    EXPECT_EQ(it->second.default_value, default_text(key)) << "default of [" << key.section << "] " << key.key;
    EXPECT_EQ(it->second.range, key.range) << "range of [" << key.section << "] " << key.key;
  }
}

TEST(RecipeDocs, TheReferenceListsNoKeyTheRecipeLacks) {
  for (const auto& [where, row] : documented_keys()) {
    bool declared = false;
    for (const auto& key : recipe_keys()) declared = declared || (key.section == where.first && key.key == where.second);
    EXPECT_TRUE(declared) << "docs/recipes.md lists [" << where.first << "] " << where.second
                          << ", which the recipe does not have";
  }
}

TEST(RecipeDocs, EveryListedNameOfAKeyIsReadAndWrittenBackAsItself) {
  for (const auto& key : recipe_keys()) {
    EXPECT_TRUE(key.names.empty() || key.range.find(key.names[0]) != std::string::npos) << key.key;
    for (const auto& name : key.names) {
      frugal::recipe::Recipe recipe;
      key.read(recipe, toml::value<std::string>(name));
      toml::table out;
      key.write(recipe, out);
      ASSERT_TRUE(out.get_as<std::string>(key.key)) << key.key;
      EXPECT_EQ(out.get_as<std::string>(key.key)->get(), name) << "[" << key.section << "] " << key.key;
    }
  }
}

}  // namespace
