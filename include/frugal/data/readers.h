#pragma once
/// Readers for the data formats frugal understands. Every reader validates its
/// input completely and throws c10::Error with one line naming the file and
/// what is wrong (bad magic number, truncated file, count mismatch, label out
/// of range, malformed CSV field): never a crash, never a partial data set.

#include "frugal/data/dataset.h"

#include <optional>
#include <string>
#include <vector>

namespace frugal::data {

/// Reads an IDX image file (magic 0x00000803, uint8 [N, rows, cols]) and its
/// IDX label file (magic 0x00000801, uint8 [N]), gzipped or raw (detected by
/// content, not by name). Inputs are the bytes, uint8 [N, 1, rows, cols]
/// (batches turn a byte b into b / 255). `num_classes`: labels must lie in [0, num_classes).
/// Both headers are checked before any payload is read, and a header that
/// promises more bytes than the file can hold fails before allocating.
TensorDataset read_idx(const std::string& images_path, const std::string& labels_path,
                       int64_t num_classes = 10);

/// Reads the train and test splits of an MNIST-layout directory
/// (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...);
/// the .gz name is preferred when both exist.
Splits read_idx_dir(const std::string& dir, int64_t num_classes = 10);

/// Reads CIFAR binary batches. `num_classes` is 10 (records: 1 label byte +
/// 3072 pixel bytes) or 100 (2 label bytes: coarse, fine; the fine label is
/// used; the coarse label must lie in [0, 20)). Files are concatenated in the
/// order given; each may also be gzipped. Inputs are the bytes, uint8
/// [N, 3, 32, 32] (batches turn a byte b into b / 255).
TensorDataset read_cifar(const std::vector<std::string>& paths, int64_t num_classes);

/// Reads the train and test splits of an extracted CIFAR-10
/// (data_batch_1..5.bin, test_batch.bin) or CIFAR-100 (train.bin, test.bin)
/// directory, or of its cifar-10-batches-bin / cifar-100-binary subdirectory
/// as the official archives extract.
Splits read_cifar_dir(const std::string& dir, int64_t num_classes);

/// Options of the CSV reader.
struct CsvOptions {
  /// Label column, by header name; when empty, `label_index` is used.
  std::string label_column;
  /// Label column by 0-based index; negative counts from the end. Default: last.
  int64_t label_index = -1;
  /// Whether the first row is a header. Default: true.
  bool header = true;
  /// Field separator. Default: ','.
  char separator = ',';
  /// Number of classes; labels must lie in [0, num_classes). Default: 0,
  /// which means max label + 1.
  int64_t num_classes = 0;
};

/// Reads a CSV file (optionally gzipped) of numeric features with one
/// integer label column. Inputs are float32 [N, features] in file column
/// order without the label column; targets are the labels. Fields are
/// trimmed of spaces; header names may be double-quoted; blank lines, CRLF
/// line ends and a UTF-8 byte-order mark are accepted. Every row must have
/// as many fields as the first; NaN, infinite and empty features are errors.
/// Labels must be non-negative integers ("3" or an integral "3.0").
TensorDataset read_csv(const std::string& path, const CsvOptions& options = {});

/// Where Debian's dataset-fashion-mnist package installs Fashion-MNIST.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace frugal::data
