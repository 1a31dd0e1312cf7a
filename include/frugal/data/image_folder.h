#pragma once
/// A class-per-folder image directory (root/<class>/<image>) as an indexed
/// data set: each read decodes one PNG or JPEG (libpng, libjpeg-turbo),
/// converts it to the asked channels and resizes it (bilinear) to the asked
/// size. Decoding on every read is slow; this is what `frugal pack` reads
/// once to write a packed file.

#include "frugal/data/dataset.h"

#include <string>
#include <vector>

namespace frugal::data {

struct ImageFolderOptions {
  /// Rows and columns every image is resized to, >= 1. Default 32 x 32.
  int64_t rows = 32;
  int64_t cols = 32;
  /// 1 (grey) or 3 (RGB). Default 3.
  int64_t channels = 3;
  /// The class folders, in label order; empty: every sub-folder of the root,
  /// sorted by name. (A test split takes the training split's list.)
  std::vector<std::string> classes;
};

class ImageFolderDataset : public IndexedDataset {
 public:
  /// Lists root/<class>/* (files in name order; hidden files skipped). Throws
  /// when the root, a class folder or every image is missing.
  ImageFolderDataset(const std::string& root, ImageFolderOptions options);

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t class_count() const override { return static_cast<int64_t>(options_.classes.size()); }
  std::vector<int64_t> sample_shape() const override {
    return {options_.channels, options_.rows, options_.cols};
  }
  torch::ScalarType sample_type() const override { return torch::kByte; }
  torch::Tensor labels() const override;
  /// Decodes image `index`; throws naming the file and what is wrong with it.
  int64_t read(int64_t index, void* out) const override;

  const std::vector<std::string>& classes() const { return options_.classes; }

 private:
  ImageFolderOptions options_;
  std::vector<std::string> files_;
  std::vector<int64_t> labels_;
};

/// A decoded image: rows x cols x channels bytes, interleaved (as decoded).
struct Image {
  int64_t rows = 0, cols = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

/// Decodes the PNG or JPEG file at `path` (recognized by content) to
/// `channels` (1 or 3) channels; throws "<path>: <what is wrong>".
Image decode_image(const std::string& path, int64_t channels);

/// Bilinear resize of `image` to rows x cols, written channel-major
/// ([channels, rows, cols]) to `out`.
void resize_to_planar(const Image& image, int64_t rows, int64_t cols, uint8_t* out);

}  // namespace frugal::data
