#include "frugal/data/image_folder.h"

#include <torch/types.h>

#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

namespace frugal::data {

namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, path, ": cannot open");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TORCH_CHECK(!bytes.empty(), path, ": empty file");
  return bytes;
}

Image decode_png(const std::string& path, const std::vector<uint8_t>& bytes, int64_t channels) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  TORCH_CHECK(png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()) != 0, path,
              ": bad PNG: ", png.message);
  png.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image image{png.height, png.width, channels, {}};
  image.pixels.resize(PNG_IMAGE_SIZE(png));
  const int ok = png_image_finish_read(&png, nullptr, image.pixels.data(), 0, nullptr);
  const std::string message = png.message;
  png_image_free(&png);
  TORCH_CHECK(ok != 0, path, ": bad PNG: ", message);
  return image;
}

/// libjpeg reports errors through a callback that must not return: jump back
/// with the message.
struct JpegError {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr info) {
  auto* err = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, err->message);
  std::longjmp(err->jump, 1);
}

Image decode_jpeg(const std::string& path, const std::vector<uint8_t>& bytes, int64_t channels) {
  jpeg_decompress_struct info;
  JpegError err;
  info.err = jpeg_std_error(&err.base);
  err.base.error_exit = jpeg_fail;
  err.base.output_message = [](j_common_ptr) {};  // warnings: decoded anyway
  Image image;
  image.channels = channels;
  if (setjmp(err.jump) != 0) {
    jpeg_destroy_decompress(&info);
    TORCH_CHECK(false, path, ": bad JPEG: ", err.message);
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  info.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  image.rows = info.output_height;
  image.cols = info.output_width;
  image.pixels.resize(static_cast<size_t>(image.rows * image.cols * channels));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image.pixels.data() + static_cast<size_t>(info.output_scanline) * image.cols * channels;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return image;
}

bool hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

}  // namespace

Image decode_image(const std::string& path, int64_t channels) {
  TORCH_CHECK(channels == 1 || channels == 3, "image: channels must be 1 or 3, got ", channels);
  const auto bytes = read_bytes(path);
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0)
    return decode_png(path, bytes, channels);
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
    return decode_jpeg(path, bytes, channels);
  TORCH_CHECK(false, path, ": neither a PNG nor a JPEG image (unknown signature)");
}

void resize_to_planar(const Image& image, int64_t rows, int64_t cols, uint8_t* out) {
  const int64_t c_n = image.channels;
  // Pixel centres aligned (align_corners = false), as torch's bilinear resize.
  const double sy = static_cast<double>(image.rows) / rows, sx = static_cast<double>(image.cols) / cols;
  for (int64_t y = 0; y < rows; ++y) {
    const double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, static_cast<double>(image.rows - 1));
    const int64_t y0 = static_cast<int64_t>(fy), y1 = std::min(y0 + 1, image.rows - 1);
    const double wy = fy - y0;
    for (int64_t x = 0; x < cols; ++x) {
      const double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, static_cast<double>(image.cols - 1));
      const int64_t x0 = static_cast<int64_t>(fx), x1 = std::min(x0 + 1, image.cols - 1);
      const double wx = fx - x0;
      for (int64_t c = 0; c < c_n; ++c) {
        auto at = [&](int64_t r, int64_t k) {
          return static_cast<double>(image.pixels[static_cast<size_t>((r * image.cols + k) * c_n + c)]);
        };
        const double v = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) +
                         wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        out[(c * rows + y) * cols + x] = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
      }
    }
  }
}

ImageFolderDataset::ImageFolderDataset(const std::string& root, ImageFolderOptions options)
    : options_(std::move(options)) {
  TORCH_CHECK(options_.rows >= 1 && options_.cols >= 1, "image folder: size must be >= 1x1, got ",
              options_.rows, "x", options_.cols);
  TORCH_CHECK(options_.channels == 1 || options_.channels == 3,
              "image folder: channels must be 1 or 3, got ", options_.channels);
  TORCH_CHECK(fs::is_directory(root), "image folder '", root, "' does not exist");
  if (options_.classes.empty()) {
    for (const auto& entry : fs::directory_iterator(root))
      if (entry.is_directory() && !hidden(entry.path()))
        options_.classes.push_back(entry.path().filename().string());
    std::sort(options_.classes.begin(), options_.classes.end());
  }
  TORCH_CHECK(!options_.classes.empty(), "image folder '", root,
              "' has no class folders (expected root/<class>/<image>)");
  for (size_t label = 0; label < options_.classes.size(); ++label) {
    const fs::path dir = fs::path(root) / options_.classes[label];
    TORCH_CHECK(fs::is_directory(dir), "image folder '", root, "' has no class folder '",
                options_.classes[label], "'");
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir))
      if (!entry.is_directory() && !hidden(entry.path())) names.push_back(entry.path().string());
    std::sort(names.begin(), names.end());
    for (auto& name : names) {
      files_.push_back(std::move(name));
      labels_.push_back(static_cast<int64_t>(label));
    }
  }
  TORCH_CHECK(!files_.empty(), "image folder '", root, "' holds no images");
}

torch::Tensor ImageFolderDataset::labels() const { return torch::tensor(labels_, torch::kLong); }

int64_t ImageFolderDataset::read(int64_t index, void* out) const {
  TORCH_CHECK(index >= 0 && index < size(), "image folder: sample ", index, " is outside [0, ",
              size(), ")");
  const Image image = decode_image(files_[index], options_.channels);
  TORCH_CHECK(image.rows >= 1 && image.cols >= 1, files_[index], ": the image is empty");
  resize_to_planar(image, options_.rows, options_.cols, static_cast<uint8_t*>(out));
  return labels_[index];
}

}  // namespace frugal::data
