#include "binder.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace frugal::recipe::binder {

namespace {

/// The shortest decimal that reads back as `v`; whole numbers in full (10000, not 1e+04).
std::string number_text(double v) {
  if (v == std::floor(v) && std::abs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  for (int digits = 1; digits <= 17; ++digits) {
    std::ostringstream out;
    out << std::setprecision(digits) << v;
    if (std::stod(out.str()) == v) return out.str();
  }
  std::ostringstream out;
  out << std::setprecision(17) << v;
  return out.str();
}

[[noreturn]] void type_error(const std::string& what, const char* expected) {
  TORCH_CHECK(false, what, " must be ", expected);
}

template <typename T, typename Item>
std::vector<T> read_array(const toml::node& node, const std::string& what, const char* expected, Item item) {
  const auto* array = node.as_array();
  if (!array) type_error(what, expected);
  std::vector<T> out;
  for (const auto& element : *array) out.push_back(item(element, what));
  return out;
}

template <typename T>
void write_array(toml::table& out, const std::string& key, const std::vector<T>& values) {
  toml::array array;
  for (const auto& v : values) array.push_back(v);
  out.insert_or_assign(key, std::move(array));
}

}  // namespace

bool Range::contains(double value) const {
  if (lo && (lo_open ? value <= *lo : value < *lo)) return false;
  if (hi && (hi_open ? value >= *hi : value > *hi)) return false;
  return true;
}

std::string Range::text() const {
  if (lo && hi)
    return std::string(lo_open ? "(" : "[") + number_text(*lo) + ", " + number_text(*hi) + (hi_open ? ")" : "]");
  if (lo) return std::string(lo_open ? "> " : ">= ") + number_text(*lo);
  if (hi) return std::string(hi_open ? "< " : "<= ") + number_text(*hi);
  return "";
}

std::string where(const std::string& section, const std::string& key) {
  return "recipe: [" + section + "] " + key;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string display(const toml::node& node, bool quote_strings) {
  if (const auto* s = node.as_string()) return quote_strings ? "\"" + s->get() + "\"" : s->get();
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) {
    std::string text = number_text(f->get());
    if (text.find_first_of(".en") == std::string::npos) text += ".0";  // 300.0: still a float
    return text;
  }
  const auto* array = node.as_array();
  TORCH_CHECK(array, "recipe: cannot display a TOML table as a value");
  std::string out = "[";
  for (const auto& item : *array) out += (out.size() > 1 ? ", " : "") + display(item, quote_strings);
  return out + "]";
}

bool read_bool(const toml::node& node, const std::string& what) {
  if (!node.is_boolean()) type_error(what, "true or false");
  return node.as_boolean()->get();
}

int64_t read_int(const toml::node& node, const std::string& what) {
  if (!node.is_integer()) type_error(what, "an integer");
  return node.as_integer()->get();
}

uint64_t read_uint(const toml::node& node, const std::string& what) {
  if (!node.is_integer() || node.as_integer()->get() < 0) type_error(what, "a non-negative integer");
  return static_cast<uint64_t>(node.as_integer()->get());
}

double read_double(const toml::node& node, const std::string& what) {
  if (node.is_integer()) return static_cast<double>(node.as_integer()->get());
  if (!node.is_floating_point()) type_error(what, "a number");
  return node.as_floating_point()->get();
}

std::string read_string(const toml::node& node, const std::string& what) {
  if (!node.is_string()) type_error(what, "a string");
  return node.as_string()->get();
}

std::vector<int64_t> read_ints(const toml::node& node, const std::string& what) {
  return read_array<int64_t>(node, what, "an array of integers", [](const toml::node& item, const std::string& w) {
    if (!item.is_integer()) type_error(w, "an array of integers");
    return item.as_integer()->get();
  });
}

std::vector<double> read_doubles(const toml::node& node, const std::string& what) {
  return read_array<double>(node, what, "an array of numbers", [](const toml::node& item, const std::string& w) {
    if (!item.is_number()) type_error(w, "an array of numbers");
    return read_double(item, w);
  });
}

std::vector<std::string> read_strings(const toml::node& node, const std::string& what) {
  return read_array<std::string>(node, what, "an array of strings",
                                 [](const toml::node& item, const std::string& w) {
                                   if (!item.is_string()) type_error(w, "an array of strings");
                                   return item.as_string()->get();
                                 });
}

c10::optional<c10::Device> read_device(const toml::node& node, const std::string& what) {
  const std::string name = read_string(node, what);
  if (name == "auto") return c10::nullopt;
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda") return c10::Device(c10::kCUDA);
  const std::string prefix = "cuda:";
  const std::string index = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : "";
  TORCH_CHECK(!index.empty() && index.size() <= 3 && index.find_first_not_of("0123456789") == std::string::npos,
              what, " '", name, "' is not auto, cpu, cuda or cuda:N");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(std::stoi(index)));
}

std::string device_text(const c10::optional<c10::Device>& device) { return device ? device->str() : "auto"; }

void write(toml::table& out, const std::string& key, bool value) { out.insert_or_assign(key, value); }
void write(toml::table& out, const std::string& key, int64_t value) { out.insert_or_assign(key, value); }
void write(toml::table& out, const std::string& key, uint64_t value) {
  out.insert_or_assign(key, static_cast<int64_t>(value));
}
void write(toml::table& out, const std::string& key, double value) { out.insert_or_assign(key, value); }
void write(toml::table& out, const std::string& key, const std::string& value) {
  out.insert_or_assign(key, value);
}
void write(toml::table& out, const std::string& key, const std::vector<int64_t>& value) {
  write_array(out, key, value);
}
void write(toml::table& out, const std::string& key, const std::vector<double>& value) {
  write_array(out, key, value);
}
void write(toml::table& out, const std::string& key, const std::vector<std::string>& value) {
  write_array(out, key, value);
}

}  // namespace frugal::recipe::binder
