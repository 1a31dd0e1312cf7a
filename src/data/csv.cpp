#include "frugal/data/readers.h"

#include "input_file.h"

#include <charconv>
#include <cmath>
#include <string_view>
#include <utility>

namespace frugal::data {

using namespace detail;

namespace {

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

/// Splits `line` at `sep` into `fields` (reused to avoid allocating per row).
void split_fields(std::string_view line, char sep, std::vector<std::string_view>& fields) {
  fields.clear();
  for (;;) {
    const size_t at = line.find(sep);
    fields.push_back(trim(line.substr(0, at)));
    if (at == std::string_view::npos) return;
    line.remove_prefix(at + 1);
  }
}

/// Parses a whole field as a float; `std::errc::invalid_argument` when it is
/// not a number, `std::errc::result_out_of_range` when float32 cannot hold it.
std::errc parse_float(std::string_view s, float& value) {
  // from_chars rejects a leading '+', which spreadsheets sometimes write.
  if (s.size() > 1 && s.front() == '+' && s[1] != '-') s.remove_prefix(1);
  if (s.empty()) return std::errc::invalid_argument;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc() && end != s.data() + s.size()) return std::errc::invalid_argument;
  if (ec == std::errc::result_out_of_range) {
    // from_chars also reports underflow this way; a value that tiny is
    // representable (as a subnormal or zero), only overflow is an error.
    double d = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    if (r.ec == std::errc() && r.ptr == end && std::fabs(d) <= std::numeric_limits<float>::max()) {
      value = static_cast<float>(d);
      return std::errc();
    }
  }
  return ec;
}

/// Labels are integers, but tools that wrote them through a float column
/// print "3.0"; any exactly integral value is accepted.
bool parse_label(std::string_view s, int64_t& value) {
  if (s.size() > 1 && s.front() == '+' && s[1] != '-') s.remove_prefix(1);
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, value);
  if (r.ec == std::errc() && r.ptr == end && !s.empty()) return true;
  double d = 0;
  auto rd = std::from_chars(s.data(), end, d);
  if (rd.ec != std::errc() || rd.ptr != end || s.empty() || !std::isfinite(d) ||
      d != std::floor(d) || std::fabs(d) > 9.0e15)
    return false;
  value = static_cast<int64_t>(d);
  return true;
}

}  // namespace

TensorDataset read_csv(const std::string& path, const CsvOptions& options) {
  TORCH_CHECK(options.num_classes >= 0, "read_csv: num_classes must be >= 0, got ",
              options.num_classes);
  TORCH_CHECK(options.separator != '\n' && options.separator != '\r' &&
                  options.separator != '"',
              "read_csv: separator cannot be a line break or quote, got code ",
              int{options.separator});
  InputFile file(path, "CSV file");
  const std::string& desc = file.desc();
  TORCH_CHECK(options.label_column.empty() || options.header, desc, ": label column '",
              options.label_column, "' is given by name but header = false");
  const std::vector<uint8_t> bytes = file.read_rest();
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // spreadsheet UTF-8 BOM

  std::vector<std::string> names;
  std::vector<std::string_view> fields;
  int64_t num_fields = -1;
  int64_t label_col = -1;
  std::vector<float> features;
  std::vector<int64_t> labels;
  int64_t max_label = -1;
  bool header_pending = options.header;

  auto column_name = [&](int64_t c) {
    std::string s = "column " + std::to_string(c + 1);
    if (!names.empty()) s += " ('" + names[c] + "')";
    return s;
  };
  // Fixes the column layout from the first row (header or data).
  auto set_layout = [&](int64_t count, int64_t line_no) {
    num_fields = count;
    TORCH_CHECK(num_fields >= 2, desc, ": line ", line_no, " has ", num_fields,
                " field(s); need at least one feature and one label column (separator '",
                options.separator, "')");
    if (!options.label_column.empty()) {
      auto it = std::find(names.begin(), names.end(), options.label_column);
      if (it == names.end()) {
        std::string known;
        for (const auto& n : names) known += (known.empty() ? "'" : ", '") + n + "'";
        TORCH_CHECK(false, desc, ": no label column named '", options.label_column,
                    "' in the header (columns: ", known, ")");
      }
      label_col = it - names.begin();
    } else {
      label_col = options.label_index < 0 ? options.label_index + num_fields : options.label_index;
      TORCH_CHECK(label_col >= 0 && label_col < num_fields, desc, ": label index ",
                  options.label_index, " is outside a row of ", num_fields, " columns");
    }
  };

  int64_t line_no = 0;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_no;
    if (trim(line).empty()) continue;
    split_fields(line, options.separator, fields);
    const auto count = static_cast<int64_t>(fields.size());
    if (header_pending) {
      header_pending = false;
      for (auto f : fields) {
        if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
        names.emplace_back(f);
      }
      set_layout(count, line_no);
      continue;
    }
    if (num_fields < 0) set_layout(count, line_no);
    TORCH_CHECK(count == num_fields, desc, ": line ", line_no, " has ", count, " fields, expected ",
                num_fields);
    for (int64_t c = 0; c < count; ++c) {
      const std::string_view f = fields[c];
      if (c == label_col) {
        int64_t label = 0;
        TORCH_CHECK(parse_label(f, label) && label >= 0, desc, ": line ", line_no, ", ",
                    column_name(c), ": label '", f, "' is not a non-negative integer");
        TORCH_CHECK(options.num_classes == 0 || label < options.num_classes, desc, ": line ",
                    line_no, ", ", column_name(c), ": label ", label, " is outside [0, ",
                    options.num_classes, ")");
        labels.push_back(label);
        max_label = std::max(max_label, label);
        continue;
      }
      float value = 0;
      const std::errc ec = parse_float(f, value);
      TORCH_CHECK(ec != std::errc::result_out_of_range, desc, ": line ", line_no, ", ",
                  column_name(c), ": '", f, "' is outside the float32 range");
      TORCH_CHECK(ec == std::errc(), desc, ": line ", line_no, ", ", column_name(c), ": '", f,
                  "' is not a number");
      // A NaN or infinite feature would poison every gradient it touches.
      TORCH_CHECK(std::isfinite(value), desc, ": line ", line_no, ", ", column_name(c), ": '", f,
                  "' is not a finite number");
      features.push_back(value);
    }
  }
  TORCH_CHECK(num_fields >= 0, desc, ": file is empty");
  TORCH_CHECK(!labels.empty(), desc, ": has a header but no data rows");
  TORCH_CHECK(max_label + 1 <= std::numeric_limits<int32_t>::max(), desc, ": largest label ",
              max_label, " is absurd for a class index");

  const auto n = static_cast<int64_t>(labels.size());
  TensorDataset out;
  out.inputs = torch::from_blob(features.data(), {n, num_fields - 1}, torch::kFloat).clone();
  out.targets = torch::from_blob(labels.data(), {n}, torch::kLong).clone();
  out.num_classes = options.num_classes > 0 ? options.num_classes : max_label + 1;
  return out;
}

}  // namespace frugal::data
