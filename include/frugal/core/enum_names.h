#pragma once
/// One way to name the values of an enum, parse and print them: each enum's
/// .cpp file holds one table of EnumName entries (the canonical name first,
/// then any aliases of the same value), and its parse_* and to_string
/// functions are parse_enum() and enum_name() over that table.

#include <c10/util/Exception.h>

#include <cstddef>
#include <string>

namespace frugal::core {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

/// "a, b/alias or c": the names of `names`, aliases of one value joined by '/'.
template <typename E, size_t N>
std::string enum_choices(const EnumName<E> (&names)[N]) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i > 0 && names[i].value == names[i - 1].value) {
      out += "/";
    } else if (i > 0) {
      bool last_group = true;
      for (size_t j = i + 1; j < N; ++j) last_group &= names[j].value == names[i].value;
      out += last_group ? " or " : ", ";
    }
    out += names[i].name;
  }
  return out;
}

/// The value called `name` in `names`; throws "unknown <what> '<name>'
/// (expected ...)" for any other.
template <typename E, size_t N>
E parse_enum(const char* what, const EnumName<E> (&names)[N], const std::string& name) {
  for (const auto& entry : names)
    if (name == entry.name) return entry.value;
  TORCH_CHECK(false, "unknown ", what, " '", name, "' (expected ", enum_choices(names), ")");
}

/// The canonical (first) name of `value` in `names`; throws "invalid <what>
/// value <int>" for a value outside the table (e.g. cast from a bad integer).
template <typename E, size_t N>
std::string enum_name(const char* what, const EnumName<E> (&names)[N], E value) {
  for (const auto& entry : names)
    if (entry.value == value) return entry.name;
  TORCH_CHECK(false, "invalid ", what, " value ", static_cast<long long>(value));
}

}  // namespace frugal::core
