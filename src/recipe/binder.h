#pragma once
/// How keys.cpp declares a key in one line: the typed reading and writing of
/// TOML values, ranges, and the factories that turn (section, key, field,
/// range) into a RecipeKey.

#include "frugal/recipe/keys.h"

#include <c10/core/Device.h>
#include <c10/util/Exception.h>
#include <c10/util/Optional.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace frugal::recipe::binder {

/// A numeric range with optional, open or closed ends.
struct Range {
  std::optional<double> lo, hi;
  bool lo_open = false, hi_open = false;

  bool contains(double value) const;
  /// ">= 1", "> 0", "[0, 0.9]", "(0, 1]", "" (unbounded).
  std::string text() const;
};
inline Range at_least(double lo) { return {lo, std::nullopt, false, false}; }
inline Range above(double lo) { return {lo, std::nullopt, true, false}; }
/// [lo, hi], (lo, hi], [lo, hi).
inline Range closed(double lo, double hi) { return {lo, hi, false, false}; }
inline Range open_closed(double lo, double hi) { return {lo, hi, true, false}; }
inline Range closed_open(double lo, double hi) { return {lo, hi, false, true}; }

/// "recipe: [section] key".
std::string where(const std::string& section, const std::string& key);
std::string join(const std::vector<std::string>& items);
/// A value as the reference writes it: "run" (or run), 0.0005, [300, 100].
std::string display(const toml::node& node, bool quote_strings = true);

/// Typed conversion of one TOML value; `what` names it in errors.
bool read_bool(const toml::node& node, const std::string& what);
int64_t read_int(const toml::node& node, const std::string& what);
uint64_t read_uint(const toml::node& node, const std::string& what);
double read_double(const toml::node& node, const std::string& what);
std::string read_string(const toml::node& node, const std::string& what);
std::vector<int64_t> read_ints(const toml::node& node, const std::string& what);
std::vector<double> read_doubles(const toml::node& node, const std::string& what);
std::vector<std::string> read_strings(const toml::node& node, const std::string& what);

inline void read(const toml::node& n, const std::string& w, bool& v) { v = read_bool(n, w); }
inline void read(const toml::node& n, const std::string& w, int64_t& v) { v = read_int(n, w); }
inline void read(const toml::node& n, const std::string& w, uint64_t& v) { v = read_uint(n, w); }
inline void read(const toml::node& n, const std::string& w, double& v) { v = read_double(n, w); }
inline void read(const toml::node& n, const std::string& w, std::string& v) { v = read_string(n, w); }
inline void read(const toml::node& n, const std::string& w, std::vector<int64_t>& v) { v = read_ints(n, w); }
inline void read(const toml::node& n, const std::string& w, std::vector<double>& v) { v = read_doubles(n, w); }
inline void read(const toml::node& n, const std::string& w, std::vector<std::string>& v) { v = read_strings(n, w); }
template <typename T>
void read(const toml::node& n, const std::string& w, c10::optional<T>& v) {
  T value{};
  read(n, w, value);
  v = value;
}

void write(toml::table& out, const std::string& key, bool value);
void write(toml::table& out, const std::string& key, int64_t value);
void write(toml::table& out, const std::string& key, uint64_t value);
void write(toml::table& out, const std::string& key, double value);
void write(toml::table& out, const std::string& key, const std::string& value);
void write(toml::table& out, const std::string& key, const std::vector<int64_t>& value);
void write(toml::table& out, const std::string& key, const std::vector<double>& value);
void write(toml::table& out, const std::string& key, const std::vector<std::string>& value);
/// An unset optional means "the library's default" and is not written.
template <typename T>
void write(toml::table& out, const std::string& key, const c10::optional<T>& value) {
  if (value) write(out, key, *value);
}

inline double as_number(double v) { return v; }
inline double as_number(int64_t v) { return static_cast<double>(v); }
inline double as_number(uint64_t v) { return static_cast<double>(v); }
template <typename T>
double as_number(const c10::optional<T>& v) { return as_number(*v); }

/// `field` is a generic lambda giving the bound field of a Recipe, const or
/// not: [](auto& r) -> auto& { return r.train.epochs; } (FRUGAL_FIELD below).
template <typename Field>
using FieldType = std::decay_t<decltype(std::declval<Field>()(std::declval<Recipe&>()))>;

/// A key of a bool, number, string or list field; numbers may carry a range.
template <typename Field>
RecipeKey field_key(std::string section, std::string key, Field field, Range range = {}) {
  using T = FieldType<Field>;
  RecipeKey k{section, key, range.text(), {}, nullptr, nullptr, nullptr};
  const std::string what = where(section, key);
  k.read = [field, range, what](Recipe& r, const toml::node& node) {
    T value{};
    read(node, what, value);
    if constexpr ((std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) || std::is_same_v<T, c10::optional<double>>) {
      if (!range.text().empty())
        TORCH_CHECK(range.contains(as_number(value)), what, " must ",
                    range.text()[0] == '[' || range.text()[0] == '(' ? "lie in " : "be ", range.text(),
                    ", got ", as_number(value));
    }
    field(r) = value;
  };
  k.write = [field, key](const Recipe& r, toml::table& out) { write(out, key, field(r)); };
  return k;
}

/// A key whose value is one of `names`, stored as the string.
template <typename Field>
RecipeKey name_key(std::string section, std::string key, Field field, std::vector<std::string> names) {
  RecipeKey k = field_key(section, key, field);
  k.range = join(names);
  k.names = names;
  const std::string what = where(section, key);
  k.read = [field, names, what](Recipe& r, const toml::node& node) {
    const std::string value = read_string(node, what);
    TORCH_CHECK(std::find(names.begin(), names.end(), value) != names.end(), what, " '", value,
                "' is unknown (known: ", join(names), ")");
    field(r) = value;
  };
  return k;
}

/// A key of an enum field, read with the library's parse function (which
/// also takes its aliases, e.g. "rigl") and written with its to_string();
/// `names` are the canonical names, for the reference.
template <typename Field, typename Enum>
RecipeKey enum_key(std::string section, std::string key, Field field, Enum (*parse)(const std::string&),
                   std::vector<std::string> names) {
  RecipeKey k{section, key, join(names), names, nullptr, nullptr, nullptr};
  const std::string what = where(section, key);
  k.read = [field, parse, what](Recipe& r, const toml::node& node) {
    const std::string value = read_string(node, what);
    try {
      field(r) = parse(value);
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, what, ": ", e.what_without_backtrace());
    }
  };
  k.write = [field, key](const Recipe& r, toml::table& out) { write(out, key, to_string(field(r))); };
  return k;
}

/// "auto" (none: the library picks), "cpu", "cuda" or "cuda:N".
c10::optional<c10::Device> read_device(const toml::node& node, const std::string& what);
std::string device_text(const c10::optional<c10::Device>& device);

/// A key of a c10::optional<c10::Device> field.
template <typename Field>
RecipeKey device_key(std::string section, std::string key, Field field) {
  RecipeKey k{section, key, "auto, cpu, cuda, cuda:N", {"auto", "cpu", "cuda", "cuda:1"}, nullptr, nullptr, nullptr};
  const std::string what = where(section, key);
  k.read = [field, what](Recipe& r, const toml::node& node) { field(r) = read_device(node, what); };
  k.write = [field, key](const Recipe& r, toml::table& out) { write(out, key, device_text(field(r))); };
  return k;
}

/// The key applies only where `applies(recipe)`; `reason(recipe)` says why not.
template <typename Applies, typename Reason>
RecipeKey only_if(RecipeKey key, Applies applies, Reason reason) {
  key.ignored_because = [applies, reason](const Recipe& r) { return applies(r) ? std::string() : reason(r); };
  return key;
}

}  // namespace frugal::recipe::binder

/// The field `path` of a Recipe, for binder's factories: FRUGAL_FIELD(train.epochs),
/// FRUGAL_FIELD(sparse.options.density()).
#define FRUGAL_FIELD(path) [](auto& r) -> auto& { return r.path; }
