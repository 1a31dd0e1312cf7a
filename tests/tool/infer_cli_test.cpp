// End-to-end: frugal export, infer and bench-infer on a tiny sparse run.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

namespace {

namespace fs = std::filesystem;

struct Result {
  int status;
  std::string output;
};

Result run(const std::string& args) {
  const std::string command = std::string(FRUGAL_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) output += buf.data();
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), output};
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class InferCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("frugal_infer_cli_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write_csv(dir_ / "train.csv", 300, 1);
    write_csv(dir_ / "test.csv", 90, 2);
    std::ofstream(dir_ / "recipe.toml") << "[run]\nname = \"tiny\"\nout_dir = \"" << (dir_ / "runs").string()
                                        << "\"\nprogress = false\nthreads = 1\n"
                                        << "[data]\nname = \"csv\"\npath = \"" << (dir_ / "train.csv").string()
                                        << "\"\ntest_path = \"" << (dir_ / "test.csv").string()
                                        << "\"\nlabel_column = \"label\"\n"
                                        << "[model]\nhidden = [32, 16]\n[train]\nepochs = 2\nbatch_size = 32\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void write_csv(const fs::path& path, int rows, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0, 1);
    std::ofstream out(path);
    out << "a,b,c,d,e,f,label\n";
    for (int i = 0; i < rows; ++i) {
      const int label = i % 3;
      out << noise(rng) + 2 * label << "," << noise(rng) - label << "," << noise(rng) << "," << noise(rng) << ","
          << noise(rng) + label << "," << noise(rng) << "," << label << "\n";
    }
  }
  std::string recipe() const { return (dir_ / "recipe.toml").string(); }
  fs::path run_dir() const { return dir_ / "runs" / "tiny"; }

  fs::path dir_;
};

TEST_F(InferCli, ExportWritesASparseModelThatInferRunsLikeTheBakedModel) {
  auto trained = run("train " + recipe() +
                     " --set sparse.enabled=true sparse.density=0.3 sparse.distribution=\\\"uniform\\\" "
                     "sparse.method=\\\"static\\\"");
  ASSERT_EQ(trained.status, 0) << trained.output;
  auto exported = run("export " + run_dir().string() + " --kernel sparse");
  ASSERT_EQ(exported.status, 0) << exported.output;
  EXPECT_TRUE(fs::exists(run_dir() / "export" / "sparse_model.pt"));
  EXPECT_NE(exported.output.find("| body.0 | 32x6 |"), std::string::npos) << exported.output;
  EXPECT_NE(exported.output.find("| sparse |"), std::string::npos) << exported.output;

  auto inferred = run("infer " + run_dir().string() + " --batch 16");
  ASSERT_EQ(inferred.status, 0) << inferred.output;
  EXPECT_NE(inferred.output.find("test samples: 90\n"), std::string::npos) << inferred.output;
  EXPECT_NE(inferred.output.find("same prediction: 1\n"), std::string::npos) << inferred.output;
  EXPECT_NE(inferred.output.find("sparse model accuracy: "), std::string::npos) << inferred.output;

  auto bench = run("bench-infer " + run_dir().string() + " --batch 1 32 --samples 40");
  ASSERT_EQ(bench.status, 0) << bench.output;
  EXPECT_NE(bench.output.find("| 1 | 1 |"), std::string::npos) << bench.output;
  EXPECT_NE(bench.output.find("| 32 | 1 |"), std::string::npos) << bench.output;
}

TEST_F(InferCli, ExportWithoutMasksAndInferWithoutExportFailInOneLine) {
  ASSERT_EQ(run("train " + recipe() + " --set train.epochs=1").status, 0);
  auto exported = run("export " + run_dir().string());
  EXPECT_NE(exported.status, 0);
  EXPECT_NE(exported.output.find("frugal: error: export: run"), std::string::npos) << exported.output;
  EXPECT_EQ(lines(exported.output), 1) << exported.output;

  auto inferred = run("infer " + run_dir().string());
  EXPECT_NE(inferred.status, 0);
  EXPECT_NE(inferred.output.find("frugal export"), std::string::npos) << inferred.output;
  EXPECT_EQ(lines(inferred.output), 1) << inferred.output;
}

}  // namespace
