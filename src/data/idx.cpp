#include "frugal/data/readers.h"

#include "frugal/data/in_place.h"

#include "input_file.h"

#include <cstdio>
#include <filesystem>

namespace frugal::data {
namespace {

using namespace detail;
namespace fs = std::filesystem;

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
  out.inputs = std::move(pixels);
  return out;
}

SplitFiles idx_dir_files(const std::string& dir) {
  TORCH_CHECK(fs::is_directory(dir), "IDX directory '", dir, "' does not exist");
  auto split = [&](const char* prefix) {
    const std::string p(prefix);
    const std::string img = p + "-images-idx3-ubyte", lab = p + "-labels-idx1-ubyte";
    const std::string img_gz = img + ".gz", lab_gz = lab + ".gz";
    return std::vector<std::string>{first_existing(dir, {img_gz.c_str(), img.c_str()}, "IDX").string(),
                                    first_existing(dir, {lab_gz.c_str(), lab.c_str()}, "IDX").string()};
  };
  return {split("train"), split("t10k")};
}

Splits read_idx_dir(const std::string& dir, int64_t num_classes) {
  const SplitFiles files = idx_dir_files(dir);
  Splits splits;
  splits.train = read_idx(files.train[0], files.train[1], num_classes);
  splits.test = read_idx(files.test[0], files.test[1], num_classes);
  return splits;
}

std::shared_ptr<RecordFileDataset> open_idx_in_place(const std::string& images_path,
                                                     const std::string& labels_path,
                                                     int64_t num_classes) {
  TORCH_CHECK(num_classes > 0, "open_idx_in_place: num_classes must be positive, got ", num_classes);
  InputFile images(images_path, "IDX images file");
  InputFile labels(labels_path, "IDX labels file");
  TORCH_CHECK(!images.compressed(), images.desc(), ": is gzipped and cannot be read in place "
              "(gunzip it, or `frugal pack idx` it)");
  const IdxHeader image_header = read_idx_header(images, kIdxImagesMagic, 3);
  const IdxHeader label_header = read_idx_header(labels, kIdxLabelsMagic, 1);
  const int64_t n = image_header.dims[0];
  TORCH_CHECK(label_header.dims[0] == image_header.dims[0], images.desc(), " holds ", n,
              " images but ", labels.desc(), " holds ", label_header.dims[0], " labels");
  TORCH_CHECK(images.size() == 16 + image_header.payload, images.desc(), ": ",
              images.size() - 16 - image_header.payload,
              " bytes of trailing garbage after the data the header promises");
  auto label_bytes = torch::empty({n}, torch::kUInt8);
  read_idx_payload(labels, label_header, label_bytes.data_ptr<uint8_t>());
  auto targets = checked_targets(label_bytes.data_ptr<uint8_t>(), n, 1, num_classes, labels.desc());
  const int64_t rows = image_header.dims[1], cols = image_header.dims[2];
  return std::make_shared<RecordFileDataset>(
      std::vector<RecordFileDataset::Part>{{images_path, 16, n}}, rows * cols, 0,
      std::vector<int64_t>{1, rows, cols}, targets, num_classes);
}

}  // namespace frugal::data
