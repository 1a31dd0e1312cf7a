#include "frugal/data/readers.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string_view>
#include <system_error>
#include <utility>

namespace frugal::data {
namespace {

namespace fs = std::filesystem;

// Deflate emits at least ~2 bits per 258-byte match, so no gzip member can
// inflate to more than 1032 times its compressed size. This bounds what a
// gzipped file can really hold, so an absurd header is rejected before any
// allocation instead of after a multi-gigabyte one.
constexpr uint64_t kMaxDeflateRatio = 1032;

// gzread takes an unsigned length; reading in bounded chunks also keeps the
// truncation check exact for payloads larger than 4 GiB.
constexpr uint64_t kReadChunk = uint64_t{1} << 30;

/// A file read through zlib, which inflates gzip members and passes any other
/// file through unchanged, so the readers accept both without asking which.
/// Every error names the file via `desc_` ("IDX image file '/a/b'").
class InputFile {
 public:
  InputFile(const std::string& path, const std::string& kind)
      : path_(path), desc_(kind + " '" + path + "'") {
    std::error_code ec;
    auto status = fs::status(path, ec);
    TORCH_CHECK(status.type() != fs::file_type::not_found, desc_, ": file does not exist");
    TORCH_CHECK(!ec, desc_, ": cannot access: ", ec.message());
    TORCH_CHECK(fs::is_regular_file(status), desc_, ": is not a regular file");
    size_ = fs::file_size(path, ec);
    TORCH_CHECK(!ec, desc_, ": cannot get its size: ", ec.message());
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    TORCH_CHECK(file_ != nullptr, desc_, ": cannot open: ",
                errno != 0 ? std::strerror(errno) : "out of memory");
    // zlib's default 8 KiB buffer makes inflating tens of megabytes
    // noticeably slower; must be set before the first read.
    gzbuffer(file_, 1 << 18);
    compressed_ = gzdirect(file_) == 0;
  }
  ~InputFile() {
    if (file_ != nullptr) gzclose(file_);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& desc() const { return desc_; }
  bool compressed() const { return compressed_; }
  /// Size of the file on disk (compressed size for gzip files).
  uint64_t size() const { return size_; }

  /// The most data bytes that can follow `offset` decompressed bytes: exact
  /// for a raw file, an upper bound for a gzip file.
  uint64_t max_remaining(uint64_t offset) const {
    if (!compressed_) return size_ > offset ? size_ - offset : 0;
    if (size_ > std::numeric_limits<uint64_t>::max() / kMaxDeflateRatio)
      return std::numeric_limits<uint64_t>::max();
    return size_ * kMaxDeflateRatio;
  }

  /// Reads up to `n` bytes; fewer only when the data ends.
  uint64_t read_some(void* dst, uint64_t n) {
    auto* out = static_cast<uint8_t*>(dst);
    uint64_t got = 0;
    while (got < n) {
      const auto want = static_cast<unsigned>(std::min(n - got, kReadChunk));
      const int r = gzread(file_, out + got, want);
      if (r < 0) {
        int code = Z_OK;
        std::string msg = gzerror(file_, &code);
        // zlib prefixes its message with the path, which desc_ already names.
        if (msg.rfind(path_ + ": ", 0) == 0) msg.erase(0, path_.size() + 2);
        TORCH_CHECK(false, desc_, ": ", code == Z_ERRNO ? "read error: " : "corrupt gzip data: ",
                    code == Z_ERRNO ? std::strerror(errno) : msg);
      }
      if (r == 0) break;
      got += static_cast<uint64_t>(r);
    }
    return got;
  }

  /// Explains a short read: a gzip stream that stops mid-way (as after an
  /// interrupted download) rather than one that ended cleanly.
  std::string end_note() {
    int code = Z_OK;
    gzerror(file_, &code);
    return code == Z_BUF_ERROR ? " (the gzip stream is cut short)" : "";
  }

  /// True when the data ends here, i.e. nothing trails what the format
  /// promised.
  bool at_end() {
    uint8_t byte = 0;
    return read_some(&byte, 1) == 0;
  }

  /// Everything left in the file.
  std::vector<uint8_t> read_rest() {
    std::vector<uint8_t> out;
    // A raw file's size is exact; the extra byte lets the loop see the end
    // without a second pass.
    uint64_t capacity = compressed_ ? std::max<uint64_t>(4 * size_, 1 << 16) : size_ + 1;
    uint64_t got = 0;
    for (;;) {
      out.resize(capacity);
      got += read_some(out.data() + got, capacity - got);
      if (got < capacity) break;
      capacity *= 2;
    }
    out.resize(got);
    return out;
  }

 private:
  std::string path_;
  std::string desc_;
  gzFile file_ = nullptr;
  uint64_t size_ = 0;
  bool compressed_ = false;
};

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension

std::string describe_dims(const std::vector<uint32_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

/// An IDX file whose header has been read and checked; the payload follows.
struct IdxHeader {
  std::vector<uint32_t> dims;
  uint64_t payload = 0;  // bytes promised by the header
};

IdxHeader read_idx_header(InputFile& file, uint32_t magic, size_t num_dims) {
  const char* kind = magic == kIdxImagesMagic ? "images" : "labels";
  uint8_t head[4 + 4 * 3];
  const uint64_t head_bytes = 4 + 4 * num_dims;
  const uint64_t got = file.read_some(head, head_bytes);
  TORCH_CHECK(got > 0, file.desc(), ": file is empty");
  TORCH_CHECK(got >= 4, file.desc(), ": truncated header: ", got, " of ", head_bytes, " bytes");
  const uint32_t found = big_endian_u32(head);
  if (found != magic) {
    const char* hint = found == kIdxImagesMagic   ? " (that is an IDX images file)"
                       : found == kIdxLabelsMagic ? " (that is an IDX labels file)"
                                                  : "";
    TORCH_CHECK(false, file.desc(), ": wrong magic number ", hex32(found), ", expected ",
                hex32(magic), " for IDX uint8 ", kind, hint);
  }
  TORCH_CHECK(got == head_bytes, file.desc(), ": truncated header: ", got, " of ", head_bytes,
              " bytes");
  IdxHeader header;
  uint64_t payload = 1;
  for (size_t d = 0; d < num_dims; ++d) {
    const uint32_t n = big_endian_u32(head + 4 + 4 * d);
    header.dims.push_back(n);
    static const char* const kDimNames[] = {"items", "rows", "columns"};
    TORCH_CHECK(n > 0, file.desc(), ": the header gives 0 ", kDimNames[d],
                ": the file holds no ", kind);
    // Three 32-bit factors can overflow 64 bits; such a header is absurd.
    TORCH_CHECK(!__builtin_mul_overflow(payload, uint64_t{n}, &payload), file.desc(),
                ": absurd header: dimensions overflow 64 bits");
  }
  header.payload = payload;
  const uint64_t room = file.max_remaining(head_bytes);
  TORCH_CHECK(payload <= room, file.desc(), ": truncated: the header promises ",
              describe_dims(header.dims), " = ", payload, " bytes of ", kind, " but the ",
              file.compressed() ? "gzip file (" : "file (", file.size(), " bytes) ",
              file.compressed() ? "can hold at most " : "holds only ", room, " after the header");
  return header;
}

/// Reads the payload a header promised into `dst` and checks nothing follows.
void read_idx_payload(InputFile& file, const IdxHeader& header, void* dst) {
  const uint64_t got = file.read_some(dst, header.payload);
  TORCH_CHECK(got == header.payload, file.desc(), ": truncated: the header promises ",
              describe_dims(header.dims), " = ", header.payload,
              " bytes of data but the file holds only ", got, file.end_note());
  TORCH_CHECK(file.at_end(), file.desc(), ": trailing garbage after the ", header.payload,
              " bytes of data the header promises");
}

/// Converts uint8 labels to int64 targets, checking each lies in [0, num_classes).
torch::Tensor checked_targets(const uint8_t* labels, int64_t n, size_t stride,
                              int64_t num_classes, const std::string& desc) {
  auto targets = torch::empty({n}, torch::kLong);
  int64_t* t = targets.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = labels[i * stride];
    TORCH_CHECK(label < num_classes, desc, ": label ", label, " of sample ", i,
                " is outside [0, ", num_classes, ")");
    t[i] = label;
  }
  return targets;
}

fs::path first_existing(const fs::path& dir, std::initializer_list<const char*> names,
                        const char* what) {
  std::string tried;
  for (const char* name : names) {
    const fs::path p = dir / name;
    if (fs::exists(p)) return p;
    tried += (tried.empty() ? "" : " or ") + std::string(name);
  }
  TORCH_CHECK(false, what, " directory '", dir.string(), "' has no ", tried);
}

}  // namespace

TensorDataset read_idx(const std::string& images_path, const std::string& labels_path,
                       int64_t num_classes) {
  TORCH_CHECK(num_classes > 0, "read_idx: num_classes must be positive, got ", num_classes);
  InputFile images(images_path, "IDX images file");
  InputFile labels(labels_path, "IDX labels file");
  // Both headers first, so mismatched files fail before megabytes are inflated.
  const IdxHeader image_header = read_idx_header(images, kIdxImagesMagic, 3);
  const IdxHeader label_header = read_idx_header(labels, kIdxLabelsMagic, 1);
  const int64_t n = image_header.dims[0];
  TORCH_CHECK(label_header.dims[0] == image_header.dims[0], images.desc(), " holds ", n,
              " images but ", labels.desc(), " holds ", label_header.dims[0], " labels");

  auto label_bytes = torch::empty({n}, torch::kUInt8);
  read_idx_payload(labels, label_header, label_bytes.data_ptr<uint8_t>());
  TensorDataset out;
  out.targets = checked_targets(label_bytes.data_ptr<uint8_t>(), n, 1, num_classes, labels.desc());
  out.num_classes = num_classes;

  auto pixels = torch::empty({n, 1, image_header.dims[1], image_header.dims[2]}, torch::kUInt8);
  read_idx_payload(images, image_header, pixels.data_ptr<uint8_t>());
  out.inputs = pixels.to(torch::kFloat).div_(255);
  return out;
}

Splits read_idx_dir(const std::string& dir, int64_t num_classes) {
  TORCH_CHECK(fs::is_directory(dir), "IDX directory '", dir, "' does not exist");
  auto split = [&](const char* prefix) {
    const std::string p(prefix);
    const std::string img = p + "-images-idx3-ubyte", lab = p + "-labels-idx1-ubyte";
    const std::string img_gz = img + ".gz", lab_gz = lab + ".gz";
    return read_idx(first_existing(dir, {img_gz.c_str(), img.c_str()}, "IDX").string(),
                    first_existing(dir, {lab_gz.c_str(), lab.c_str()}, "IDX").string(),
                    num_classes);
  };
  Splits splits;
  splits.train = split("train");
  splits.test = split("t10k");
  return splits;
}

TensorDataset read_cifar(const std::vector<std::string>& paths, int64_t num_classes) {
  TORCH_CHECK(num_classes == 10 || num_classes == 100,
              "read_cifar: num_classes must be 10 (CIFAR-10) or 100 (CIFAR-100), got ",
              num_classes);
  TORCH_CHECK(!paths.empty(), "read_cifar: no files given");
  constexpr int64_t kPixels = 3 * 32 * 32;
  const int64_t label_bytes = num_classes == 10 ? 1 : 2;
  const int64_t record = label_bytes + kPixels;
  const std::string kind = num_classes == 10 ? "CIFAR-10 file" : "CIFAR-100 file";

  // All files are read and checked before the float output is allocated, so
  // peak memory is the bytes plus the output, not two copies of the output.
  std::vector<std::vector<uint8_t>> contents;
  std::vector<torch::Tensor> targets;
  int64_t total = 0;
  for (const auto& path : paths) {
    InputFile file(path, kind);
    std::vector<uint8_t> bytes = file.read_rest();
    const auto size = static_cast<int64_t>(bytes.size());
    TORCH_CHECK(size > 0, file.desc(), ": file is empty");
    TORCH_CHECK(size % record == 0, file.desc(), ": truncated: ", size, " bytes is not a whole "
                "number of ", record, "-byte records (the last record has only ", size % record,
                " bytes)", file.end_note());
    const int64_t n = size / record;
    const uint8_t* p = bytes.data();
    for (int64_t i = 0; i < n; ++i) {
      // CIFAR-100 records start with the coarse (20 superclasses) label.
      if (label_bytes == 2)
        TORCH_CHECK(p[i * record] < 20, file.desc(), ": coarse label ", int{p[i * record]},
                    " of record ", i, " is outside [0, 20)");
    }
    targets.push_back(
        checked_targets(bytes.data() + label_bytes - 1, n, record, num_classes, file.desc()));
    contents.push_back(std::move(bytes));
    total += n;
  }

  TensorDataset out;
  out.num_classes = num_classes;
  out.inputs = torch::empty({total, 3, 32, 32}, torch::kFloat);
  out.targets = torch::cat(targets);
  int64_t offset = 0;
  for (auto& bytes : contents) {
    const auto n = static_cast<int64_t>(bytes.size()) / record;
    auto records = torch::from_blob(bytes.data(), {n, record}, torch::kUInt8);
    // Pixels are stored channel-major (1024 red, 1024 green, 1024 blue, each
    // row-major), which is exactly [3, 32, 32].
    out.inputs.narrow(0, offset, n)
        .copy_(records.narrow(1, label_bytes, kPixels).reshape({n, 3, 32, 32}));
    offset += n;
    std::vector<uint8_t>().swap(bytes);
  }
  out.inputs.div_(255);
  return out;
}

Splits read_cifar_dir(const std::string& dir, int64_t num_classes) {
  TORCH_CHECK(num_classes == 10 || num_classes == 100,
              "read_cifar_dir: num_classes must be 10 (CIFAR-10) or 100 (CIFAR-100), got ",
              num_classes);
  TORCH_CHECK(fs::is_directory(dir), "CIFAR directory '", dir, "' does not exist");
  fs::path root(dir);
  // Accept the directory the official tarball extracts to as well as its parent.
  const fs::path nested = root / (num_classes == 10 ? "cifar-10-batches-bin" : "cifar-100-binary");
  const char* probe = num_classes == 10 ? "test_batch.bin" : "test.bin";
  if (!fs::exists(root / probe) && fs::exists(nested / probe)) root = nested;
  auto path = [&](const char* name) {
    return first_existing(root, {name}, num_classes == 10 ? "CIFAR-10" : "CIFAR-100").string();
  };
  Splits splits;
  if (num_classes == 10) {
    splits.train = read_cifar({path("data_batch_1.bin"), path("data_batch_2.bin"),
                               path("data_batch_3.bin"), path("data_batch_4.bin"),
                               path("data_batch_5.bin")},
                              10);
    splits.test = read_cifar({path("test_batch.bin")}, 10);
  } else {
    splits.train = read_cifar({path("train.bin")}, 100);
    splits.test = read_cifar({path("test.bin")}, 100);
  }
  return splits;
}

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
