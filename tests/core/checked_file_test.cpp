#include "frugal/core/checked_file.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using frugal_test::error_of;
using namespace frugal;

std::string temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("frugal_core_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

/// An archive with a weight tensor big enough to span several zip records.
void save_sample(const std::string& path) {
  torch::serialize::OutputArchive archive;
  archive.write("weight", torch::arange(5000, torch::kFloat));
  archive.write("step", torch::tensor(int64_t{42}));
  core::save_checked(archive, path);
}

TEST(CheckedFile, ArchiveRoundTripsThroughACheckedFile) {
  const auto dir = temp_dir("roundtrip");
  const auto path = dir + "/a.pt";
  save_sample(path);
  torch::serialize::InputArchive archive;
  core::load_checked(archive, path, "test");
  torch::Tensor weight, step;
  archive.read("weight", weight);
  archive.read("step", step);
  EXPECT_TRUE(weight.equal(torch::arange(5000, torch::kFloat)));
  EXPECT_EQ(step.item<int64_t>(), 42);
  fs::remove_all(dir);
}

TEST(CheckedFile, EveryTruncationIsRejectedWithAClearError) {
  const auto dir = temp_dir("truncated");
  const auto path = dir + "/a.pt";
  save_sample(path);
  const std::string good = read_bytes(path);
  for (size_t keep : {size_t{0}, size_t{5}, size_t{23}, size_t{24}, size_t{100}, good.size() / 2,
                      good.size() - 1}) {
    write_bytes(path, good.substr(0, keep));
    torch::serialize::InputArchive archive;
    const auto message = error_of([&] { core::load_checked(archive, path, "resume"); });
    EXPECT_EQ(message.rfind("resume: " + path + " is ", 0), 0u) << "kept " << keep << ": " << message;
    EXPECT_TRUE(message.find("truncated") != std::string::npos ||
                message.find("not a frugal file") != std::string::npos)
        << "kept " << keep << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  }
  fs::remove_all(dir);
}

TEST(CheckedFile, AnyFlippedByteIsRejectedBeforeLoading) {
  const auto dir = temp_dir("flipped");
  const auto path = dir + "/a.pt";
  save_sample(path);
  const std::string good = read_bytes(path);
  // Offsets in the magic, the length, the checksums, the zip headers, the
  // tensor data and the central directory at the end.
  for (size_t offset : {size_t{0}, size_t{7}, size_t{9}, size_t{17}, size_t{21}, size_t{30},
                        size_t{200}, good.size() / 2, good.size() - 30, good.size() - 1}) {
    std::string bad = good;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x01);
    write_bytes(path, bad);
    torch::serialize::InputArchive archive;
    const auto message = error_of([&] { core::load_checked(archive, path, "resume"); });
    EXPECT_NE(message.find(path), std::string::npos) << "offset " << offset << ": " << message;
    EXPECT_TRUE(message.find("corrupt") != std::string::npos ||
                message.find("not a frugal file") != std::string::npos ||
                message.find("truncated") != std::string::npos)
        << "offset " << offset << ": " << message;
    torch::Tensor unused;
    EXPECT_FALSE(archive.try_read("weight", unused)) << "nothing loaded at offset " << offset;
  }
  fs::remove_all(dir);
}

TEST(CheckedFile, AFileWithoutTheHeaderIsNotLoaded) {
  const auto dir = temp_dir("plain");
  const auto path = dir + "/plain.pt";
  torch::serialize::OutputArchive archive;
  archive.write("weight", torch::ones({3}));
  archive.save_to(path);  // LibTorch's own format, no checksum
  torch::serialize::InputArchive in;
  EXPECT_NE(error_of([&] { core::load_checked(in, path, "model init"); }).find("not a frugal file"),
            std::string::npos);
  EXPECT_NE(error_of([&] { core::load_checked(in, dir + "/missing.pt", "model init"); })
                .find("cannot read"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(CheckedFile, AtomicWriteReplacesTheFileAndLeavesNoTemporary) {
  const auto dir = temp_dir("atomic");
  const auto path = dir + "/summary.json";
  core::write_file_atomically(path, "first\n");
  core::write_file_atomically(path, "second\n");
  EXPECT_EQ(read_bytes(path), "second\n");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(entry.path(), fs::path(path));
  }
  EXPECT_EQ(files, 1);
  EXPECT_NE(error_of([&] { core::write_file_atomically(dir + "/no/such/dir/x", "y"); })
                .find("cannot write " + dir + "/no/such/dir/x"),
            std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
