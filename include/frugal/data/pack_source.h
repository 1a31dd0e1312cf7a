#pragma once
/// `frugal pack`: converts a data set in one of the formats frugal reads
/// into a packed directory (train.pack, and test.pack where the source has
/// a test split) that [data] name = "packed" trains from.

#include "frugal/data/packed.h"

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::data {

struct PackSourceOptions {
  /// "idx" (an MNIST-layout directory), "cifar10", "cifar100" (their binary
  /// directories), "csv" (a file) or "images" (class-per-folder images).
  std::string format;
  /// The directory (idx, cifar, images) or training file (csv). An image
  /// directory with `train` and `test` sub-folders gives both splits; else
  /// every class folder under it is the training split.
  std::string input;
  /// csv: the test file (optional).
  std::string test_input;
  /// csv: the label column by name (empty: label_index) or index (-1: last).
  std::string label_column;
  int64_t label_index = -1;
  /// images: the size images are resized to and their channels (1 or 3).
  int64_t rows = 32;
  int64_t cols = 32;
  int64_t channels = 3;
};

/// The formats PackSourceOptions::format takes.
const std::vector<std::string>& pack_formats();

/// Packs `options.input` into `output_dir`; returns the files written.
/// `progress` is called per block with the split being written ("train",
/// "test"), the samples done and in all.
std::vector<std::string> pack_source(
    const PackSourceOptions& options, const std::string& output_dir,
    const std::function<void(const std::string& split, int64_t done, int64_t total)>& progress = {});

}  // namespace frugal::data
