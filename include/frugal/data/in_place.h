#pragma once
/// IDX and CIFAR binary files read in place: every sample is a positioned
/// read (pread) from the original, uncompressed file, so nothing but the
/// labels is held in memory. Opening checks the headers, sizes and labels
/// (reading the files once, streaming); gzipped files cannot be read in place
/// (gunzip them, or `frugal pack` them).

#include "frugal/data/dataset.h"
#include "frugal/data/readers.h"

#include <memory>
#include <string>
#include <vector>

namespace frugal::data {

/// Fixed-size records in one or more files, each sample at the same offset
/// inside its record.
class RecordFileDataset : public IndexedDataset {
 public:
  struct Part {
    std::string path;
    uint64_t first_record = 0;  // byte offset of record 0 in the file
    int64_t records = 0;
  };
  RecordFileDataset(std::vector<Part> parts, uint64_t record_bytes, uint64_t sample_offset,
                    std::vector<int64_t> sample_shape, torch::Tensor labels, int64_t classes);
  ~RecordFileDataset() override;
  RecordFileDataset(const RecordFileDataset&) = delete;
  RecordFileDataset& operator=(const RecordFileDataset&) = delete;

  int64_t size() const override { return labels_.size(0); }
  int64_t class_count() const override { return classes_; }
  std::vector<int64_t> sample_shape() const override { return shape_; }
  torch::ScalarType sample_type() const override { return torch::kByte; }
  torch::Tensor labels() const override { return labels_; }
  int64_t read(int64_t index, void* out) const override;

 private:
  std::vector<Part> parts_;
  std::vector<int> fds_;
  std::vector<int64_t> starts_;  // first sample index of each part
  uint64_t record_bytes_;
  uint64_t sample_offset_;
  uint64_t sample_bytes_ = 0;
  std::vector<int64_t> shape_;
  torch::Tensor labels_;
  int64_t classes_;
};

/// An IDX images file (raw) with its labels file (raw or gzipped), in place.
std::shared_ptr<RecordFileDataset> open_idx_in_place(const std::string& images_path,
                                                     const std::string& labels_path,
                                                     int64_t num_classes = 10);

/// CIFAR-10 (num_classes 10) or CIFAR-100 (100) binary batches, in place.
std::shared_ptr<RecordFileDataset> open_cifar_in_place(const std::vector<std::string>& paths,
                                                       int64_t num_classes);

/// The train and test files of an MNIST-layout or CIFAR directory (the same
/// look-up as read_idx_dir and read_cifar_dir).
struct SplitFiles {
  std::vector<std::string> train, test;  // idx: {images, labels}; cifar: the batches
};
SplitFiles idx_dir_files(const std::string& dir);
SplitFiles cifar_dir_files(const std::string& dir, int64_t num_classes);

}  // namespace frugal::data
