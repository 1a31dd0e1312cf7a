#include "support/expect_error.h"
#include "frugal/data/image_folder.h"
#include "frugal/data/in_place.h"
#include "frugal/data/pack_source.h"
#include "frugal/data/packed.h"
#include "frugal/data/readers.h"
#include "frugal/data/source.h"

#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace frugal;
using frugal_test::error_of;
using frugal_test::expect_error;

namespace {

class Packed : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = testing::TempDir() + "frugal_packed_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

data::TensorDataset byte_images(int64_t n) {
  auto x = torch::randint(0, 256, {n, 3, 4, 5}, torch::kLong).to(torch::kUInt8);
  return data::TensorDataset(x, torch::randint(0, 4, {n}, torch::kLong), 4);
}

/// Every sample and label of `a` equals `b`'s.
void expect_same(const data::IndexedDataset& a, const data::IndexedDataset& b) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.sample_shape(), b.sample_shape());
  ASSERT_EQ(a.sample_type(), b.sample_type());
  EXPECT_EQ(a.class_count(), b.class_count());
  EXPECT_TRUE(torch::equal(a.labels(), b.labels()));
  const int64_t bytes = a.sample_numel() * (a.sample_type() == torch::kByte ? 1 : 4);
  std::vector<uint8_t> x(bytes), y(bytes);
  for (int64_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.read(i, x.data()), b.read(i, y.data()));
    ASSERT_EQ(x, y) << "sample " << i;
  }
}

void flip_byte(const std::string& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST_F(Packed, ReadBackGivesTheSourcesSamplesLabelsAndStatistics) {
  const auto source = byte_images(37);
  data::pack(source, path("train.pack"));
  data::PackedDataset packed(path("train.pack"));
  expect_same(packed, source);
  const auto stats = data::channel_statistics(source);
  ASSERT_EQ(packed.statistics().mean.size(), 3u);
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(packed.statistics().mean[c], stats.mean[c], 1e-9);
    EXPECT_NEAR(packed.statistics().std[c], stats.std[c], 1e-9);
  }
}

TEST_F(Packed, FloatSamplesRoundTripExactly) {
  data::TensorDataset source(torch::randn({9, 6}), torch::tensor({0, 1, 2, 0, 1, 2, 0, 1, 2}, torch::kLong), 3);
  data::pack(source, path("f.pack"));
  expect_same(data::PackedDataset(path("f.pack")), source);
}

TEST_F(Packed, TruncatedOrCorruptFilesAreRejectedWithTheReason) {
  data::pack(byte_images(20), path("a.pack"));
  const auto size = fs::file_size(path("a.pack"));
  fs::copy_file(path("a.pack"), path("short.pack"));
  fs::resize_file(path("short.pack"), size - 7);
  expect_error([&] { data::PackedDataset p(path("short.pack")); }, "truncated");
  fs::resize_file(path("short.pack"), 40);
  expect_error([&] { data::PackedDataset p(path("short.pack")); }, "truncated");

  fs::copy_file(path("a.pack"), path("data.pack"));
  flip_byte(path("data.pack"), size - 100);  // inside the samples
  const std::string data_error = error_of([&] { data::PackedDataset p(path("data.pack")); });
  EXPECT_NE(data_error.find("corrupt: the samples"), std::string::npos) << data_error;
  EXPECT_NE(data_error.find(path("data.pack")), std::string::npos) << data_error;

  fs::copy_file(path("a.pack"), path("label.pack"));
  flip_byte(path("label.pack"), 64 + 3 * 16 + 4 * 5);  // label of sample 5
  expect_error([&] { data::PackedDataset p(path("label.pack")); }, "corrupt");

  fs::copy_file(path("a.pack"), path("long.pack"));
  std::ofstream(path("long.pack"), std::ios::app) << "x";
  expect_error([&] { data::PackedDataset p(path("long.pack")); }, "trailing garbage");
  std::ofstream(path("text.pack")) << std::string(100, 'x');  // long enough for a header
  expect_error([&] { data::PackedDataset p(path("text.pack")); }, "wrong magic");
}

/// Writes a tiny CIFAR-10 directory: 5 training batches of 3 records, a test batch of 2.
void write_cifar10(const fs::path& dir) {
  fs::create_directories(dir);
  auto batch = [&](const std::string& name, int records, int seed) {
    std::ofstream out(dir / name, std::ios::binary);
    for (int r = 0; r < records; ++r) {
      out.put(static_cast<char>((r + seed) % 10));
      for (int i = 0; i < 3072; ++i) out.put(static_cast<char>((i * 7 + r * 13 + seed) % 256));
    }
  };
  for (int b = 1; b <= 5; ++b) batch("data_batch_" + std::to_string(b) + ".bin", 3, b);
  batch("test_batch.bin", 2, 9);
}

TEST_F(Packed, PackedCifarEqualsTheInMemoryReader) {
  write_cifar10(dir_ / "cifar");
  data::PackSourceOptions options;
  options.format = "cifar10";
  options.input = path("cifar");
  const auto files = data::pack_source(options, path("out"));
  ASSERT_EQ(files.size(), 2u);
  const auto splits = data::read_cifar_dir(path("cifar"), 10);
  expect_same(data::PackedDataset(path("out/train.pack")), splits.train);
  expect_same(data::PackedDataset(path("out/test.pack")), splits.test);
  // The recipe source reads it back with the training statistics stored at pack time.
  data::SourceOptions source;
  source.name = "packed";
  source.path = path("out");
  const auto opened = data::open_source(source);
  EXPECT_EQ(opened.train->size(), 15);
  EXPECT_EQ(opened.test->size(), 2);
  EXPECT_NEAR(opened.normalization.mean[1], data::channel_statistics(splits.train).mean[1], 1e-9);
}

TEST_F(Packed, CifarAndIdxReadInPlaceEqualTheInMemoryReaders) {
  write_cifar10(dir_ / "cifar");
  const auto files = data::cifar_dir_files(path("cifar"), 10);
  const auto splits = data::read_cifar_dir(path("cifar"), 10);
  expect_same(*data::open_cifar_in_place(files.train, 10), splits.train);
  expect_same(*data::open_cifar_in_place(files.test, 10), splits.test);

  auto be32 = [](std::ofstream& out, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.put(static_cast<char>((v >> s) & 0xff));
  };
  {
    std::ofstream images(path("img"), std::ios::binary), labels(path("lab"), std::ios::binary);
    be32(images, 0x803), be32(images, 4), be32(images, 2), be32(images, 3);
    for (int i = 0; i < 24; ++i) images.put(static_cast<char>(i * 10));
    be32(labels, 0x801), be32(labels, 4);
    for (int i = 0; i < 4; ++i) labels.put(static_cast<char>(3 - i));
  }
  expect_same(*data::open_idx_in_place(path("img"), path("lab"), 10), data::read_idx(path("img"), path("lab"), 10));
  fs::resize_file(path("img"), 16 + 23);
  expect_error([&] { data::open_idx_in_place(path("img"), path("lab"), 10); }, "truncated");
}

TEST_F(Packed, GzippedFilesCannotBeReadInPlaceAndSaySo) {
  if (!fs::is_directory(data::kFashionMnistDir)) GTEST_SKIP() << data::kFashionMnistDir << " is not installed";
  data::SourceOptions source;
  source.in_place = true;
  expect_error([&] { data::open_source(source); }, "is gzipped and cannot be read in place");
}

TEST_F(Packed, PackedCsvKeepsFloatFeatures) {
  std::ofstream(path("t.csv")) << "a,b,label\n1.5,2,0\n-3,4.25,1\n";
  data::PackSourceOptions options;
  options.format = "csv";
  options.input = path("t.csv");
  data::pack_source(options, path("out"));
  expect_same(data::PackedDataset(path("out/train.pack")), data::read_csv(path("t.csv")));
  EXPECT_FALSE(fs::exists(path("out/test.pack")));
}

void write_png(const std::string& file, int rows, int cols, const std::vector<uint8_t>& rgb) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = cols;
  image.height = rows;
  image.format = PNG_FORMAT_RGB;
  ASSERT_NE(png_image_write_to_file(&image, file.c_str(), 0, rgb.data(), 0, nullptr), 0);
}

void write_jpeg(const std::string& file, int rows, int cols, uint8_t value) {
  jpeg_compress_struct info;
  jpeg_error_mgr err;
  info.err = jpeg_std_error(&err);
  jpeg_create_compress(&info);
  FILE* f = std::fopen(file.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  jpeg_stdio_dest(&info, f);
  info.image_width = cols;
  info.image_height = rows;
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 95, TRUE);
  jpeg_start_compress(&info, TRUE);
  std::vector<uint8_t> row(cols * 3, value);
  while (info.next_scanline < info.image_height) {
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&info, &r, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::fclose(f);
}

TEST_F(Packed, ImageFolderDecodesPngAndJpegPerClassFolder) {
  fs::create_directories(dir_ / "img/cat");
  fs::create_directories(dir_ / "img/dog");
  std::vector<uint8_t> rgb(4 * 4 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 5);
  write_png(path("img/cat/a.png"), 4, 4, rgb);
  write_jpeg(path("img/dog/b.jpg"), 8, 8, 200);
  data::ImageFolderOptions options;
  options.rows = options.cols = 4;
  data::ImageFolderDataset folder(path("img"), options);
  EXPECT_EQ(folder.classes(), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_TRUE(torch::equal(folder.labels(), torch::tensor({0, 1}, torch::kLong)));
  std::vector<uint8_t> sample(3 * 4 * 4);
  EXPECT_EQ(folder.read(0, sample.data()), 0);
  // Same size: the pixels unchanged, stored channel-major.
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 16; ++p) ASSERT_EQ(sample[c * 16 + p], rgb[p * 3 + c]);
  EXPECT_EQ(folder.read(1, sample.data()), 1);
  for (uint8_t v : sample) EXPECT_NEAR(v, 200, 3);  // JPEG is lossy
}

TEST_F(Packed, BilinearDownscaleAveragesNeighbours) {
  data::Image image{2, 4, 1, {0, 100, 200, 40, 10, 110, 210, 50}};
  uint8_t out[2];
  data::resize_to_planar(image, 1, 2, out);
  EXPECT_EQ(out[0], 55);   // mean of 0, 100, 10, 110
  EXPECT_EQ(out[1], 125);  // mean of 200, 40, 210, 50
}

TEST_F(Packed, ABadImageIsOneClearErrorNamingItAndNothingIsWritten) {
  fs::create_directories(dir_ / "img/a");
  std::vector<uint8_t> rgb(2 * 2 * 3, 9);
  write_png(path("img/a/good.png"), 2, 2, rgb);
  std::ofstream(path("img/a/broken.png")) << "\x89PNG\r\n\x1a\n but then nothing an image needs";
  std::ofstream(path("img/a/notes.txt")) << "hello";
  data::PackSourceOptions options;
  options.format = "images";
  options.input = path("img");
  options.rows = options.cols = 2;
  const std::string message = error_of([&] { data::pack_source(options, path("out")); });
  EXPECT_NE(message.find("2 of 3 samples could not be read"), std::string::npos) << message;
  EXPECT_NE(message.find(path("img/a/broken.png") + ": bad PNG"), std::string::npos) << message;
  EXPECT_NE(message.find(path("img/a/notes.txt") + ": neither a PNG nor a JPEG"), std::string::npos)
      << message;
  EXPECT_EQ(message.find("good.png"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(path("out/train.pack")));
  for (const auto& entry : fs::directory_iterator(path("out")))
    ADD_FAILURE() << "left behind: " << entry.path();
}

}  // namespace
