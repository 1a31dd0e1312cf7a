#pragma once
// The frugal program run on tiny CSV data written per test.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace frugal_test {

namespace fs = std::filesystem;

struct Result {
  int status;
  std::string output;
};

inline Result run(const std::string& args) {
  const std::string command = std::string(FRUGAL_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) output += buf.data();
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), output};
}

/// A temporary directory with train.csv, test.csv (3 separable classes) and
/// recipe.toml (an MLP on them, 3 epochs, runs under <dir>/runs).
class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("frugal_cli_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write_csv(dir_ / "train.csv", 300, 1);
    write_csv(dir_ / "test.csv", 100, 2);
    std::ofstream(dir_ / "recipe.toml") << "[run]\nname = \"tiny\"\nout_dir = \"" << (dir_ / "runs").string()
                                        << "\"\nprogress = false\nthreads = 1\n"
                                        << "[data]\nname = \"csv\"\npath = \"" << (dir_ / "train.csv").string()
                                        << "\"\ntest_path = \"" << (dir_ / "test.csv").string()
                                        << "\"\nlabel_column = \"label\"\n"
                                        << "[model]\nhidden = [16]\n[train]\nepochs = 3\nbatch_size = 32\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void write_csv(const fs::path& path, int rows, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0, 1);
    std::ofstream out(path);
    out << "a,b,c,label\n";
    for (int i = 0; i < rows; ++i) {
      const int label = i % 3;
      out << noise(rng) + 2 * label << "," << noise(rng) - label << "," << noise(rng) << "," << label << "\n";
    }
  }
  std::string recipe() const { return (dir_ / "recipe.toml").string(); }
  fs::path run_dir(const std::string& name = "tiny") const { return dir_ / "runs" / name; }

  fs::path dir_;
};

}  // namespace frugal_test
