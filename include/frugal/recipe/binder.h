#pragma once
/// Binds the keys of one TOML section to typed fields. The same binding both
/// reads a recipe (type- and key-checked) and writes the resolved config with
/// every default filled in, so the two can never disagree.

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace frugal::recipe {

class SectionBinder {
 public:
  /// `in` may be null (section absent from the recipe); `out` receives every bound key.
  SectionBinder(std::string section, const toml::table* in, toml::table& out);

  /// Reads `key` into `field` if the recipe has it (throws naming section,
  /// key and the expected type otherwise), then records the field's value.
  void bind(const std::string& key, bool& field);
  void bind(const std::string& key, int64_t& field);
  void bind(const std::string& key, uint64_t& field);
  void bind(const std::string& key, double& field);
  void bind(const std::string& key, std::string& field);
  void bind(const std::string& key, std::vector<int64_t>& field);
  void bind(const std::string& key, std::vector<double>& field);
  void bind(const std::string& key, std::vector<std::string>& field);
  /// An optional number: absent means "the method's default" and is not written out.
  void bind(const std::string& key, std::optional<double>& field);

  /// Throws when the recipe's section has a key that was never bound,
  /// listing the valid keys of the section.
  void finish() const;

 private:
  const toml::node* lookup(const std::string& key);
  [[noreturn]] void type_error(const std::string& key, const char* expected) const;

  std::string section_;
  const toml::table* in_;
  toml::table& out_;
  std::vector<std::string> keys_;
};

}  // namespace frugal::recipe
