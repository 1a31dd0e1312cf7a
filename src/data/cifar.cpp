#include "frugal/data/readers.h"

#include "frugal/data/in_place.h"

#include "input_file.h"

#include <algorithm>
#include <filesystem>

namespace frugal::data {

using namespace detail;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kCifarPixels = 3 * 32 * 32;

/// CIFAR-100 records start with the coarse (20 superclasses) label; `first`
/// numbers the records of `p` in their file.
void check_cifar_labels(const uint8_t* p, int64_t n, int64_t record, int64_t label_bytes,
                        int64_t first, const std::string& desc) {
  if (label_bytes != 2) return;
  for (int64_t i = 0; i < n; ++i)
    TORCH_CHECK(p[i * record] < 20, desc, ": coarse label ", int{p[i * record]}, " of record ",
                first + i, " is outside [0, 20)");
}

/// CIFAR-10 records: 1 label byte + the pixels; CIFAR-100: coarse and fine label bytes.
struct CifarLayout {
  int64_t label_bytes;
  int64_t record;
  std::string kind;
};

CifarLayout cifar_layout(int64_t num_classes, const std::vector<std::string>& paths,
                         const char* caller) {
  TORCH_CHECK(num_classes == 10 || num_classes == 100, caller,
              ": num_classes must be 10 (CIFAR-10) or 100 (CIFAR-100), got ", num_classes);
  TORCH_CHECK(!paths.empty(), caller, ": no files given");
  const int64_t label_bytes = num_classes == 10 ? 1 : 2;
  return {label_bytes, label_bytes + kCifarPixels,
          num_classes == 10 ? "CIFAR-10 file" : "CIFAR-100 file"};
}

}  // namespace

TensorDataset read_cifar(const std::vector<std::string>& paths, int64_t num_classes) {
  const CifarLayout layout = cifar_layout(num_classes, paths, "read_cifar");
  const int64_t label_bytes = layout.label_bytes, record = layout.record;
  const std::string& kind = layout.kind;

  // All files are read and checked before the output is allocated.
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
    check_cifar_labels(bytes.data(), n, record, label_bytes, 0, file.desc());
    targets.push_back(
        checked_targets(bytes.data() + label_bytes - 1, n, record, num_classes, file.desc()));
    contents.push_back(std::move(bytes));
    total += n;
  }

  TensorDataset out;
  out.num_classes = num_classes;
  out.inputs = torch::empty({total, 3, 32, 32}, torch::kUInt8);
  out.targets = torch::cat(targets);
  int64_t offset = 0;
  for (auto& bytes : contents) {
    const auto n = static_cast<int64_t>(bytes.size()) / record;
    auto records = torch::from_blob(bytes.data(), {n, record}, torch::kUInt8);
    // Pixels are stored channel-major (1024 red, 1024 green, 1024 blue, each
    // row-major), which is exactly [3, 32, 32].
    out.inputs.narrow(0, offset, n)
        .copy_(records.narrow(1, label_bytes, kCifarPixels).reshape({n, 3, 32, 32}));
    offset += n;
    std::vector<uint8_t>().swap(bytes);
  }
  return out;
}

SplitFiles cifar_dir_files(const std::string& dir, int64_t num_classes) {
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
  if (num_classes == 10)
    return {{path("data_batch_1.bin"), path("data_batch_2.bin"), path("data_batch_3.bin"),
             path("data_batch_4.bin"), path("data_batch_5.bin")},
            {path("test_batch.bin")}};
  return {{path("train.bin")}, {path("test.bin")}};
}

Splits read_cifar_dir(const std::string& dir, int64_t num_classes) {
  const SplitFiles files = cifar_dir_files(dir, num_classes);
  Splits splits;
  splits.train = read_cifar(files.train, num_classes);
  splits.test = read_cifar(files.test, num_classes);
  return splits;
}

std::shared_ptr<RecordFileDataset> open_cifar_in_place(const std::vector<std::string>& paths,
                                                       int64_t num_classes) {
  const CifarLayout layout = cifar_layout(num_classes, paths, "open_cifar_in_place");
  const int64_t label_bytes = layout.label_bytes, record = layout.record;
  const std::string& kind = layout.kind;
  std::vector<RecordFileDataset::Part> parts;
  std::vector<torch::Tensor> targets;
  // The labels, read through the file in blocks of records, never whole.
  std::vector<uint8_t> block(static_cast<size_t>(record) * 1024);
  for (const auto& path : paths) {
    InputFile file(path, kind);
    TORCH_CHECK(!file.compressed(), file.desc(), ": is gzipped and cannot be read in place "
                "(gunzip it, or `frugal pack` it)");
    const auto size = static_cast<int64_t>(file.size());
    TORCH_CHECK(size > 0, file.desc(), ": file is empty");
    TORCH_CHECK(size % record == 0, file.desc(), ": truncated: ", size, " bytes is not a whole "
                "number of ", record, "-byte records (the last record has only ", size % record,
                " bytes)");
    const int64_t n = size / record;
    for (int64_t first = 0; first < n; first += 1024) {
      const int64_t count = std::min<int64_t>(1024, n - first);
      TORCH_CHECK(file.read_some(block.data(), count * record) == static_cast<uint64_t>(count * record),
                  file.desc(), ": the file shrank while it was read");
      check_cifar_labels(block.data(), count, record, label_bytes, first, file.desc());
      targets.push_back(checked_targets(block.data() + label_bytes - 1, count, record, num_classes,
                                        file.desc() + " (sample numbers from record " +
                                            std::to_string(first) + ")"));
    }
    parts.push_back({path, 0, n});
  }
  return std::make_shared<RecordFileDataset>(std::move(parts), record, label_bytes,
                                             std::vector<int64_t>{3, 32, 32}, torch::cat(targets),
                                             num_classes);
}

}  // namespace frugal::data
