#include "frugal/recipe/binder.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <sstream>

namespace frugal::recipe {

namespace {
std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

template <typename T>
toml::array to_array(const std::vector<T>& values) {
  toml::array out;
  for (const auto& v : values) out.push_back(v);
  return out;
}
}  // namespace

SectionBinder::SectionBinder(std::string section, const toml::table* in, toml::table& out)
    : section_(std::move(section)), in_(in), out_(out) {}

const toml::node* SectionBinder::lookup(const std::string& key) {
  keys_.push_back(key);
  return in_ ? in_->get(key) : nullptr;
}

void SectionBinder::type_error(const std::string& key, const char* expected) const {
  TORCH_CHECK(false, "recipe: [", section_, "] ", key, " must be ", expected);
}

void SectionBinder::bind(const std::string& key, bool& field) {
  if (const auto* node = lookup(key)) {
    if (!node->is_boolean()) type_error(key, "true or false");
    field = node->as_boolean()->get();
  }
  out_.insert_or_assign(key, field);
}

void SectionBinder::bind(const std::string& key, int64_t& field) {
  if (const auto* node = lookup(key)) {
    if (!node->is_integer()) type_error(key, "an integer");
    field = node->as_integer()->get();
  }
  out_.insert_or_assign(key, field);
}

void SectionBinder::bind(const std::string& key, uint64_t& field) {
  if (const auto* node = lookup(key)) {
    if (!node->is_integer() || node->as_integer()->get() < 0)
      type_error(key, "a non-negative integer");
    field = static_cast<uint64_t>(node->as_integer()->get());
  }
  out_.insert_or_assign(key, static_cast<int64_t>(field));
}

void SectionBinder::bind(const std::string& key, double& field) {
  if (const auto* node = lookup(key)) {
    if (node->is_integer())
      field = static_cast<double>(node->as_integer()->get());
    else if (node->is_floating_point())
      field = node->as_floating_point()->get();
    else
      type_error(key, "a number");
  }
  out_.insert_or_assign(key, field);
}

void SectionBinder::bind(const std::string& key, std::string& field) {
  if (const auto* node = lookup(key)) {
    if (!node->is_string()) type_error(key, "a string");
    field = node->as_string()->get();
  }
  out_.insert_or_assign(key, field);
}

void SectionBinder::bind(const std::string& key, std::vector<int64_t>& field) {
  if (const auto* node = lookup(key)) {
    const auto* array = node->as_array();
    if (!array) type_error(key, "an array of integers");
    field.clear();
    for (const auto& item : *array) {
      if (!item.is_integer()) type_error(key, "an array of integers");
      field.push_back(item.as_integer()->get());
    }
  }
  out_.insert_or_assign(key, to_array(field));
}

void SectionBinder::bind(const std::string& key, std::vector<double>& field) {
  if (const auto* node = lookup(key)) {
    const auto* array = node->as_array();
    if (!array) type_error(key, "an array of numbers");
    field.clear();
    for (const auto& item : *array) {
      if (item.is_integer())
        field.push_back(static_cast<double>(item.as_integer()->get()));
      else if (item.is_floating_point())
        field.push_back(item.as_floating_point()->get());
      else
        type_error(key, "an array of numbers");
    }
  }
  out_.insert_or_assign(key, to_array(field));
}

void SectionBinder::bind(const std::string& key, std::vector<std::string>& field) {
  if (const auto* node = lookup(key)) {
    const auto* array = node->as_array();
    if (!array) type_error(key, "an array of strings");
    field.clear();
    for (const auto& item : *array) {
      if (!item.is_string()) type_error(key, "an array of strings");
      field.push_back(item.as_string()->get());
    }
  }
  out_.insert_or_assign(key, to_array(field));
}

void SectionBinder::bind(const std::string& key, std::optional<double>& field) {
  if (in_ && in_->get(key)) {
    double value = 0;
    bind(key, value);
    field = value;
    return;
  }
  keys_.push_back(key);
  if (field) out_.insert_or_assign(key, *field);
}

void SectionBinder::finish() const {
  if (!in_) return;
  for (const auto& [key, value] : *in_) {
    const std::string name(key.str());
    TORCH_CHECK(std::find(keys_.begin(), keys_.end(), name) != keys_.end(), "recipe: [",
                section_, "] has no key '", name, "' (valid keys: ", join(keys_), ")");
  }
}

}  // namespace frugal::recipe
