#include "support/expect_error.h"
#include "frugal/data/readers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using frugal::data::CsvOptions;
using frugal::data::read_cifar;
using frugal::data::read_cifar_dir;
using frugal::data::read_csv;
using frugal::data::read_idx;
using frugal::data::read_idx_dir;
using frugal::data::Splits;
using frugal::data::TensorDataset;

namespace {

using Bytes = std::vector<uint8_t>;

/// A fresh directory per test, removed afterwards, so parallel test runs and
/// other engineers' runs never see each other's files.
class TempFiles : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = testing::TempDir() + "frugal_data_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  /// Writes `bytes` to `name`, through gzip when `gzip`; returns the path.
  std::string write(const std::string& name, const Bytes& bytes, bool gzip = false) const {
    const std::string p = path(name);
    if (gzip) {
      gzFile f = gzopen(p.c_str(), "wb");
      EXPECT_NE(f, nullptr);
      EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
                static_cast<int>(bytes.size()));
      gzclose(f);
    } else {
      std::ofstream out(p, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
    }
    return p;
  }
  std::string write_text(const std::string& name, const std::string& text) const {
    return write(name, Bytes(text.begin(), text.end()));
  }

  fs::path dir_;
};

void put_u32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

Bytes idx_images(uint32_t n, uint32_t rows, uint32_t cols, const Bytes& pixels) {
  Bytes out;
  put_u32(out, 0x00000803);
  put_u32(out, n);
  put_u32(out, rows);
  put_u32(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

Bytes idx_labels(const Bytes& labels) {
  Bytes out;
  put_u32(out, 0x00000801);
  put_u32(out, static_cast<uint32_t>(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

/// Deterministic pixel bytes covering the whole 0..255 range.
Bytes pattern(size_t n, uint32_t seed) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>((i * 37 + seed * 101 + 11) % 256);
  return out;
}

/// The bytes as the readers keep them (uint8; batches scale them by 1/255).
torch::Tensor scaled(const Bytes& bytes) {
  return torch::tensor(std::vector<int64_t>(bytes.begin(), bytes.end())).to(torch::kUInt8);
}

using frugal_test::error_of;

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  const std::string msg = error_of(fn);
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
  for (const auto& part : parts)
    EXPECT_NE(msg.find(part), std::string::npos) << "message lacks '" << part << "': " << msg;
}

// ---------------------------------------------------------------- IDX

class IdxReader : public TempFiles {
 protected:
  const Bytes pixels_ = pattern(5 * 3 * 4, 1);
  const Bytes labels_{3, 0, 9, 1, 3};
};

TEST_F(IdxReader, RoundTripsRawFilesExactly) {
  auto data = read_idx(write("img", idx_images(5, 3, 4, pixels_)), write("lab", idx_labels(labels_)));
  EXPECT_EQ(data.inputs.sizes(), (std::vector<int64_t>{5, 1, 3, 4}));
  EXPECT_EQ(data.inputs.scalar_type(), torch::kByte);
  EXPECT_TRUE(torch::equal(data.inputs.flatten(), scaled(pixels_)));
  EXPECT_EQ(data.inputs[1][0][2][3].item<uint8_t>(), pixels_[12 + 2 * 4 + 3]);
  EXPECT_EQ(data.targets.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(data.targets, torch::tensor({3, 0, 9, 1, 3}, torch::kLong)));
  EXPECT_EQ(data.num_classes, 10);
  EXPECT_EQ(data.size(), 5);
}

TEST_F(IdxReader, RoundTripsGzippedFilesExactly) {
  auto data = read_idx(write("img.gz", idx_images(5, 3, 4, pixels_), true),
                       write("lab.gz", idx_labels(labels_), true));
  EXPECT_TRUE(torch::equal(data.inputs.flatten(), scaled(pixels_)));
  EXPECT_TRUE(torch::equal(data.targets, torch::tensor({3, 0, 9, 1, 3}, torch::kLong)));
}

TEST_F(IdxReader, DetectsGzipByContentNotByName) {
  // A gzipped file without .gz and a raw file with .gz both read correctly.
  auto data = read_idx(write("img", idx_images(5, 3, 4, pixels_), true),
                       write("lab.gz", idx_labels(labels_), false));
  EXPECT_TRUE(torch::equal(data.inputs.flatten(), scaled(pixels_)));
  EXPECT_EQ(data.targets[2].item<int64_t>(), 9);
}

TEST_F(IdxReader, DirectoryReadsBothSplitsGzippedOrRaw) {
  write("train-images-idx3-ubyte.gz", idx_images(5, 3, 4, pixels_), true);
  write("train-labels-idx1-ubyte.gz", idx_labels(labels_), true);
  const Bytes test_pixels = pattern(2 * 3 * 4, 2);
  write("t10k-images-idx3-ubyte", idx_images(2, 3, 4, test_pixels));
  write("t10k-labels-idx1-ubyte", idx_labels({7, 8}));
  Splits s = read_idx_dir(dir_.string());
  EXPECT_EQ(s.train.size(), 5);
  EXPECT_EQ(s.test.size(), 2);
  EXPECT_TRUE(torch::equal(s.test.inputs.flatten(), scaled(test_pixels)));
  EXPECT_TRUE(torch::equal(s.test.targets, torch::tensor({7, 8}, torch::kLong)));
}

TEST_F(IdxReader, DirectoryWithoutFilesNamesWhatIsMissing) {
  write("train-images-idx3-ubyte.gz", idx_images(5, 3, 4, pixels_), true);
  expect_error([&] { read_idx_dir(dir_.string()); },
               {dir_.string(), "train-labels-idx1-ubyte.gz or train-labels-idx1-ubyte"});
  expect_error([&] { read_idx_dir(path("nowhere")); }, {path("nowhere"), "does not exist"});
}

TEST_F(IdxReader, MissingFileIsReported) {
  const auto lab = write("lab", idx_labels(labels_));
  expect_error([&] { read_idx(path("absent"), lab); }, {path("absent"), "does not exist"});
  expect_error([&] { read_idx(dir_.string(), lab); }, {dir_.string(), "not a regular file"});
}

TEST_F(IdxReader, WrongMagicNumberIsReported) {
  const auto img = write("img", idx_images(5, 3, 4, pixels_));
  const auto lab = write("lab", idx_labels(labels_));
  // Swapped arguments: each file carries the other kind's magic.
  expect_error([&] { read_idx(lab, img); },
               {lab, "wrong magic number 0x00000801", "expected 0x00000803"});
  Bytes bad = idx_labels(labels_);
  bad[3] = 0x02;
  const auto bad_lab = write("bad_lab", bad);
  expect_error([&] { read_idx(img, bad_lab); },
               {bad_lab, "wrong magic number 0x00000802", "expected 0x00000801"});
}

TEST_F(IdxReader, EmptyAndShortHeaderAreReported) {
  const auto lab = write("lab", idx_labels(labels_));
  const auto empty = write("empty", {});
  expect_error([&] { read_idx(empty, lab); }, {empty, "empty"});
  Bytes head = idx_images(5, 3, 4, {});
  head.resize(10);
  const auto shorter = write("short.gz", head, true);
  expect_error([&] { read_idx(shorter, lab); }, {shorter, "truncated header: 10 of 16 bytes"});
}

TEST_F(IdxReader, TruncatedRawFileIsReportedBeforeReading) {
  Bytes img = idx_images(5, 3, 4, pixels_);
  img.pop_back();
  const auto p = write("img", img);
  expect_error([&] { read_idx(p, write("lab", idx_labels(labels_))); },
               {p, "truncated", "5x3x4 = 60 bytes of images", "holds only 59"});
}

TEST_F(IdxReader, TruncatedGzippedPayloadIsReported) {
  Bytes img = idx_images(5, 3, 4, pixels_);
  img.resize(img.size() - 7);
  const auto p = write("img.gz", img, true);
  expect_error([&] { read_idx(p, write("lab", idx_labels(labels_))); },
               {p, "truncated", "60 bytes", "holds only 53"});
}

TEST_F(IdxReader, GzipStreamCutShortIsReported) {
  // The compressed file itself is cut, as by an interrupted download.
  const auto full = write("full.gz", idx_images(5, 3, 4, pattern(5 * 3 * 4, 3)), true);
  std::ifstream in(full, std::ios::binary);
  Bytes gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() * 2 / 3);
  const auto p = write("cut.gz", gz);
  expect_error([&] { read_idx(p, write("lab", idx_labels(labels_))); },
               {p, "truncated", "gzip stream is cut short"});
}

TEST_F(IdxReader, CorruptGzipDataIsReported) {
  const auto full = write("full.gz", idx_images(5, 3, 4, pixels_), true);
  std::ifstream in(full, std::ios::binary);
  Bytes gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Damage the CRC-32 in the gzip trailer: the data inflates, but wrongly.
  gz[gz.size() - 6] ^= 0xFF;
  const auto p = write("corrupt.gz", gz);
  expect_error([&] { read_idx(p, write("lab", idx_labels(labels_))); },
               {p, "corrupt gzip data: incorrect data check"});
}

TEST_F(IdxReader, TrailingGarbageIsReported) {
  Bytes img = idx_images(5, 3, 4, pixels_);
  img.push_back(0);
  const auto lab = write("lab", idx_labels(labels_));
  for (bool gz : {false, true}) {
    const auto p = write(gz ? "img.gz" : "img", img, gz);
    expect_error([&] { read_idx(p, lab); }, {p, "trailing garbage"});
  }
  Bytes labels = idx_labels(labels_);
  labels.push_back(1);
  const auto long_lab = write("long_lab", labels);
  expect_error([&] { read_idx(write("img", idx_images(5, 3, 4, pixels_)), long_lab); },
               {long_lab, "trailing garbage"});
}

TEST_F(IdxReader, CountMismatchNamesBothFiles) {
  const auto img = write("img", idx_images(5, 3, 4, pixels_));
  const auto lab = write("lab", idx_labels({1, 2, 3, 4}));
  expect_error([&] { read_idx(img, lab); }, {img, "5 images", lab, "4 labels"});
}

TEST_F(IdxReader, LabelOutOfRangeIsReported) {
  const auto img = write("img", idx_images(5, 3, 4, pixels_));
  const auto lab = write("lab", idx_labels({1, 2, 10, 4, 0}));
  expect_error([&] { read_idx(img, lab); }, {lab, "label 10 of sample 2", "outside [0, 10)"});
  EXPECT_EQ(read_idx(img, lab, 11).num_classes, 11);
  expect_error([&] { read_idx(img, lab, 0); }, {"num_classes", "0"});
}

TEST_F(IdxReader, AbsurdHeaderSizesFailWithoutAllocating) {
  const auto lab = write("lab", idx_labels(labels_));
  // 2^96 bytes: the size computation itself would overflow.
  const auto huge = write("huge", idx_images(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, pixels_));
  expect_error([&] { read_idx(huge, lab); }, {huge, "absurd header"});
  // 50 GB promised by a tiny file, raw and gzipped.
  for (bool gz : {false, true}) {
    const auto p = write(gz ? "big.gz" : "big", idx_images(1000000000, 7, 7, pixels_), gz);
    expect_error([&] { read_idx(p, lab); },
                 {p, "truncated", "1000000000x7x7 = 49000000000 bytes",
                  gz ? "can hold at most" : "holds only 60"});
  }
  const auto zero = write("zero", idx_images(5, 0, 4, {}));
  expect_error([&] { read_idx(zero, lab); }, {zero, "header gives 0 rows"});
}

// ---------------------------------------------------------------- CIFAR

Bytes cifar_records(const std::vector<std::vector<uint8_t>>& labels, uint32_t seed) {
  Bytes out;
  for (size_t i = 0; i < labels.size(); ++i) {
    out.insert(out.end(), labels[i].begin(), labels[i].end());
    const Bytes px = pattern(3072, seed + static_cast<uint32_t>(i));
    out.insert(out.end(), px.begin(), px.end());
  }
  return out;
}

class CifarReader : public TempFiles {};

TEST_F(CifarReader, Cifar10ConcatenatesFilesInOrderChannelMajor) {
  const auto a = write("a.bin", cifar_records({{3}, {9}}, 10));
  const auto b = write("b.bin", cifar_records({{0}}, 20), /*gzip=*/true);
  TensorDataset d = read_cifar({a, b}, 10);
  EXPECT_EQ(d.inputs.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(d.targets, torch::tensor({3, 9, 0}, torch::kLong)));
  EXPECT_EQ(d.num_classes, 10);
  EXPECT_TRUE(torch::equal(d.inputs[1].flatten(), scaled(pattern(3072, 11))));
  EXPECT_TRUE(torch::equal(d.inputs[2].flatten(), scaled(pattern(3072, 20))));
  // Byte 1 + 1024 + 32 * 5 + 7 of a record is green, row 5, column 7.
  EXPECT_EQ(d.inputs[0][1][5][7].item<uint8_t>(), pattern(3072, 10)[1024 + 32 * 5 + 7]);
}

TEST_F(CifarReader, Cifar100UsesTheFineLabel) {
  const auto p = write("train.bin", cifar_records({{4, 77}, {19, 2}}, 5));
  TensorDataset d = read_cifar({p}, 100);
  EXPECT_TRUE(torch::equal(d.targets, torch::tensor({77, 2}, torch::kLong)));
  EXPECT_EQ(d.num_classes, 100);
  EXPECT_TRUE(torch::equal(d.inputs[1].flatten(), scaled(pattern(3072, 6))));
}

TEST_F(CifarReader, DirectoryFindsStandardNamesAndTarballSubdirectory) {
  for (int i = 1; i <= 5; ++i)
    write("data_batch_" + std::to_string(i) + ".bin", cifar_records({{uint8_t(i)}}, i));
  write("test_batch.bin", cifar_records({{7}, {8}}, 0));
  Splits s10 = read_cifar_dir(dir_.string(), 10);
  EXPECT_TRUE(torch::equal(s10.train.targets, torch::tensor({1, 2, 3, 4, 5}, torch::kLong)));
  EXPECT_EQ(s10.test.size(), 2);

  fs::create_directory(dir_ / "cifar-100-binary");
  write("cifar-100-binary/train.bin", cifar_records({{1, 50}, {2, 60}, {3, 99}}, 1));
  write("cifar-100-binary/test.bin", cifar_records({{0, 0}}, 2));
  Splits s100 = read_cifar_dir(dir_.string(), 100);
  EXPECT_TRUE(torch::equal(s100.train.targets, torch::tensor({50, 60, 99}, torch::kLong)));
  EXPECT_EQ(s100.test.size(), 1);
}

TEST_F(CifarReader, MissingBatchIsReported) {
  write("data_batch_1.bin", cifar_records({{1}}, 1));
  expect_error([&] { read_cifar_dir(dir_.string(), 10); }, {dir_.string(), "data_batch_2.bin"});
  expect_error([&] { read_cifar({path("nope.bin")}, 10); }, {path("nope.bin"), "does not exist"});
}

TEST_F(CifarReader, TruncatedRecordIsReported) {
  Bytes bytes = cifar_records({{1}, {2}}, 1);
  bytes.resize(bytes.size() - 100);
  const auto good = write("good.bin", cifar_records({{1}}, 1));
  const auto p = write("cut.bin", bytes);
  expect_error([&] { read_cifar({good, p}, 10); },
               {p, "truncated", "3073-byte records", "only 2973 bytes"});
  // Read as CIFAR-100, a CIFAR-10 file's size does not divide either.
  expect_error([&] { read_cifar({good}, 100); }, {good, "3074-byte records"});
  const auto empty = write("empty.bin", {});
  expect_error([&] { read_cifar({empty}, 10); }, {empty, "empty"});
}

TEST_F(CifarReader, LabelOutOfRangeIsReported) {
  const auto p10 = write("b10.bin", cifar_records({{1}, {10}}, 1));
  expect_error([&] { read_cifar({p10}, 10); }, {p10, "label 10 of sample 1", "[0, 10)"});
  const auto fine = write("fine.bin", cifar_records({{1, 100}}, 1));
  expect_error([&] { read_cifar({fine}, 100); }, {fine, "label 100 of sample 0", "[0, 100)"});
  const auto coarse = write("coarse.bin", cifar_records({{1, 5}, {20, 5}}, 1));
  expect_error([&] { read_cifar({coarse}, 100); }, {coarse, "coarse label 20 of record 1"});
}

TEST_F(CifarReader, RejectsOtherClassCounts) {
  const auto p = write("a.bin", cifar_records({{1}}, 1));
  expect_error([&] { read_cifar({p}, 20); }, {"10", "100", "20"});
  expect_error([&] { read_cifar({}, 10); }, {"no files"});
}

// ---------------------------------------------------------------- CSV

class CsvReader : public TempFiles {};

TEST_F(CsvReader, ReadsFeaturesAndLabelByHeaderName) {
  const auto p = write_text("a.csv", "x,label,y\n1.5,2,-3\n0.25,0,1e3\n");
  TensorDataset d = read_csv(p, CsvOptions{"label"});
  EXPECT_TRUE(torch::equal(d.inputs, torch::tensor({1.5f, -3.0f, 0.25f, 1000.0f}).view({2, 2})));
  EXPECT_TRUE(torch::equal(d.targets, torch::tensor({2, 0}, torch::kLong)));
  EXPECT_EQ(d.num_classes, 3);  // max label + 1
}

TEST_F(CsvReader, LabelIndexCountsFromTheEndWhenNegative) {
  const auto p = write_text("a.csv", "a,b,c\n1,2,3\n4,5,6\n");
  TensorDataset last = read_csv(p);
  EXPECT_TRUE(torch::equal(last.targets, torch::tensor({3, 6}, torch::kLong)));
  EXPECT_TRUE(torch::equal(last.inputs, torch::tensor({1.f, 2.f, 4.f, 5.f}).view({2, 2})));
  CsvOptions o;
  o.label_index = -3;
  EXPECT_TRUE(torch::equal(read_csv(p, o).targets, torch::tensor({1, 4}, torch::kLong)));
  o.label_index = 1;
  TensorDataset mid = read_csv(p, o);
  EXPECT_TRUE(torch::equal(mid.targets, torch::tensor({2, 5}, torch::kLong)));
  EXPECT_TRUE(torch::equal(mid.inputs, torch::tensor({1.f, 3.f, 4.f, 6.f}).view({2, 2})));
  o.label_index = 3;
  expect_error([&] { read_csv(p, o); }, {p, "label index 3", "3 columns"});
  o.label_index = -4;
  expect_error([&] { read_csv(p, o); }, {p, "label index -4"});
}

TEST_F(CsvReader, HandlesNoHeaderSeparatorCrlfBlankLinesAndBom) {
  const auto p = write_text("a.csv", "\xEF\xBB\xBF" "1 ; 0.5\r\n\r\n+2;-1.5\r\n0;7\r\n\n");
  CsvOptions o;
  o.header = false;
  o.separator = ';';
  o.label_index = 0;
  o.num_classes = 5;
  TensorDataset d = read_csv(p, o);
  EXPECT_TRUE(torch::equal(d.targets, torch::tensor({1, 2, 0}, torch::kLong)));
  EXPECT_TRUE(torch::equal(d.inputs, torch::tensor({0.5f, -1.5f, 7.f}).view({3, 1})));
  EXPECT_EQ(d.num_classes, 5);
}

TEST_F(CsvReader, QuotedHeaderNamesAndIntegralFloatLabelsAreAccepted) {
  const auto p = write_text("a.csv", "\"f\",\"class\"\n1,3.0\n2,1e0\n");
  TensorDataset d = read_csv(p, CsvOptions{"class"});
  EXPECT_TRUE(torch::equal(d.targets, torch::tensor({3, 1}, torch::kLong)));
}

TEST_F(CsvReader, ReadsGzippedFilesByContent) {
  const std::string text = "a,y\n0.5,1\n";
  const auto p = write("a.csv", Bytes(text.begin(), text.end()), /*gzip=*/true);
  TensorDataset d = read_csv(p);
  EXPECT_TRUE(torch::equal(d.inputs, torch::tensor({0.5f}).view({1, 1})));
  EXPECT_TRUE(torch::equal(d.targets, torch::tensor({1}, torch::kLong)));
}

TEST_F(CsvReader, WrongFieldCountNamesTheLine) {
  const auto p = write_text("a.csv", "a,b,c\n1,2,3\n4,5\n");
  expect_error([&] { read_csv(p); }, {p, "line 3 has 2 fields, expected 3"});
  const auto q = write_text("b.csv", "1,2,3\n4,5,6,7\n");
  CsvOptions o;
  o.header = false;
  expect_error([&] { read_csv(q, o); }, {q, "line 2 has 4 fields, expected 3"});
}

TEST_F(CsvReader, NonNumberNamesLineAndColumn) {
  const auto p = write_text("a.csv", "a,b,c\n1,2,3\n\n4,abc,6\n");
  expect_error([&] { read_csv(p); }, {p, "line 4, column 2 ('b')", "'abc' is not a number"});
  const auto empty_field = write_text("b.csv", "a,b,c\n1,,3\n");
  expect_error([&] { read_csv(empty_field); }, {empty_field, "line 2, column 2", "not a number"});
  const auto nan = write_text("c.csv", "a,b\nnan,1\n");
  expect_error([&] { read_csv(nan); }, {nan, "line 2, column 1", "not a finite number"});
  const auto big = write_text("d.csv", "a,b\n1e60,1\n");
  expect_error([&] { read_csv(big); }, {big, "line 2, column 1", "float32 range"});
}

TEST_F(CsvReader, BadLabelsAreReported) {
  const auto neg = write_text("neg.csv", "a,y\n1,-1\n");
  expect_error([&] { read_csv(neg); }, {neg, "line 2, column 2 ('y')", "'-1'",
                                        "not a non-negative integer"});
  const auto frac = write_text("frac.csv", "a,y\n1,2.5\n");
  expect_error([&] { read_csv(frac); }, {frac, "'2.5'", "not a non-negative integer"});
  const auto range = write_text("range.csv", "a,y\n1,2\n3,4\n");
  CsvOptions o;
  o.num_classes = 4;
  expect_error([&] { read_csv(range, o); }, {range, "line 3", "label 4 is outside [0, 4)"});
  // Without num_classes the class count comes from the largest label, so an
  // absurd one must not become a multi-billion-way output layer.
  const auto huge = write_text("huge.csv", "a,y\n1,5000000000\n");
  expect_error([&] { read_csv(huge); }, {huge, "largest label 5000000000"});
}

TEST_F(CsvReader, EmptyFilesAreReported) {
  const auto empty = write_text("empty.csv", "");
  expect_error([&] { read_csv(empty); }, {empty, "empty"});
  const auto blank = write_text("blank.csv", "\n \n");
  expect_error([&] { read_csv(blank); }, {blank, "empty"});
  const auto header_only = write_text("h.csv", "a,b\n");
  expect_error([&] { read_csv(header_only); }, {header_only, "no data rows"});
  const auto one_col = write_text("one.csv", "a\n1\n");
  expect_error([&] { read_csv(one_col); }, {one_col, "1 field", "at least one feature"});
  expect_error([&] { read_csv(path("missing.csv")); }, {path("missing.csv"), "does not exist"});
}

TEST_F(CsvReader, UnknownLabelColumnListsTheColumns) {
  const auto p = write_text("a.csv", "sepal,petal,species\n1,2,0\n");
  expect_error([&] { read_csv(p, CsvOptions{"kind"}); },
               {p, "no label column named 'kind'", "'sepal', 'petal', 'species'"});
  CsvOptions o{"species"};
  o.header = false;
  expect_error([&] { read_csv(p, o); }, {p, "header = false"});
}

// ---------------------------------------------------------------- real data

TEST(FashionMnist, LoadsBothSplitsFromTheDebianPackage) {
  if (!fs::is_directory(frugal::data::kFashionMnistDir))
    GTEST_SKIP() << frugal::data::kFashionMnistDir << " is not installed";
  Splits s = read_idx_dir(frugal::data::kFashionMnistDir);
  EXPECT_EQ(s.train.inputs.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(s.test.inputs.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(s.train.num_classes, 10);
  // Fashion-MNIST is balanced: 6000 train and 1000 test images per class.
  EXPECT_TRUE(torch::equal(torch::bincount(s.train.targets), torch::full({10}, 6000, torch::kLong)));
  EXPECT_TRUE(torch::equal(torch::bincount(s.test.targets), torch::full({10}, 1000, torch::kLong)));
  EXPECT_EQ(s.train.inputs.scalar_type(), torch::kByte);
  EXPECT_EQ(s.train.inputs.max().item<uint8_t>(), 255);
}

}  // namespace
