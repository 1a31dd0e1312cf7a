#pragma once
/// Where a run's data comes from (the recipe's [data] section) and the
/// indexed data sets it opens: in memory (Fashion-MNIST, IDX, CIFAR, CSV),
/// read in place (raw IDX and CIFAR files), or packed on disk.

#include "frugal/data/dataset.h"
#include "frugal/data/transform.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace frugal::data {

/// The recipe's [data] section.
struct SourceOptions {
  /// "fashion-mnist", "idx" (any MNIST-layout directory), "cifar10",
  /// "cifar100", "csv" or "packed" (a directory `frugal pack` wrote).
  /// Default "fashion-mnist".
  std::string name = "fashion-mnist";
  /// Directory (idx, cifar, packed) or training file (csv). Default for
  /// fashion-mnist: where Debian's dataset-fashion-mnist installs it.
  std::string path;
  /// csv: the test file (none: no evaluation).
  std::string test_path;
  /// csv: label column by header name (empty: use label_index).
  std::string label_column;
  /// csv: label column by index, negative from the end. Default -1 (last).
  int64_t label_index = -1;
  /// Train and test only on these classes (empty: all).
  std::vector<int64_t> classes;
  /// With `classes`: renumber them 0..k-1 in the order given. Default true.
  bool relabel = true;
  /// Normalize inputs per channel with the training set's mean and std
  /// (packed: the statistics stored at pack time). Default true.
  bool standardize = true;
  /// Use only the first `limit` training samples (0: all). Default 0.
  int64_t limit = 0;
  /// Use only the first `test_limit` test samples (0: all). Default 0.
  int64_t test_limit = 0;
  /// idx, cifar10, cifar100: read the (not gzipped) files in place, sample by
  /// sample, instead of loading them into memory. Default false.
  bool in_place = false;

  /// Names and combinations; throws naming the bad key.
  void validate() const;
};

/// The names SourceOptions::name takes.
const std::vector<std::string>& source_names();

/// A run's data: the training and test sets (test empty when the source has
/// none) and the normalization to apply to both.
struct Source {
  std::shared_ptr<const IndexedDataset> train;
  std::shared_ptr<const IndexedDataset> test;
  Normalization normalization;
};

/// Opens the source: reads or opens the files, filters the classes, applies
/// the limits and takes the training statistics. Every error names the file
/// or key; a missing directory says where the data is expected.
Source open_source(const SourceOptions& options);

/// A view of some samples of another data set, in the order given, with
/// labels optionally renumbered (`relabel[old] = new`, -1 never occurs).
class SubsetDataset : public IndexedDataset {
 public:
  SubsetDataset(std::shared_ptr<const IndexedDataset> base, std::vector<int64_t> indices,
                std::vector<int64_t> relabel = {}, int64_t class_count = 0);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int64_t class_count() const override { return classes_; }
  std::vector<int64_t> sample_shape() const override { return base_->sample_shape(); }
  torch::ScalarType sample_type() const override { return base_->sample_type(); }
  torch::Tensor labels() const override;
  int64_t read(int64_t index, void* out) const override;

 private:
  std::shared_ptr<const IndexedDataset> base_;
  std::vector<int64_t> indices_;
  std::vector<int64_t> relabel_;
  int64_t classes_;
};

/// The first `limit` samples (all when limit is 0 or not smaller than the size).
std::shared_ptr<const IndexedDataset> first_samples(std::shared_ptr<const IndexedDataset> data,
                                                    int64_t limit);

/// Keeps only the samples whose class is in `classes`. With `relabel`, the
/// kept classes are renumbered 0..k-1 in the order given (a new task head).
/// Throws when a class is out of range, listed twice, or nothing remains.
std::shared_ptr<const IndexedDataset> filter_classes(std::shared_ptr<const IndexedDataset> data,
                                                     const std::vector<int64_t>& classes,
                                                     bool relabel);

}  // namespace frugal::data
