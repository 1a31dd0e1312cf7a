#pragma once
/// The packed on-disk format: a data set larger than memory, read sample by
/// sample with positioned reads (pread), never loaded whole. One file holds
/// a header, the training statistics, the labels and the fixed-size samples:
///
///   bytes 0..7     magic "FRUGALPK"
///   bytes 8..11    format version (1), little-endian uint32 like every field
///   bytes 12..15   sample type: 1 = uint8 (byte b means b / 255), 4 = float32
///   bytes 16..19   rank of a sample (1..4)
///   bytes 20..35   the sample's dimensions, uint32[4] (unused ones 0)
///   bytes 36..43   number of samples N, uint64
///   bytes 44..51   number of classes, uint64
///   bytes 52..55   channels C of the statistics (the sample's first dimension)
///   bytes 56..59   crc32 of the sample data
///   bytes 60..63   crc32 of bytes 0..59, of the statistics and of the labels
///   then           per-channel mean float64[C] and std float64[C] of the samples
///                  (as data::channel_statistics computes them, once, at pack time)
///   then           labels int32[N]
///   then           zero padding to a multiple of 4096 bytes
///   then           N samples, each prod(dims) elements of the sample type
///
/// Opening checks the header, the file size (a truncated file is rejected
/// before any sample is read), the labels and both checksums.

#include "frugal/data/dataset.h"
#include "frugal/data/transform.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace frugal::data {

/// A packed file opened for reading; `read` is a positioned read, safe from
/// several threads at once. Memory held: the labels and the statistics.
class PackedDataset : public IndexedDataset {
 public:
  /// Opens and verifies `path` (every error names it and says what is wrong).
  explicit PackedDataset(const std::string& path);
  ~PackedDataset() override;
  PackedDataset(const PackedDataset&) = delete;
  PackedDataset& operator=(const PackedDataset&) = delete;

  int64_t size() const override { return count_; }
  int64_t class_count() const override { return classes_; }
  std::vector<int64_t> sample_shape() const override { return shape_; }
  torch::ScalarType sample_type() const override { return type_; }
  torch::Tensor labels() const override { return labels_; }
  int64_t read(int64_t index, void* out) const override;

  /// The per-channel statistics stored when the file was packed.
  const Normalization& statistics() const { return statistics_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  int64_t count_ = 0;
  int64_t classes_ = 0;
  std::vector<int64_t> shape_;
  torch::ScalarType type_ = torch::kByte;
  uint64_t sample_bytes_ = 0;
  uint64_t data_offset_ = 0;
  torch::Tensor labels_;
  Normalization statistics_;
};

/// Called while packing: samples written so far and in all.
using PackProgress = std::function<void(int64_t done, int64_t total)>;

/// Writes every sample of `source` (uint8 or float32, as stored) with its
/// label to the packed file `path`, atomically: a temporary file in the same
/// directory, fsync'ed and renamed. A sample that cannot be read (a bad
/// image) does not stop the others: every failure is collected, and then one
/// error lists each (which sample, what is wrong); nothing is left at `path`.
void pack(const IndexedDataset& source, const std::string& path,
          const PackProgress& progress = {});

}  // namespace frugal::data
